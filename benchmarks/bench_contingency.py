"""Benchmark: full N-1 contingency analysis (issue 5).

Target: all links and switches of a 2,000-switch synthetic district, 1,000 scenarios
each, in <= 30 s (``run_contingency`` end to end: demand draw, base allocation, every
contingency). As the issue and docs/stages.md R-HA define N-1, a school's own access
switches, APs and AP uplinks are not failed (they only cut off their own devices);
every other link, circuit and node is.

Baseline, same run: the naive approach - per failure rebuild the district without the
element, rebuild the networkx graph (and check connectivity), re-route (``to_arrays``),
re-draw the 1,000 scenarios and re-allocate. That takes many seconds per failure, so
it is timed on a sample of failures and extrapolated to all of them (said in the
output); the sampled results are also compared with ours (they must agree).

    .venv/bin/python benchmarks/bench_contingency.py [--schools 400] [--sample 2]
"""

from __future__ import annotations

import argparse
import sys
import time

import networkx as nx
import numpy as np

from netstage.simulator.arrays import to_arrays
from netstage.simulator.contingency import run_contingency
from netstage.simulator.demand import draw_demand
from netstage.simulator.generate import generate_district
from netstage.simulator.graph import INTERNET, to_networkx
from netstage.simulator.maxmin import allocate
from netstage.simulator.model import SWITCH_KINDS, District
from netstage.simulator.profiles import scenario_params

TARGET_S = 30.0
N_SCEN = 1000
SEED = 7


def naive_one(d: District, element: str) -> float:
    """p95 unserved after removing ``element``, recomputing everything from scratch."""
    data = d.model_dump(mode="json")
    data["links"] = [lk for lk in data["links"]
                     if element not in (lk.get("id") or f"{lk['a']}--{lk['b']}", lk["a"], lk["b"])]
    data["circuits"] = [c for c in data["circuits"] if element not in (c["id"], c["attach"])]
    data["nodes"] = [n for n in data["nodes"] if n["id"] != element]
    reduced = District.model_validate(data)
    g = to_networkx(reduced)
    nx.node_connected_component(g, INTERNET) if INTERNET in g else set()
    arr = to_arrays(reduced)
    gr = reduced.district.growth
    params = scenario_params("now", district_growth=(gr.horizon_years, gr.growth_per_year))
    batch = draw_demand(arr, params, N_SCEN, SEED)
    alloc = allocate(batch, arr)
    starts = batch.group_start[:, 0]
    dem = np.add.reduceat(batch.demand_mbps.astype(np.float64), starts)
    rate = np.add.reduceat(alloc.rate_mbps.astype(np.float64), starts)
    return float(np.percentile(1 - rate / dem, 95))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--schools", type=int, default=400)
    ap.add_argument("--sample", type=int, default=2, help="failures timed for the baseline")
    args = ap.parse_args()
    d = generate_district(schools=args.schools, students=args.schools * 200, seed=1,
                          dual_homed=0.5, circuits=2, students_per_access=50)
    n_switch = sum(n.kind in SWITCH_KINDS for n in d.nodes)
    arr = to_arrays(d)
    print(f"district: {n_switch} switches, {len(d.nodes)} nodes, {len(d.links)} links, "
          f"{arr.n_devices} devices; {N_SCEN} scenarios")
    run_contingency(generate_district(schools=3, students=300, seed=2), n_scenarios=5)  # compile
    t, c = time.perf_counter(), time.process_time()
    rep = run_contingency(d, n_scenarios=N_SCEN, seed=SEED, arrays=arr)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    st = rep.stats
    print(f"netstage run_contingency: {wall:.1f} s wall ({cpu:.1f} s CPU) for "
          f"{len(rep.contingencies)} contingencies ({len(rep.excluded)} end-device elements "
          f"not failed); {st['unchanged']} change no path, {st['same_paths_as_other']} share "
          f"paths with another; scenarios fast/re-allocated: {st['fast_scenarios']}/"
          f"{st['slow_scenarios']}; worst: {rep.worst.element} "
          f"({rep.worst.unserved_p95:.1%} p95 unserved)")

    # naive baseline on a sample: a WAN link and a distribution switch of dual-homed schools
    by = {c.element: c for c in rep.contingencies}
    cands = [c.element for c in rep.contingencies
             if c.rerouted_points > 0 and c.kind == "link"][: max(1, args.sample // 2)]
    cands += [c.element for c in rep.contingencies
              if c.node_kind == "distribution"][: max(1, args.sample - len(cands))]
    times, agree = [], 0
    for el in cands:
        t = time.perf_counter()
        p95 = naive_one(d, el)
        times.append(time.perf_counter() - t)
        agree += abs(p95 - by[el].unserved_p95) < 1e-6
    per = float(np.mean(times))
    naive = per * len(rep.contingencies)
    print(f"naive baseline (rebuild graph + re-route + re-draw + re-allocate per failure): "
          f"{per:.1f} s per failure, measured on {len(cands)} failures ({', '.join(cands)}), "
          f"extrapolated to {len(rep.contingencies)}: {naive:,.0f} s; sampled results agree: "
          f"{agree}/{len(cands)}")
    print(f"FIGURE {wall:.1f} s   TARGET <= {TARGET_S:.0f} s   "
          f"{'MET' if wall <= TARGET_S else 'NOT MET'}   ratio vs naive baseline "
          f"{naive / wall:,.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
