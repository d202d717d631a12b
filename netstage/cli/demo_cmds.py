"""CLI: ``netstage demo`` -- the README's first command, end to end on bundled data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from netstage.cli.common import console, err_console, print_json

__all__ = ["register"]


def demo(
    out: Annotated[Path, typer.Option("--out", help="directory for every output")] = Path(
        "out/demo"),
    district: Annotated[Path | None, typer.Option(
        "--district", help="district YAML (default: example:stage3-emerging)",
        show_default=False)] = None,
    capture: Annotated[Path | None, typer.Option(
        "--capture", help="capture file (default: the bundled demo capture)",
        show_default=False)] = None,
    snmp: Annotated[bool, typer.Option("--snmp/--no-snmp",
                                       help="audit the district's twin over SNMP")] = True,
    with_capture: Annotated[bool, typer.Option("--capture-analysis/--no-capture-analysis",
                                               help="analyse the capture")] = True,
    scenarios: Annotated[int, typer.Option("--scenarios", min=10, max=100000,
                                           help="Monte Carlo scenarios per simulated rule")]
    = 300,
    seed: Annotated[int, typer.Option("--seed", help="random seed")] = 7,
    json_out: Annotated[bool, typer.Option("--json", help="print machine-readable JSON")]
    = False,
) -> None:
    """Run everything on the bundled data: twin SNMP agents, audit, capture, stage, report.

    Starts real snmpsim agents on 127.0.0.1 serving the district's digital twin, audits
    them, merges the measured facts, analyses the bundled capture, classifies the
    district into Stage 1-4, plans upgrades and writes the HTML/JSON/PDF report under
    --out. Exit status 1 if any step failed (the others still run).
    """
    from netstage.auditor.demo import run_demo

    def say(msg: str) -> None:
        err_console.print(msg, highlight=False, markup=False)

    res = run_demo(out, district_file=district, capture_file=capture, snmp=snmp,
                   capture=with_capture, n_scenarios=scenarios, seed=seed, say=say)
    if json_out:
        print_json(res.to_json())
    else:
        table = Table(title="netstage demo")
        for col in ("step", "result", "seconds"):
            table.add_column(col, overflow="fold")
        for s in res.steps:
            status = "[green]ok[/] " if s.ok else "[red]FAILED[/] "
            table.add_row(escape(s.name), status + escape(s.detail), f"{s.elapsed_s:.1f}")
        console.print(table)
        if res.stage is not None:
            console.print(f"[bold]Stage {res.stage}[/] (binding: {', '.join(res.binding)})")
        if res.report_html is not None:
            console.print(f"Report: [bold]{escape(str(res.report_html.resolve()))}[/]")
    if not res.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``demo`` to ``app``."""
    app.command("demo")(demo)
