"""CLI: ``netstage serve`` -- the what-if page on a local web server."""

from __future__ import annotations

import ipaddress
import socket
from typing import Annotated

import typer

from netstage.cli.common import err_console
from netstage.cli.stage_cmds import DEFAULT_N_SCENARIOS
from netstage.simulator.errors import ConfigError

__all__ = ["register"]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def serve(
    district: Annotated[str, typer.Argument(
        help="district YAML file, or example:NAME for a shipped one (never written back)",
        show_default=True)] = "example:stage2",
    host: Annotated[str, typer.Option(
        "--host", help="address to listen on; anything but loopback needs --allow-remote")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535,
                                      help="TCP port (0 = a free port)")] = 8765,
    allow_remote: Annotated[bool, typer.Option(
        "--allow-remote", help="allow a non-loopback --host (the page has no login)")] = False,
    scenarios: Annotated[int, typer.Option(
        "--scenarios", min=10, max=1000,
        help="Monte Carlo scenarios of a full run (on knob release); 50 while dragging")]
    = DEFAULT_N_SCENARIOS,
) -> None:
    """Start the what-if page: move knobs (devices, growth, Internet, Wi-Fi, upgrades)
    and see the stage, the binding rules, bandwidth, growth, N-1 and cost change; compare
    two scenarios; export the scenario as a district YAML and its report."""
    try:
        import uvicorn

        from netstage.web.app import create_app
    except ImportError as exc:
        raise ConfigError(f"netstage serve needs the 'serve' extra ({exc.name} is missing); "
                          "install it with: pip install 'netstage[serve]'") from None
    if not _is_loopback(host):
        if not allow_remote:
            raise ConfigError(f"--host {host} is not a loopback address; the page has no "
                              "login, so add --allow-remote to expose it on purpose, or use "
                              "--host 127.0.0.1")
        err_console.print(f"[bold yellow]warning:[/] listening on {host}: anyone who can reach "
                          "this address can use the page (no login, no TLS)", highlight=False)
    app = create_app(district, full_scenarios=scenarios)
    if port == 0:
        port = _free_port(host)
    shown = f"[{host}]" if ":" in host else host
    # stdout, one line, so scripts (and the browser test) can read the address
    print(f"netstage serve: http://{shown}:{port}/  (district {district}; Ctrl-C stops)",
          flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    """Add ``serve`` to ``app``."""
    app.command("serve")(serve)
