"""Whole-process benchmark of ``netstage classify`` (issue 15 item 2).

    .venv/bin/python benchmarks/bench_classify_cli.py
    .venv/bin/python benchmarks/bench_classify_cli.py --before /tmp/before   # + old tree

District: ``netstage generate --schools 40 --students 30000 --circuits 2 --dual-homed 1``
(every school on both cores, so N-1 is in play) plus a
10 Gbps fibre ring through the 40 schools' distribution switches (s001-dist -
s002-dist - ... - s040-dist - s001-dist), so that R-HA and N-1 have paths to find and
re-route over; written to a temporary directory.

Figure: ``netstage classify FILE`` (200 scenarios per simulated rule, the default),
timed as a subprocess by wall clock, best of ``--repeat`` after one warm-up run.
Target: <= 2 s.

Baselines in the same run: the same work in one fresh interpreter phase by phase
(imports, load + validation, ``classify()``) with the rules' own times from a cProfile
of ``classify()`` (where the time goes), and ``--before TREE``: the same command with
another source tree's netstage.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from whole_process import (
    add_arguments,
    child_json,
    load_avg,
    netstage_argv,
    now_and_before,
    print_target,
    print_whole,
    time_process,
)

TARGET_S = 2.0

_PHASES = r"""
import cProfile, io, json, pstats, sys, time
t0 = time.perf_counter()
from netstage.simulator.io import load_district
from netstage.simulator.stage import classify
t1 = time.perf_counter()
d = load_district(sys.argv[1])
t2 = time.perf_counter()
prof = cProfile.Profile()
prof.enable()
classify(d, seed=0)
prof.disable()
t3 = time.perf_counter()
st = pstats.Stats(prof, stream=io.StringIO())
top = {}
for (fn, line, name), (cc, nc, tt, ct, callers) in st.stats.items():
    if "netstage" in fn and (name.startswith("rule_") or name in (
            "run_contingency", "analyse_redundancy", "simulate", "to_arrays",
            "draw_demand", "allocate")):
        top[f"{fn.split('netstage/')[-1]}:{name}"] = round(ct, 3)
print(json.dumps({"imports": t1 - t0, "load_district": t2 - t1,
                  "classify_profiled": t3 - t2,
                  "top": dict(sorted(top.items(), key=lambda kv: -kv[1])[:16])}))
"""

_PLAIN = r"""
import json, sys, time
from netstage.simulator.io import load_district
from netstage.simulator.stage import classify
d = load_district(sys.argv[1])
t0 = time.perf_counter()
classify(d, seed=0)
print(json.dumps({"classify": time.perf_counter() - t0}))
"""


def write_district(out: Path, schools: int, students: int) -> None:
    time_process(netstage_argv("generate", "--schools", str(schools), "--students",
                               str(students), "--circuits", "2", "--dual-homed", "1",
                               "--out", str(out)))
    text = out.read_text()
    ring = "".join(
        f"- a: s{i:03d}-dist\n  b: s{i % schools + 1:03d}-dist\n  capacity_mbps: 10000.0\n"
        "  medium: fiber\n" for i in range(1, schools + 1))
    head, tail = text.split("\ncircuits:\n", 1)
    out.write_text(head + "\n" + ring + "circuits:\n" + tail)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--schools", type=int, default=40)
    ap.add_argument("--students", type=int, default=30_000)
    add_arguments(ap)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "district.yaml"
        write_district(f, args.schools, args.students)
        cmd = netstage_argv("classify", str(f))
        print(f"command: netstage classify <{args.schools} schools, {args.students:,} "
              f"students, 2 circuits, ring>   (load average {load_avg()})")
        now, before = now_and_before(cmd, args.repeat, args.before)
        plain = child_json(_PLAIN, [str(f)])
        ph = child_json(_PHASES, [str(f)])
    print_whole(now, before)
    print(f"in-process: imports {ph['imports']:.2f} s, load+validate "
          f"{ph['load_district']:.2f} s, classify() {plain['classify']:.2f} s "
          f"(whole process / classify() = {now['wall'] / plain['classify']:.2f}x)")
    print("where classify() goes (cProfile cumulative s, profiler overhead included):")
    for k, v in ph["top"].items():
        print(f"  {v:7.2f}  {k}")
    print_target(now["wall"], TARGET_S)


if __name__ == "__main__":
    main()
