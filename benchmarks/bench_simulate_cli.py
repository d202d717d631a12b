"""Whole-process benchmark of ``netstage simulate`` (issue 15 item 5).

    .venv/bin/python benchmarks/bench_simulate_cli.py
    .venv/bin/python benchmarks/bench_simulate_cli.py --before /tmp/before   # + old tree

Figure: ``netstage simulate FILE --scenarios 1000`` on a generated 100,000-student
district (``netstage generate --schools 60 --students 100000``, written to a temporary
directory), timed as a subprocess by wall clock, best of ``--repeat`` runs after one
warm-up run. Target: <= 2 s.

Baselines in the same run:
* in-process: the same work inside one fresh interpreter, phase by phase (imports,
  YAML load + validation, conversion to arrays, loading the compiled kernels, the
  ``simulate()`` call): the floor a process cannot go below, and where the rest goes;
* overhead: the same command with ``--scenarios 1`` (everything but the simulation);
* ``--before TREE``: the same commands run with another source tree's netstage (the
  code before this change), so the gain is measured under the same machine load.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from whole_process import (
    add_arguments,
    best_of,
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
import json, sys, time
t0 = time.perf_counter()
from netstage.simulator.arrays import to_arrays
from netstage.simulator.io import load_district
from netstage.simulator.simulate import simulate
t1 = time.perf_counter()
d = load_district(sys.argv[1])
t2 = time.perf_counter()
a = to_arrays(d)
t3 = time.perf_counter()
simulate(a, n_scenarios=1, seed=7)          # loads the compiled kernels from the cache
t4 = time.perf_counter()
simulate(a, n_scenarios=int(sys.argv[2]), seed=7)
t5 = time.perf_counter()
print(json.dumps({"imports": t1 - t0, "load_district": t2 - t1, "to_arrays": t3 - t2,
                  "kernel_load": t4 - t3, "simulate": t5 - t4}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--students", type=int, default=100_000)
    ap.add_argument("--schools", type=int, default=60)
    ap.add_argument("--scenarios", type=int, default=1000)
    add_arguments(ap)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "district.yaml"
        time_process(netstage_argv("generate", "--schools", str(args.schools),
                                   "--students", str(args.students), "--out", str(f)))
        cmd = netstage_argv("simulate", str(f), "--scenarios", str(args.scenarios))
        print(f"command: netstage simulate <{args.schools} schools, {args.students:,} "
              f"students> --scenarios {args.scenarios}   (load average {load_avg()})")
        now, before = now_and_before(cmd, args.repeat, args.before)
        # the same process with one scenario: start-up, imports, load, conversion and
        # kernel load only -- the part this benchmark's changes act on
        cmd1 = [*cmd[:-1], "1"]
        over, over_before = now_and_before(cmd1, args.repeat, args.before)
        ph = child_json(_PHASES, [str(f), str(args.scenarios)])
        floor = best_of([sys.executable, "-c", "pass"], args.repeat)
    print_whole(now, before)
    print(f"overhead (--scenarios 1)   : {over['wall']:6.2f} s wall, {over['cpu']:.2f} s CPU"
          + (f"; --before {over_before['wall']:.2f} s wall, {over_before['cpu']:.2f} s CPU"
             f" -> {over_before['cpu'] / over['cpu']:.2f}x less CPU now"
             if over_before else ""))
    print(f"in-process phases          : imports {ph['imports']:.2f} s, load+validate "
          f"{ph['load_district']:.2f} s, to_arrays {ph['to_arrays']:.2f} s, kernel cache "
          f"load {ph['kernel_load']:.2f} s, simulate() {ph['simulate']:.2f} s")
    print(f"interpreter start (python -c pass): {floor['wall']:.3f} s")
    rest = now["wall"] - ph["simulate"]
    print(f"whole process / in-process simulate() = {now['wall'] / ph['simulate']:.2f}x "
          f"(everything but the simulation: {rest:.2f} s)")
    print_target(now["wall"], TARGET_S)


if __name__ == "__main__":
    main()
