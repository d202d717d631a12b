"""Shared pieces of the CLI: consoles, JSON output, progress bars."""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, ConsoleDimensions
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from netstage.simulator.errors import ConfigError

# A district argument: a YAML file or a shipped example (example:stage2).
FileArg = Annotated[Path, typer.Argument(
    help="district YAML file, or example:NAME for a shipped one", show_default=False)]

__all__ = [
    "FileArg",
    "atomic_output",
    "check_output_dir",
    "check_output_file",
    "console",
    "err_console",
    "make_console",
    "print_json",
    "progress",
    "write_output",
]

# Width of output that is not a terminal (a pipe, a file, a CI log) when COLUMNS is not
# set: wide enough that tables of device names do not wrap (rich would use 80).
PIPE_WIDTH = 250


class _Console(Console):
    """A rich console that prints ``:100:`` as text and does not wrap piped output at 80."""

    @property
    def size(self) -> ConsoleDimensions:
        if self.is_terminal:
            return super().size
        cols = os.environ.get("COLUMNS", "")
        width = int(cols) if cols.isdigit() and int(cols) > 0 else PIPE_WIDTH
        return ConsoleDimensions(width, super().size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size


def make_console(*, stderr: bool = False) -> Console:
    """The one way netstage makes a rich console.

    Emoji codes are off (``d.yaml:100:`` must not become ``d.yaml💯``); when the output is
    not a terminal the width is ``COLUMNS`` if set, else :data:`PIPE_WIDTH`, so tables do
    not wrap at 80 columns in pipes, files and CI logs.
    """
    return _Console(stderr=stderr, emoji=False)


console = make_console()
# Progress bars and messages go to stderr so that --json output on stdout stays clean.
err_console = make_console(stderr=True)


def _finite(data: Any) -> Any:
    """``data`` with NaN/inf floats replaced by None (JSON has no NaN)."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(v) for v in data]
    return data


def print_json(data: Any) -> None:
    """Write ``data`` as indented JSON to stdout (no rich markup, pipe-safe).

    Always valid JSON: a NaN or infinite number (which ``json.dumps`` would write as the
    non-standard ``NaN``/``Infinity``) becomes ``null``.
    """
    try:
        text = json.dumps(data, indent=2, sort_keys=False, default=str, allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(data), indent=2, sort_keys=False, default=str)
    sys.stdout.write(text + "\n")
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


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def check_output_dir(path: Path, option: str = "--out") -> Path:
    """Create the output directory ``path`` before any long work starts (located errors)."""
    from netstage.simulator.io import ensure_output_dir  # pydantic models: lazy

    return ensure_output_dir(path, option)


def check_output_file(path: Path, option: str = "--out", *, inputs: tuple[Path, ...] = ()
                      ) -> Path:
    """Make sure ``path`` can be written (parent created) before any long work starts.

    Nothing is written to ``path`` itself, so a failure later leaves no file behind.
    ``inputs`` are the command's input files: writing over one of them (and losing its
    comments and layout) is refused.
    """
    for src in inputs:
        try:
            same = path.exists() and src.exists() and path.samefile(src)
        except OSError:
            same = False
        if same:
            raise ConfigError(f"{path}: is also an input of this command; give {option} "
                              "another file name (the input is left unchanged)")
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory; give {option} a file name")
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise ConfigError(f"{path}: cannot be created because {parent} is a file, not a "
                          f"directory; give {option} a path inside a directory")
    check_output_dir(parent, option)
    return path


@contextmanager
def atomic_output(path: Path, option: str = "--out") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed to ``path``.

    A reader never sees a half-written file and a failure leaves none behind; errors are
    a :class:`ConfigError` naming the path and the option.
    """
    check_output_file(path, option)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                    dir=path.parent)
        os.close(fd)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(name, 0o666 & ~umask)  # as a plain open() would, not mkstemp's 0600
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write ({_why(exc)}); give {option} a writable "
                          "location") from None
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write ({_why(exc)}); give {option} a writable "
                          "location") from None
    finally:
        tmp.unlink(missing_ok=True)


def write_output(path: Path, text: str, option: str = "--out", *,
                 inputs: tuple[Path, ...] = ()) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_output`)."""
    check_output_file(path, option, inputs=inputs)
    with atomic_output(path, option) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
