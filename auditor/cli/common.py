"""Shared pieces of the CLI: consoles, JSON output, progress bars."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["console", "err_console", "print_json", "progress"]

console = Console()
# Progress bars and messages go to stderr so that --json output on stdout stays clean.
err_console = Console(stderr=True)


def print_json(data: Any) -> None:
    """Write ``data`` as indented JSON to stdout (no rich markup, pipe-safe)."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


@contextmanager
def progress(transient: bool = True) -> Iterator[Progress]:
    """A rich progress bar on stderr, hidden when stderr is not a terminal."""
    bar = Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=transient,
        disable=not err_console.is_terminal,
    )
    with bar:
        yield bar
