"""Benchmark of the Monte Carlo simulator (issue 4 performance targets).

    .venv/bin/python benchmarks/bench_simulate.py            # full (a few minutes)
    .venv/bin/python benchmarks/bench_simulate.py --quick    # skips 1M devices / 10k scenarios

1. Headline: a synthetic 3-level district (district office -> school distribution ->
   access switch -> APs) of ~100,000 devices, 1,000 scenarios of the 'now' busy hour:
   the WHOLE run (demand draws + max-min allocation + summary, i.e. one
   ``simulate()`` call) timed in a fresh process after the compiled kernels are
   loaded; peak RSS of that process. Target: <= 3 s, <= 1 GB.
2. Baseline, measured in the same run: the straightforward per-scenario, per-device
   pure-Python progressive-filling loop (``random`` draws, textbook water-filling) on a
   smaller district; both costs are scaled per device-scenario and the speed-up ratio
   printed. Target >= 1,000x.
3. Scaling: whole-run time for 10k / 100k / 1M devices (1,000 scenarios) and 100 /
   1,000 / 10,000 scenarios (100k devices).

Wall time and the process's CPU time are both printed: on the shared 2-core machine
other work inflates wall time; CPU time / threads is the figure on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 3.0
TARGET_RSS_MB = 1024.0
TARGET_RATIO = 1000.0


def _district_arrays(devices: int, seed: int = 1) -> Any:
    from netstage.simulator.arrays import to_arrays
    from netstage.simulator.generate import generate_district

    # generate_district adds ~1 staff device per 12 students and 30 wired lab PCs per
    # school to the students' devices: solve for the student count
    schools = max(2, devices // 1600)
    students = int((devices - 30 * schools) / (1 + 1 / 12))
    # 150 kbps per student of Internet: the circuit and some APs saturate, so the
    # allocation does real work (an unloaded district finishes in one round)
    return to_arrays(generate_district(schools=schools, students=students, seed=seed,
                                       internet_kbps_per_student=150))


def child(devices: int, scenarios: int) -> dict[str, Any]:
    """One timed whole run in this (fresh) process."""
    import numba

    from netstage.simulator.simulate import simulate

    arrays = _district_arrays(devices)
    simulate(arrays, scenario="now", n_scenarios=2, seed=1)  # load the compiled kernels
    w0, c0 = time.perf_counter(), time.process_time()
    res = simulate(arrays, scenario="now", n_scenarios=scenarios, seed=7)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return {
        "devices": arrays.n_devices, "links": arrays.n_links, "scenarios": scenarios,
        "wall_s": wall, "cpu_s": cpu, "threads": numba.get_num_threads(),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "unserved_p95": res.percentiles()["p95"], "chunk": res.chunk_scenarios,
        "active_per_scenario": float(res.active_devices.mean()),
    }


def run_child(devices: int, scenarios: int, threads: int | None = None) -> dict[str, Any]:
    env = dict(os.environ)
    if threads is not None:
        env["NUMBA_NUM_THREADS"] = str(threads)
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(devices), str(scenarios)],
        capture_output=True, text=True, check=True, cwd=ROOT, env=env,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


# ------------------------------------------------------------------ pure-Python baseline


def python_baseline(arrays: Any, scenarios: int,
                    seed: int = 7) -> tuple[float, float, int, float]:
    """Per-scenario, per-device Python loop: draws + progressive filling + summary.

    Returns (wall seconds, CPU seconds, device-scenarios, mean unserved fraction).
    """
    from netstage.simulator.profiles import scenario_params

    p = scenario_params("now")
    rng = random.Random(seed)
    paths = [[int(x) for x in arrays.path_links[q, : arrays.path_len[q]]]
             for q in range(len(arrays.attach_ids))]
    dev_path = [paths[int(q)] for q in arrays.device_attach]
    dev_class = [int(c) for c in arrays.device_class]
    cap0 = [float(c - b) for c, b in zip(arrays.link_capacity_mbps,
                                        arrays.link_background_mbps, strict=True)]
    cdf = p.mix_cdf.tolist()
    mu, sigma, mx = p.app_mu.tolist(), p.app_sigma.tolist(), p.app_max_mbps.tolist()
    active_p = p.active_p.tolist()
    unserved = []
    t0, c0 = time.perf_counter(), time.process_time()
    for _s in range(scenarios):
        flows: list[tuple[list[int], float]] = []
        for i in range(len(dev_class)):
            c = dev_class[i]
            if rng.random() >= active_p[c]:
                continue
            u = rng.random()
            a = 0
            while a < len(mu) - 1 and cdf[c][a] <= u:
                a += 1
            flows.append((dev_path[i], min(rng.lognormvariate(mu[a], sigma[a]), mx[a])))
        rate = [0.0] * len(flows)
        frozen = [len(fp) == 0 for fp, _d in flows]
        rem = list(cap0)
        while not all(frozen):
            count = [0] * len(rem)
            for k, (fp, _d) in enumerate(flows):
                if not frozen[k]:
                    for lk in fp:
                        count[lk] += 1
            inc = math.inf
            for lk, n in enumerate(count):
                if n:
                    inc = min(inc, rem[lk] / n)
            for k, (_fp, d) in enumerate(flows):
                if not frozen[k]:
                    inc = min(inc, d - rate[k])
            for k, (fp, _d) in enumerate(flows):
                if not frozen[k]:
                    rate[k] += inc
                    for lk in fp:
                        rem[lk] -= inc
            for k, (fp, d) in enumerate(flows):
                if not frozen[k] and (rate[k] >= d * (1 - 1e-12)
                                      or any(rem[lk] <= 1e-9 * cap0[lk] for lk in fp)):
                    frozen[k] = True
        total = sum(d for _fp, d in flows)
        unserved.append(1 - sum(rate) / total if total else 0.0)
    return (time.perf_counter() - t0, time.process_time() - c0, len(dev_class) * scenarios,
            sum(unserved) / len(unserved))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="skip the 1M-device / 10k runs")
    ap.add_argument("--child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return

    # warm the on-disk kernel cache so no child pays for compilation
    run_child(2000, 4)
    head = run_child(100_000, 1000)
    print(f"headline: {head['devices']:,} devices x {head['scenarios']:,} scenarios "
          f"({head['links']:,} links, {head['active_per_scenario']:,.0f} active/scenario, "
          f"{head['threads']} threads)")
    print(f"  whole run: {head['wall_s']:.2f} s wall ({head['cpu_s']:.2f} s CPU)   "
          f"target <= {TARGET_S:.0f} s: {'met' if head['wall_s'] <= TARGET_S else 'NOT met'}")
    print(f"  peak RSS:  {head['peak_rss_mb']:.0f} MB   target <= {TARGET_RSS_MB:.0f} MB: "
          f"{'met' if head['peak_rss_mb'] <= TARGET_RSS_MB else 'NOT met'}")
    one = run_child(100_000, 1000, threads=1)
    print(f"  same run on 1 thread: {one['wall_s']:.2f} s wall ({one['cpu_s']:.2f} s CPU): "
          f"the work itself; idle-machine estimate on 2 cores ~{one['cpu_s'] / 2:.1f} s")

    small = _district_arrays(2000)
    base_s, base_cpu, base_ds, base_uns = python_baseline(small, 3)
    base_per = base_s / base_ds
    eng_per = head["wall_s"] / (head["devices"] * head["scenarios"])
    ratio = base_per / eng_per
    cpu_ratio = (base_cpu / base_ds) / (one["cpu_s"] / (one["devices"] * one["scenarios"]))
    print(f"baseline (pure Python per-scenario per-device progressive filling): "
          f"{small.n_devices:,} devices x 3 scenarios in {base_s:.2f} s ({base_cpu:.2f} s CPU) "
          f"= {base_per * 1e6:.2f} us per device-scenario (mean unserved {base_uns:.3f})")
    print(f"engine: {eng_per * 1e9:.1f} ns per device-scenario   speed-up {ratio:,.0f}x wall "
          f"(2 threads), {cpu_ratio:,.0f}x CPU (1 thread vs 1 thread)   "
          f"target >= {TARGET_RATIO:,.0f}x: {'met' if ratio >= TARGET_RATIO else 'NOT met'}")

    rows: list[dict[str, Any]] = []
    dev_sizes = (10_000, 100_000) if args.quick else (10_000, 100_000, 1_000_000)
    scen_sizes = (100, 1000) if args.quick else (100, 1000, 10_000)
    for n in dev_sizes:
        rows.append(head if n == 100_000 else run_child(n, 1000))
    for s in scen_sizes:
        if s != 1000:
            rows.append(run_child(100_000, s))
    print("\n| devices | scenarios | wall s | CPU s | peak RSS MB | ns per device-scenario |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        per = r["wall_s"] / (r["devices"] * r["scenarios"]) * 1e9
        print(f"| {r['devices']:,} | {r['scenarios']:,} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} "
              f"| {r['peak_rss_mb']:.0f} | {per:.1f} |")


if __name__ == "__main__":
    main()
