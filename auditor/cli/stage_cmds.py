"""CLI: classify (Smith Stage 1-4), plan (cheapest upgrades), report (HTML/JSON/PDF)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from netstage.auditor.cli.common import console, err_console, print_json
from netstage.simulator.io import load_district
from netstage.simulator.stage import DEFAULT_N_SCENARIOS, Classification, classify

__all__ = ["register"]

FileArg = Annotated[Path, typer.Argument(help="district YAML file", show_default=False)]
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
    console.print(f"[bold]{c.district_name}: {c.stage_name}[/]")
    console.print(f"binding: {', '.join(c.binding)}   rubric: {c.rubric.version}")
    for o in c.rubric.overrides:
        console.print(f"[yellow]override:[/] {o}")
    table = Table(show_lines=False)
    for col in ("rule", "status", "allows", "explanation"):
        table.add_column(col, overflow="fold")
    for r in c.rules:
        st = _STATUS_STYLE[r.status]
        table.add_row(r.rule_id, f"[{st}]{r.status}[/]", str(r.allows_stage), r.explanation)
    console.print(table)
    if c.to_measure:
        console.print("[bold]to resolve unknown rules, measure or declare:[/]")
        for item in c.to_measure:
            console.print(f"  - {item}")


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
        d = load_district(file)
        c = classify(d, n_scenarios=scenarios, seed=seed, overrides=rubric)
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
            "--budget", min=0, help="budget in USD; plans above it are reported as over",
            show_default=False)] = None,
        json_out: JsonOpt = False,
        rubric: RubricOpt = None,
        scenarios: ScenOpt = DEFAULT_N_SCENARIOS,
        seed: SeedOpt = 0,
    ) -> None:
        """The cheapest set of upgrades that reaches the next stage (or --target-stage)."""
        from netstage.simulator.plan import plan_upgrades

        d = load_district(file)
        p = plan_upgrades(d, target_stage=target_stage, budget_usd=budget,
                          n_scenarios=scenarios, seed=seed, overrides=rubric)
        if json_out:
            print_json(p.to_json())
            return
        console.print(p.summary())
        for a in p.actions:
            console.print(f"  - {a.description}: ${a.cost_usd:,.0f}  [{a.cost_note}]")
        if not p.reached:
            raise typer.Exit(1)

    @app.command("report")
    def report_cmd(
        file: FileArg,
        out: Annotated[Path, typer.Option("--out", help="directory for the report files")],
        rubric: RubricOpt = None,
        scenarios: ScenOpt = DEFAULT_N_SCENARIOS,
        seed: SeedOpt = 0,
        pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="also write a PDF")] = True,
    ) -> None:
        """Write the stage report (one self-contained HTML file, JSON, PDF, charts)."""
        from netstage.simulator.report import write_report

        d = load_district(file)
        err_console.print(f"classifying and planning {d.district.name} ...")
        html = write_report(d, out, n_scenarios=scenarios, seed=seed, overrides=rubric, pdf=pdf)
        console.print(f"report: {html}")
