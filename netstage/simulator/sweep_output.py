"""The state table of a sweep as files: CSV, JSON and three charts (matplotlib, Agg).

Charts:

* ``stage_distribution.png``: number of districts at each stage (plus failed rows);
* ``students_per_stage.png``: students in districts at each stage;
* ``cost_to_next_stage.png``: per district, the cost of the cheapest plan to reach
  the next stage, sorted, with the running total (the cost of lifting every district
  one stage).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from netstage.simulator.sweep import SweepRow

__all__ = ["CSV_COLUMNS", "summarise_rows", "write_charts", "write_table"]

CSV_COLUMNS = ("key", "district", "file", "students", "stage", "binding",
               "next_stage_cost_usd", "seed", "error", "note")
_STAGES = (1, 2, 3, 4)


def summarise_rows(rows: Sequence[SweepRow]) -> dict[str, Any]:
    """Totals over the table: districts and students per stage, failures, total cost (USD)."""
    ok = [r for r in rows if r.error is None and r.stage is not None]
    return {
        "districts": len(rows),
        "failed": len(rows) - len(ok),
        "districts_per_stage": {str(s): sum(1 for r in ok if r.stage == s) for s in _STAGES},
        "students_per_stage": {str(s): sum(r.students or 0 for r in ok if r.stage == s)
                               for s in _STAGES},
        "cost_to_next_stage_usd": float(sum(r.next_stage_cost_usd or 0.0 for r in ok)),
        "districts_without_plan": sum(1 for r in ok if r.stage != 4
                                      and r.next_stage_cost_usd is None),
    }


def write_table(rows: Sequence[SweepRow], out_dir: Path) -> dict[str, Path]:
    """Write ``state.csv`` and ``state.json`` into ``out_dir``; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / "state.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        for r in rows:
            d = r.to_json()
            d["binding"] = ";".join(r.binding)
            w.writerow(["" if d[c] is None else d[c] for c in CSV_COLUMNS])
    json_path = out_dir / "state.json"
    json_path.write_text(json.dumps({"summary": summarise_rows(rows),
                                     "rows": [r.to_json() for r in rows]}, indent=2) + "\n",
                         encoding="utf-8")
    return {"csv": csv_path, "json": json_path}


def write_charts(rows: Sequence[SweepRow], out_dir: Path) -> dict[str, Path]:
    """Write the three PNG charts into ``out_dir``; return their paths by name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    s = summarise_rows(rows)
    labels = [f"Stage {k}" for k in _STAGES]
    colours = ["#c0392b", "#e67e22", "#f1c40f", "#27ae60"]
    paths: dict[str, Path] = {}

    fig, ax = plt.subplots(figsize=(6, 4))
    counts = [s["districts_per_stage"][str(k)] for k in _STAGES]
    bar_labels, bar_values, bar_colours = list(labels), list(counts), list(colours)
    if s["failed"]:
        bar_labels.append("failed")
        bar_values.append(s["failed"])
        bar_colours.append("#7f8c8d")
    ax.bar(bar_labels, bar_values, color=bar_colours)
    ax.set_ylabel("districts")
    ax.set_title(f"Stage distribution ({s['districts']} districts)")
    paths["stage_distribution"] = _save(fig, out_dir / "stage_distribution.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar(labels, [s["students_per_stage"][str(k)] for k in _STAGES], color=colours)
    ax.set_ylabel("students")
    ax.set_title("Students per stage")
    paths["students_per_stage"] = _save(fig, out_dir / "students_per_stage.png")

    priced = sorted((r for r in rows if r.error is None and r.next_stage_cost_usd is not None),
                    key=lambda r: r.next_stage_cost_usd or 0.0)
    fig, ax = plt.subplots(figsize=(8, 4))
    if priced:
        costs_k = [(r.next_stage_cost_usd or 0.0) / 1000 for r in priced]
        ax.bar(range(len(priced)), costs_k,
               color=[colours[(r.stage or 1) - 1] for r in priced])
        ax.set_xlabel("districts, cheapest first (colour = current stage)")
        ax.set_ylabel("cost to next stage (k USD)")
        running = ax.twinx()
        total = 0.0
        cumulative = []
        for c in costs_k:
            total += c
            cumulative.append(total)
        running.plot(range(len(priced)), cumulative, color="black", linewidth=1,
                     label="running total")
        running.set_ylabel("running total (k USD)")
        from matplotlib.patches import Patch

        present = sorted({r.stage or 1 for r in priced})
        handles = [Patch(color=colours[k - 1], label=f"now stage {k}") for k in present]
        ax.legend(handles=handles, loc="upper left", fontsize="small")
    else:
        ax.text(0.5, 0.5, "no district has a priced plan", ha="center", va="center")
    unpriced = s["districts_without_plan"]
    priced_n = len(priced)
    if priced_n:
        title = (f"Cost to lift {priced_n} priced district{'s' if priced_n != 1 else ''} one "
                 f"stage: {s['cost_to_next_stage_usd'] / 1e6:,.2f} M USD"
                 + (f" ({unpriced} more not priced)" if unpriced else ""))
    else:
        title = ("No district below Stage 4 has a priced plan"
                 + (f" ({unpriced} not priced)" if unpriced else ""))
    ax.set_title(title)
    paths["cost_to_next_stage"] = _save(fig, out_dir / "cost_to_next_stage.png")
    return paths


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
