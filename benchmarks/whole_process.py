"""Shared helpers of the whole-process benchmarks (issue 15 items 2 and 5).

A user waits for the whole ``netstage ...`` process: interpreter start, imports, YAML
load and validation, conversion, numba's compiled kernels loaded from their disk
cache, the computation and the output. These helpers time exactly that, as a
subprocess, by wall clock, and the same command against another source tree (the
``--before`` tree, e.g. ``git archive <commit> netstage | tar -x -C /tmp/before``) in
the same run, so that both figures see the same machine load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def env_for(tree: Path) -> dict[str, str]:
    """The environment that makes ``tree``'s netstage package the one imported."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tree)
    return env


def measure_process(argv: list[str], tree: Path = ROOT, *, stdout: Any = subprocess.DEVNULL,
                    ok_codes: tuple[int, ...] = (0,)) -> dict[str, float]:
    """Wall seconds, CPU seconds and peak resident memory (GB) of one run of ``argv``
    (``os.wait4`` gives this child's own resource usage, not the maximum over every
    child this process ever waited for). ``stdout``: where the child writes (a file to
    read its answer from afterwards); an exit code outside ``ok_codes`` raises."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=tree, env=env_for(tree),
                            stdout=stdout, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in ok_codes:
        raise subprocess.CalledProcessError(proc.returncode, argv)
    return {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "rss_gb": ru.ru_maxrss / 1024**2}


def time_process(argv: list[str], tree: Path = ROOT) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) of one run of ``argv``."""
    m = measure_process(argv, tree)
    return m["wall"], m["cpu"]


def best_of(argv: list[str], repeat: int, tree: Path = ROOT) -> dict[str, Any]:
    """Best (minimum) wall time of ``repeat`` runs after one untimed warm-up run (which
    fills numba's disk cache and the page cache), with the CPU time of that run and the
    largest peak resident memory of all runs."""
    time_process(argv, tree)
    runs = [measure_process(argv, tree) for _ in range(repeat)]
    best = min(runs, key=lambda m: m["wall"])
    return {"wall": best["wall"], "cpu": best["cpu"],
            "rss_gb": max(m["rss_gb"] for m in runs),
            "walls": [round(m["wall"], 3) for m in runs]}


def child_json(code: str, args: list[str], tree: Path = ROOT) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter with ``tree`` on the path; its stdout JSON."""
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, cwd=tree,
                         env=env_for(tree), capture_output=True, text=True).stdout
    res: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return res


def load_avg() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        return "?"


def netstage_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "netstage", *args]


def add_arguments(ap: argparse.ArgumentParser, repeat: int = 3) -> None:
    """The options every whole-process benchmark takes: ``--repeat`` and ``--before``."""
    ap.add_argument("--repeat", type=int, default=repeat)
    ap.add_argument("--before", type=Path, default=None,
                    help="another source tree (holding netstage/) to time beside this one")


def now_and_before(argv: list[str], repeat: int, before: Path | None
                   ) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """:func:`best_of` ``argv`` with this tree, then with the ``before`` tree if given."""
    now = best_of(argv, repeat)
    return now, (best_of(argv, repeat, before) if before else None)


def print_whole(now: dict[str, Any], before: dict[str, Any] | None) -> None:
    """The whole-process lines: this tree, and the ``--before`` tree beside it."""
    print(f"whole process (this tree)  : {now['wall']:6.2f} s wall (runs {now['walls']}), "
          f"{now['cpu']:.2f} s CPU")
    if before:
        print(f"whole process (--before)   : {before['wall']:6.2f} s wall (runs "
              f"{before['walls']}), {before['cpu']:.2f} s CPU   -> "
              f"{before['wall'] / now['wall']:.2f}x faster now")


def print_target(wall: float, target_s: float) -> None:
    """Whether the whole process met its target time."""
    met = wall <= target_s
    print(f"target <= {target_s:.0f} s whole process: {'met' if met else 'NOT met'} "
          f"({wall:.2f} s; figure / target = {wall / target_s:.2f})")
