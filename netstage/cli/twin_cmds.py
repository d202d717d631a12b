"""CLI: ``netstage twin`` -- a district as snmpsim recordings (a digital twin)."""

from __future__ import annotations

import shlex
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from netstage.cli.common import console, err_console

__all__ = ["register"]


def twin(
    district_file: Annotated[Path, typer.Argument(help="district YAML to export")],
    out: Annotated[Path | None,
                   typer.Option("--out", help="directory for the .snmprec files")] = None,
    serve: Annotated[bool,
                     typer.Option("--serve", help="serve with snmpsim until Ctrl-C")] = False,
    include_aps: Annotated[bool,
                           typer.Option("--include-aps", help="export APs as devices too")] = False,
    live: Annotated[bool, typer.Option("--live/--static",
                                       help="counters grow at each link's background_mbps")] = True,
    port: Annotated[int | None, typer.Option(
        "--port", min=1, max=65535,
        help="with --serve: UDP port on 127.0.0.1 (default: a free one)")] = None,
    inventory_out: Annotated[Path | None, typer.Option(
        "--inventory-out", help="with --serve: write the inventory that audits the twin here "
                                "(communities as env:VAR references)")] = None,
    env_out: Annotated[Path | None, typer.Option(
        "--env-out", help="with --serve: write the inventory's variables here, one NAME=value "
                          "a line (file mode 0600)")] = None,
) -> None:
    """Export a district as snmpsim recordings (a digital twin), and optionally serve it.

    With --serve the twin answers on 127.0.0.1 until Ctrl-C or SIGTERM; the inventory
    that audits it and the variables holding its communities are printed, and written
    to --inventory-out / --env-out once the twin answers (see docs/history-and-twin.md).
    """
    from netstage.auditor.twin import export_twin, twin_warnings
    from netstage.auditor.twin_agent import (
        env_file_text,
        inventory_for_twin,
        serve_recordings,
        wait_until_stopped,
    )
    from netstage.cli.common import check_output_file, write_output
    from netstage.simulator.io import load_district

    if out is None and not serve:
        err_console.print("give --out DIR (export) or --serve (export to a temp dir and serve)")
        raise typer.Exit(2)
    for flag, given in (("--port", port), ("--inventory-out", inventory_out),
                        ("--env-out", env_out)):
        if given is not None and not serve:
            raise typer.BadParameter("only a served twin has a port to audit; add --serve",
                                     param_hint=flag)
    if inventory_out is not None and env_out is not None and inventory_out == env_out:
        raise typer.BadParameter("give --inventory-out and --env-out two different files",
                                 param_hint="--env-out")
    for path, flag in ((inventory_out, "--inventory-out"), (env_out, "--env-out")):
        if path is not None:
            check_output_file(path, flag, inputs=(district_file,))
    district = load_district(district_file)
    for note in twin_warnings(district):
        err_console.print(f"warning: {district_file}: {note}", highlight=False, markup=False,
                          soft_wrap=True)
    with tempfile.TemporaryDirectory(prefix="netstage-twin-") as tmp:
        target = out if out is not None else Path(tmp)
        paths = export_twin(district, target, include_aps=include_aps,
                            counters="live" if live else "static")
        if not paths:
            from netstage.simulator.errors import ConfigError

            raise ConfigError(f"{district_file}: no infrastructure device to export (edge, "
                              "firewall, core, distribution, access, wlc)"
                              + ("" if include_aps else "; add --include-aps to export APs"))
        err_console.print(f"wrote {len(paths)} recordings to {target}", markup=False)
        if not serve:
            for p in paths:
                console.print(str(p), highlight=False)
            return
        with serve_recordings(target, port=port) as (host, served_port):
            text, env = inventory_for_twin(host, served_port, [p.stem for p in paths])
            env_text = env_file_text(env)
            if env_out is not None:
                write_output(env_out, env_text, "--env-out")
                env_out.chmod(0o600)
            if inventory_out is not None:  # last: its presence says the twin is ready
                write_output(inventory_out, text, "--inventory-out")
            err_console.print(f"snmpsim serves {len(paths)} devices on {host}:{served_port} "
                              "(community = device id).", markup=False)
            if inventory_out is None:
                err_console.print("Inventory (save as twin.yaml):")
                console.print(text, highlight=False, markup=False)
            else:
                err_console.print(f"wrote the inventory to {inventory_out}", markup=False)
            inv_name = inventory_out or "twin.yaml"
            if env_out is None:
                err_console.print(f"and set these variables before `netstage audit "
                                  f"{inv_name}`:", markup=False)
                for var, value in env.items():
                    console.print(f"export {var}={shlex.quote(value)}", highlight=False,
                                  markup=False)
            else:
                err_console.print(f"wrote its variables to {env_out}; audit with: set -a; . "
                                  f"{env_out}; set +a; netstage audit {inv_name}",
                                  markup=False)
            err_console.print("serving until Ctrl-C")
            wait_until_stopped()



def register(app: typer.Typer) -> None:
    """Add ``twin`` to ``app``."""
    app.command("twin")(twin)
