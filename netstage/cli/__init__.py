"""The ``netstage`` command line.

Each command group registers its commands from its own module (``register(app)``), so
the commands of one group live beside each other and this file stays a table of
contents. There is one way to register: the command is a module-level function, a few
lines over a library call, and ``register`` adds it with ``app.command("name")(fn)``; a
group with subcommands (``import``, ``lab``) builds its sub-typer inside ``register``
the same way and adds it with ``app.add_typer``. The modules are listed below in the
order ``netstage --help`` shows their commands.

Exit codes: 0 ok, 1 finding or validation failure (a :class:`NetstageError`), 2 usage error.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

import typer
from rich.markup import escape

from netstage.cli import (
    audit_cmds,
    capture_cmds,
    demo_cmds,
    discover_cmds,
    history_cmds,
    lab_cmds,
    model_cmds,
    normalise_cmds,
    poll_cmds,
    redundancy_cmds,
    scale_cmds,
    serve_cmds,
    simulate_cmds,
    stage_cmds,
    twin_cmds,
)
from netstage.cli.common import err_console
from netstage.simulator.errors import NetstageError, NetstageWarning

__all__ = ["app", "main"]

app = typer.Typer(
    name="netstage",
    help="How ready is a school district's network for one device per student?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

@app.callback()
def _global_options(
    max_input_mb: float = typer.Option(
        None, "--max-input-mb", min=0.001, show_default=False,
        help="size limit of input YAML files in MB (default 16; also NETSTAGE_MAX_INPUT_MB)"),
) -> None:
    """How ready is a school district's network for one device per student?"""
    if max_input_mb is not None:
        os.environ["NETSTAGE_MAX_INPUT_MB"] = str(max_input_mb)


def _show_warning(message: Warning | str, category: type[Warning], filename: str,
                  lineno: int, file: Any = None, line: str | None = None) -> None:
    """A :class:`NetstageWarning` is a located message for the user, not a Python warning."""
    if issubclass(category, NetstageWarning):
        err_console.print(f"[yellow]warning:[/] {escape(str(message))}", highlight=False,
                          soft_wrap=True)
    else:
        _python_showwarning(message, category, filename, lineno, file, line)


_python_showwarning = warnings.showwarning


for _module in (
    model_cmds,
    simulate_cmds,
    redundancy_cmds,
    stage_cmds,
    audit_cmds,
    twin_cmds,
    poll_cmds,
    history_cmds,
    discover_cmds,
    normalise_cmds,
    capture_cmds,
    scale_cmds,
    demo_cmds,
    lab_cmds,
    serve_cmds,
):
    _module.register(app)


def main() -> None:
    """Entry point of the console script: NetstageError -> message on stderr, exit 1.

    Usage errors are click's (exit 2); everything else a command raises on purpose is a
    :class:`NetstageError`, printed as one located message without a traceback.
    """
    warnings.showwarning = _show_warning
    try:
        app()
    except NetstageError as exc:
        # escape: a path like "[x]/d.yaml" in the message is text, not rich markup
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False,
                          soft_wrap=True)
        sys.exit(1)
    except OSError as exc:
        # the file system or the network refused (disk full, permission, ...): one line,
        # naming the file; NETSTAGE_DEBUG=1 shows the traceback instead
        if os.environ.get("NETSTAGE_DEBUG"):
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        err_console.print(f"[bold red]error:[/] {escape(where + (exc.strerror or str(exc)))}"
                          " (set NETSTAGE_DEBUG=1 for the traceback)", highlight=False,
                          soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
