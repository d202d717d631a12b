"""Volumes: conversations, flows and throughput.

Directed address pairs (IPv4 keys ``src << 32 | dst``, IPv6 keys of 16 + 16 bytes) become
conversations as tshark's ``-z conv,ip`` / ``conv,ipv6`` counts them; canonical flow keys
(both directions in one) feed the classification (:mod:`.classify`); 1-second bins give
the throughput series, peak, p95 and mean.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import numpy as np

from netstage.auditor.capture.aggregate import KeyedSums
from netstage.auditor.capture.reader import FrameBatch
from netstage.auditor.capture.state import _State

TOP_N = 50


def _ts(ns: int | None) -> str | None:
    """Integer nanoseconds -> epoch seconds string with 9 decimals (exact)."""
    if ns is None:
        return None
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    return f"{sign}{ns // 1_000_000_000}.{ns % 1_000_000_000:09d}"


@dataclass
class Conversation:
    """One IPv4 or IPv6 conversation as tshark's ``-z conv,ip`` / ``conv,ipv6`` counts it
    (a = first sender)."""

    a: str
    b: str
    frames_a_to_b: int
    frames_b_to_a: int
    bytes_a_to_b: int
    bytes_b_to_a: int
    first_ts_ns: int
    last_ts_ns: int

    @property
    def frames(self) -> int:
        return self.frames_a_to_b + self.frames_b_to_a

    @property
    def bytes(self) -> int:
        return self.bytes_a_to_b + self.bytes_b_to_a

    def to_json(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "frames": self.frames, "bytes": self.bytes,
                "frames_a_to_b": self.frames_a_to_b, "frames_b_to_a": self.frames_b_to_a,
                "bytes_a_to_b": self.bytes_a_to_b, "bytes_b_to_a": self.bytes_b_to_a,
                "first_ts": _ts(self.first_ts_ns), "last_ts": _ts(self.last_ts_ns)}


def _flow_keys(src: np.ndarray, dst: np.ndarray, proto: np.ndarray, sport: np.ndarray,
               dport: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Canonical (both directions in one) flow keys as void rows, and the direction.

    ``src``/``dst`` are ``[n, width]`` uint8 address bytes (big-endian order, so byte
    comparison is address comparison). Returns ``(keys Vk, a_to_b bool)``.
    """
    n = src.shape[0]
    sp = np.where(sport < 0, 0, sport + 1).astype(np.int64)
    dp = np.where(dport < 0, 0, dport + 1).astype(np.int64)
    # lexicographic compare (src, sport) vs (dst, dport)
    less, same = _byte_order(src, dst)
    a2b = np.where(same, sp <= dp, less)
    a = np.where(a2b[:, None], src, dst)
    b = np.where(a2b[:, None], dst, src)
    pa = np.where(a2b, sp, dp)
    pb = np.where(a2b, dp, sp)
    tail = np.empty((n, 8), np.uint8)
    tail[:, 0] = proto.astype(np.uint8)
    tail[:, 1] = 0
    tail[:, 2] = (pa >> 16) & 0xFF
    tail[:, 3] = (pa >> 8) & 0xFF
    tail[:, 4] = pa & 0xFF
    tail[:, 5] = (pb >> 16) & 0xFF
    tail[:, 6] = (pb >> 8) & 0xFF
    tail[:, 7] = pb & 0xFF
    return _void_rows(a, b, tail), a2b


def _byte_order(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise lexicographic comparison of ``[n, w]`` uint8 arrays (big-endian addresses
    compare like their bytes): ``(src < dst, src == dst)``."""
    diff = src.astype(np.int16) - dst.astype(np.int16)
    nz = diff != 0
    less = diff[np.arange(src.shape[0]), np.argmax(nz, axis=1)] < 0
    return less, ~nz.any(axis=1)


def _void_rows(*parts: np.ndarray) -> np.ndarray:
    """``[n, w_i]`` uint8 arrays side by side as one fixed-width (void) key per row."""
    rows = np.ascontiguousarray(np.concatenate(parts, axis=1))
    return rows.view(np.dtype((np.void, rows.shape[1]))).ravel()


def _v4_bytes(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.astype(">u4")).view(np.uint8).reshape(-1, 4)


def _add_conversations(acc: KeyedSums, keys: np.ndarray, frames: np.ndarray, b: FrameBatch,
                       wl: np.ndarray, idx: np.ndarray) -> None:
    """One row per (address pair key, frame): bytes, frames | first ts, frame index | last
    ts (frames without a timestamp do not move the first/last time)."""
    if keys.size == 0:
        return
    has = b.has_ts[frames]
    acc.add(keys, np.stack([wl[frames], np.ones(frames.shape[0], np.int64)], axis=1),
            np.stack([np.where(has, b.ts_ns[frames], np.iinfo(np.int64).max), idx[frames]],
                     axis=1),
            np.where(has, b.ts_ns[frames], np.iinfo(np.int64).min)[:, None])


def _add_flows(acc: KeyedSums, k: np.ndarray, a2b: np.ndarray, b: FrameBatch,
               fi: np.ndarray) -> None:
    w = b.wirelen[fi]
    ts = b.ts_ns[fi]
    has = b.has_ts[fi]
    acc.add(k, np.stack([w, np.ones(fi.shape[0], np.int64), np.where(a2b, w, 0)], axis=1),
            np.where(has, ts, np.iinfo(np.int64).max)[:, None],
            np.where(has, ts, np.iinfo(np.int64).min)[:, None])


def _conversations(s: _State) -> tuple[int, list[Conversation]]:
    """IPv4 conversations (keys ``src << 32 | dst``) as tshark's ``-z conv,ip``."""
    k, sums, mins, maxs = s.conv.result(np.dtype(np.uint64))
    return _conversation_table(_v4_bytes(k >> np.uint64(32)),
                               _v4_bytes(k & np.uint64(0xFFFFFFFF)), sums, mins, maxs)


def _conversations6(s: _State) -> tuple[int, list[Conversation]]:
    """IPv6 conversations (keys: 16 source then 16 destination bytes), as ``conv,ipv6``."""
    k, sums, mins, maxs = s.conv6.result(np.dtype((np.void, 32)))
    raw = k.view(np.uint8).reshape(-1, 32)
    return _conversation_table(raw[:, :16], raw[:, 16:], sums, mins, maxs)


def _conversation_table(src: np.ndarray, dst: np.ndarray, sums: np.ndarray, mins: np.ndarray,
                        maxs: np.ndarray) -> tuple[int, list[Conversation]]:
    """(count, top :data:`TOP_N` by bytes) of the address pairs of per-direction rows.

    ``src``/``dst`` are ``[rows, width]`` big-endian address bytes; ``sums`` are (bytes,
    frames), ``mins`` (first timestamp, first frame index), ``maxs`` (last timestamp).
    ``a`` of each conversation is the address that sent first.
    """
    n, w = src.shape
    if n == 0:
        return 0, []
    less, same = _byte_order(src, dst)
    fwd = less | same  # direction lo -> hi
    pair = _void_rows(np.where(fwd[:, None], src, dst), np.where(fwd[:, None], dst, src))
    u, inv = np.unique(pair, return_inverse=True)
    inv = inv.ravel()
    m = u.shape[0]
    b_f = np.bincount(inv, weights=np.where(fwd, sums[:, 0], 0), minlength=m).astype(np.int64)
    b_r = np.bincount(inv, weights=np.where(fwd, 0, sums[:, 0]), minlength=m).astype(np.int64)
    f_f = np.bincount(inv, weights=np.where(fwd, sums[:, 1], 0), minlength=m).astype(np.int64)
    f_r = np.bincount(inv, weights=np.where(fwd, 0, sums[:, 1]), minlength=m).astype(np.int64)
    # exact int sums (bincount weights are float64; fine below 2**53 bytes)
    first_idx_f = np.full(m, np.iinfo(np.int64).max)
    first_idx_r = np.full(m, np.iinfo(np.int64).max)
    np.minimum.at(first_idx_f, inv[fwd], mins[fwd, 1])
    np.minimum.at(first_idx_r, inv[~fwd], mins[~fwd, 1])
    t0 = np.full(m, np.iinfo(np.int64).max)
    t1 = np.full(m, np.iinfo(np.int64).min)
    np.minimum.at(t0, inv, mins[:, 0])
    np.maximum.at(t1, inv, maxs[:, 0])
    total = b_f + b_r
    frames = f_f + f_r
    order = np.lexsort((-frames, -total))[:TOP_N]
    out = []
    for j in order.tolist():
        raw = u[j].tobytes()
        lo_ip, hi_ip = str(ipaddress.ip_address(raw[:w])), str(ipaddress.ip_address(raw[w:]))
        lo_first = first_idx_f[j] <= first_idx_r[j]
        a, bb = (lo_ip, hi_ip) if lo_first else (hi_ip, lo_ip)
        fa, fb = (int(f_f[j]), int(f_r[j])) if lo_first else (int(f_r[j]), int(f_f[j]))
        ba, bbb = (int(b_f[j]), int(b_r[j])) if lo_first else (int(b_r[j]), int(b_f[j]))
        out.append(Conversation(a=a, b=bb, frames_a_to_b=fa, frames_b_to_a=fb,
                                bytes_a_to_b=ba, bytes_b_to_a=bbb,
                                first_ts_ns=int(t0[j]), last_ts_ns=int(t1[j])))
    return m, out


def _throughput(s: _State) -> tuple[float, float, float, list[tuple[int, float]]]:
    k, sums, _mn, _mx = s.bins.result(np.dtype(np.int64))
    if k.shape[0] == 0:
        return 0.0, 0.0, 0.0, []
    mbps = sums[:, 0] * 8 / 1e6
    span = int(k[-1] - k[0]) + 1
    zeros = span - k.shape[0]
    # p95 over every second of the span, empty seconds included (as zeros)
    srt = np.sort(mbps)
    rank = 0.95 * (span - 1)
    lo_i, frac = int(np.floor(rank)), rank - np.floor(rank)

    def at(r: int) -> float:
        return 0.0 if r < zeros else float(srt[r - zeros])

    p95 = at(lo_i) + (at(min(lo_i + 1, span - 1)) - at(lo_i)) * frac
    series = list(zip(k.tolist(), [round(float(x), 6) for x in mbps], strict=True))
    if len(series) > 3600:  # keep the JSON small: the busiest hour's worth of bins
        series = [series[i] for i in sorted(np.argsort(-mbps)[:3600].tolist())]
    return float(mbps.max()), float(p95), float(mbps.sum() / span), series
