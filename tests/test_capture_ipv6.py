"""IPv6 conversations of the shared captures against tshark.

The expectation is built here from tshark's own decode (``-T fields``: outer
``ipv6.src``, ``ipv6.dst`` and ``frame.len`` of every frame whose outermost IP header is
IPv6), summed per address pair with the first sender as ``a``, as ``tshark -z
conv,ipv6`` counts them. tshark also counts IPv6 carried inside IPv4 (Teredo, 6in4);
netstage does not walk those tunnels, so frames whose outer IP is IPv4 are left out.
"""

from __future__ import annotations

import subprocess

import pytest

from netstage.auditor.capture import analyse_capture

from .support import shared_path, tshark

CAPTURES = ["tls2.pcap", "wireshark_samples-test.pcapng", "test.pcap", "DnsPackets.pcap"]


def _tshark_conversations(path: str) -> dict[frozenset[str], dict[str, object]]:
    out = subprocess.run([tshark(), "-n", "-r", path, "-Y", "ipv6", "-T", "fields",
                          "-e", "ipv6.src", "-e", "ipv6.dst", "-e", "frame.len",
                          "-e", "frame.protocols"],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    conv: dict[frozenset[str], dict[str, object]] = {}
    for line in out.splitlines():
        src, dst, length, protocols = line.split("\t")
        layers = protocols.split(":")
        if next(p for p in layers if p in ("ip", "ipv6")) != "ipv6":
            continue  # IPv6 inside an IPv4 tunnel
        src, dst = src.split(",")[0], dst.split(",")[0]  # outer header
        c = conv.setdefault(frozenset((src, dst)), {"a": src, "frames": {}, "bytes": {}})
        frames: dict[str, int] = c["frames"]  # type: ignore[assignment]
        nbytes: dict[str, int] = c["bytes"]  # type: ignore[assignment]
        frames[src] = frames.get(src, 0) + 1
        nbytes[src] = nbytes.get(src, 0) + int(length)
    return conv


@pytest.mark.parametrize("name", CAPTURES)
def test_ipv6_conversations_match_tshark(name: str) -> None:
    path = shared_path("pcap", name)
    expected = _tshark_conversations(str(path))
    s = analyse_capture(path)
    assert s.ipv6_conversations_total == len(expected)
    assert s.ipv6_conversations and len(s.ipv6_conversations) == min(50, len(expected))
    for c in s.ipv6_conversations:
        e = expected[frozenset((c.a, c.b))]
        frames: dict[str, int] = e["frames"]  # type: ignore[assignment]
        nbytes: dict[str, int] = e["bytes"]  # type: ignore[assignment]
        assert c.a == e["a"]
        assert (c.frames_a_to_b, c.frames_b_to_a) == (frames.get(c.a, 0), frames.get(c.b, 0))
        assert (c.bytes_a_to_b, c.bytes_b_to_a) == (nbytes.get(c.a, 0), nbytes.get(c.b, 0))
    by_bytes = sorted((sum(e["bytes"].values())  # type: ignore[attr-defined]
                       for e in expected.values()), reverse=True)
    assert [c.bytes for c in s.ipv6_conversations] == by_bytes[:len(s.ipv6_conversations)]
