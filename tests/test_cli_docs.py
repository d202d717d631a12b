"""docs/cli.md is generated from the CLI definitions and must not drift from --help."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import typer

from netstage.cli import app

from .support import ROOT, CliRunner


def test_cli_reference_is_current() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_cli_docs.py"), "--check"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr


def test_every_command_has_help_and_is_documented(run_cli: CliRunner) -> None:
    doc = (ROOT / "docs" / "cli.md").read_text()
    top = run_cli("--help")
    assert top.returncode == 0
    cmd: Any = typer.main.get_command(app)
    for name, sub in cmd.commands.items():
        assert f"`netstage {name}" in doc, name
        assert name in top.stdout, name
        h = run_cli(name, "--help")
        assert h.returncode == 0, h.stderr
        assert sub.help, f"command {name} has no help text"
