"""Helpers shared by the tests: repository paths, ../shared data, loopback ports."""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOPOLOGIES = ROOT / "netstage" / "topologies"
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


def write_pcap(path: Path, frames: list[bytes], *, first_ts: int = 1_700_000_000,
               snaplen: int = 65535) -> Path:
    """A classic little-endian Ethernet pcap, one frame per second from ``first_ts``;
    frames shorter than Ethernet's 60-byte minimum are zero-padded like a NIC would."""
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, 1)
    for i, f in enumerate(frames):
        f = f + b"\0" * max(0, 60 - len(f))
        cap = f[:snaplen]
        out += struct.pack("<IIII", first_ts + i, 0, len(cap), len(f)) + cap
    path.write_bytes(out)
    return path


def tshark() -> str:
    """Path of Debian's tshark: a failure in CI when missing, a skip elsewhere."""
    exe = shutil.which("tshark")
    if exe is None:
        if IN_CI:
            pytest.fail("tshark is missing: scripts/system-deps.sh installs it")
        pytest.skip("tshark not installed (apt-get install tshark)")
    return exe


def tshark_sni_names(path: Path) -> set[str]:
    """Every TLS server name tshark reads in ``path`` (over TCP, reassembled, or QUIC)."""
    out = subprocess.run([tshark(), "-r", str(path), "-T", "fields",
                          "-e", "tls.handshake.extensions_server_name"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return {line for line in out.split() if line}


def ipv4_frame(src: bytes, dst: bytes, proto: int, l4: bytes,
               vlan: int | None = None) -> bytes:
    """An Ethernet frame (optionally 802.1Q-tagged) carrying one IPv4 packet around the
    ready-made transport bytes ``l4`` (checksums zero: nothing here verifies them)."""
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0, 64, proto, 0, src, dst)
    tag = struct.pack(">HH", 0x8100, vlan) if vlan is not None else b""
    return b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + tag + b"\x08\x00" \
        + ip + l4


def udp_frame(src: bytes, dst: bytes, sport: int, dport: int, payload: bytes,
              vlan: int | None = None) -> bytes:
    """:func:`ipv4_frame` of one UDP datagram."""
    udp = struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload
    return ipv4_frame(src, dst, 17, udp, vlan)
