"""CLI: ``netstage lab up|down|status``: a district emulated in network namespaces."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from netstage.cli.common import FileArg, console, err_console, print_json

PrefixOpt = Annotated[str, typer.Option(
    "--prefix", help="prefix of every namespace the lab creates (lower-case, ends in '-')")]
DEFAULT_PREFIX = "nslab-"


def up(
    district_file: FileArg,
    prefix: PrefixOpt = DEFAULT_PREFIX,
    scale: Annotated[float, typer.Option(
        "--scale", help="divide every capacity by this (1 Gb/s -> 10 Mbit/s at 100)")] = 100.0,
    wan_delay_ms: Annotated[float, typer.Option(
        "--wan-delay-ms", help="one-way netem delay on circuits and leased links (0: none; "
                               "needs sch_netem in the kernel)")] = 0.0,
    subnet: Annotated[str, typer.Option(
        "--subnet", help="private management network; exists only inside the lab")]
    = "10.77.0.0/24",
    json_out: Annotated[bool, typer.Option("--json", help="print the lab state as JSON")]
    = False,
) -> None:
    """Build DISTRICT's switching infrastructure as a lab of network namespaces."""
    from netstage.auditor.lab.plan import plan_lab
    from netstage.auditor.lab.run import lab_up, require_root
    from netstage.simulator.io import load_district

    require_root("netstage lab up")
    plan = plan_lab(load_district(str(district_file)), prefix=prefix, scale=scale,
                    wan_delay_ms=wan_delay_ms, subnet=subnet)
    state = lab_up(plan, progress=lambda m: err_console.print(f"lab: {escape(m)}",
                                                              highlight=False))
    if json_out:
        shown = {k: v for k, v in state.items() if k != "community"}
        print_json(shown)
        return
    for w in state.get("warnings", []):
        err_console.print(f"[yellow]warning:[/] {escape(w)}", highlight=False, soft_wrap=True)
    work = state["workdir"]
    devices = state["plan"]["devices"]
    console.print(f"lab {prefix} up: {len(state['namespaces'])} namespaces, "
                  f"{sum(1 for d in devices.values() if d['snmp'])} SNMP agents, "
                  f"{len(state['plan']['links'])} links (capacity / {scale:g})",
                  highlight=False)
    console.print("rehearse an audit from the management namespace:\n"
                  f"  export NETSTAGE_LAB_COMMUNITY=$(cat {work}/community)\n"
                  f"  ip netns exec {state['plan']['mgmt_ns']} netstage discover "
                  f"--inventory {work}/inventory.yaml --out audit.json\n"
                  "  netstage normalise audit.json --out measured.yaml\n"
                  f"remove it with: netstage lab down --prefix {prefix}", highlight=False,
                  soft_wrap=True)


def down(prefix: PrefixOpt = DEFAULT_PREFIX) -> None:
    """Remove the lab: its daemons, namespaces and files (also after a crashed `up`)."""
    from netstage.auditor.lab.run import lab_down

    res = lab_down(prefix)
    console.print(f"lab {prefix} down: removed {len(res['namespaces'])} namespaces, "
                  f"stopped {len(res['killed'])} processes", highlight=False)


def status(
    prefix: PrefixOpt = DEFAULT_PREFIX,
    json_out: Annotated[bool, typer.Option("--json", help="print the status as JSON")] = False,
) -> None:
    """Show the lab: namespaces, daemons alive, LLDP neighbours each device hears."""
    from netstage.auditor.lab.run import lab_status

    st = lab_status(prefix)
    if json_out:
        print_json(st)
        return
    if st["phase"] in ("absent", "orphaned"):
        console.print(f"lab {prefix}: {st['phase']}"
                      + (f" ({', '.join(st['namespaces'])}; run netstage lab down "
                         f"--prefix {prefix})" if st["namespaces"] else ""), highlight=False)
        raise typer.Exit(0 if st["phase"] == "absent" else 1)
    table = Table(title=f"lab {prefix} ({st['phase']})")
    for col in ("device", "namespace", "mgmt address", "daemons", "LLDP neighbours"):
        table.add_column(col)
    for node, d in st["devices"].items():
        daemons = ", ".join(f"{k} {'up' if v else 'DOWN'}" for k, v in d["daemons"].items())
        nb = ", ".join(f"{p}->{n}" for p, n in sorted(d["lldp_neighbours"].items()))
        table.add_row(node, d["netns"] if d["present"] else f"{d['netns']} (missing)",
                      d["mgmt_address"] or "-", daemons or "-", nb or "-")
    console.print(table)
    for w in st.get("warnings", []):
        err_console.print(f"[yellow]warning:[/] {escape(w)}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the ``lab`` group (``up``, ``down``, ``status``) to ``app``."""
    lab_app = typer.Typer(
        help="Emulate a district with real components (root only): one network namespace "
             "per device, Linux bridges, shaped veth links, lldpd and snmpd in each device. "
             "Rehearse an audit on it (docs/lab.md).",
        no_args_is_help=True,
    )
    lab_app.command("up")(up)
    lab_app.command("down")(down)
    lab_app.command("status")(status)
    app.add_typer(lab_app, name="lab")
