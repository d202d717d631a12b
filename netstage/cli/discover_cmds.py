"""CLI: ``netstage discover`` -- the network from seed addresses over LLDP/CDP."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from netstage.cli.common import console, err_console

__all__ = ["register"]


def discover(
    seeds: Annotated[list[str] | None, typer.Argument(
        help="seed addresses (default: the inventory's discovery.seeds)")] = None,
    inventory_file: Annotated[Path, typer.Option(
        "--inventory", help="inventory YAML with the credential profiles (and discovery "
                            "bounds: allowed_networks, max_devices, max_hops)")] = Path(
        "inventory.yaml"),
    out: Annotated[Path | None, typer.Option("--out", help="write the audit JSON here")] = None,
    write_inventory: Annotated[Path | None, typer.Option(
        "--write-inventory", help="write an inventory of the devices found here")] = None,
    max_devices: Annotated[int | None, typer.Option("--max-devices", min=1)] = None,
    max_hops: Annotated[int | None, typer.Option("--max-hops", min=0)] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the result JSON")] = False,
) -> None:
    """Discover the network from SEED addresses by following LLDP/CDP neighbours.

    Only addresses inside the inventory's discovery.allowed_networks (default: the
    seeds' /24) are queried; neighbours outside, without a management address or beyond
    --max-hops are listed, not contacted.
    """
    import asyncio

    from rich.table import Table

    from netstage.auditor.discover import run_discovery
    from netstage.auditor.inventory import load_inventory
    from netstage.cli.common import check_output_file, print_json, write_output

    if not inventory_file.exists():
        from netstage.simulator.errors import ConfigError

        raise ConfigError(f"{inventory_file}: no such inventory; give --inventory FILE with "
                          "the credential profiles (format: docs/snmp-audit.md)")
    inv = load_inventory(inventory_file)
    for path, opt in ((out, "--out"), (write_inventory, "--write-inventory")):
        if path is not None:  # before any device is queried
            check_output_file(path, opt)
    res = asyncio.run(run_discovery(inv, seeds or None, max_devices=max_devices,
                                    max_hops=max_hops))
    if out is not None:
        write_output(out, res.audit.to_json() + "\n")
    if write_inventory is not None and res.audit.ok_devices:  # never an empty inventory
        write_output(write_inventory, res.inventory_yaml(inv), "--write-inventory")
    if json_out:
        print_json(res.to_json())
    else:
        s = res.audit.summary
        table = Table(title=f"discovery: {s.n_ok} of {s.n_targets} addresses answered")
        for col in ("address", "hop", "status", "sysName", "neighbours"):
            table.add_column(col)
        for d in res.audit.devices:
            table.add_row(f"{d.target.address}:{d.target.port}",
                          str(res.hops.get(d.target.address, "")),
                          "ok" if d.ok else (d.failure.kind.value if d.failure else "failed"),
                          escape(d.sys_name or ""), str(len(d.neighbours)) if d.ok else "")
        console.print(table)
        for sk in res.skipped:
            console.print(f"not followed: {sk.neighbour} ({sk.address or 'no address'}) seen "
                          f"from {sk.seen_from}: {sk.reason}", highlight=False, markup=False)
        if res.stopped_by:
            console.print(f"stopped by {res.stopped_by}", highlight=False)
    if not res.audit.ok_devices:
        err_console.print("[bold red]error:[/] no device answered; check the seed addresses "
                          "and the inventory's credentials"
                          + (f" ({write_inventory} not written)" if write_inventory else ""),
                          highlight=False)
        raise typer.Exit(1)



def register(app: typer.Typer) -> None:
    """Add ``discover`` to ``app``."""
    app.command("discover")(discover)
