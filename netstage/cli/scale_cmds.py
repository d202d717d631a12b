"""CLI: ``netstage sweep`` (state-wide, on Dask) and ``netstage import netbox|graphml``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from netstage.cli.common import (
    check_output_dir,
    check_output_file,
    console,
    err_console,
    print_json,
    progress,
    write_output,
)
from netstage.simulator.errors import ConfigError

if TYPE_CHECKING:
    from netstage.simulator.model import District

OutOpt = Annotated[Path | None, typer.Option("--out", help="write the district YAML here "
                                             "instead of stdout")]


def _write_district(d: District, out: Path | None, header: str,
                    warnings: list[str] | None = None, inputs: tuple[Path, ...] = ()) -> None:
    from netstage.simulator.io import dump_district

    for w in warnings or []:
        err_console.print(f"[yellow]warning:[/] {escape(str(w))}", highlight=False,
                          soft_wrap=True)
    text = f"# {header}\n" + dump_district(d)
    if out is None:
        print(text, end="")
        return
    write_output(out, text, "--out", inputs=inputs)
    err_console.print(f"wrote {escape(str(out))} ({len(d.sites)} sites, {len(d.nodes)} nodes, "
                      f"{len(d.links)} links, {len(d.circuits)} circuits)", highlight=False)


def sweep(
    districts: Annotated[list[Path] | None, typer.Argument(
        help="district YAML files or directories of them", show_default=False)] = None,
    generate: Annotated[int, typer.Option(
        "--generate", min=0, help="add N synthetic districts of mixed size")] = 0,
    seed: Annotated[int, typer.Option(
        help="base seed: per-district seeds derive from it and the district's name")] = 0,
    workers: Annotated[int | None, typer.Option(
        min=0, help="local Dask worker processes (0 = in-process, no Dask; "
                    "default: one per CPU)")] = None,
    scheduler: Annotated[str | None, typer.Option(
        help="run on an existing Dask scheduler, e.g. tcp://127.0.0.1:8786")] = None,
    scenarios: Annotated[int, typer.Option(
        "--scenarios", min=1, help="Monte-Carlo scenarios per district")] = 200,
    out: Annotated[Path, typer.Option(
        help="directory for state.csv, state.json and the charts")] = Path("sweep-results"),
    plan: Annotated[bool, typer.Option(
        help="price the cheapest plan to the next stage (--no-plan: stage only, faster)"
    )] = True,
    charts: Annotated[bool, typer.Option(help="write the PNG charts")] = True,
    json_out: Annotated[bool, typer.Option("--json", help="print the table as JSON")] = False,
) -> None:
    """Classify many districts (state-wide) on Dask; write the state table and charts.

    Every district gets its own seed, derived from --seed and its name, so the table is the same on 0, 1 or many workers. A district that fails is a row with its error (exit code 1 after everything is written), never an aborted sweep.
    """  # noqa: E501
    from netstage.auditor.sweep_dask import run_sweep
    from netstage.simulator.sweep import (
        classify_evaluator,
        expand_district_paths,
        file_specs,
        synthetic_specs,
    )
    from netstage.simulator.sweep_output import summarise_rows, write_charts, write_table

    if workers is not None and scheduler is not None:
        raise typer.BadParameter("give either --workers or --scheduler, not both",
                                 param_hint="--scheduler")
    specs = (file_specs(expand_district_paths(districts or []), seed)
             + synthetic_specs(generate, seed))
    if not specs:
        raise typer.BadParameter("give district files/directories or --generate N",
                                 param_hint="DISTRICTS")
    check_output_dir(out, "--out")  # before the long work, as a one-line error
    n_workers = workers if workers is not None else (os.cpu_count() or 1)
    where = (f"scheduler {scheduler}" if scheduler else
             "in-process" if n_workers == 0 else f"{n_workers} local Dask workers")
    err_console.print(f"sweeping {len(specs)} districts ({scenarios} scenarios each) "
                      f"on {escape(where)}", highlight=False)
    with progress() as bar:
        task = bar.add_task("districts", total=len(specs))
        rows = run_sweep(specs, n_scenarios=scenarios, workers=n_workers,
                         scheduler=scheduler, evaluate=None if plan else classify_evaluator,
                         on_row=lambda _row: bar.advance(task))
    files = write_table(rows, out)
    if charts:
        files.update(write_charts(rows, out))
    summary = summarise_rows(rows)
    if json_out:
        print_json({"summary": summary, "rows": [r.to_json() for r in rows],
                    "files": {k: str(v) for k, v in files.items()}})
    else:
        _print_table(rows, summary)
        err_console.print(f"wrote {escape(', '.join(str(p) for p in files.values()))}",
                          highlight=False, soft_wrap=True)
    if summary["failed"]:
        raise typer.Exit(1)


def import_netbox_cmd(
    url: Annotated[str, typer.Option(help="NetBox base URL, e.g. https://netbox.example.org")],
    token: Annotated[str, typer.Option(
        help="env:VARIABLE naming the environment variable that holds the API token")],
    site_group: Annotated[str, typer.Option(help="slug of the site group = the district")],
    out: OutOpt = None,
    role: Annotated[list[str] | None, typer.Option(
        help="map a device role slug to a node kind, e.g. --role core-sw=core "
             "(repeatable; adds to / overrides the shipped table)")] = None,
    students_field: Annotated[str | None, typer.Option(
        help="site custom field holding the student count (default: students)")] = None,
    staff_field: Annotated[str | None, typer.Option(
        help="site custom field holding the staff count (default: staff)")] = None,
    timeout_s: Annotated[float, typer.Option(min=1, help="per-request timeout")] = 30.0,
) -> None:
    """Build a district from a NetBox site group (devices, cables, LAGs, circuits)."""
    from netstage.auditor.netbox import fetch_netbox, netbox_to_district, resolve_token

    role_kinds: dict[str, str] = {}
    for item in role or []:
        slug, sep, kind = item.partition("=")
        if not sep or not slug or not kind:
            raise typer.BadParameter(f"'{item}' is not SLUG=KIND", param_hint="--role")
        role_kinds[slug.strip()] = kind.strip()
    if out is not None:
        check_output_file(out, "--out")  # before the network round trips
    secret = resolve_token(token)
    data = fetch_netbox(url, secret, site_group, timeout_s=timeout_s)
    result = netbox_to_district(data, role_kinds=role_kinds, students_field=students_field,
                                staff_field=staff_field)
    _write_district(result.district, out,
                    f"imported from NetBox {url} site group '{site_group}'",
                    result.warnings)


def import_graphml_cmd(
    file: Annotated[Path, typer.Argument(help="GraphML file (e.g. from the Internet "
                                              "Topology Zoo)", show_default=False)],
    out: OutOpt = None,
    default_link_mbps: Annotated[float, typer.Option(
        min=0.001, help="capacity of links without LinkSpeedRaw/LinkSpeed (warned)")] = 1000.0,
    internet_mbps: Annotated[float | None, typer.Option(
        help="capacity of each exit's Internet circuit (default: the total capacity "
             "of the exit node's links)")] = None,
    exit_: Annotated[list[str] | None, typer.Option(
        "--exit", help="GraphML node id or unique label of an Internet exit (repeatable; "
                       "default: the external nodes, else the highest-degree node)")] = None,
    students_per_site: Annotated[int, typer.Option(
        min=0, help="students at every site (default 0: topology only, no demand)")] = 0,
    circuits_per_exit: Annotated[int, typer.Option(
        min=1, help="Internet circuits per exit")] = 1,
    name: Annotated[str | None, typer.Option(help="district name (default: the graph's "
                                                  "Network attribute)")] = None,
) -> None:
    """Build a district from a GraphML network (link speeds from LinkSpeedRaw or LinkSpeed x LinkSpeedUnits).

    The mapping and its defaults are documented in docs/scale.md: every GraphML node becomes a node, external nodes (Internal=0) become exits with an Internet circuit, hyperedge nodes become site-less core nodes, every other node is a site of its own.
    """  # noqa: E501
    read = _graphml_reader()  # it names a missing file or a directory itself
    if out is not None:
        check_output_file(out, "--out", inputs=(file,))
    result = read(file, default_link_mbps=default_link_mbps, internet_mbps=internet_mbps,
                  exits=exit_ or None, students_per_site=students_per_site,
                  circuits_per_exit=circuits_per_exit, name=name)
    _write_district(result.district, out, f"imported from GraphML {file.name}",
                    list(result.warnings), inputs=(file,))


def register(app: typer.Typer) -> None:
    """Add ``sweep`` and the ``import`` group to ``app``."""
    app.command("sweep")(sweep)
    import_app = typer.Typer(
        help="Build a district file from another source of truth (NetBox, GraphML).",
        no_args_is_help=True,
    )
    import_app.command("netbox")(import_netbox_cmd)
    import_app.command("graphml")(import_graphml_cmd)
    app.add_typer(import_app, name="import")


def _print_table(rows: list[Any], summary: dict[str, Any]) -> None:
    from netstage.simulator.wording import binding_text, sweep_cost_line

    t = Table(title=f"State table ({summary['districts']} districts, "
                    f"{summary['failed']} failed)", title_justify="left")
    for col, just in (("district", "left"), ("students", "right"), ("stage", "right"),
                      ("held back by", "left"), ("next stage cost (USD)", "right"),
                      ("error", "left")):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in rows:
        cost = "" if r.next_stage_cost_usd is None else f"{r.next_stage_cost_usd:,.0f}"
        error = "" if not r.error else r.error.splitlines()[0][:80]
        t.add_row(escape(str(r.district or r.key)),
                  "" if r.students is None else f"{r.students:,}",
                  "" if r.stage is None else str(r.stage),
                  escape(binding_text(r.stage, r.binding)), cost,
                  escape(error))
    console.print(t)
    line = sweep_cost_line(summary)
    console.print(line, highlight=False)
    notes = sorted({r.note for r in rows if r.note})
    for note in notes[:3]:
        err_console.print(f"[yellow]note:[/] {escape(str(note))}", highlight=False, soft_wrap=True)


def _graphml_reader() -> Any:
    """``netstage.simulator.importers.graphml.read_graphml`` (issue 5's importer)."""
    import importlib

    try:
        module = importlib.import_module("netstage.simulator.importers.graphml")
    except ImportError:
        module = None
    fn = getattr(module, "read_graphml", None)
    if not callable(fn):
        raise ConfigError("GraphML import is not available in this installation "
                          "(netstage.simulator.importers.graphml.read_graphml is missing); "
                          "update netstage")
    return fn
