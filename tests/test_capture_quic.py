"""QUIC client Initials -> SNI -> application class.

Independent checks: the key schedule against RFC 9001 Appendix A.1's published values,
and every synthetic Initial against tshark, which removes the Initial protection with
its own implementation and must read the same server name (so a mistake in the
project's encoder, used only to make test and demo data, cannot hide one in the reader).
"""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netstage.auditor.capture import analyse_capture
from netstage.auditor.capture.apps import parse_handshake_sni
from netstage.auditor.capture.quic import (
    MAX_HELLO_BYTES,
    QUIC_V1,
    QUIC_V2,
    HelloAssembler,
    client_initial_keys,
    read_client_initials,
)
from netstage.auditor.capture.synth import quic_client_initials

from .support import tshark_sni_names, udp_frame, write_pcap

CLIENT = bytes([10, 20, 110, 7])
SERVER = bytes([203, 0, 113, 10])


def _frame(payload: bytes, sport: int, *, to_server: bool = True) -> bytes:
    if to_server:
        return udp_frame(CLIENT, SERVER, sport, 443, payload)
    return udp_frame(SERVER, CLIENT, 443, sport, payload)


# (server name, options of quic_client_initials, application class expected)
CASES = [
    ("rr3---sn-video.googlevideo.com", {}, "video"),
    # a ClientHello larger than one Initial (a post-quantum key share), CRYPTO frames out
    # of order in each packet: the name is only complete with the second datagram
    ("docs.google.com", {"packets": 2, "scramble": True, "before_sni": 1500}, "web"),
    ("meet.google.com", {"version": QUIC_V2}, "conference"),
    ("dl.google.com", {"packets": 3, "scramble": True}, "update"),
]


@pytest.fixture(scope="module")
def quic_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rnd = random.Random(7)
    frames = []
    for i, (name, opts, _cls) in enumerate(CASES):
        for dgram in quic_client_initials(name, rnd, dcid=bytes([i + 1]) * 8,
                                          scid=b"\x55" * 4, **opts):  # type: ignore[arg-type]
            frames.append(_frame(dgram, 50000 + i))
        # the server's answer (its own keys, not the client's): never read as a hello
        frames.append(_frame(bytes([0xC3]) + struct.pack(">I", QUIC_V1)
                             + bytes(rnd.getrandbits(8) for _ in range(1195)), 50000 + i,
                             to_server=False))
    return write_pcap(tmp_path_factory.mktemp("quic") / "quic.pcap", frames)


def test_key_schedule_matches_rfc9001_appendix_a1() -> None:
    key, iv, hp = client_initial_keys(bytes.fromhex("8394c8f03e515708"), QUIC_V1)
    assert key.hex() == "1f369613dd76d5467730efcbe3b1a22d"
    assert iv.hex() == "fa044b2f42a3fd3b46fb255c"
    assert hp.hex() == "9f50449e04a0e810283a1e9933adedd2"


def test_tshark_reads_the_same_names(quic_capture: Path) -> None:
    assert tshark_sni_names(quic_capture) == {name for name, _, _ in CASES}


def test_analyser_names_and_classifies_quic_flows(quic_capture: Path) -> None:
    s = analyse_capture(quic_capture)
    assert s.quic_client_hellos == len(CASES)
    assert set(s.sni_names) == {name for name, _, _ in CASES}
    for _name, _opts, cls in CASES:
        assert s.apps[cls]["flows"] >= 1, (cls, s.apps)
    assert s.to_json()["quic_client_hellos"] == len(CASES)


def test_reader_reassembles_out_of_order_fragments() -> None:
    dgrams = quic_client_initials("docs.google.com", random.Random(1), dcid=b"\x01" * 8,
                                  packets=2, scramble=True, before_sni=1500)
    asm = HelloAssembler()
    results = []
    for d in reversed(dgrams):  # the second datagram first: nothing readable until both
        ((_dcid, fragments),) = read_client_initials(d)
        hello = asm.add(fragments)
        results.append(parse_handshake_sni(hello) if hello else None)
    assert results == [None, "docs.google.com"]


def test_truncated_datagram_is_not_read(tmp_path: Path) -> None:
    (dgram,) = quic_client_initials("i.ytimg.com", random.Random(2), dcid=b"\x02" * 8)
    assert read_client_initials(dgram[:-1]) == []  # the AEAD tag no longer checks
    s = analyse_capture(write_pcap(tmp_path / "cut.pcap", [_frame(dgram, 50001)],
                                   snaplen=200))
    assert s.quic_client_hellos == 0 and s.packets == 1  # a snapped span port: no name


def test_assembler_gives_up_beyond_its_budget() -> None:
    asm = HelloAssembler()
    assert asm.add([(1, b"x" * (MAX_HELLO_BYTES + 1))]) is None
    assert asm.add([(0, b"\x01")]) is None


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=0, max_size=1400))
def test_reader_never_raises(data: bytes) -> None:
    """Random bytes behind a v1/v2 long header never raise and never pass the AEAD."""
    for head in (b"", bytes([0xC0]) + struct.pack(">I", QUIC_V1),
                 bytes([0xD3]) + struct.pack(">I", QUIC_V2)):
        assert read_client_initials(head + data) == []
