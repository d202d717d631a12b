"""Run a sweep on Dask distributed: a local cluster, or any scheduler you already have.

The work of one district is :func:`netstage.simulator.sweep.evaluate_spec`; this
module only ships specs to Dask and collects rows. There is no scheduler or worker
pool of our own:

* ``workers=0`` (and no scheduler): in-process, no Dask at all;
* ``workers=N``: a :class:`distributed.LocalCluster` of N worker *processes* with one
  thread each, bound to 127.0.0.1, dashboard off. Workers get
  ``NUMBA_NUM_THREADS=1`` (and the BLAS/OpenMP equivalents), so N workers use N cores
  and do not fight over them;
* ``scheduler="tcp://host:port"``: submit to that scheduler's workers (netstage must
  be importable there).

Big districts are submitted first (with a higher Dask priority) so the sweep does not
end waiting on one large district, and small districts are grouped a few to a task
(:func:`plan_batches`) so Dask's per-task cost stays small next to the work. Rows
come back in spec order whatever order the workers finish in, and each row's seed
comes from its spec, so every mode gives the same table. A task that Dask itself
loses (a killed worker, a pickling failure) is retried at the end one district at
a time, alone on the cluster, and a district whose own task is lost then becomes an
error row like any other failure (Dask's ``distributed.scheduler.allowed-failures``
sets how many worker deaths a task may cause before it counts as lost). dask is the
``scale`` extra and is imported only here, lazily.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from netstage.auditor.envvars import environ_set
from netstage.simulator.errors import ConfigError, MissingExtraError
from netstage.simulator.sweep import (
    DistrictSpec,
    Evaluator,
    SweepRow,
    evaluate_batch,
    run_in_process,
    spec_weight,
)

__all__ = ["MAX_BATCH", "WORKER_ENV", "local_cluster", "plan_batches", "run_sweep"]

# One compute thread per worker process: parallelism comes from processes.
WORKER_ENV = {
    "NUMBA_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}


@contextlib.contextmanager
def local_cluster(workers: int) -> Iterator[Any]:
    """A :class:`distributed.LocalCluster` of ``workers`` single-threaded processes on
    127.0.0.1 (dashboard off), closed on exit.

    :data:`WORKER_ENV` must be in a worker's environment *before* its interpreter
    starts: Dask's ``env=`` is applied inside the new process only after the
    ``spawn`` start method has re-imported the parent's main module, which (for
    ``netstage sweep`` and the benchmark alike) has already imported numba and read
    ``NUMBA_NUM_THREADS``. Passed that way, each worker ran numba's parallel kernels
    on every core, so two workers on two cores fought over them (measured on 500
    districts: 1.67 cores used by one worker, two workers 0.88x one). Dask's
    ``distributed.nanny.pre-spawn-environ`` sets them in this process just before
    each worker is spawned (also when a worker is restarted); Dask takes this
    process's own value of a variable over the config's, so they are set here too
    while the cluster starts, then restored, so this process and whatever it starts
    later keep their own settings.
    """
    import dask

    distributed = _import_distributed()
    pre = dict(dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {})
    # Dask prefers this process's own value over the config's, so set both
    with (environ_set(WORKER_ENV),
          dask.config.set({"distributed.nanny.pre-spawn-environ": pre | WORKER_ENV})):
        cluster = distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True,
            host="127.0.0.1", dashboard_address=None, silence_logs=logging.ERROR,
            env=dict(WORKER_ENV))
    with cluster:
        yield cluster


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise MissingExtraError("dask", "scale") from None
    return distributed


def run_sweep(
    specs: Sequence[DistrictSpec],
    *,
    n_scenarios: int = 200,
    workers: int = 2,
    scheduler: str | None = None,
    evaluate: Evaluator | None = None,
    on_row: Callable[[SweepRow], None] | None = None,
    connect_timeout_s: float = 30.0,
    batch_size: int | None = None,
) -> list[SweepRow]:
    """Evaluate every spec; return one row per spec, in spec order.

    ``on_row`` is called as each row arrives (completion order; for progress bars).
    ``batch_size`` districts go into one Dask task (``None``: small districts are
    grouped, up to 8, big ones run alone; see :func:`plan_batches`).
    Raises :class:`ConfigError` when the scheduler cannot be reached and
    :class:`MissingExtraError` when dask is needed but not installed.
    """
    if scheduler is None and workers == 0:
        return run_in_process(specs, n_scenarios, evaluate, on_row)
    if workers < 0:
        raise ConfigError(f"--workers must be >= 0, got {workers}")
    distributed = _import_distributed()
    if scheduler is not None:
        if not scheduler.startswith(("tcp://", "tls://", "inproc://", "ucx://")):
            raise ConfigError(f"--scheduler '{scheduler}' is not an address; "
                              "give it as tcp://HOST:PORT")
        try:
            client = distributed.Client(scheduler, timeout=connect_timeout_s)
        except OSError as exc:
            raise ConfigError(f"cannot reach the Dask scheduler at {scheduler}: {exc}; "
                              "check that it runs and the address is right") from None
        with client:
            return _run_on(client, distributed, specs, n_scenarios, evaluate, on_row,
                           batch_size)
    with local_cluster(workers) as cluster, distributed.Client(cluster) as client:
        return _run_on(client, distributed, specs, n_scenarios, evaluate, on_row, batch_size)


MAX_BATCH = 8
TASKS_PER_WORKER = 16


def plan_batches(specs: Sequence[DistrictSpec], n_workers: int,
                 batch_size: int | None = None) -> list[list[int]]:
    """Spec indices grouped into Dask tasks, biggest districts first.

    Dask costs a few milliseconds of scheduler and client CPU per task, a noticeable
    share when a district takes well under a second. With ``batch_size=None``
    districts are taken biggest first (longest-processing-time-first, so no large
    district starts last and leaves the other workers idle) and grouped until a task
    holds about 1/(16 x workers) of the total weight or ``MAX_BATCH`` districts: big
    districts run alone, small ones share a task. The grouping changes only where
    and when rows are computed, never what they contain.
    """
    order = sorted(range(len(specs)), key=lambda i: (-spec_weight(specs[i]), i))
    if batch_size is not None:
        if batch_size < 1:
            raise ConfigError(f"batch size must be >= 1, got {batch_size}")
        return [order[k:k + batch_size] for k in range(0, len(order), batch_size)]
    weights = [spec_weight(s) for s in specs]
    target = sum(weights) / (max(1, n_workers) * TASKS_PER_WORKER)
    batches: list[list[int]] = []
    current: list[int] = []
    weight = 0.0
    for i in order:
        current.append(i)
        weight += weights[i]
        if weight >= target or len(current) >= MAX_BATCH:
            batches.append(current)
            current, weight = [], 0.0
    if current:
        batches.append(current)
    return batches


def _run_on(client: Any, distributed: Any, specs: Sequence[DistrictSpec], n_scenarios: int,
            evaluate: Evaluator | None, on_row: Callable[[SweepRow], None] | None,
            batch_size: int | None) -> list[SweepRow]:
    n_workers = len(client.scheduler_info().get("workers", {})) or 1
    batches = plan_batches(specs, n_workers, batch_size)
    members: dict[str, list[int]] = {}
    futures = []
    for rank, batch in enumerate(batches):
        first = specs[batch[0]]
        fut = client.submit(evaluate_batch, [specs[i] for i in batch], n_scenarios, evaluate,
                            key=f"districts-{batch[0]}-{first.key}-{len(batch)}", pure=False,
                            priority=len(batches) - rank)
        members[fut.key] = batch
        futures.append(fut)
    rows: list[SweepRow | None] = [None] * len(specs)

    def put(i: int, row: SweepRow) -> None:
        rows[i] = row
        if on_row is not None:
            on_row(row)

    suspects: list[int] = []
    for fut in distributed.as_completed(futures):
        batch = members[fut.key]
        try:
            got: list[SweepRow] = fut.result()
        except Exception:  # lost by Dask itself (killed worker, ...): retried below
            suspects.extend(batch)
        else:
            for i, row in zip(batch, got, strict=True):
                put(i, row)
        fut.release()
    # A dying worker takes every task it holds with it, not only the culprit's. So the
    # districts of lost tasks run again one at a time, each alone on the cluster: a
    # district whose task is lost now is the one that kills its worker (or cannot be
    # shipped) and becomes an error row; the others get their normal rows.
    for i in sorted(suspects):
        single = client.submit(evaluate_batch, [specs[i]], n_scenarios, evaluate,
                               key=f"district-{i}-{specs[i].key}-alone", pure=False)
        try:
            put(i, single.result()[0])
        except Exception as exc:
            put(i, _lost_row(specs[i], exc))
        single.release()
    return [r for r in rows if r is not None]


def _lost_row(spec: DistrictSpec, exc: BaseException) -> SweepRow:
    """The error row of a district whose task Dask lost (the message names task and worker).

    One line for the state table: Dask's serialisation errors carry the worker's whole
    traceback, of which the first line (what failed) and the last (why) are kept.
    """
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    text = lines[0] if lines else ""
    if len(lines) > 1:
        text += f" ({lines[-1]})"
    return SweepRow(key=spec.key, district=None, file=spec.path, students=None, stage=None,
                    binding=[], next_stage_cost_usd=None, seed=spec.seed,
                    error=f"dask: {type(exc).__name__}: {text}")
