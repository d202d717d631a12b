"""TLS ClientHellos split over several TCP segments (post-quantum key shares make them
~1.8 kB, more than one 1460-byte segment) still give their flow's SNI.

Expected names are checked against tshark, which reassembles TCP with its own code.
"""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

from netstage.auditor.capture import analyse_capture
from netstage.auditor.capture.synth import tls_client_hello_segments

from .support import ipv4_frame, tshark_sni_names, write_pcap

SERVER = bytes([203, 0, 113, 30])
ACK, PSH_ACK, SYN, SYN_ACK = 0x10, 0x18, 0x02, 0x12


def _frame(client: bytes, cport: int, flags: int, seq: int, ack: int, payload: bytes = b"",
           *, to_server: bool = True) -> bytes:
    sport, dport = (cport, 443) if to_server else (443, cport)
    src, dst = (client, SERVER) if to_server else (SERVER, client)
    tcp = struct.pack(">HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 64240, 0, 0)
    return ipv4_frame(src, dst, 6, tcp + payload)


def _session(client: bytes, cport: int, segments: list[bytes]) -> list[list[bytes]]:
    """Handshake, then each segment (the server acknowledging between them): a list of
    frame groups so that sessions can be interleaved group by group."""
    c, srv = 1000, 5000
    groups = [[_frame(client, cport, SYN, c, 0)],
              [_frame(client, cport, SYN_ACK, srv, c + 1, to_server=False)],
              [_frame(client, cport, ACK, c + 1, srv + 1)]]
    seq = c + 1
    for seg in segments:
        groups.append([_frame(client, cport, PSH_ACK, seq, srv + 1, seg)])
        seq += len(seg)
        groups.append([_frame(client, cport, ACK, srv + 1, seq, to_server=False)])
    return groups


CASES = [  # (server name, padding before the SNI, MSS)
    ("docs.google.com", 1500, 1460),  # the name is in the second segment
    ("student.testnav.com", 3000, 1200),  # three segments
    ("rr3---sn-video.googlevideo.com", 0, 1460),  # one segment, as before
]


@pytest.fixture(scope="module")
def split_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rnd = random.Random(11)
    sessions = [_session(bytes([10, 20, 110, 10 + i]), 51000 + i,
                         tls_client_hello_segments(name, rnd, before_sni=pad, mss=mss))
                for i, (name, pad, mss) in enumerate(CASES)]
    frames: list[bytes] = []
    for k in range(max(len(x) for x in sessions)):  # interleave the sessions
        for groups in sessions:
            if k < len(groups):
                frames += groups[k]
    return write_pcap(tmp_path_factory.mktemp("tls") / "split.pcap", frames)


def test_tshark_reassembles_the_same_names(split_capture: Path) -> None:
    assert tshark_sni_names(split_capture) == {name for name, _, _ in CASES}


def test_split_client_hellos_are_joined(split_capture: Path) -> None:
    s = analyse_capture(split_capture)
    assert set(s.sni_names) == {name for name, _, _ in CASES}
    assert s.apps["testing"]["flows"] == 1 and s.apps["video"]["flows"] == 1


def test_snapped_capture_does_not_join(tmp_path: Path, split_capture: Path) -> None:
    """A span port storing 200 bytes per frame cannot give the split hellos' names;
    nothing is invented from the cut bytes (the small one-segment hello still names its
    flow: its SNI is within the first 200 bytes)."""
    frames = []
    raw = split_capture.read_bytes()[24:]
    while raw:
        n = struct.unpack_from("<I", raw, 8)[0]
        frames.append(raw[16:16 + n])
        raw = raw[16 + n:]
    s = analyse_capture(write_pcap(tmp_path / "snapped.pcap", frames, snaplen=200))
    assert set(s.sni_names) == {"rr3---sn-video.googlevideo.com"}
