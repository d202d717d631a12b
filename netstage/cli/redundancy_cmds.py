"""CLI: ``netstage redundancy``, ``netstage contingency`` and ``netstage availability``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from netstage.cli.common import console, err_console, print_json, progress

if TYPE_CHECKING:
    from netstage.simulator.model import District

__all__ = ["register"]

FileArg = Annotated[Path, typer.Argument(
    help="district YAML file (or a GraphML file, imported as `netstage import graphml` does)",
    show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="print machine-readable JSON")]


def load_any(path: Path) -> District:
    """A district from YAML, or from GraphML (``.graphml``/``.xml``) via the importer."""
    if path.suffix.lower() in (".graphml", ".xml"):
        from netstage.simulator.importers.graphml import read_graphml

        imp = read_graphml(path)
        for w in imp.warnings:
            err_console.print(f"[yellow]warning:[/] {escape(w)}", highlight=False,
                              soft_wrap=True)
        return imp.district
    from netstage.simulator.io import load_district

    return load_district(path)


def redundancy_cmd(
    file: FileArg,
    json_out: JsonOpt = False,
    top: Annotated[int, typer.Option("--top", min=0,
                                     help="single points of failure to list")] = 10,
) -> None:
    """Disjoint paths from every site to the Internet, bridges, articulation points and
    the single points of failure with the students they would cut off."""
    from netstage.simulator.redundancy import analyse_redundancy

    d = load_any(file)
    rep = analyse_redundancy(d)
    if json_out:
        print_json(rep.to_json())
        return
    groups = bool(rep.srlg_groups)
    console.print(f"[bold]{escape(rep.district)}[/]: {rep.circuits} Internet circuit(s), "
                  f"worst school has {rep.min_edge_disjoint_paths} edge-disjoint path(s)"
                  + (f", {rep.min_srlg_disjoint_paths} SRLG-disjoint" if groups else ""))
    table = Table()
    for col in ("site", "kind", "students", "edge-disjoint",
                *(["SRLG-disjoint"] if groups else []), "node-disjoint",
                "single-homed nodes"):
        table.add_column(col, overflow="fold")
    for s in rep.sites:
        style = "red" if s.edge_disjoint_paths < 2 and s.kind == "school" else ""
        lone = ", ".join(s.single_homed_nodes[:4]) + (
            " ..." if len(s.single_homed_nodes) > 4 else "")
        srlg = (f"{s.srlg_disjoint_paths}{'' if s.srlg_exact else ' (at most)'}"
                + (f" ({', '.join(s.srlg_binding)})" if s.srlg_binding else ""))
        table.add_row(s.site, s.kind, str(s.students),
                      f"[{style}]{s.edge_disjoint_paths}[/]" if style
                      else str(s.edge_disjoint_paths), *([escape(srlg)] if groups else []),
                      str(s.node_disjoint_paths), lone)
    console.print(table)
    if rep.redundant_stacks:
        console.print("redundant stacks/chassis (not single points of failure): "
                      + escape(", ".join(rep.redundant_stacks)))
    console.print(f"bridges: {len(rep.bridges)}   articulation points: "
                  f"{len(rep.articulation_points)}   single points of failure counted by "
                  f"R-HA: {len(rep.counted_spofs)} (of {len(rep.spofs)})")
    if rep.counted_spofs and top:
        spt = Table(title="worst single points of failure (R-HA counted)")
        for col in ("element", "kind", "students cut", "devices cut", "sites"):
            spt.add_column(col, overflow="fold")
        for f in rep.counted_spofs[:top]:
            sites = ", ".join(f.sites[:6]) + (" ..." if len(f.sites) > 6 else "")
            spt.add_row(f.element, f.node_kind or f.kind, str(f.students), str(f.devices),
                        sites)
        console.print(spt)


def contingency_cmd(
    file: FileArg,
    scenarios: Annotated[int, typer.Option("--scenarios", min=1, max=100000,
                                           help="Monte Carlo scenarios (shared by all "
                                                "contingencies)")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="random seed")] = 7,
    scenario: Annotated[str, typer.Option("--scenario",
                                          help="scenario type (scenarios.yaml)")] = "now",
    include_access: Annotated[bool, typer.Option(
        "--include-access", help="also fail school access switches, APs and AP uplinks",
    )] = False,
    top: Annotated[int, typer.Option("--top", min=1, help="rows to show")] = 15,
    json_out: JsonOpt = False,
) -> None:
    """N-1: fail every link and node in turn, re-route and re-simulate; worst first."""
    from netstage.simulator.contingency import run_contingency

    d = load_any(file)
    with progress() as bar:
        task = bar.add_task("contingencies", total=None)

        def tick(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        rep = run_contingency(d, n_scenarios=scenarios, seed=seed, scenario=scenario,
                              include_access=include_access, progress=tick)
    if json_out:
        print_json(rep.to_json())
        return
    b = rep.base
    console.print(f"[bold]{escape(rep.district)}[/]: {len(rep.contingencies)} contingencies, "
                  f"scenario '{rep.scenario}', {rep.n_scenarios} scenarios (seed "
                  f"{rep.seed}), {rep.elapsed_s:.1f} s")
    console.print(f"no failure: p95 unserved {b.unserved_p95:.1%}, p95 throttled "
                  f"{b.throttled_p95:.1%}")
    table = Table(title="worst single failures")
    for col in ("element", "type", "p95 unserved", "p95 throttled", "students cut off",
                "rerouted points", "sites"):
        table.add_column(col, overflow="fold")
    for c in rep.contingencies[:top]:
        sites = ", ".join(c.sites_affected[:5]) + (" ..." if len(c.sites_affected) > 5
                                                   else "")
        table.add_row(c.element, c.node_kind or c.element_type, f"{c.unserved_p95:.1%}",
                      f"{c.throttled_p95:.1%}", str(c.disconnected_students),
                      str(c.rerouted_points), sites)
    console.print(table)
    console.print(f"worst p95 unserved under a single failure: "
                  f"{rep.worst_unserved_p95:.1%}; not failed (end devices, a school's own "
                  f"access switches): {len(rep.excluded)}")


def availability_cmd(
    file: FileArg,
    reliability: Annotated[Path | None, typer.Option(
        "--reliability", help="MTBF/MTTR file in the format of the shipped "
                              "reliability.yaml", show_default=False)] = None,
    json_out: JsonOpt = False,
) -> None:
    """Expected outage hours per year per site and district-wide (MTBF/MTTR)."""
    from netstage.simulator.availability import estimate_availability, load_reliability

    d = load_any(file)
    rel = load_reliability(reliability) if reliability is not None else None
    rep = estimate_availability(d, reliability=rel)
    if json_out:
        print_json(rep.to_json())
        return
    console.print(f"[bold]{escape(rep.district)}[/]: expected outage "
                  f"{rep.district_expected_outage_h_per_year:.2f} h/yr per student "
                  f"(student-weighted over schools); worst school: {rep.worst_site}")
    table = Table()
    for col in ("site", "kind", "outage h/yr", "availability", "from single points",
                "largest contributors (h/yr)"):
        table.add_column(col, overflow="fold")
    for s in rep.sites:
        top = ", ".join(f"{c.element} {c.hours_per_year:.2f}" for c in s.top_contributors[:3])
        table.add_row(s.site, s.kind, f"{s.expected_outage_h_per_year:.2f}",
                      f"{s.availability:.5f}", f"{s.single_point_share:.0%}", top)
    console.print(table)
    if not rep.second_order:
        console.print("[yellow]note:[/] too many redundant elements for order-2 cut sets; "
                      "figures count single points of failure only")


def register(app: typer.Typer) -> None:
    """Add ``redundancy``, ``contingency`` and ``availability`` to ``app``."""
    app.command("redundancy")(redundancy_cmd)
    app.command("contingency")(contingency_cmd)
    app.command("availability")(availability_cmd)
