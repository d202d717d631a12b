"""Shared fixtures: ../shared data and the CLI as a subprocess (helpers in support.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from .support import CliRunner, shared_path


@pytest.fixture
def shared_data() -> Callable[..., Path]:
    return shared_path


@pytest.fixture
def run_cli(tmp_path: Path) -> CliRunner:
    """Run ``netstage ARGS`` as a real subprocess; returns the CompletedProcess."""

    def run(*args: str, timeout: float = 300, cwd: Path | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "netstage", *args],
            capture_output=True, text=True, timeout=timeout, cwd=cwd or tmp_path, env=full_env,
        )

    return run
