"""CLI: classify (Smith Stage 1-4), plan (cheapest upgrades), report (HTML/JSON/PDF)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from netstage.cli.common import (
    FileArg,
    check_output_dir,
    check_output_file,
    console,
    print_json,
    progress,
    write_output,
)

if TYPE_CHECKING:
    from netstage.simulator.stage import Classification

# The library (rules, N-1, numba kernels, scipy) loads when a command runs, not when the
# CLI starts: `netstage simulate` and `netstage capture` need none of it. The value is
# stage.DEFAULT_N_SCENARIOS (tests/test_cli_startup.py checks they agree).
DEFAULT_N_SCENARIOS = 200

__all__ = ["register"]

JsonOpt = Annotated[bool, typer.Option("--json", help="print machine-readable JSON")]
RubricOpt = Annotated[
    Path | None,
    typer.Option("--rubric", help="rubric overrides YAML (see docs/stages.md)", show_default=False),
]
ScenOpt = Annotated[int, typer.Option("--scenarios", min=10, max=100000,
                                      help="Monte Carlo scenarios per simulated rule")]
SeedOpt = Annotated[int, typer.Option("--seed", help="random seed (same seed, same answer)")]

_STATUS_STYLE = {"pass": "green", "fail": "red", "unknown": "yellow"}


def print_classification(c: Classification) -> None:
    """The human-readable classification: stage, binding rules, one row per rule."""
    from netstage.simulator.rules.base import would_change_text

    console.print(f"[bold]{escape(c.district_name)}: {c.stage_name}[/]")
    console.print(f"binding: {', '.join(c.binding)}   rubric: {c.rubric.version}")
    for o in c.rubric.overrides:
        console.print(f"[yellow]override:[/] {escape(str(o))}")
    table = Table(show_lines=False)
    for col in ("rule", "status", "allows", "explanation"):
        table.add_column(col, overflow="fold")
    for r in c.rules:
        st = _STATUS_STYLE[r.status]
        table.add_row(r.rule_id, f"[{st}]{r.status}[/]", str(r.allows_stage), escape(r.explanation))
    console.print(table)
    console.print("[bold]inputs (provenance) and what would change each verdict:[/]")
    for r in c.rules:
        ins = "; ".join(f"{i.name}={'?' if i.value is None else i.value} ({i.provenance_text})"
                        for i in r.inputs)
        console.print(f"  {r.rule_id}: {escape(ins)}", highlight=False)
        for w in r.would_change:
            if w["binds"]:
                console.print(f"    would change: {escape(would_change_text(w))}",
                              highlight=False)
    if c.to_measure:
        console.print("[bold]to resolve unknown rules, measure or declare:[/]")
        for item in c.to_measure:
            console.print(f"  - {escape(item)}")


def register(app: typer.Typer) -> None:
    """Add classify, plan and report to ``app``."""

    @app.command("classify")
    def classify_cmd(
        file: FileArg,
        json_out: JsonOpt = False,
        rubric: RubricOpt = None,
        scenarios: ScenOpt = DEFAULT_N_SCENARIOS,
        seed: SeedOpt = 0,
    ) -> None:
        """Which of Smith's stages (1-4) the district is in, rule by rule, and why."""
        from netstage.simulator.io import load_district
        from netstage.simulator.stage import classify

        d = load_district(file)
        with progress() as bar:
            task = bar.add_task("classifying", total=None)

            def tick(done: int, total: int, rule_id: str) -> None:
                bar.update(task, completed=done, total=total,
                           description=f"classifying: {rule_id}" if rule_id else "classified")

            c = classify(d, n_scenarios=scenarios, seed=seed, overrides=rubric, progress=tick)
        if json_out:
            print_json(c.to_json())
        else:
            print_classification(c)

    @app.command("plan")
    def plan_cmd(
        file: FileArg,
        target_stage: Annotated[int | None, typer.Option(
            "--target-stage", min=2, max=4, help="stage to reach (default: the next one)",
            show_default=False)] = None,
        budget: Annotated[float | None, typer.Option(
            "--budget", min=0, help="budget in USD; plans above it are reported as over, "
            "with the stage the affordable part reaches", show_default=False)] = None,
        json_out: JsonOpt = False,
        rubric: RubricOpt = None,
        catalog: Annotated[Path | None, typer.Option(
            "--catalog", help="upgrade catalog YAML with your own costs (format: "
            "simulator/data/upgrades.yaml)", show_default=False)] = None,
        write_district: Annotated[Path | None, typer.Option(
            "--write-district", help="write the upgraded district YAML here",
            show_default=False)] = None,
        scenarios: ScenOpt = DEFAULT_N_SCENARIOS,
        seed: SeedOpt = 0,
    ) -> None:
        """The cheapest upgrades found to reach the next stage (or --target-stage),
        verified by classifying the upgraded district again. Exit 1 if not reached."""
        from netstage.simulator.io import load_district
        from netstage.simulator.plan import plan_upgrades

        d = load_district(file)
        if write_district is not None:  # fail now, not after minutes of planning
            check_output_file(write_district, "--write-district", inputs=(file,))
        with progress() as bar:
            task = bar.add_task("planning", total=None)
            p = plan_upgrades(d, target_stage=target_stage, budget_usd=budget,
                              n_scenarios=scenarios, seed=seed, overrides=rubric,
                              catalog=catalog,
                              progress=lambda m: bar.update(task, description=m[:60]))
        if write_district is not None:
            write_output(write_district, p.district_yaml(), "--write-district")
        if json_out:
            print_json(p.to_json())
        else:
            console.print(escape(p.summary()))
            table = Table()
            for col in ("action", "cost (USD)", "how the cost is made up"):
                table.add_column(col, overflow="fold")
            for a in p.actions:
                table.add_row(escape(a.description), f"{a.cost_usd:,.0f}", escape(a.cost_note))
            if p.actions:
                console.print(table)
            for n in p.notes:
                console.print(f"[yellow]note:[/] {escape(n)}")
            console.print(f"[dim]catalog: {p.catalog_version}; costs are indicative[/]")
        if not p.reached:
            raise typer.Exit(1)

    @app.command("report")
    def report_cmd(
        file: FileArg,
        out: Annotated[Path, typer.Option("--out", help="directory for the report files")],
        rubric: RubricOpt = None,
        scenarios: ScenOpt = DEFAULT_N_SCENARIOS,
        seed: SeedOpt = 0,
        fmt: Annotated[list[str] | None, typer.Option(
            "--format", help="html, json and/or pdf (repeat; default all three)",
            show_default=False)] = None,
        plans: Annotated[bool, typer.Option(
            "--plans/--no-plans", help="plan upgrades to the next stage and to Stage 4")] = True,
        json_out: JsonOpt = False,
    ) -> None:
        """Write the stage report: one self-contained HTML file, JSON and PDF, plus the
        charts as PNG and SVG files."""
        from netstage.simulator.io import load_district
        from netstage.simulator.report import FORMATS, write_report

        formats = tuple(fmt) if fmt else FORMATS
        d = load_district(file)
        check_output_dir(out)  # before minutes of classifying and planning
        with progress() as bar:
            task = bar.add_task("report", total=None)
            paths = write_report(d, out, n_scenarios=scenarios, seed=seed, overrides=rubric,
                                 formats=formats, plans=None if plans else [],
                                 progress=lambda m: bar.update(task, description=m[:60]))
        if json_out:
            print_json({k: str(v) for k, v in paths.items()})
            return
        for k in formats:
            console.print(f"{k}: {escape(str(paths[k]))}")
        charts = [v for k, v in paths.items() if k.startswith("chart-")]
        console.print(f"charts: {len(charts)} files in {escape(str(out))}")
