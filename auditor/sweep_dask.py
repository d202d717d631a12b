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
end waiting on one large district. Rows come back in spec order whatever order the
workers finish in, and each row's
seed comes from its spec, so every mode gives the same table. A task that Dask itself
loses (a killed worker, a pickling failure) becomes an error row like any other
failure. dask is the ``scale`` extra and is imported only here, lazily.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from netstage.simulator.errors import ConfigError, MissingExtraError
from netstage.simulator.sweep import (
    DistrictSpec,
    Evaluator,
    SweepRow,
    evaluate_spec,
    run_in_process,
    spec_weight,
)

__all__ = ["WORKER_ENV", "run_sweep"]

# One compute thread per worker process: parallelism comes from processes.
WORKER_ENV = {
    "NUMBA_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}


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
) -> list[SweepRow]:
    """Evaluate every spec; return one row per spec, in spec order.

    ``on_row`` is called as each row arrives (completion order; for progress bars).
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
            return _run_on(client, distributed, specs, n_scenarios, evaluate, on_row)
    cluster = distributed.LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
        env=dict(WORKER_ENV),
    )
    with cluster, distributed.Client(cluster) as client:
        return _run_on(client, distributed, specs, n_scenarios, evaluate, on_row)


def _run_on(client: Any, distributed: Any, specs: Sequence[DistrictSpec], n_scenarios: int,
            evaluate: Evaluator | None,
            on_row: Callable[[SweepRow], None] | None) -> list[SweepRow]:
    # Biggest districts first (longest-processing-time-first), so a large district
    # does not start last and leave the other workers idle at the end of the sweep.
    # The order changes only when rows are computed, never what they contain.
    order = sorted(range(len(specs)), key=lambda i: (-spec_weight(specs[i]), i))
    index: dict[str, int] = {}
    futures = []
    for rank, i in enumerate(order):
        spec = specs[i]
        fut = client.submit(evaluate_spec, spec, n_scenarios, evaluate,
                            key=f"district-{i}-{spec.key}", pure=False,
                            priority=len(order) - rank)
        index[fut.key] = i
        futures.append(fut)
    rows: list[SweepRow | None] = [None] * len(specs)
    for fut in distributed.as_completed(futures):
        i = index[fut.key]
        try:
            row = fut.result()
        except Exception as exc:  # lost by Dask itself (killed worker, ...): still a row
            spec = specs[i]
            row = SweepRow(key=spec.key, district=None, file=spec.path, students=None,
                           stage=None, binding=[], next_stage_cost_usd=None, seed=spec.seed,
                           error=f"dask: {type(exc).__name__}: {exc}")
        rows[i] = row
        fut.release()
        if on_row is not None:
            on_row(row)
    return [r for r in rows if r is not None]
