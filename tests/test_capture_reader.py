"""Capture reader on files written here: both pcap byte orders, micro/nanoseconds,
pcapng with several interfaces and resolutions, damaged input, fuzzing, bounded memory."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netstage.auditor.capture import analyse_capture
from netstage.auditor.capture.decode import decode_batch
from netstage.auditor.capture.reader import ReadState, iter_batches
from netstage.simulator.errors import CaptureFormatError

from .support import udp_frame

# --- tiny independent writers -------------------------------------------------------


A, B, C = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]), bytes([192, 0, 2, 9])


def write_pcap(path: Path, recs: list[tuple[int, int, bytes, int]], *, big: bool = False,
               nano: bool = False, linktype: int = 1, snaplen: int = 65535) -> Path:
    e = ">" if big else "<"
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = bytearray(struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))
    for sec, frac, data, orig in recs:
        out += struct.pack(e + "IIII", sec, frac, len(data), orig) + data
    path.write_bytes(out)
    return path


def _opt(e: str, code: int, val: bytes) -> bytes:
    return struct.pack(e + "HH", code, len(val)) + val + b"\0" * (-len(val) % 4)


def _blk(e: str, btype: int, body: bytes) -> bytes:
    n = 12 + len(body)
    return struct.pack(e + "II", btype, n) + body + struct.pack(e + "I", n)


def write_pcapng(path: Path, ifaces: list[tuple[int, int | None]],
                 recs: list[tuple[int, int, bytes, int]], *, big: bool = False,
                 spb: list[bytes] | None = None) -> Path:
    """``ifaces`` = (linktype, if_tsresol byte or None); ``recs`` = (iface, ts in that
    interface's units, data, original length)."""
    e = ">" if big else "<"
    out = bytearray(_blk(e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1)))
    for lt, res in ifaces:
        opts = (_opt(e, 9, bytes([res])) if res is not None else b"") + b"\0\0\0\0"
        out += _blk(e, 1, struct.pack(e + "HHI", lt, 0, 0) + opts)
    for iface, ts, data, orig in recs:
        body = struct.pack(e + "IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(data), orig)
        out += _blk(e, 6, body + data + b"\0" * (-len(data) % 4))
    for data in spb or []:
        out += _blk(e, 3, struct.pack(e + "I", len(data)) + data + b"\0" * (-len(data) % 4))
    path.write_bytes(out)
    return path


def _tshark_epochs(path: Path) -> list[str]:
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-T", "fields", "-e",
                          "frame.time_epoch"], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    return out.split()


# --- formats --------------------------------------------------------------------------


@pytest.mark.parametrize("big", [False, True])
@pytest.mark.parametrize("nano", [False, True])
def test_pcap_byte_orders_and_resolutions(tmp_path: Path, big: bool, nano: bool) -> None:
    f1 = udp_frame(A, B, 5000, 53, b"x" * 30)
    f2 = udp_frame(B, A, 53, 5000, b"y" * 100, vlan=42)
    frac = 123_456_789 if nano else 123_456
    recs = [(1_766_361_926, frac, f1, len(f1)), (1_766_361_927, 999 if nano else 1, f2, 1500)]
    p = write_pcap(tmp_path / "x.cap", recs, big=big, nano=nano)
    s = analyse_capture(p)
    assert s.format == "pcap" and s.byte_order == ("big" if big else "little")
    assert s.interfaces[0]["ts_resolution"] == ("nanosecond" if nano else "microsecond")
    assert s.packets == 2 and s.bytes == len(f1) + 1500
    assert s.captured_bytes == len(f1) + len(f2)
    unit = 1 if nano else 1000
    assert s.first_ts_ns == 1_766_361_926 * 10**9 + frac * unit
    assert s.first_ts == f"1766361926.{frac * unit:09d}"
    assert s.vlan_ids == [42]
    conv = s.conversations[0]
    assert (conv.a, conv.b) == ("10.0.0.1", "10.0.0.2")
    assert (conv.bytes_a_to_b, conv.bytes_b_to_a) == (len(f1), 1500)
    if shutil.which("tshark"):
        assert _tshark_epochs(p) == [s.first_ts, s.last_ts]


def test_pcapng_multi_interface_resolutions(tmp_path: Path) -> None:
    f = udp_frame(A, C, 40000, 443, b"z" * 50)
    raw_ip = f[14:]
    t_s = 1_600_000_000
    recs = [
        (0, t_s * 10**6 + 1, f, len(f)),  # microseconds (no if_tsresol)
        (1, t_s * 10**9 + 7, raw_ip, len(raw_ip)),  # raw IP, nanoseconds
        (2, (t_s << 20) + (1 << 19), f, 2000),  # 2^-20 s units: +0.5 s
        (0, t_s * 10**6 - 5, f, len(f)),  # goes backwards
    ]
    p = write_pcapng(tmp_path / "multi.bin", [(1, None), (101, 9), (1, 0x80 | 20)], recs)
    s = analyse_capture(p)
    assert s.format == "pcapng"
    assert [i["linktype"] for i in s.interfaces] == [1, 101, 1]
    assert [i["ts_resolution"] for i in s.interfaces] == ["microsecond", "nanosecond",
                                                         "2^-20"]
    assert s.packets_per_interface == {0: 2, 1: 1, 2: 1}
    assert s.first_ts == f"{t_s}.000001000"
    assert s.last_ts == f"{t_s - 1}.999995000"
    assert s.to_json()["max_ts"] == f"{t_s}.500000000"
    assert not s.timestamps_monotonic
    assert s.bytes == 2 * len(f) + len(raw_ip) + 2000
    # every frame carries the same IPv4 pair: one conversation, 4 frames
    assert s.conversations_total == 1 and s.conversations[0].frames == 4
    if shutil.which("tshark"):
        assert _tshark_epochs(p) == [f"{t_s}.000001000", f"{t_s}.000000007",
                                     f"{t_s}.500000000", f"{t_s - 1}.999995000"]


def test_pcapng_big_endian_and_simple_packet_blocks(tmp_path: Path) -> None:
    f = udp_frame(A, B, 1, 2, b"q" * 10)
    p = write_pcapng(tmp_path / "be.pcapng", [(1, 6)], [(0, 5 * 10**6, f, len(f))], big=True,
                     spb=[f, f])
    s = analyse_capture(p)
    assert s.byte_order == "big"
    assert s.packets == 3 and s.bytes == 3 * len(f)
    assert s.first_ts == "5.000000000" and s.last_ts == "5.000000000"  # SPB: no timestamp


def test_unknown_link_type_is_counted_with_a_warning(tmp_path: Path) -> None:
    p = write_pcapng(tmp_path / "lt.pcapng", [(147, None)], [(0, 1, b"\x01" * 40, 40)])
    s = analyse_capture(p)
    assert s.packets == 1 and s.bytes == 40 and s.ipv4_packets == 0
    assert any("147" in w for w in s.warnings)


# --- damaged input --------------------------------------------------------------------


def _good_pcap(tmp_path: Path, n: int = 5) -> Path:
    f = udp_frame(A, B, 1000, 2000, b"p" * 64)
    return write_pcap(tmp_path / "good.pcap", [(100 + i, 0, f, len(f)) for i in range(n)])


def test_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.pcap"
    p.write_bytes(b"")
    with pytest.raises(CaptureFormatError, match="empty"):
        analyse_capture(p)


def test_wrong_magic_names_the_offset(tmp_path: Path) -> None:
    p = tmp_path / "x.pcap"
    p.write_bytes(b"GIF89a" + b"\0" * 100)
    with pytest.raises(CaptureFormatError, match="magic bytes 47494638 at offset 0"):
        analyse_capture(p)


def test_cut_file_header(tmp_path: Path) -> None:
    p = tmp_path / "x.pcap"
    p.write_bytes(_good_pcap(tmp_path).read_bytes()[:10])
    with pytest.raises(CaptureFormatError, match="header"):
        analyse_capture(p)


@pytest.mark.parametrize("cut", [1, 5, 16, 17, 40])
def test_truncated_last_record_keeps_the_rest(tmp_path: Path, cut: int) -> None:
    good = _good_pcap(tmp_path).read_bytes()
    rec = (len(good) - 24) // 5
    p = tmp_path / "cut.pcap"
    p.write_bytes(good[:-cut])
    s = analyse_capture(p)
    assert s.packets == 4 and not s.complete
    assert s.stopped_at_offset == 24 + 4 * rec
    assert s.stop_reason and "cut short" in s.stop_reason


def test_absurd_caplen_stops_with_offset(tmp_path: Path) -> None:
    good = bytearray(_good_pcap(tmp_path).read_bytes())
    rec = (len(good) - 24) // 5
    struct.pack_into("<I", good, 24 + 2 * rec + 8, 0x7FFFFFF0)
    p = tmp_path / "bad.pcap"
    p.write_bytes(bytes(good))
    s = analyse_capture(p)
    assert s.packets == 2 and s.stopped_at_offset == 24 + 2 * rec
    assert s.stop_reason and "captured length" in s.stop_reason


def test_pcapng_bad_block_length(tmp_path: Path) -> None:
    f = udp_frame(A, B, 1, 2, b"")
    p = write_pcapng(tmp_path / "b.pcapng", [(1, None)], [(0, i, f, len(f)) for i in range(3)])
    raw = bytearray(p.read_bytes())
    last = len(raw) - (12 + 20 + len(f) + (-len(f) % 4))
    struct.pack_into("<I", raw, last + 4, 13)  # not a multiple of 4
    p.write_bytes(bytes(raw))
    s = analyse_capture(p)
    assert s.packets == 2 and s.stopped_at_offset == last and not s.complete


def test_pcapng_unknown_interface_id(tmp_path: Path) -> None:
    f = udp_frame(A, B, 1, 2, b"")
    p = write_pcapng(tmp_path / "i.pcapng", [(1, None)], [(0, 1, f, len(f)), (3, 2, f, len(f))])
    s = analyse_capture(p)
    assert s.packets == 1 and not s.complete


def test_pcapng_garbage_section_header(tmp_path: Path) -> None:
    p = tmp_path / "g.pcapng"
    p.write_bytes(b"\x0a\x0d\x0d\x0a" + b"\xff" * 40)
    with pytest.raises(CaptureFormatError, match="offset"):
        analyse_capture(p)


# --- fuzzing --------------------------------------------------------------------------

_SEED_FILES: dict[str, bytes] = {}


def _seeds(tmp: Path) -> list[bytes]:
    if not _SEED_FILES:
        f = udp_frame(A, B, 1000, 53, b"\x12\x34\x81\x80" + b"\0" * 20, vlan=7)
        lldp = (b"\x01\x80\xc2\x00\x00\x0e" + b"\x02" * 6 + b"\x88\xcc"
                + b"\x02\x07\x04" + b"\x02" * 6 + b"\x04\x03\x05g1" + b"\x00\x00")
        _SEED_FILES["pcap"] = write_pcap(tmp / "s1", [(1, 2, f, len(f)),
                                                      (3, 4, lldp, len(lldp))]).read_bytes()
        _SEED_FILES["pcapng"] = write_pcapng(tmp / "s2", [(1, 9), (101, None)],
                                             [(0, 10, f, len(f)), (1, 20, f[14:], 99)],
                                             spb=[lldp]).read_bytes()
    return list(_SEED_FILES.values())


def _mutate(base: bytes, edits: list[tuple[int, int]], cut: int) -> bytes:
    b = bytearray(base)
    for pos, val in edits:
        b[pos % len(b)] = val
    return bytes(b[:max(0, len(b) - cut)])


def _read_all(data: bytes) -> int:
    st = ReadState(path="<fuzz>")
    n = 0
    try:
        for batch in iter_batches(io.BytesIO(data), st, chunk_bytes=4096):
            decode_batch(batch)
            n += len(batch)
    except CaptureFormatError:
        return -1
    return n


_MUTATION = st.tuples(st.integers(0, 1),
                      st.lists(st.tuples(st.integers(0, 4095), st.integers(0, 255)),
                               max_size=6),
                      st.integers(0, 64))


@settings(max_examples=500, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(batch=st.lists(_MUTATION, min_size=20, max_size=20))
def test_fuzz_reader_and_decoder_never_crash(tmp_path_factory: pytest.TempPathFactory,
                                             batch: list[tuple[int, list[tuple[int, int]],
                                                               int]]) -> None:
    """500 examples x 20 mutated files = 10k inputs: only CaptureFormatError or a
    (partial) result, never a crash or a hang."""
    seeds = _seeds(tmp_path_factory.getbasetemp())
    for which, edits, cut in batch:
        data = _mutate(seeds[which], edits, cut)
        assert _read_all(data) <= len(data) // 12


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(which=st.integers(0, 1),
       edits=st.lists(st.tuples(st.integers(0, 4095), st.integers(0, 255)), max_size=8),
       cut=st.integers(0, 64), junk=st.binary(max_size=64))
def test_fuzz_full_analysis(tmp_path_factory: pytest.TempPathFactory, which: int,
                            edits: list[tuple[int, int]], cut: int, junk: bytes) -> None:
    """The whole analysis (incl. LLDP/DHCP decoding) on mutated files + random tails."""
    data = _mutate(_seeds(tmp_path_factory.getbasetemp())[which], edits, cut) + junk
    try:
        s = analyse_capture(io.BytesIO(data))
    except CaptureFormatError:
        return
    assert s.packets >= 0 and s.bytes >= 0
    s.to_json()


# --- bounded memory -------------------------------------------------------------------


def test_memory_is_bounded_by_the_chunk_not_the_file(tmp_path: Path) -> None:
    """A 4 MB file read in 64 KiB chunks: peak Python/numpy allocations stay well
    below the file size and the answer equals the default-chunk answer."""
    frames = [udp_frame(A, B, 1000 + i % 8, 443, b"d" * 1400) for i in range(8)]
    recs = [(1000 + i // 500, (i % 500) * 2000, frames[i % 8], 1442) for i in range(2800)]
    p = write_pcap(tmp_path / "big.pcap", recs)
    size = p.stat().st_size
    assert size > 60 * 64 * 1024
    ref = analyse_capture(p).to_json()
    tracemalloc.start()
    try:
        s = analyse_capture(p, chunk_bytes=64 * 1024)
        _cur, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert s.to_json() == ref
    assert s.packets == 2800
    assert peak < size / 4, f"peak {peak} bytes for a {size}-byte file"


# --- control-plane decoders on random bytes ---------------------------------------------


@settings(max_examples=1500, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(kind=st.sampled_from(["lldp", "cdp", "stp", "pvst", "dhcp"]),
       body=st.binary(max_size=400))
def test_fuzz_control_plane_decoders(kind: str, body: bytes) -> None:
    """Random PDUs behind valid preambles: a dict or None, never an exception."""
    from netstage.auditor.capture import control

    if kind == "lldp":
        r = control.parse_lldp(body, "02:00:00:00:00:01")
        assert r is None or r["protocol"] == "lldp"
    elif kind == "cdp":
        res = control.parse_cisco_llc(b"\xaa\xaa\x03\x00\x00\x0c\x20\x00" + body, None)
        assert res is not None and res[0] == "cdp"
    elif kind == "stp":
        control.parse_stp(b"\x42\x42\x03" + body, "01:80:c2:00:00:00")
    elif kind == "pvst":
        control.parse_stp(b"\xaa\xaa\x03\x00\x00\x0c\x01\x0b" + body, "01:00:0c:cc:cc:cd")
    else:
        pdu = (body + bytes(240))[:236] + b"\x63\x82\x53\x63" + body
        r = control.parse_dhcp(pdu)
        assert r is None or "client_mac" in r
