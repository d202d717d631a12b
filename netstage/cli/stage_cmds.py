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
    from netstage.simulator.model import District
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


def print_classification(c: Classification, d: District | None = None) -> None:
    """The human-readable classification: the stage sentence, one row per rule with its
    sentence (:mod:`netstage.simulator.wording`), inputs and what would change each."""
    from netstage.simulator import wording
    console.print(f"[bold]{escape(c.district_name)}: {c.stage_name}[/]")
    console.print(escape(wording.stage_sentence(c, d)), highlight=False)
    console.print(f"rubric: {escape(c.rubric.version)}", highlight=False)
    for o in c.rubric.overrides:
        console.print(f"[yellow]override:[/] {escape(str(o))}")
    table = Table(show_lines=True)
    for col in ("rule", "status", "allows", "what was found"):
        table.add_column(col, overflow="fold")
    for r in c.rules:
        st = _STATUS_STYLE[r.status]
        table.add_row(f"{escape(wording.RULE_NAMES.get(r.rule_id, r.rule_id))}\n"
                      f"[dim]{r.rule_id}[/]", f"[{st}]{r.status}[/]",
                      f"Stage {r.allows_stage}", escape(wording.rule_sentence(r, d)))
    console.print(table)
    console.print("[bold]inputs (where each came from) and what would change each verdict:[/]")
    for r in c.rules:
        ins = "; ".join(f"{wording.INPUT_LABELS.get(i.name, i.name)}: "
                        f"{wording.input_value(i)} ({wording.input_source(i)})"
                        for i in r.inputs)
        console.print(f"  {r.rule_id}: {escape(ins)}", highlight=False)
        for w in r.would_change:
            if w["binds"]:
                console.print(f"    would change: {escape(wording.need_sentence(r, w))}",
                              highlight=False)
    if c.to_measure:
        console.print("[bold]to resolve unknown rules, measure or declare:[/]")
        for r in c.rules:
            for item in r.to_resolve:
                console.print(f"  - {r.rule_id}: {escape(wording.resolve_text(item))}",
                              highlight=False)


def _within_budget(fits: object, budget: float, stage_before: int) -> str:
    """The best plan within ``budget``, as a sentence (``fits`` None: nothing fits)."""
    from netstage.simulator import wording

    if fits is None:
        return (f"Within the ${budget:,.0f} budget no verified plan lifts the district above "
                f"Stage {stage_before}.")
    n = len(getattr(fits, "actions", []))
    return (f"Within the ${budget:,.0f} budget, the best plan found reaches Stage "
            f"{getattr(fits, 'stage_after', '')}: {wording.plural(n, 'action')} costing about "
            f"${float(getattr(fits, 'cost_usd', 0.0)):,.0f}.")


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
        print_classification(c, d)


def plan_cmd(
    file: FileArg,
    target_stage: Annotated[int | None, typer.Option(
        "--target-stage", min=2, max=4, help="stage to reach (default: the next one)",
        show_default=False)] = None,
    budget: Annotated[float | None, typer.Option(
        "--budget", min=0, help="budget in USD; a plan above it is reported as over, "
        "with the best verified plan that fits and the stage it reaches",
        show_default=False)] = None,
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
    from netstage.simulator import wording
    from netstage.simulator.io import load_district
    from netstage.simulator.plan import best_plan_within, plan_upgrades

    d = load_district(file)
    if write_district is not None:  # fail now, not after minutes of planning
        check_output_file(write_district, "--write-district", inputs=(file,))
    with progress() as bar:
        task = bar.add_task("planning", total=None)
        p = plan_upgrades(d, target_stage=target_stage, budget_usd=budget,
                          n_scenarios=scenarios, seed=seed, overrides=rubric,
                          catalog=catalog,
                          progress=lambda m: bar.update(task, description=m[:60]))
        # over budget: the best verified plan that fits (a lower stage)
        fits = None
        if budget is not None and p.cost_usd > budget:
            fits = best_plan_within(d, budget, plan=p, n_scenarios=scenarios, seed=seed,
                                    overrides=rubric, catalog=catalog,
                                    progress=lambda m: bar.update(task, description=m))
    if write_district is not None:
        write_output(write_district, p.district_yaml(), "--write-district")
    if json_out:
        print_json(p.to_json())
    else:
        console.print(escape(wording.plan_sentence(p)), highlight=False)
        table = Table()
        for col in ("action", f"{p.cost_years:g}-year cost (USD)", "range (USD)",
                    "how the cost is made up (price source)"):
            table.add_column(col, overflow="fold")
        for a in p.actions:
            table.add_row(escape(wording.fix_plurals(a.description)), f"{a.cost_usd:,.0f}",
                          f"{a.cost_low_usd:,.0f}-{a.cost_high_usd:,.0f}",
                          escape(wording.cost_note_text(a.cost_note)))
        if p.actions:
            console.print(table)
            console.print(f"total: {escape(p.cost_line())}")
        for n in p.notes:
            console.print(f"[yellow]note:[/] {escape(wording.note_text(n))}")
        if budget is not None and p.cost_usd > budget:
            console.print(escape(_within_budget(fits, budget, p.stage_before)),
                          highlight=False)
            if fits is not None and fits.actions:
                for a in fits.actions:
                    console.print(f"  - {escape(wording.fix_plurals(a.description))}: "
                                  f"${a.cost_usd:,.0f}",
                                  highlight=False)
        console.print(f"[dim]catalog: {p.catalog_version}; costs are indicative[/]")
    if not p.reached:
        raise typer.Exit(1)


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
    audit_file: Annotated[Path | None, typer.Option(
        "--audit", help="audit JSON (netstage audit --out/--json): merge what it "
                        "measured into the district (as normalise --base) and add an "
                        "SNMP audit section", show_default=False)] = None,
    capture_file: Annotated[Path | None, typer.Option(
        "--capture", help="pcap or pcapng file: analyse it as netstage capture does "
                          "and add a capture section", show_default=False)] = None,
    history_db: Annotated[Path | None, typer.Option(
        "--history", help="poll history (netstage poll --db): add a poll history "
                          "section; with --audit the background load is its p95",
        show_default=False)] = None,
    json_out: JsonOpt = False,
) -> None:
    """Write the stage report: one self-contained HTML file, JSON and PDF, plus the
    charts as PNG and SVG files.

    --audit, --capture and --history attach what was measured, as `netstage demo`
    does: the audit is merged into the district before classifying (declared values
    it replaces are printed and listed in the report), the capture and the poll
    history get their own sections.
    """
    from netstage.auditor.attach import attach_measurements
    from netstage.simulator.io import load_district
    from netstage.simulator.report import FORMATS
    from netstage.simulator.study import Study

    formats = tuple(fmt) if fmt else FORMATS
    d = load_district(file)
    check_output_dir(out)  # before minutes of classifying and planning
    # every attached input is read before the long work: a bad file fails in seconds
    att = attach_measurements(d, out, audit_file=audit_file, capture_file=capture_file,
                              history_db=history_db)
    d, extra, differences = att.district, att.extra, att.differences
    for x in [] if json_out else differences:
        console.print(f"differs from declared: {escape(x.sentence)}", highlight=False)
    with progress() as bar:
        task = bar.add_task("report", total=None)
        study = Study(d, n_scenarios=scenarios, seed=seed, overrides=rubric,
                      source=str(file))
        paths = study.report(out, formats=formats, plans=plans, extra=extra or None,
                             progress=lambda m: bar.update(task, description=m[:60]))
    if json_out:
        print_json({**{k: str(v) for k, v in paths.items()},
                    **({"differences": [x.to_json() for x in differences]}
                       if audit_file is not None else {})})
        return
    for k in formats:
        console.print(f"{k}: {escape(str(paths[k]))}")
    if "pdf-fallback" in paths:
        console.print("[yellow]note:[/] report.pdf is a plain fallback: Chromium was not "
                      "found or failed, so the HTML page could not be printed; install "
                      "chromium or print report.html from a browser")
    charts = [v for k, v in paths.items() if k.startswith("chart-")]
    console.print(f"charts: {len(charts)} files in {escape(str(out))}")


def register(app: typer.Typer) -> None:
    """Add classify, plan and report to ``app``."""
    app.command("classify")(classify_cmd)
    app.command("plan")(plan_cmd)
    app.command("report")(report_cmd)
