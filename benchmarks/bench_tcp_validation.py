"""The simulator checked against real TCP (issue 16 item 5): every case of
:data:`netstage.auditor.lab.tcpcheck.CASES`, as root.

    sudo .venv/bin/python benchmarks/bench_tcp_validation.py
    sudo .venv/bin/python benchmarks/bench_tcp_validation.py --cc cubic --repeats 3
    sudo .venv/bin/python benchmarks/bench_tcp_validation.py --cases nested-2+2 --repeats 1

Each case is built as a small lab (namespaces ``tcpv<pid>-*``, removed after each case;
``netstage lab down --prefix tcpv<pid>-`` also removes them), every device runs one
long-lived TCP flow to a server beyond the circuit for ``--warmup`` + ``--seconds``
(default 2 + 8 s, measured over the last 8), ``--repeats`` (default 5) times with fresh
connections; each flow's goodput (mean over the runs) is compared with the max-min share
the simulator's own kernel gives it, converted to goodput (share / scale x MSS / 1514).

Target: per case, mean absolute error <= 10 % of the fair share and the same bottleneck
link for every flow. Prints the table (markdown), writes ``--json`` and the chart
``--chart`` (predicted vs measured, docs/validation-tcp.png by default).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from netstage.auditor.lab.tcpcheck import CASES, CaseResult, run_case  # noqa: E402

TARGET = 0.10


def table(results: list[CaseResult]) -> str:
    rows = ["| case | TCP | flows | shaped bottlenecks (Mbit/s) | predicted goodput per flow "
            "(Mbit/s) | measured mean [min-max] | mean abs. error | max error | error of the "
            "mean per switch | same bottlenecks | verdict |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        by_attach: dict[str, list[tuple[float, float]]] = {}
        for f in r.flows:
            by_attach.setdefault(f.attach, []).append((f.predicted_mbps, f.measured_mbps))
        pred = "; ".join(f"{a} {v[0][0]:.2f}" for a, v in by_attach.items())
        meas = "; ".join(f"{a} {sum(m for _p, m in v) / len(v):.2f} "
                         f"[{min(m for _p, m in v):.2f}-{max(m for _p, m in v):.2f}]"
                         for a, v in by_attach.items())
        bns = sorted({f.predicted_bottleneck for f in r.flows})
        shaped = ", ".join(f"{b} {r.link_shaped_mbps[b]:g}" for b in bns)
        wrong = [f"{f.flow}: {f.measured_bottleneck}" for f in r.flows
                 if f.measured_bottleneck != f.predicted_bottleneck]
        same = "yes" if not wrong else "no (" + ", ".join(wrong) + ")"
        ok = r.mean_error <= TARGET and not wrong
        rows.append(f"| {r.case.name} | {r.cc} | {len(r.flows)} | {shaped} | {pred} | {meas} "
                    f"| {r.mean_error:.1%} | {r.max_error:.1%} | {r.switch_error:.1%} | {same} | "
                    f"{'met' if ok else '**not met**'} |")
    return "\n".join(rows)


def chart(results: list[CaseResult], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ccs = list(dict.fromkeys(r.cc for r in results))  # in the order run
    fig, axes = plt.subplots(1, len(ccs), figsize=(5.2 * len(ccs), 5), squeeze=False)
    marks = {"one-bottleneck": "o", "nested": "s", "parking-lot": "^"}
    for ax, cc in zip(axes[0], ccs, strict=True):
        top = 0.0
        for shape, mark in marks.items():
            xs = [f.predicted_mbps for r in results if r.cc == cc and r.case.shape == shape
                  for f in r.flows]
            ys = [f.measured_mbps for r in results if r.cc == cc and r.case.shape == shape
                  for f in r.flows]
            if xs:
                ax.scatter(xs, ys, marker=mark, label=shape, alpha=0.75)
                top = max(top, *xs, *ys)
        top *= 1.08
        ax.plot([0, top], [0, top], color="black", lw=1, label="measured = predicted")
        ax.fill_between([0, top], [0, 0.9 * top], [0, 1.1 * top], color="grey", alpha=0.15,
                        label="±10 %")
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_xlabel("predicted goodput: max-min share (Mbit/s in the lab)")
        ax.set_ylabel("measured TCP goodput (Mbit/s)")
        reps = sorted({r.repeats for r in results if r.cc == cc})
        ax.set_title(f"TCP {cc}: one point per flow (mean of {'/'.join(map(str, reps))} runs)")
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="", help="comma-separated case names (default all)")
    ap.add_argument("--cc", default="reno", help="TCP congestion control(s), comma-separated")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--scale", type=float, default=100.0)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--chart", default=str(ROOT / "docs" / "validation-tcp.png"),
                    help="PNG to write ('' for none)")
    ap.add_argument("--from-json", type=Path, nargs="+", default=None,
                    help="print the table and draw the chart of saved --json runs")
    a = ap.parse_args()
    if a.from_json:
        saved = [CaseResult.from_json(x) for f in a.from_json for x in json.loads(f.read_text())]
        print(table(saved))
        if a.chart:
            chart(saved, Path(a.chart))
        return 0
    if os.geteuid() != 0:
        print("bench_tcp_validation: needs root (network namespaces)", file=sys.stderr)
        return 2
    names = [x for x in a.cases.split(",") if x]
    cases = [c for c in CASES if not names or c.name in names]
    results: list[CaseResult] = []
    t0 = time.monotonic()
    with open("/proc/loadavg") as fh:
        load = fh.read().split()[0]
    for cc in a.cc.split(","):
        for c in cases:
            r = run_case(c, prefix=f"tcpv{os.getpid()}-", scale=a.scale, warmup_s=a.warmup,
                         seconds=a.seconds, cc=cc, repeats=a.repeats)
            results.append(r)
            print(f"{c.name} ({cc}): mean error {r.mean_error:.1%}, max {r.max_error:.1%}, "
                  f"same bottlenecks {r.same_bottlenecks}", file=sys.stderr)
    print(f"\n{len(results)} cases in {time.monotonic() - t0:.0f} s; load average at start "
          f"{load} on {os.cpu_count()} CPUs; scale {a.scale:g}; {a.repeats} x "
          f"({a.warmup:g} s warm-up + {a.seconds:g} s measured) per case\n")
    print(table(results))
    if a.json:
        a.json.write_text(json.dumps([r.to_json() for r in results], indent=1))
    if a.chart and results:
        chart(results, Path(a.chart))
        print(f"\nchart: {a.chart}")
    return 0 if all(r.mean_error <= TARGET and r.same_bottlenecks for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
