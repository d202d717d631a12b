"""`netstage capture --live` inside two network namespaces joined by a veth pair that
this test creates (and deletes); nothing else on the host is touched."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from netstage.auditor.capture.live import capture_live
from netstage.simulator.errors import CollectorError

from .support import ROOT

pytestmark = pytest.mark.slow


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)


@pytest.fixture
def veth_pair() -> tuple[str, str, str, str]:
    if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("dumpcap") is None:
        pytest.skip("needs root, iproute2 and dumpcap")
    tag = f"{os.getpid() % 100000}"
    ns_a, ns_b = f"nscapa{tag}", f"nscapb{tag}"
    if _ip("netns", "add", ns_a).returncode != 0:
        pytest.skip("cannot create network namespaces here")
    try:
        _ip("netns", "add", ns_b)
        steps = [
            ("link", "add", "vcapa", "netns", ns_a, "type", "veth", "peer", "name", "vcapb",
             "netns", ns_b),
            ("-n", ns_a, "addr", "add", "10.231.0.1/24", "dev", "vcapa"),
            ("-n", ns_b, "addr", "add", "10.231.0.2/24", "dev", "vcapb"),
            ("-n", ns_a, "link", "set", "vcapa", "up"),
            ("-n", ns_b, "link", "set", "vcapb", "up"),
        ]
        for st in steps:
            r = _ip(*st)
            if r.returncode != 0:
                pytest.skip(f"cannot set up veth pair: {r.stderr.strip()}")
        yield ns_a, ns_b, "vcapa", "10.231.0.1"
    finally:
        _ip("netns", "del", ns_a)
        _ip("netns", "del", ns_b)


_SENDER = """
import os, socket, sys, time
t0 = time.monotonic()
while not os.path.exists(sys.argv[2]) and time.monotonic() - t0 < 60:
    time.sleep(0.05)  # dumpcap creates the file when the capture has started
time.sleep(0.5)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(40):
    s.sendto(b"x" * 100, (sys.argv[1], 9999))
    time.sleep(0.01)
"""


def test_live_capture_in_namespaces(veth_pair: tuple[str, str, str, str],
                                    tmp_path: Path) -> None:
    ns_a, ns_b, iface, addr = veth_pair
    saved = tmp_path / "live.pcapng"
    sender = subprocess.Popen(["ip", "netns", "exec", ns_b, sys.executable, "-c", _SENDER,
                               addr, str(saved)])
    try:
        t0 = time.monotonic()
        r = subprocess.run(["ip", "netns", "exec", ns_a, sys.executable, "-m", "netstage",
                            "capture", "--live", iface, "--seconds", "5", "--save",
                            str(saved), "--json", "--no-control-plane"],
                           capture_output=True, text=True, timeout=120, cwd=ROOT)
        elapsed = time.monotonic() - t0
    finally:
        sender.wait(timeout=30)
    assert r.returncode == 0, r.stderr
    assert elapsed < 60
    j = json.loads(r.stdout)
    conv = [c for c in j["conversations"] if c["b"] == addr and c["a"] == "10.231.0.2"]
    assert conv, j["conversations"]
    # 40 datagrams of 100 bytes: Ethernet 14 + IPv4 20 + UDP 8 + 100 = 142 bytes each
    assert conv[0]["frames_a_to_b"] == 40
    assert conv[0]["bytes_a_to_b"] == 40 * 142
    assert saved.stat().st_size > 40 * 142


def test_live_capture_errors(tmp_path: Path) -> None:
    with pytest.raises(CollectorError, match="between 1 and 3600"):
        capture_live("lo", 0, "x.pcapng")
    if shutil.which("dumpcap") is None:
        pytest.skip("dumpcap not installed")
    with pytest.raises(CollectorError, match="no-such-if0"):
        capture_live("no-such-if0", 1, f"{tmp_path}/x.pcapng")
