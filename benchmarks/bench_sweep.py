"""Benchmark: a state-wide sweep on 1 vs 2 Dask workers (speed-up and overhead).

    .venv/bin/python benchmarks/bench_sweep.py                   # 200 districts, 20 scenarios
    .venv/bin/python benchmarks/bench_sweep.py --districts 40    # quicker look
    .venv/bin/python benchmarks/bench_sweep.py --plan            # include the planner (slow)

Workload: ``synthetic_specs(N)`` -- N synthetic districts of mixed size (300 to
30,000 students, 1 to 60 schools, mixed WAN/Internet capacity and declared maturity),
each classified with :func:`netstage.simulator.stage.classify` (all rules, Monte
Carlo with ``--scenarios`` scenarios). Planning is off by default: the planner takes
seconds to tens of seconds for some districts, which would make the run far longer
than a few minutes without changing what is measured here (distribution).

For each worker count a ``LocalCluster`` is started exactly as ``netstage sweep``
starts it (processes, 1 thread each, ``NUMBA_NUM_THREADS=1``); every worker is warmed
up on one small district (imports, numba compilation) and the timed part is the
sweep itself, submitted through :func:`netstage.auditor.sweep_dask.run_sweep` with
``--scheduler`` semantics. Cluster start-up is printed separately.

Figures:

* speed-up = wall(1 worker) / wall(2 workers); target >= 1.7x (issue 9). Baseline:
  the same sweep on 1 worker, measured in the same run.
* per-district overhead of distribution = (wall(1 worker) - sum of the rows' own
  compute times) / N: what Dask adds per district (submission, scheduling,
  pickling, result transfer, idle gaps) on top of the work itself.

* CPU-seconds per second each run got, and a load-independent *estimate* of the
  speed-up (1-worker CPU time / CPU time of the busier of the 2 workers): what the
  split of the work would allow on two otherwise idle cores.

Rows must be identical (same seeds) on 1 and 2 workers; the script checks that.
The machine has 2 cores shared with other work, so the load average is printed
before and after: a busy machine lowers the speed-up (2 workers cannot get 2 cores).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from netstage.auditor.sweep_dask import WORKER_ENV, run_sweep  # noqa: E402
from netstage.simulator.sweep import (  # noqa: E402
    SweepRow,
    classify_evaluator,
    evaluate_spec,
    stage_evaluator,
    synthetic_specs,
)

TARGET_SPEEDUP = 1.7


def _warm(n_scenarios: int, plan: bool) -> float:
    """Run one small district on this worker (imports + JIT); returns its seconds."""
    spec = synthetic_specs(1, base_seed=3)[0]  # 445 students
    t0 = time.perf_counter()
    evaluate_spec(spec, n_scenarios, stage_evaluator if plan else classify_evaluator)
    return time.perf_counter() - t0


def _run(workers: int, specs: list[Any], n_scenarios: int, plan: bool
         ) -> tuple[list[SweepRow], float, float]:
    import distributed

    t0 = time.perf_counter()
    cluster = distributed.LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None, silence_logs=logging.ERROR, env=dict(WORKER_ENV))
    with cluster, distributed.Client(cluster) as client:
        client.wait_for_workers(workers, timeout=120)
        client.run(_warm, n_scenarios, plan)
        startup = time.perf_counter() - t0
        done = [0]

        def tick(_row: SweepRow) -> None:
            done[0] += 1
            if done[0] % 20 == 0 or done[0] == len(specs):
                print(f"  {workers} worker(s): {done[0]}/{len(specs)} districts", flush=True)

        t1 = time.perf_counter()
        rows = run_sweep(specs, n_scenarios=n_scenarios, scheduler=cluster.scheduler_address,
                         evaluate=stage_evaluator if plan else classify_evaluator, on_row=tick)
        wall = time.perf_counter() - t1
    return rows, wall, startup


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--districts", type=int, default=200)
    ap.add_argument("--scenarios", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plan", action="store_true", help="price plans too (much slower)")
    args = ap.parse_args()

    specs = synthetic_specs(args.districts, base_seed=args.seed)
    students = [s.generate["students"] for s in specs if s.generate]
    print(f"{len(specs)} synthetic districts, {min(students)}-{max(students)} students "
          f"(median {sorted(students)[len(students) // 2]}), {args.scenarios} scenarios, "
          f"plan={'on' if args.plan else 'off'}; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs", flush=True)
    results = {}
    for workers in (1, 2):
        rows, wall, startup = _run(workers, specs, args.scenarios, args.plan)
        results[workers] = (rows, wall)
        compute = sum(r.elapsed_s for r in rows)
        cpu = sum(r.cpu_s for r in rows)
        failed = sum(r.error is not None for r in rows)
        print(f"{workers} worker(s): sweep {wall:.1f} s ({len(specs) / wall:.2f} districts/s), "
              f"per-district compute summed: {compute:.1f} s wall, {cpu:.1f} s CPU; "
              f"cluster start + warm-up {startup:.1f} s; {failed} failed rows", flush=True)
        for err in sorted({r.error for r in rows if r.error})[:3]:
            print(f"  error: {err}", flush=True)
    rows1, wall1 = results[1]
    rows2, wall2 = results[2]
    same = [r.identity() for r in rows1] == [r.identity() for r in rows2]
    stages: dict[int | None, int] = {}
    for r in rows1:
        stages[r.stage] = stages.get(r.stage, 0) + 1
    speedup = wall1 / wall2
    overhead_ms = (wall1 - sum(r.elapsed_s for r in rows1)) / len(specs) * 1000
    print(f"stages: {dict(sorted(stages.items(), key=lambda kv: str(kv[0])))}")
    print(f"identical rows on 1 and 2 workers: {same}")
    print(f"speed-up 2 vs 1 workers: {speedup:.2f}x (target >= {TARGET_SPEEDUP}x: "
          f"{'met' if speedup >= TARGET_SPEEDUP else 'NOT met'}); ratio to target "
          f"{speedup / TARGET_SPEEDUP:.2f}")
    print(f"per-district overhead of distribution (1 worker): {overhead_ms:.1f} ms "
          f"({overhead_ms / 1000 * len(specs) / wall1:.1%} of the 1-worker sweep)")
    cpu1, cpu2 = (sum(r.cpu_s for r in rows) for rows in (rows1, rows2))
    print(f"CPU-bound check: 2 workers got {cpu2 / wall2:.2f} CPU-seconds per second "
          f"(1 worker: {cpu1 / wall1:.2f}); below ~1.9 means the cores were shared")
    per_worker: dict[int, float] = {}
    for r in rows2:
        per_worker[r.worker_pid] = per_worker.get(r.worker_pid, 0.0) + r.cpu_s
    if len(per_worker) == 2:
        # What the split of the work allows on two free cores: 1-worker CPU over the
        # busier worker's CPU. A model (ignores scheduling overhead), not a measurement.
        print(f"CPU split between the 2 workers: {sorted(round(v, 1) for v in per_worker.values())}"
              f" s; load-independent estimate of the speed-up: "
              f"{cpu1 / max(per_worker.values()):.2f}x")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    failed = sum(r.error is not None for r in rows1 + rows2)
    return 0 if same and not failed else 1


if __name__ == "__main__":
    raise SystemExit(main())
