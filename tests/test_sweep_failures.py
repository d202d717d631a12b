"""A district that Dask itself loses is a row with the error, not an aborted sweep.

A real ``LocalCluster`` (2 worker processes on 127.0.0.1, started by
:func:`netstage.auditor.sweep_dask.run_sweep`) evaluates districts with a test-only
evaluator (passed through the sweep's public ``evaluate=`` argument; nothing in
production code can kill a worker) that SIGKILLs its own worker process on one
district and raises an ordinary exception on another. The sweep must finish, the
killed district must be an error row naming the lost task and worker, and every other
row must equal the in-process run (``run_in_process``), including the districts that
shared a Dask task (or a worker) with the killer. Likewise a result that cannot be
pickled back from the worker is one (one-line) error row. Ordinary exceptions
in-process are covered by ``tests/test_sweep.py::test_failures_are_rows``.
"""

from __future__ import annotations

import os
import signal
import threading

import pytest

from netstage.simulator.study import Study
from netstage.simulator.sweep import (
    DistrictSpec,
    Evaluation,
    classify_evaluator,
    file_specs,
    run_in_process,
    synthetic_specs,
)

from .support import example_districts

pytest.importorskip("distributed")

N_SCENARIOS = 20
SPECS = file_specs(example_districts(), base_seed=4) + synthetic_specs(4, base_seed=4,
                                                                       max_students=1500)
KILLER = SPECS[-2].key  # generated districts are named after their key
RAISER = SPECS[-4].key


def fatal(study: Study) -> Evaluation:
    """Classify, except: KILLER kills its Dask worker process, RAISER raises a plain error."""
    name = study.name
    if name == KILLER:
        from distributed import get_worker

        try:
            get_worker()
        except ValueError:  # not on a Dask worker: never kill the test process itself
            raise RuntimeError("would kill the worker process") from None
        os.kill(os.getpid(), signal.SIGKILL)
    if name == RAISER:
        raise RuntimeError(f"bug while evaluating {name}")
    return classify_evaluator(study)


@pytest.mark.timeout(120)
def test_killed_worker_is_one_error_row_and_the_rest_match_in_process() -> None:
    import dask

    from netstage.auditor.sweep_dask import plan_batches, run_sweep

    specs: list[DistrictSpec] = SPECS
    keys = [s.key for s in specs]
    by_name = {s.key: s for s in specs}
    assert KILLER.startswith("gen-") and RAISER.startswith("gen-") and KILLER != RAISER
    batches = plan_batches(specs, 2, batch_size=3)
    killer_batch = next(b for b in batches if keys.index(KILLER) in b)
    assert len(killer_batch) > 1  # the killer takes innocent districts down with its task

    base = run_in_process(specs, N_SCENARIOS, fatal)
    ok = [r for r in base if r.error is None]
    assert len(ok) == len(specs) - 2  # only the two rigged districts fail in-process
    seen: list[str] = []
    # allowed-failures 0: the first worker death loses the task (Dask's default retries
    # it on 3 more workers, each a worker restart)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        rows = run_sweep(specs, n_scenarios=N_SCENARIOS, workers=2, evaluate=fatal,
                         batch_size=3, on_row=lambda r: seen.append(r.key))

    assert [r.key for r in rows] == keys and sorted(seen) == sorted(keys)
    killed = rows[keys.index(KILLER)]
    assert killed.error is not None and killed.error.startswith("dask: KilledWorker: ")
    assert f"'district-{keys.index(KILLER)}-{KILLER}-alone'" in killed.error  # the task
    assert "tcp://127.0.0.1:" in killed.error  # the worker it killed
    assert killed.stage is None and killed.students is None
    assert killed.seed == by_name[KILLER].seed
    raised = rows[keys.index(RAISER)]
    assert raised.error == f"RuntimeError: bug while evaluating {raised.district}"
    for got, want in zip(rows, base, strict=True):
        if got.key != KILLER:
            assert got.identity() == want.identity()
            assert got.worker_pid not in (0, os.getpid())  # computed on a worker


UNSHIPPABLE = SPECS[-3].key


def unshippable(study: Study) -> Evaluation:
    """Classify; for UNSHIPPABLE return a result that cannot be pickled back to the client
    (a lock in the note), as a buggy plug-in evaluator could."""
    ev = classify_evaluator(study)
    if study.name == UNSHIPPABLE:
        return Evaluation(stage=ev.stage, binding=ev.binding, next_stage_cost_usd=None,
                          note=threading.Lock())  # type: ignore[arg-type]
    return ev


@pytest.mark.timeout(120)
def test_result_that_cannot_be_shipped_is_one_error_row() -> None:
    from netstage.auditor.sweep_dask import run_sweep

    keys = [s.key for s in SPECS]
    rows = run_sweep(SPECS, n_scenarios=N_SCENARIOS, workers=2, evaluate=unshippable,
                     batch_size=3)
    assert [r.key for r in rows] == keys
    bad = rows[keys.index(UNSHIPPABLE)]
    assert bad.error is not None and bad.stage is None
    assert bad.error.startswith("dask: ") and "cannot pickle" in bad.error
    assert "\n" not in bad.error  # one line for the state table
    base = run_in_process(SPECS, N_SCENARIOS, classify_evaluator)
    for got, want in zip(rows, base, strict=True):
        if got.key != UNSHIPPABLE:
            assert got.error is None and got.identity() == want.identity()
