"""Benchmark: N-1 contingency when the Internet circuit is overloaded (issue 15 item 1).

    .venv/bin/python benchmarks/bench_n1_overload.py                       # (a) and (b)
    .venv/bin/python benchmarks/bench_n1_overload.py --before /tmp/before  # + whole process
    .venv/bin/python benchmarks/bench_n1_overload.py --only a --sample 12

Districts (``generate_district``, one circuit sized at ``--kbps`` per student so that it
is overloaded in most busy-hour scenarios; single-homed schools plus a 10 Gbps ring
through the schools' distribution switches, so a WAN failure re-routes the school over
its neighbour, and routing stays a tree):

(a) 40 schools / 20,000 students, 1,000 scenarios. Target: <= 2 s.
(b) 400 schools / 80,000 students, 50 students per access switch (2,000 switches),
    1,000 scenarios. Target: <= 30 s.
(c) load spread over several routes (issue 15 item 2): district (a) with two active
    circuits (the same total capacity, so both are overloaded) and every school on
    both cores, so every point is split over two routes and routing is no tree.
    1,000 scenarios; target as (a), <= 2 s. The incremental max-min works on the
    paths reduced to the overloaded links (here: each sub-point's circuit,
    ``simulator/incremental_spread.py``); the baseline is extrapolated from
    ``--sample``.

Figure: ``run_contingency`` end to end (demand draw, base allocation, every
contingency), wall and CPU time, with the incremental max-min (the default).
Baseline in the same run: ``run_contingency(..., incremental=False)``, the previous
behaviour (every scenario the fast path cannot answer is re-allocated in full). For (a)
it runs on all contingencies; for (b) on ``--sample`` of them and is extrapolated
(``elements=[]`` gives the shared part: draw + base). Identical: every contingency's
per-scenario served Mbps (max relative difference printed) and throttled devices
(must be equal), and the reported rows (p95s, means), to float32 precision (2**-23).

Whole process (``--before TREE``, e.g. ``git archive <commit> netstage | tar -x -C
/tmp/before``): ``netstage contingency FILE --json`` on district (a) as a subprocess,
this tree (best of ``--repeat`` after a warm-up run) and the other tree (one run after
a warm-up run: it takes minutes).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from whole_process import best_of, load_avg, netstage_argv

from netstage.simulator.arrays import to_arrays
from netstage.simulator.contingency import run_contingency
from netstage.simulator.contingency.kernels import _base_sums
from netstage.simulator.generate import generate_district
from netstage.simulator.io import district_from_dict, dump_district
from netstage.simulator.model import SWITCH_KINDS, District
from netstage.simulator.profiles import scenario_params
from netstage.simulator.simulate import draw_demand_cached

N_SCEN = 1000
SEED = 7
TARGETS = {"a": 2.0, "b": 30.0, "c": 2.0}


def district(schools: int, students: int, kbps: float, per_access: int = 250,
             circuits: int = 1, dual_homed: float = 0.0) -> District:
    d = generate_district(schools=schools, students=students, seed=1, circuits=circuits,
                          internet_kbps_per_student=kbps, students_per_access=per_access,
                          dual_homed=dual_homed)
    data = d.model_dump(mode="json", exclude_none=True)
    for i in range(1, schools + 1):
        data["links"].append({"a": f"s{i:03d}-dist", "b": f"s{i % schools + 1:03d}-dist",
                              "capacity_mbps": 10000.0, "medium": "fiber"})
    return district_from_dict(data, source=f"bench_n1_overload({schools}, {students})")


def overloaded_share(d: District) -> float:
    """Share of the scenarios whose associated demand exceeds a circuit."""
    arr = to_arrays(d)
    g = d.district.growth
    params = scenario_params("now", district_growth=(g.horizon_years, g.growth_per_year),
                             busy_hour=arr.meta.get("busy_hour"))
    batch = draw_demand_cached(arr, params, N_SCEN, SEED, 0)
    base = _base_sums(arr, batch)
    c = [arr.link_ids.index(ci.id) for ci in d.circuits]
    return float(np.mean(np.any(base.link_dem[c] > arr.link_capacity_mbps[c][:, None],
                                axis=0)))


def timed(d: District, **kw: Any) -> tuple[Any, float, float]:
    t, c = time.perf_counter(), time.process_time()
    rep = run_contingency(d, n_scenarios=N_SCEN, seed=SEED, keep_sums=True, **kw)
    return rep, time.perf_counter() - t, time.process_time() - c


RTOL = 2.0**-23  # float32 half-ulp: rates are float32 (tests/test_contingency_incremental.py)


def identical(a: Any, b: Any) -> tuple[bool, float]:
    """(served equal to float32 precision and throttled equal for every scenario of every
    contingency of ``b``, and rows equal; the largest relative served difference)."""
    worst, same = 0.0, True
    for el, (served, thr) in b.scenario_sums.items():
        s2, t2 = a.scenario_sums[el]
        rel = float(np.max(np.abs(served - s2) / np.maximum(np.abs(served), 1e-9),
                           initial=0.0))
        worst = max(worst, rel)
        same &= bool(np.all(np.isfinite(s2))) and rel <= RTOL and bool(np.all(thr == t2))
    rows = {c.element: c for c in a.contingencies}
    for c in b.contingencies:
        o = rows[c.element]
        same &= (abs(c.unserved_p95 - o.unserved_p95) <= RTOL
                 and abs(c.unserved_mean - o.unserved_mean) <= RTOL
                 and c.throttled_p95 == o.throttled_p95)
    return same, worst


def case(name: str, d: District, sample: int, repeat: int = 1) -> None:
    arr = to_arrays(d)
    n_switch = sum(n.kind in SWITCH_KINDS for n in d.nodes)
    print(f"({name}) {len(d.sites) - 1} schools, {sum(s.students for s in d.sites):,} students, "
          f"{n_switch} switches, {arr.n_devices:,} devices, circuit(s) "
          f"{' + '.join(f'{c.capacity_mbps:,.0f}' for c in d.circuits)} Mbps, one overloaded in "
          f"{overloaded_share(d):.0%} of {N_SCEN} scenarios   (load average {load_avg()})")
    runs = [timed(d, arrays=arr) for _ in range(max(repeat, 1))]
    inc, wall, cpu = min(runs, key=lambda r: r[1])
    st = inc.stats
    print(f"  incremental (default): {wall:6.2f} s wall, {cpu:6.2f} s CPU "
          f"(best of {len(runs)}: {', '.join(f'{r[1]:.2f}' for r in runs)} s; the first in "
          "this process pays for the district's first calls); "
          f"{len(inc.contingencies)} contingencies, scenarios fast / incremental / "
          f"re-allocated: {st['fast_scenarios']} / {st['incremental_scenarios']} / "
          f"{st['reallocated_scenarios']}; worst {inc.worst.element} "
          f"({inc.worst.unserved_p95:.2%} p95 unserved)")
    if sample <= 0:
        full, fwall, fcpu = timed(d, arrays=arr, incremental=False)
        same, worst = identical(inc, full)
        how = "all contingencies"
    else:
        # the baseline on a sample of the contingencies that needed max-min work
        slow = [c.element for c in inc.contingencies if c.slow_scenarios > 0]
        pick = [slow[i] for i in np.linspace(0, len(slow) - 1, min(sample, len(slow))
                                             ).astype(int).tolist()]
        _, w0, c0 = timed(d, arrays=arr, incremental=False, elements=[])
        part, pw, pc = timed(d, arrays=arr, incremental=False, elements=pick)
        inc_part, _, _ = timed(d, arrays=arr, elements=pick)
        same, worst = identical(inc_part, part)
        n_eval = len(inc.contingencies) - st["unchanged"] - st["same_paths_as_other"]
        n_pick = len(pick) - part.stats["same_paths_as_other"]
        fwall = w0 + (pw - w0) / max(n_pick, 1) * n_eval
        fcpu = c0 + (pc - c0) / max(n_pick, 1) * n_eval
        how = (f"extrapolated from {len(pick)} sampled contingencies ({pw:.1f} s wall with "
               f"the shared draw + base of {w0:.1f} s) to the {n_eval} evaluated")
    print(f"  full re-allocation (incremental=False, same run): {fwall:6.2f} s wall, "
          f"{fcpu:6.2f} s CPU ({how})")
    print(f"  identical: {'yes' if same else 'NO'} (max relative difference of served Mbps "
          f"{worst:.1e}; throttled devices and rows compared too)")
    target = TARGETS[name]
    print(f"FIGURE ({name}) {wall:.2f} s   TARGET <= {target:.0f} s   "
          f"{'MET' if wall <= target else 'NOT MET'}   ratio vs full re-allocation "
          f"{fwall / wall:.1f}x wall, {fcpu / cpu:.1f}x CPU")


def whole(d: District, before: Path | None, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "district.yaml"
        f.write_text(dump_district(d))
        cmd = netstage_argv("contingency", str(f), "--json")
        print(f"whole process: netstage contingency <(a)> --json   (load average {load_avg()})")
        now = best_of(cmd, repeat)
        print(f"  this tree: {now['wall']:6.2f} s wall (runs {now['walls']}), "
              f"{now['cpu']:.2f} s CPU")
        if before is not None:
            old = best_of(cmd, 1, before)
            print(f"  --before : {old['wall']:6.2f} s wall, {old['cpu']:.2f} s CPU   -> "
                  f"{old['wall'] / now['wall']:.1f}x wall, {old['cpu'] / now['cpu']:.1f}x CPU "
                  f"(load average {load_avg()})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=["a", "b", "c"], default=None)
    ap.add_argument("--kbps", type=float, default=500.0,
                    help="circuit capacity per student (kbps): 500 overloads it")
    ap.add_argument("--sample", type=int, default=12,
                    help="contingencies of (b) and (c) timed for the baseline")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of the incremental (a) and (c) (best is the figure) and of "
                         "the whole process of (a)")
    ap.add_argument("--before", type=Path, default=None,
                    help="another source tree to time the whole process of (a) with")
    args = ap.parse_args()
    # compile (or load from numba's cache) every kernel, incremental ones included
    small = district(4, 800, 150.0)
    run_contingency(small, n_scenarios=8)
    run_contingency(small, n_scenarios=8, incremental=False)
    da = district(40, 20_000, args.kbps)
    if args.only in (None, "a"):
        case("a", da, 0, args.repeat)
    if args.only in (None, "b"):
        case("b", district(400, 80_000, args.kbps, per_access=50), args.sample, 1)
    if args.only in (None, "c"):
        case("c", district(40, 20_000, args.kbps, circuits=2, dual_homed=1.0), args.sample,
             args.repeat)
    if args.only in (None, "a"):
        whole(da, args.before, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
