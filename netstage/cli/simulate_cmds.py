"""CLI: ``netstage simulate`` (Monte Carlo busy hour with max-min fair sharing)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from netstage.cli.common import console, print_json, progress

if TYPE_CHECKING:  # the engine (numba) loads only when a simulation runs
    from netstage.simulator.simulate import SimulationResult

__all__ = ["print_simulation", "register"]


def _pct(x: float) -> str:
    return f"{x:.1%}"


def print_simulation(r: SimulationResult, top: int = 10) -> None:
    """Human-readable summary: percentiles over scenarios and the worst links."""
    console.print(f"[bold]{escape(r.district)}[/]: scenario '{r.scenario}', "
                  f"{r.n_scenarios} scenarios, seed {r.seed}, {r.n_devices} devices"
                  + (f", demand x{r.growth_factor:.2f} (growth)" if r.growth_factor != 1 else ""))
    t = Table(title="over scenarios")
    for col in ("measure", "mean", "p50", "p95", "p99"):
        t.add_column(col, justify="left" if col == "measure" else "right")
    rows = [("unserved fraction", "unserved_fraction", _pct),
            ("throttled devices", "throttled_share", _pct),
            ("disconnected devices", "disconnected_share", _pct),
            ("unassociated (AP full)", "unassociated_share", _pct),
            ("active devices", "active_devices", lambda v: f"{v:,.0f}"),
            ("demand Mbps", "demand_mbps", lambda v: f"{v:,.1f}"),
            ("served Mbps", "served_mbps", lambda v: f"{v:,.1f}")]
    for label, name, fmt in rows:
        p = r.percentiles(name)
        mean = float(getattr(r, name).mean())
        t.add_row(label, fmt(mean), fmt(p["p50"]), fmt(p["p95"]), fmt(p["p99"]))
    console.print(t)
    worst = r.worst_links(top)
    lt = Table(title="worst bottleneck links")
    lt.add_column("link", no_wrap=True)
    lt.add_column("role")
    for col in ("capacity Mbps", "bottleneck", "devices held", "use p95", "use mean"):
        lt.add_column(col, justify="right")
    for i in worst:
        lt.add_row(r.link_ids[i], r.link_roles[i], f"{r.link_capacity_mbps[i]:,.0f}",
                   _pct(float(r.bottleneck_frequency[i])), f"{r.bottleneck_devices_mean[i]:,.1f}",
                   _pct(float(r.link_util_p95[i])), _pct(float(r.link_util_mean[i])))
    console.print(lt)
    console.print("bottleneck: share of scenarios in which the link holds devices at its fair "
                  "share; devices held: mean number of such devices")
    st = Table(title="per site")
    for col in ("site", "devices", "active (mean)", "unserved p95", "throttled p95",
                "Mbps per active (mean)"):
        st.add_column(col, justify="left" if col == "site" else "right")
    for sid, s in r.per_site.items():
        if not s["devices"]:
            continue
        st.add_row(sid, f"{s['devices']:,.0f}", f"{s['active_mean']:,.1f}",
                   _pct(s["unserved_p95"]), _pct(s["throttled_p95"]),
                   f"{s['rate_per_active_mbps_mean']:.2f}")
    console.print(st)
    for w in r.warnings:
        console.print(f"[yellow]warning:[/] {escape(w)}")


def simulate_cmd(
    file: Annotated[Path, typer.Argument(help="district YAML file", show_default=False)],
    scenario: Annotated[str, typer.Option(
        "--scenario", help="scenario type: lab, now, future, testing, update-storm "
        "(or one from --scenario-file)")] = "now",
    scenarios: Annotated[int, typer.Option(
        "--scenarios", min=1, max=1_000_000, help="Monte Carlo scenarios")] = 1000,
    seed: Annotated[int, typer.Option(
        "--seed", help="random seed (same seed, same answer)")] = 7,
    growth_years: Annotated[float | None, typer.Option(
        "--growth-years", min=0, max=50, help="planning horizon for growing scenario types "
        "(default: the district's)", show_default=False)] = None,
    apps_file: Annotated[Path | None, typer.Option(
        "--apps", help="application profiles YAML replacing the shipped apps.yaml",
        show_default=False)] = None,
    scenario_file: Annotated[Path | None, typer.Option(
        "--scenario-file", help="scenario types YAML replacing the shipped scenarios.yaml",
        show_default=False)] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="links in the table")] = 10,
    json_out: Annotated[bool, typer.Option(
        "--json", help="print machine-readable JSON (docs/simulation.md)")] = False,
    per_scenario: Annotated[bool, typer.Option(
        "--per-scenario", help="with --json: include the per-scenario arrays")] = False,
) -> None:
    """Simulate the busy hour: who gets how much bandwidth, how often it throttles."""
    from netstage.simulator.arrays import to_arrays
    from netstage.simulator.io import load_district
    from netstage.simulator.profiles import load_apps, load_scenarios
    from netstage.simulator.simulate import simulate

    if per_scenario and not json_out:
        raise typer.BadParameter("the per-scenario arrays are part of the JSON output; "
                                 "add --json", param_hint="--per-scenario")
    d = load_district(file)
    apps = load_apps(apps_file) if apps_file else None
    scen = load_scenarios(scenario_file, apps=apps) if scenario_file else None
    arrays = to_arrays(d)
    with progress() as bar:
        task = bar.add_task(f"simulating '{scenario}'", total=scenarios)
        res = simulate(
            arrays, scenario=scenario, n_scenarios=scenarios, seed=seed,
            growth_years=growth_years, apps=apps, scenarios=scen,
            progress=lambda done, total: bar.update(task, completed=done),
        )
    if json_out:
        print_json(res.to_json(per_scenario=per_scenario))
    else:
        print_simulation(res, top=top)


def register(app: typer.Typer) -> None:
    """Add ``simulate`` to ``app``."""
    app.command("simulate")(simulate_cmd)
