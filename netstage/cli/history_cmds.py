"""CLI: ``netstage history`` -- utilisation from a poll history."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from netstage.cli.common import console

__all__ = ["register"]


def history(
    db: Annotated[Path, typer.Option("--db", help="history database written by netstage poll")],
    percentile: Annotated[float, typer.Option("--percentile", min=0, max=100,
                                              help="percentile of the interval rates")] = 95.0,
    top: Annotated[int, typer.Option("--top", min=1, help="rows to show")] = 20,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON on stdout")] = False,
) -> None:
    """Utilisation from a poll history: per interface the p95 (or --percentile) rate."""
    from rich.table import Table

    from netstage.auditor.store import history_summary
    from netstage.cli.common import print_json

    info = history_summary(db, percentile)
    rows = info["interfaces"]
    assert isinstance(rows, list)
    if json_out:
        print_json(info)
        return
    key = f"p{percentile:g}_mbps"
    table = Table(title=f"{info['polls']} polls, {info['samples']} samples, "
                        f"{info['history_days']:.2f} days; intervals: "
                        + _counts(info["intervals"]))
    for col in ("device", "ifIndex", "name", "speed Mb/s", f"p{percentile:g} Mb/s", "util",
                "intervals"):
        table.add_column(col)
    for r in rows[:top]:
        util = r["utilisation"]
        table.add_row(escape(str(r["device"])), str(r["if_index"]), escape(str(r["name"] or "")),
                      f"{r['speed_mbps'] or 0:g}", f"{r[key]:.3f}",
                      "" if util is None else f"{float(str(util)):.1%}", _counts(r["intervals"]))
    console.print(table)



def _counts(x: object) -> str:
    """``{'ok': 125, 'skipped': 2}`` as ``125 ok, 2 skipped`` (never a Python repr)."""
    if isinstance(x, dict):
        return ", ".join(f"{v} {k}" for k, v in x.items()) or "none"
    return str(x)


def register(app: typer.Typer) -> None:
    """Add ``history`` to ``app``."""
    app.command("history")(history)
