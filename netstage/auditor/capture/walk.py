"""Compiled record-header walks over a chunk of capture bytes.

The only per-record loop of the fast path lives here, compiled with numba: a header
walk is inherently sequential (each record's length says where the next one starts).
Everything after it (field gathers, decoding, aggregation) is vectorised numpy.

Both kernels read one chunk ``buf[start:end]`` and stop cleanly at the first record
that does not fit entirely, returning a status that the Python reader acts on:

``ST_END``      every byte up to ``end`` was consumed
``ST_NEED``     a record starts at ``pos`` but is not complete (read more / truncated)
``ST_BAD``      the record header at ``pos`` is invalid (absurd length, mismatch)
``ST_SHB``      a pcapng Section Header Block starts at ``pos`` (Python parses it)
``ST_IDB``      a pcapng Interface Description Block starts at ``pos``
``ST_FULL``     the output arrays are full (call again from ``pos``)
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "ST_BAD",
    "ST_END",
    "ST_FULL",
    "ST_IDB",
    "ST_NEED",
    "ST_SHB",
    "walk_pcap",
    "walk_pcapng",
]

ST_END = 0
ST_NEED = 1
ST_BAD = 2
ST_SHB = 3
ST_IDB = 4
ST_FULL = 5


@njit(cache=True, inline="always")
def _rd32(buf: np.ndarray, pos: int, big: bool) -> int:
    b0 = np.uint32(buf[pos])
    b1 = np.uint32(buf[pos + 1])
    b2 = np.uint32(buf[pos + 2])
    b3 = np.uint32(buf[pos + 3])
    if big:
        return int((b0 << 24) | (b1 << 16) | (b2 << 8) | b3)
    return int((b3 << 24) | (b2 << 16) | (b1 << 8) | b0)


@njit(cache=True, inline="always")
def _rd16(buf: np.ndarray, pos: int, big: bool) -> int:
    b0 = np.uint32(buf[pos])
    b1 = np.uint32(buf[pos + 1])
    if big:
        return int((b0 << 8) | b1)
    return int((b1 << 8) | b0)


@njit(cache=True)
def walk_pcap(buf: np.ndarray, start: int, end: int, big: bool, hdr_len: int,
              max_caplen: int, out_sec: np.ndarray, out_frac: np.ndarray,
              out_cap: np.ndarray, out_orig: np.ndarray,
              out_off: np.ndarray) -> tuple[int, int, int]:
    """Walk classic pcap records in ``buf[start:end]``.

    Returns ``(n_records, pos, status)``; record ``i`` has its packet bytes at
    ``buf[out_off[i]: out_off[i] + out_cap[i]]``.
    """
    pos = start
    n = 0
    cap_out = out_off.shape[0]
    status = ST_END
    while True:
        if pos >= end:
            status = ST_END
            break
        if n >= cap_out:
            status = ST_FULL
            break
        if pos + hdr_len > end:
            status = ST_NEED
            break
        cap = _rd32(buf, pos + 8, big)
        if cap > max_caplen:
            status = ST_BAD
            break
        if pos + hdr_len + cap > end:
            status = ST_NEED
            break
        out_sec[n] = _rd32(buf, pos, big)
        out_frac[n] = _rd32(buf, pos + 4, big)
        out_cap[n] = cap
        out_orig[n] = _rd32(buf, pos + 12, big)
        out_off[n] = pos + hdr_len
        n += 1
        pos += hdr_len + cap
    return n, pos, status


@njit(cache=True)
def walk_pcapng(buf: np.ndarray, start: int, end: int, big: bool, n_if: int,
                if_snaplen: np.ndarray, max_block: int, out_if: np.ndarray,
                out_ts: np.ndarray, out_cap: np.ndarray, out_orig: np.ndarray,
                out_off: np.ndarray) -> tuple[int, int, int]:
    """Walk pcapng blocks in ``buf[start:end]``: EPB (6), SPB (3) and the obsolete
    Packet Block (2) become records; unknown block types are skipped; SHB and IDB stop
    the walk so that Python can parse their options.

    ``out_ts`` is the raw 64-bit timestamp in interface units, ``-1`` for SPB (which
    carries none). Returns ``(n_records, pos, status)``.
    """
    pos = start
    n = 0
    cap_out = out_off.shape[0]
    status = ST_END
    while True:
        if pos >= end:
            status = ST_END
            break
        if n >= cap_out:
            status = ST_FULL
            break
        if pos + 12 > end:
            status = ST_NEED
            break
        btype = _rd32(buf, pos, big)
        if btype == 0x0A0D0D0A:
            status = ST_SHB
            break
        blen = _rd32(buf, pos + 4, big)
        if blen < 12 or blen % 4 != 0 or blen > max_block:
            status = ST_BAD
            break
        if pos + blen > end:
            status = ST_NEED
            break
        if _rd32(buf, pos + blen - 4, big) != blen:
            status = ST_BAD
            break
        if btype == 1:
            status = ST_IDB
            break
        if btype == 6 or btype == 2:
            if blen < 32:
                status = ST_BAD
                break
            iface = _rd32(buf, pos + 8, big) if btype == 6 else _rd16(buf, pos + 8, big)
            cap = _rd32(buf, pos + 20, big)
            if iface >= n_if or 28 + cap > blen - 4:
                status = ST_BAD
                break
            hi = np.int64(_rd32(buf, pos + 12, big))
            lo = np.int64(_rd32(buf, pos + 16, big))
            out_if[n] = iface
            out_ts[n] = (hi << 32) | lo
            out_cap[n] = cap
            out_orig[n] = _rd32(buf, pos + 24, big)
            out_off[n] = pos + 28
            n += 1
        elif btype == 3:
            if blen < 16 or n_if == 0:
                status = ST_BAD
                break
            orig = _rd32(buf, pos + 8, big)
            cap = min(orig, blen - 16)
            if if_snaplen[0] > 0:
                cap = min(cap, if_snaplen[0])
            out_if[n] = 0
            out_ts[n] = -1
            out_cap[n] = cap
            out_orig[n] = orig
            out_off[n] = pos + 12
            n += 1
        pos += blen
    return n, pos, status
