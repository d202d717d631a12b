"""CLI commands of the SNMP history/twin area: ``netstage twin``, ``poll``, ``discover``."""

from __future__ import annotations

import signal
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from netstage.auditor.cli.common import console, err_console

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
) -> None:
    """Export a district as snmpsim recordings (a digital twin), and optionally serve it."""
    from netstage.auditor.twin import export_twin, inventory_for_twin, serve_recordings
    from netstage.simulator.io import load_district

    if out is None and not serve:
        err_console.print("give --out DIR (export) or --serve (export to a temp dir and serve)")
        raise typer.Exit(2)
    district = load_district(district_file)
    with tempfile.TemporaryDirectory(prefix="netstage-twin-") as tmp:
        target = out if out is not None else Path(tmp)
        paths = export_twin(district, target, include_aps=include_aps,
                            counters="live" if live else "static")
        err_console.print(f"wrote {len(paths)} recordings to {target}")
        if not serve:
            for p in paths:
                console.print(str(p), highlight=False)
            return
        with serve_recordings(target) as (host, port):
            text, env = inventory_for_twin(host, port, [p.stem for p in paths])
            err_console.print(f"snmpsim serves {len(paths)} devices on {host}:{port} "
                              "(community = device id). Inventory (save as twin.yaml):")
            console.print(text, highlight=False, markup=False)
            err_console.print("and set these variables before `netstage audit twin.yaml`:")
            for var, value in env.items():
                console.print(f"export {var}={value}", highlight=False, markup=False)
            err_console.print("serving until Ctrl-C")
            stop = {"now": False}

            def _handler(signum: int, frame: object) -> None:
                stop["now"] = True

            signal.signal(signal.SIGTERM, _handler)
            try:
                while not stop["now"]:
                    time.sleep(0.5)
            except KeyboardInterrupt:
                pass


def register(app: typer.Typer) -> None:
    """Add ``twin``, ``poll`` and ``discover`` to ``app``."""
    app.command("twin")(twin)
