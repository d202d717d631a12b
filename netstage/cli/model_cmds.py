"""CLI: validate, info, schema, generate, export (the district model)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from netstage.cli.common import (
    FileArg,
    atomic_output,
    check_output_file,
    console,
    err_console,
    print_json,
    write_output,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="print machine-readable JSON")]


def validate(
    files: Annotated[list[Path], typer.Argument(help="district YAML files")],
    json_out: JsonOpt = False,
) -> None:
    """Check district files; every problem is reported as file:line: path: message."""
    from netstage.simulator.summary import check_district_files

    results = check_district_files(files)
    if json_out:
        print_json(results)
    else:
        for r in results:
            if r["ok"]:
                name = escape(str(r["name"]))
                console.print(f"[green]ok[/]    {escape(str(r['file']))}  ({name})",
                              highlight=False)
                for note in r["warnings"]:
                    console.print(f"[yellow]warning[/] {escape(str(r['file']))}: "
                                  f"{escape(note)}", highlight=False, soft_wrap=True)
            else:
                # like every other command's problem: one `error:` message on stderr
                # (docs/errors.md), so `validate a.yaml b.yaml > ok.txt` keeps it visible
                err_console.print(f"[red]error:[/] {escape(str(r['error']))}",
                                  highlight=False, soft_wrap=True)
    if not all(r["ok"] for r in results):
        raise typer.Exit(1)


def info(file: FileArg, json_out: JsonOpt = False) -> None:
    """Summary of a district: sites, students, devices, links, active Internet per student."""
    from netstage.simulator.io import load_district
    from netstage.simulator.summary import speed_label, summarise_district

    s = summarise_district(load_district(file))
    if json_out:
        print_json(s)
        return
    # the name on its own line: a table title wraps at the table's width
    console.print(f"[italic]{escape(s['name'])}[/]", soft_wrap=True, highlight=False)
    t = Table(show_header=False)
    t.add_column("what")
    t.add_column("value", justify="right")
    t.add_row("sites (schools)", f"{s['sites']} ({s['schools']})")
    t.add_row("students / staff", f"{s['students']:,} / {s['staff']:,}")
    t.add_row(
        "client devices",
        f"{s['devices_total']:,}  " + ", ".join(f"{k} {v:,}" for k, v in s["devices"].items()),
    )
    if s["devices_disconnected"]:
        t.add_row("[red]disconnected devices[/]", f"{s['devices_disconnected']:,}")
    t.add_row("nodes", ", ".join(f"{k} {v}" for k, v in s["nodes"].items()))
    t.add_row("access points", f"{s['access_points']:,}")
    t.add_row("links by speed", ", ".join(f"{k} x{v}" for k, v in s["links_by_speed"].items()))
    t.add_row("Internet circuits", f"{s['circuits']} ({speed_label(s['internet_mbps'])})")
    kbps = s["internet_kbps_per_student"]
    t.add_row("Internet per student (active circuits)",
              "n/a" if kbps is None else f"{kbps:,.0f} kbps")
    console.print(t)


def schema(
    out: Annotated[
        Path | None, typer.Option(help="write to this file instead of stdout")
    ] = None,
) -> None:
    """JSON Schema of the district file format (generated from the models)."""
    from netstage.simulator.model import District

    text = json.dumps(District.model_json_schema(), indent=2)
    if out:
        write_output(out, text + "\n")
    else:
        print(text)


def generate(
    schools: Annotated[int, typer.Option(min=1, help="number of schools")] = 10,
    students: Annotated[int, typer.Option(min=1, help="students in the district")] = 5000,
    seed: Annotated[int, typer.Option(
        min=0, help="random seed (same seed, same district)")] = 0,
    dual_homed: Annotated[
        float, typer.Option(min=0, max=1, help="share of schools with two WAN links")
    ] = 0.0,
    circuits: Annotated[int, typer.Option(min=1, help="Internet circuits")] = 1,
    internet_kbps_per_student: Annotated[float, typer.Option(min=1)] = 1000.0,
    wan_mbps: Annotated[float, typer.Option(min=1, help="school WAN link capacity")] = 10000.0,
    out: Annotated[Path | None, typer.Option(help="write YAML here instead of stdout")] = None,
) -> None:
    """Generate a synthetic district (reproducible by seed)."""
    from netstage.simulator.errors import ConfigError
    from netstage.simulator.generate import generate_district
    from netstage.simulator.io import dump_district

    if students < schools:
        raise ConfigError(f"--students {students} is fewer than --schools {schools}; every "
                          "school needs at least one student")
    d = generate_district(
        schools,
        students,
        seed,
        dual_homed=dual_homed,
        circuits=circuits,
        internet_kbps_per_student=internet_kbps_per_student,
        wan_mbps=wan_mbps,
    )
    text = (
        f"# generated: netstage generate --schools {schools} --students {students} "
        f"--seed {seed}\n" + dump_district(d)
    )
    if out:
        write_output(out, text)
        console.print(f"wrote {escape(str(out))} ({len(d.nodes)} nodes, {len(d.links)} links)")
    else:
        print(text, end="")


def export(
    file: FileArg,
    out: Annotated[Path, typer.Option(help="output file (.graphml, .json or .yaml)")],
) -> None:
    """Write a district as GraphML (flattened attributes), JSON or YAML."""
    from netstage.simulator.graph import to_graphml
    from netstage.simulator.io import dump_district, load_district

    suffix = out.suffix.lower()
    if suffix not in (".graphml", ".json", ".yaml", ".yml"):
        raise typer.BadParameter(
            f"unknown output type '{suffix or out.name}'; name the file .graphml, .json "
            "or .yaml", param_hint="--out")
    d = load_district(file)
    check_output_file(out, inputs=(file,))
    if suffix == ".graphml":
        with atomic_output(out) as tmp:
            to_graphml(d, tmp)
    elif suffix == ".json":
        write_output(out, d.model_dump_json(indent=2, exclude_defaults=True) + "\n")
    else:
        write_output(out, dump_district(d))
    console.print(f"wrote {escape(str(out))}")


def register(app: typer.Typer) -> None:
    """Add ``validate``, ``info``, ``schema``, ``generate`` and ``export`` to ``app``."""
    app.command("validate")(validate)
    app.command("info")(info)
    app.command("schema")(schema)
    app.command("generate")(generate)
    app.command("export")(export)
