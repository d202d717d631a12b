"""Benchmark: the upgrade planner with and without demand reuse (same run).

``plan_upgrades`` re-classifies every candidate action; the capacity rules simulate
each candidate district. Candidates mostly change links/capacities, not devices, so
the Monte Carlo demand batch of the same seed is the same: with ``reuse_demand=True``
(the default) :func:`netstage.simulator.simulate.demand_cache` draws it once.

Baseline (same run): ``reuse_demand=False`` (every simulation draws afresh, the planner
before the cache). Both plans must be identical (stage, actions, cost); checked here.
Target: faster than the baseline with the same answer. The N-1 contingency of R-HA
(``contingency/``) draws through the same cache.

    .venv/bin/python benchmarks/bench_plan.py [--district netstage/topologies/stage3-emerging.yaml]
        [--target 4] [--repeat 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import nullcontext
from typing import Any

from netstage.simulator.io import load_district
from netstage.simulator.plan import plan_upgrades
from netstage.simulator.simulate import demand_cache


def _key(p: Any) -> tuple[Any, ...]:
    """Everything the plan answers (its JSON without the timing) and the district after."""
    data = {k: v for k, v in p.to_json().items() if k != "elapsed_s"}
    return data, p.district_after.model_dump(mode="json")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--district", default="netstage/topologies/stage3-emerging.yaml")
    ap.add_argument("--target", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=2, help="best of N runs each")
    args = ap.parse_args()
    d = load_district(args.district)
    plan_upgrades(d, target_stage=args.target, seed=args.seed)  # warm up numba / imports
    times: dict[bool, float] = {}
    cpu: dict[bool, float] = {}
    plans: dict[bool, Any] = {}
    hits = misses = 0
    for _ in range(args.repeat):
        for reuse in (False, True):  # interleaved so background load hits both alike
            t0, c0 = time.perf_counter(), time.process_time()
            with demand_cache() if reuse else nullcontext() as cache:
                plans[reuse] = plan_upgrades(d, target_stage=args.target, seed=args.seed,
                                             reuse_demand=reuse)
            if cache is not None:
                hits, misses = cache.hits, cache.misses
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            times[reuse] = min(times.get(reuse, dt), dt)
            cpu[reuse] = min(cpu.get(reuse, dc), dc)
    same = _key(plans[False]) == _key(plans[True])
    print(f"district {args.district} -> stage {args.target} (seed {args.seed}, "
          f"best of {args.repeat})")
    print(f"baseline (reuse_demand=False): {times[False]:.2f} s wall, {cpu[False]:.2f} s CPU")
    print(f"with demand cache            : {times[True]:.2f} s wall, {cpu[True]:.2f} s CPU")
    print(f"speed-up: {times[False] / times[True]:.2f}x wall, {cpu[False] / cpu[True]:.2f}x CPU"
          "  (target: > 1x with an identical plan; wall time is noisy on a shared machine)")
    print(f"demand batches: {misses} drawn, {hits} reused (per planning run, simulations "
          "and N-1 contingency together)")
    print(f"identical plan: {same}  (stage {plans[True].stage_after}, "
          f"{len(plans[True].actions)} actions, ${plans[True].cost_usd:,.0f})")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
