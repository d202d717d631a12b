"""Streamed reader for pcap and pcapng files, in chunks of bounded size.

The format is detected from the magic bytes, never from the file name. The file is
read with buffered ``readinto`` calls into chunk buffers (default 16 MiB), a compiled
header walk (:mod:`.walk`) finds the records, and each chunk becomes one
:class:`FrameBatch` of numpy arrays. Memory is bounded by the chunk size, whatever the
size of the file.

Damaged input never raises anything but :class:`CaptureFormatError` (file unusable
from the start: empty, wrong magic, bad first header). Damage later in the file
ends the read early: the frames before it are returned and
:attr:`ReadState.stopped_at_offset` says where reading stopped and why.
"""

from __future__ import annotations

import io
import os
import select
import stat
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from netstage.auditor.capture import walk
from netstage.simulator.errors import CaptureFormatError

__all__ = ["CHUNK_BYTES", "FrameBatch", "InterfaceInfo", "ReadState", "iter_batches"]

CHUNK_BYTES = 16 * 1024 * 1024
#: Largest captured length accepted per record (tshark/libpcap use 262144 for most
#: link types; a larger snaplen in the file header raises the limit up to 64 MiB).
STANDARD_MAX_CAPLEN = 262_144
HARD_MAX_CAPLEN = 64 * 1024 * 1024
#: Bytes of zero padding after the valid data of each chunk, so that fixed-offset
#: gathers in the decoder never index past the buffer (masks discard the values).
PAD_BYTES = 128

_PCAP_MAGICS = {
    # bytes on disk -> (big endian, nanosecond, record header length)
    b"\xd4\xc3\xb2\xa1": (False, False, 16),
    b"\xa1\xb2\xc3\xd4": (True, False, 16),
    b"\x4d\x3c\xb2\xa1": (False, True, 16),
    b"\xa1\xb2\x3c\x4d": (True, True, 16),
    # Kuznetzov's modified pcap: 8 extra bytes per record header (ifindex, proto, type)
    b"\x34\xcd\xb2\xa1": (False, False, 24),
    b"\xa1\xb2\xcd\x34": (True, False, 24),
}
_PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"


@dataclass
class InterfaceInfo:
    """One capture interface (pcap has exactly one)."""

    linktype: int
    snaplen: int
    ts_resolution: str  # "microsecond", "nanosecond", "10^-k" or "2^-k"
    name: str | None = None
    # timestamp -> ns conversion: ns = ts * mul // div (base 10) or via shift (base 2)
    ts_mul: int = 1000
    ts_div: int = 1
    ts_shift: int = -1
    ts_offset_s: int = 0


@dataclass
class ReadState:
    """What the reader learned about the file while streaming it."""

    path: str
    format: str = ""
    byte_order: str = ""
    size_bytes: int = 0
    interfaces: list[InterfaceInfo] = field(default_factory=list)
    section_headers: int = 0
    snaplen: int | None = None
    bytes_read: int = 0
    stopped_at_offset: int | None = None
    stop_reason: str | None = None
    warnings: list[str] = field(default_factory=list)
    #: a pipe or other non-regular file: the size is unknown (``size_bytes`` 0)
    streaming: bool = False
    #: interface index -> packets whose pcapng timestamp was implausible (treated as absent)
    implausible_timestamps: dict[int, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """True when the whole file was read without damage."""
        return self.stopped_at_offset is None


@dataclass
class FrameBatch:
    """The records of one chunk as arrays (N records).

    ``buf`` holds the chunk's bytes (plus zero padding); record ``i``'s packet is
    ``buf[data_off[i] : data_off[i] + caplen[i]]``. ``ts_ns`` is integer nanoseconds
    since the epoch (``has_ts`` False for pcapng Simple Packet Blocks).
    ``first_index`` is the file-order index of the batch's first record.
    """

    buf: np.ndarray
    data_off: np.ndarray
    caplen: np.ndarray
    wirelen: np.ndarray
    ts_ns: np.ndarray
    has_ts: np.ndarray
    iface: np.ndarray
    linktype: np.ndarray
    first_index: int

    def __len__(self) -> int:
        return int(self.data_off.shape[0])

    def frame_bytes(self, i: int) -> bytes:
        """Captured bytes of record ``i`` (for the few frames parsed one by one)."""
        o = int(self.data_off[i])
        return self.buf[o:o + int(self.caplen[i])].tobytes()


class _TimeUp(Exception):
    """The --max-seconds limit passed while waiting for data from a pipe."""


def iter_batches(path: str | os.PathLike[str] | io.BufferedIOBase | io.BytesIO,
                 state: ReadState | None = None, *,
                 chunk_bytes: int = CHUNK_BYTES, max_packets: int | None = None,
                 max_seconds: float | None = None) -> Iterator[FrameBatch]:
    """Stream the capture at ``path`` (or an open binary file) as :class:`FrameBatch`
    chunks.

    ``state`` (optional) is filled in as the file is read: format, interfaces, bytes
    read and, for damaged files, the byte offset where reading stopped. ``path`` may be
    a FIFO or other non-regular file (``state.streaming`` is then True and the size is
    unknown): it is read as data arrives, until it ends or a limit is reached.
    ``max_packets`` / ``max_seconds`` stop the read early (``state.stop_reason`` says
    which); the frames before the limit are returned.
    Raises :class:`CaptureFormatError` if the file is not a capture at all.
    """
    deadline = time.monotonic() + max_seconds if max_seconds is not None else None
    if isinstance(path, io.IOBase):
        f: BinaryIO = path  # type: ignore[assignment]
        p = Path(getattr(path, "name", "<stream>") or "<stream>")
        st = state if state is not None else ReadState(path=str(p))
        here = f.tell()
        st.size_bytes = f.seek(0, io.SEEK_END) - here
        f.seek(here)
        yield from _limited(_dispatch(f, p, st, chunk_bytes), st, max_packets, max_seconds,
                            deadline)
        return
    st = state if state is not None else ReadState(path=str(path))
    p = Path(path)
    try:
        info = p.stat()
        if stat.S_ISDIR(info.st_mode):
            raise CaptureFormatError(f"{p}: is a directory; give a pcap or pcapng file")
        st.streaming = not stat.S_ISREG(info.st_mode)
        st.size_bytes = 0 if st.streaming else info.st_size
        # a pipe is read unbuffered, as data arrives (select() honours --max-seconds)
        f = p.open("rb", buffering=0) if st.streaming else p.open("rb")
    except OSError as exc:
        raise CaptureFormatError(f"{p}: cannot open capture ({exc.strerror})") from None
    with f:
        yield from _limited(_dispatch(f, p, st, chunk_bytes, deadline), st, max_packets,
                            max_seconds, deadline)


def _limited(batches: Iterator[FrameBatch], st: ReadState, max_packets: int | None,
             max_seconds: float | None, deadline: float | None) -> Iterator[FrameBatch]:
    """``batches`` up to ``max_packets`` frames and until ``deadline`` (monotonic)."""
    count = 0
    time_up = (f"stopped after {max_seconds or 0:g} s (--max-seconds); the frames read so "
               "far are analysed")
    try:
        for b in batches:
            if max_packets is not None and count + len(b) >= max_packets:
                yield _head(b, max_packets - count)
                _stop(st, st.bytes_read, f"stopped after {max_packets} packets "
                      "(--max-packets); the frames read so far are analysed")
                return
            count += len(b)
            yield b
            if deadline is not None and time.monotonic() >= deadline:
                _stop(st, st.bytes_read, time_up)
                return
    except _TimeUp:
        _stop(st, st.bytes_read, time_up)


def _head(b: FrameBatch, k: int) -> FrameBatch:
    return FrameBatch(buf=b.buf, data_off=b.data_off[:k], caplen=b.caplen[:k],
                      wirelen=b.wirelen[:k], ts_ns=b.ts_ns[:k], has_ts=b.has_ts[:k],
                      iface=b.iface[:k], linktype=b.linktype[:k], first_index=b.first_index)


def _read_exact(f: BinaryIO, n: int, deadline: float | None = None) -> bytes:
    """Up to ``n`` bytes, fewer only at the end of the input (pipes return short reads)."""
    out = b""
    while len(out) < n:
        _wait_readable(f, deadline)
        got = f.read(n - len(out))
        if not got:
            break
        out += got
    return out


def _wait_readable(f: BinaryIO, deadline: float | None) -> None:
    if deadline is None:
        return
    try:
        fd = f.fileno()
    except (OSError, io.UnsupportedOperation):
        return
    left = deadline - time.monotonic()
    ready, _, _ = select.select([fd], [], [], max(0.0, left))
    if not ready:
        raise _TimeUp


def _dispatch(f: BinaryIO, p: Path, st: ReadState, chunk_bytes: int,
              deadline: float | None = None) -> Iterator[FrameBatch]:
    head = _read_exact(f, 4, deadline) if st.streaming else f.read(4)
    if len(head) == 0:
        raise CaptureFormatError(f"{p}: file is empty (0 bytes); expected a pcap or "
                                 "pcapng capture")
    if head in _PCAP_MAGICS:
        yield from _iter_pcap(f, p, head, st, chunk_bytes, deadline)
    elif head == _PCAPNG_MAGIC:
        yield from _iter_pcapng(f, p, st, chunk_bytes, deadline)
    else:
        raise CaptureFormatError(
            f"{p}: unknown magic bytes {head.hex()} at offset 0; expected pcap "
            "(d4c3b2a1, a1b2c3d4, 4d3cb2a1, a1b23c4d) or pcapng (0a0d0d0a). "
            "Convert other formats with editcap -F pcap")


class _Chunker:
    """Buffered reads with carry-over of the incomplete tail record."""

    def __init__(self, f: BinaryIO, base_offset: int, chunk_bytes: int,
                 file_size: int, *, streaming: bool = False,
                 deadline: float | None = None) -> None:
        self.f = f
        self.streaming = streaming  # a pipe: size unknown, reads return what has arrived
        self.deadline = deadline
        self.file_size = file_size
        self.chunk_bytes = chunk_bytes
        self.buf = np.zeros(0, dtype=np.uint8)
        self.valid = 0  # bytes of buf that hold file data
        self.base = base_offset  # file offset of buf[0]
        self.eof = False

    def refill(self, keep_from: int, need: int = 0) -> None:
        """Start a new buffer holding buf[keep_from:valid] followed by fresh file data.

        A fresh array each time: batches handed out earlier keep their own buffer.
        """
        tail = self.valid - keep_from
        # a damaged length field may claim more than the file holds: never allocate
        # beyond what is left to read
        left = max(0, self.file_size - (self.base + self.valid))
        if self.streaming:  # unknown size: a chunk, or the record the caller needs
            left = max(self.chunk_bytes, need)
        size = max(min(self.chunk_bytes, tail + left), min(need, tail + left), tail + 1)
        new = np.zeros(size + PAD_BYTES, dtype=np.uint8)
        if tail > 0:
            new[:tail] = self.buf[keep_from:self.valid]
        if self.streaming:
            got = self._read_some(new, tail, size, max(need, tail + 1))
        else:
            got = self.f.readinto(new.data[tail:size]) or 0  # type: ignore[attr-defined]
            if got < size - tail:
                self.eof = True
        self.base += keep_from
        self.buf = new
        self.valid = tail + got

    def _read_some(self, new: np.ndarray, tail: int, size: int, want: int) -> int:
        """Read from a pipe into ``new[tail:size]`` until ``want`` bytes are held or a
        read returns nothing (the writer closed it: end of input)."""
        got = 0
        while tail + got < want and tail + got < size:
            _wait_readable(self.f, self.deadline)
            n = self.f.readinto(new.data[tail + got:size])  # type: ignore[attr-defined]
            if not n:
                self.eof = True
                break
            got += n
        return got


def _pcap_iface(linktype: int, snaplen: int, nano: bool) -> InterfaceInfo:
    return InterfaceInfo(linktype=linktype, snaplen=snaplen,
                         ts_resolution="nanosecond" if nano else "microsecond",
                         ts_mul=1 if nano else 1000)


def _iter_pcap(f: BinaryIO, p: Path, magic: bytes, st: ReadState,
               chunk_bytes: int, deadline: float | None = None) -> Iterator[FrameBatch]:
    big, nano, hdr_len = _PCAP_MAGICS[magic]
    rest = _read_exact(f, 20, deadline) if st.streaming else f.read(20)
    if len(rest) < 20:
        raise CaptureFormatError(f"{p}: pcap file header is cut short ({4 + len(rest)} of "
                                 "24 bytes); the file is truncated")
    end = ">" if big else "<"
    _vmaj, _vmin, _zone, _sig, snaplen, network = struct.unpack(end + "HHiIII", rest)
    linktype = network & 0xFFFF
    st.format = "pcap"
    st.byte_order = "big" if big else "little"
    st.snaplen = snaplen
    iface = _pcap_iface(linktype, snaplen, nano)
    st.interfaces.append(iface)
    max_caplen = min(max(STANDARD_MAX_CAPLEN, snaplen), HARD_MAX_CAPLEN)
    mul = 1 if nano else 1000
    lt_arr = np.int32(linktype)
    ch = _Chunker(f, 24, chunk_bytes, st.size_bytes, streaming=st.streaming,
                  deadline=deadline)
    ch.refill(0)
    pos = 0
    index = 0
    while True:
        cap_out = max(1, (ch.valid - pos) // hdr_len + 1)
        sec = np.empty(cap_out, np.uint32)
        frac = np.empty(cap_out, np.uint32)
        cap = np.empty(cap_out, np.uint32)
        orig = np.empty(cap_out, np.uint32)
        off = np.empty(cap_out, np.int64)
        n, pos, status = walk.walk_pcap(ch.buf, pos, ch.valid, big, hdr_len, max_caplen,
                                        sec, frac, cap, orig, off)
        if n:
            ts = sec[:n].astype(np.int64) * 1_000_000_000 + frac[:n].astype(np.int64) * mul
            yield FrameBatch(buf=ch.buf, data_off=off[:n], caplen=cap[:n].astype(np.int64),
                             wirelen=orig[:n].astype(np.int64), ts_ns=ts,
                             has_ts=np.ones(n, bool), iface=np.zeros(n, np.int32),
                             linktype=np.full(n, lt_arr, np.int32), first_index=index)
            index += n
        st.bytes_read = ch.base + pos
        if status == walk.ST_END and ch.eof:
            return
        if status in (walk.ST_END, walk.ST_NEED):
            if ch.eof:
                _stop(st, ch.base + pos, _pcap_truncation(ch, pos, hdr_len, big))
                return
            need = 0
            if ch.valid - pos >= hdr_len:
                c = struct.unpack_from(end + "I", ch.buf.data, pos + 8)[0]
                need = hdr_len + c
            ch.refill(pos, need)
            pos = 0
        elif status == walk.ST_BAD:
            c = struct.unpack_from(end + "I", ch.buf.data, pos + 8)[0]
            _stop(st, ch.base + pos, f"record header claims a captured length of {c} bytes, "
                  f"more than the limit of {max_caplen}; the file is damaged here")
            return


def _pcap_truncation(ch: _Chunker, pos: int, hdr_len: int, big: bool) -> str:
    left = ch.valid - pos
    if left < hdr_len:
        return (f"file ends {left} bytes into a {hdr_len}-byte record header "
                "(cut short in the middle of a packet)")
    c = struct.unpack_from((">" if big else "<") + "I", ch.buf.data, pos + 8)[0]
    return (f"last record is cut short: header says {c} captured bytes, only "
            f"{left - hdr_len} present")


def _stop(st: ReadState, offset: int, reason: str) -> None:
    st.stopped_at_offset = offset
    st.stop_reason = reason
    st.bytes_read = offset


def _iter_pcapng(f: BinaryIO, p: Path, st: ReadState,
                 chunk_bytes: int, deadline: float | None = None) -> Iterator[FrameBatch]:
    st.format = "pcapng"
    ch = _Chunker(f, 0, chunk_bytes, st.size_bytes, streaming=st.streaming,
                  deadline=deadline)
    ch.buf = np.frombuffer(_PCAPNG_MAGIC, dtype=np.uint8).copy()
    ch.valid = 4
    ch.refill(0)
    pos = 0
    big = False
    ifaces: list[InterfaceInfo] = []
    index = 0
    max_block = HARD_MAX_CAPLEN + 4096
    first = True
    while True:
        lt_tab = np.array([i.linktype for i in ifaces] or [0], np.int32)
        snap_tab = np.array([i.snaplen for i in ifaces] or [0], np.int64)
        cap_out = max(1, (ch.valid - pos) // 28 + 1)
        ifo = np.empty(cap_out, np.int32)
        tsr = np.empty(cap_out, np.int64)
        cap = np.empty(cap_out, np.int64)
        orig = np.empty(cap_out, np.int64)
        off = np.empty(cap_out, np.int64)
        n, pos, status = walk.walk_pcapng(ch.buf, pos, ch.valid, big, len(ifaces), snap_tab,
                                          max_block, ifo, tsr, cap, orig, off)
        if n:
            ifo = ifo[:n]
            ts, has = _pcapng_ts(tsr[:n], ifo, ifaces, st, index)
            yield FrameBatch(buf=ch.buf, data_off=off[:n], caplen=cap[:n], wirelen=orig[:n],
                             ts_ns=ts, has_ts=has, iface=ifo, linktype=lt_tab[ifo],
                             first_index=index)
            index += n
        st.bytes_read = ch.base + pos
        if status == walk.ST_FULL:
            continue
        if status == walk.ST_END and ch.eof:
            return
        if status in (walk.ST_END, walk.ST_NEED):
            if ch.eof:
                left = ch.valid - pos
                _stop(st, ch.base + pos, f"file ends inside a block ({left} bytes of it "
                      "present); the capture was cut short")
                return
            need = 0
            if ch.valid - pos >= 8:
                need = struct.unpack_from(">I" if big else "<I", ch.buf.data, pos + 4)[0]
                if need > max_block:
                    _stop(st, ch.base + pos, f"block length {need} is absurd")
                    return
            ch.refill(pos, need)
            pos = 0
            continue
        if status == walk.ST_BAD:
            _stop(st, ch.base + pos, "invalid pcapng block (bad length, trailing length "
                  "mismatch or unknown interface id); the file is damaged here")
            if first:
                raise CaptureFormatError(f"{p}: {st.stop_reason} at offset {ch.base + pos}")
            return
        # SHB or IDB: need the whole block in the buffer to parse options.
        blk = _whole_block(ch, pos, status == walk.ST_SHB, big)
        if blk is None:
            _stop(st, ch.base + pos, "section header or interface block is cut short or "
                  "has a bad length")
            if first:
                raise CaptureFormatError(f"{p}: {st.stop_reason} at offset {ch.base}")
            return
        pos, raw, blk_big = blk
        first = False
        if status == walk.ST_SHB:
            big = blk_big
            st.byte_order = "big" if big else "little"
            st.section_headers += 1
            ifaces = []
        else:
            info = _parse_idb(raw, big)
            ifaces.append(info)
            st.interfaces.append(info)
            if info.linktype not in _KNOWN_LT:
                st.warnings.append(f"interface {len(ifaces) - 1}: link type {info.linktype} "
                                   "is not decoded (frames counted only)")


_KNOWN_LT = {0, 1, 12, 14, 101, 108, 113, 127, 276}


def _whole_block(ch: _Chunker, pos: int, shb: bool,
                 big: bool) -> tuple[int, bytes, bool] | None:
    """Make sure the block at pos is entirely in the buffer; return (next pos, bytes,
    byte order). For an SHB the byte order comes from its byte-order magic."""
    if ch.valid - pos < 12 and not ch.eof:
        ch.refill(pos, 12)
        pos = 0
    if ch.valid - pos < 12:
        return None
    if shb:
        bom = bytes(ch.buf[pos + 8:pos + 12])
        if bom == b"\x4d\x3c\x2b\x1a":
            big = False
        elif bom == b"\x1a\x2b\x3c\x4d":
            big = True
        else:
            return None
    blen = struct.unpack_from(">I" if big else "<I", ch.buf.data, pos + 4)[0]
    if blen < 12 or blen % 4 or blen > 16 * 1024 * 1024:
        return None
    if ch.valid - pos < blen and not ch.eof:
        ch.refill(pos, blen)
        pos = 0
    if ch.valid - pos < blen:
        return None
    raw = bytes(ch.buf[pos:pos + blen])
    if struct.unpack_from(">I" if big else "<I", raw, blen - 4)[0] != blen:
        return None
    return pos + blen, raw, big


def _parse_idb(raw: bytes, big: bool) -> InterfaceInfo:
    e = ">" if big else "<"
    linktype, _res, snaplen = struct.unpack_from(e + "HHI", raw, 8)
    info = InterfaceInfo(linktype=linktype, snaplen=snaplen, ts_resolution="microsecond")
    o = 16
    end = len(raw) - 4
    while o + 4 <= end:
        code, olen = struct.unpack_from(e + "HH", raw, o)
        val = raw[o + 4:o + 4 + olen]
        if code == 0 or len(val) < olen:
            break
        if code == 2:
            info.name = val.decode("utf-8", "replace")
        elif code == 9 and olen >= 1:
            r = val[0]
            if r & 0x80:
                # beyond 2^-63 s a 64-bit timestamp cannot count whole seconds anyway
                info.ts_shift = min(r & 0x7F, 63)
                info.ts_resolution = f"2^-{r & 0x7F}"
            else:
                info.ts_mul = 10 ** max(0, 9 - r)
                info.ts_div = 10 ** min(max(0, r - 9), 18)  # int64-safe divisor
                info.ts_resolution = {6: "microsecond", 9: "nanosecond",
                                      3: "millisecond"}.get(r, f"10^-{r}")
        elif code == 14 and olen == 8:
            info.ts_offset_s = struct.unpack_from(e + "q", val)[0]
        o += 4 + ((olen + 3) & ~3)
    return info


#: Latest timestamp taken as real: 2200-01-01 (a later one is a broken clock or a wrong
#: if_tsresol, e.g. year 586524). Earlier than 1970 is implausible too.
MAX_PLAUSIBLE_NS = 7_258_118_400 * 1_000_000_000
_SECONDS_PER_YEAR = 31_556_952  # mean Gregorian year


def _implausible_year(raw: int, info: InterfaceInfo) -> int:
    """The calendar year an out-of-range raw timestamp stands for (for the warning)."""
    u = float(raw % (1 << 64))
    secs = u / 2.0 ** info.ts_shift if info.ts_shift >= 0 else \
        u * info.ts_mul / info.ts_div / 1e9
    return int(1970 + (secs + info.ts_offset_s) / _SECONDS_PER_YEAR)


def _pcapng_ts(raw: np.ndarray, ifo: np.ndarray, ifaces: list[InterfaceInfo],
               st: ReadState | None = None,
               first_index: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Raw per-interface timestamps -> int64 ns (vectorised per interface).

    A Simple Packet Block has no timestamp (raw -1). A timestamp that overflows or lies
    outside 1970..2200 is treated as absent too, and ``st`` gets one warning per
    interface naming it, the first such packet and its year.
    """
    has = raw != -1
    ts = np.zeros(raw.shape[0], np.int64)
    for k in np.unique(ifo):
        info = ifaces[int(k)]
        m = (ifo == k) & has
        r = raw[m]
        ok = r >= 0
        if info.ts_shift >= 0:
            sh = info.ts_shift
            sec = r >> sh
            ok &= sec <= MAX_PLAUSIBLE_NS // 1_000_000_000
            sec = np.where(ok, sec, 0)
            fr = np.where(ok, r & ((1 << sh) - 1), 0)
            if sh <= 33:
                ns = (fr * 1_000_000_000) >> sh
            else:
                ns = (fr.astype(np.float64) * (1e9 / 2.0 ** sh)).astype(np.int64)
            v = sec * 1_000_000_000 + ns
        elif info.ts_div > 1:
            v = np.where(ok, r // info.ts_div, 0)
        else:
            ok &= r <= MAX_PLAUSIBLE_NS // info.ts_mul
            v = np.where(ok, r, 0) * info.ts_mul
        v = v + info.ts_offset_s * 1_000_000_000
        ok &= (v >= 0) & (v <= MAX_PLAUSIBLE_NS)
        ts[m] = np.where(ok, v, 0)
        if not ok.all():
            idx = np.flatnonzero(m)
            bad = idx[~ok]
            has[bad] = False
            if st is not None:
                _warn_implausible(st, int(k), info, int(bad.size),
                                  first_index + int(bad[0]), int(raw[bad[0]]))
    return ts, has


def _warn_implausible(st: ReadState, k: int, info: InterfaceInfo, n: int, packet: int,
                      raw: int) -> None:
    """One warning per interface, its count kept current as more such packets arrive."""
    seen = st.implausible_timestamps.get(k, 0)
    st.implausible_timestamps[k] = total = seen + n
    name = f" ({info.name})" if info.name else ""
    prefix = f"interface {k}{name}: "
    if seen:
        at = next(i for i, w in enumerate(st.warnings) if w.startswith(prefix)
                  and "implausible timestamp" in w)
        first = st.warnings[at].split("; ", 1)[1]
    else:
        at = len(st.warnings)
        st.warnings.append("")
        first = (f"the first is packet {packet + 1} (year {_implausible_year(raw, info)}); "
                 "they are treated as having no timestamp; check the capturing host's clock "
                 "and the interface's timestamp resolution (if_tsresol)")
    st.warnings[at] = (f"{prefix}{total} packet{'s' if total != 1 else ''} with an "
                       f"implausible timestamp; {first}")
