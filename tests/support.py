"""Helpers shared by the tests: repository paths, ../shared data, loopback ports."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOPOLOGIES = ROOT / "topologies"
SHARED = ROOT.parent / "shared"
IN_CI = os.environ.get("CI", "").lower() == "true"

CliRunner = Callable[..., subprocess.CompletedProcess[str]]


def shared_path(*parts: str) -> Path:
    """A path inside ../shared/data. Missing data is a failure in CI and a skip elsewhere."""
    p = SHARED.joinpath("data", *parts)
    if not p.exists():
        if IN_CI:
            pytest.fail(f"{p} is missing: CI must have ../shared beside the clone")
        pytest.skip(f"{p} not present (../shared is absent and CI is unset)")
    return p


def free_udp_port() -> int:
    """A free UDP port on 127.0.0.1 (loopback only)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def example_districts() -> list[Path]:
    return sorted(TOPOLOGIES.glob("*.yaml"))
