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


# pytest-xdist (`-n`, `--dist loadgroup`, as scripts/run-tests.sh runs it): each test module
# runs whole on one worker, so a module's fixtures (a plan, a wheel, SNMP agents) are
# built once; the modules that build network namespaces, bridges and daemons share one
# group, so two labs never run at the same time (they share the host's kernel state).
_NETNS_MODULES = {"test_lab", "test_lab_poll", "test_lab_tcp", "test_capture_live"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module else item.nodeid
        group = "netns" if module in _NETNS_MODULES else module
        item.add_marker(pytest.mark.xdist_group(group))
