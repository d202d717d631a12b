"""Accumulators that reduce decoded chunks to small tables, merged across chunks.

Each chunk is reduced with ``np.unique``/``np.bincount`` to one row per key
(conversation, flow, second, host-second); the per-chunk tables are merged with the
same reductions when enough of them pile up, so memory stays bounded by the number of
distinct keys, never by the number of packets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["KeyedSums", "Totals", "reduce_keyed"]


def reduce_keyed(keys: np.ndarray, sums: np.ndarray, mins: np.ndarray | None = None,
                 maxs: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Group rows by ``keys`` (1-D, any sortable dtype incl. void).

    ``sums`` is ``[rows, k]`` int64 summed per key; ``mins``/``maxs`` ``[rows, m]``
    int64 reduced with min/max per key. Returns the reduced tables, keys sorted.
    """
    if keys.shape[0] == 0:
        return keys, sums, mins, maxs
    order = np.argsort(keys, kind="stable")
    ks = keys[order]
    start = np.ones(ks.shape[0], bool)
    start[1:] = ks[1:] != ks[:-1]
    idx = np.nonzero(start)[0]
    out_s = np.add.reduceat(sums[order], idx, axis=0)
    out_min = None if mins is None else np.minimum.reduceat(mins[order], idx, axis=0)
    out_max = None if maxs is None else np.maximum.reduceat(maxs[order], idx, axis=0)
    return ks[idx], out_s, out_min, out_max


@dataclass
class KeyedSums:
    """Running per-key sums/mins/maxs over chunks (merged lazily)."""

    n_sum: int
    n_min: int = 0
    n_max: int = 0
    merge_every: int = 16
    _parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = field(
        default_factory=list)

    def add(self, keys: np.ndarray, sums: np.ndarray, mins: np.ndarray | None = None,
            maxs: np.ndarray | None = None) -> None:
        """Add one chunk's rows (reduced here first)."""
        r = keys.shape[0]
        mins = mins if mins is not None else np.zeros((r, self.n_min), np.int64)
        maxs = maxs if maxs is not None else np.zeros((r, self.n_max), np.int64)
        k, s, mn, mx = reduce_keyed(keys, sums, mins, maxs)
        assert mn is not None and mx is not None
        self._parts.append((k, s, mn, mx))
        if len(self._parts) >= self.merge_every:
            self._merge()

    def _merge(self) -> None:
        if len(self._parts) <= 1:
            return
        k = np.concatenate([p[0] for p in self._parts])
        s = np.concatenate([p[1] for p in self._parts])
        mn = np.concatenate([p[2] for p in self._parts])
        mx = np.concatenate([p[3] for p in self._parts])
        rk, rs, rmn, rmx = reduce_keyed(k, s, mn, mx)
        assert rmn is not None and rmx is not None
        self._parts = [(rk, rs, rmn, rmx)]

    def result(self, key_dtype: np.dtype | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The merged ``(keys, sums, mins, maxs)`` tables."""
        self._merge()
        if not self._parts:
            dt = key_dtype if key_dtype is not None else np.dtype(np.uint64)
            return (np.zeros(0, dt), np.zeros((0, self.n_sum), np.int64),
                    np.zeros((0, self.n_min), np.int64), np.zeros((0, self.n_max), np.int64))
        return self._parts[0]


@dataclass
class Totals:
    """Whole-capture counters (packets, bytes, timestamps, per interface/link type)."""

    packets: int = 0
    wire_bytes: int = 0
    captured_bytes: int = 0
    first_ts_ns: int | None = None
    last_ts_ns: int | None = None
    min_ts_ns: int | None = None
    max_ts_ns: int | None = None
    monotonic: bool = True
    per_iface: dict[int, int] = field(default_factory=dict)
    per_linktype: dict[int, int] = field(default_factory=dict)

    def add(self, ts_ns: np.ndarray, has_ts: np.ndarray, wirelen: np.ndarray,
            caplen: np.ndarray, iface: np.ndarray, linktype: np.ndarray) -> None:
        """Add one chunk (arrays in file order)."""
        self.packets += int(ts_ns.shape[0])
        self.wire_bytes += int(wirelen.sum())
        self.captured_bytes += int(caplen.sum())
        for arr, dct in ((iface, self.per_iface), (linktype, self.per_linktype)):
            u, c = np.unique(arr, return_counts=True)
            for k, v in zip(u.tolist(), c.tolist(), strict=True):
                dct[k] = dct.get(k, 0) + v
        t = ts_ns[has_ts]
        if t.shape[0] == 0:
            return
        if self.first_ts_ns is None:
            self.first_ts_ns = int(t[0])
        if self.last_ts_ns is not None and t[0] < self.last_ts_ns:
            self.monotonic = False
        if t.shape[0] > 1 and bool((np.diff(t) < 0).any()):
            self.monotonic = False
        self.last_ts_ns = int(t[-1])
        lo, hi = int(t.min()), int(t.max())
        self.min_ts_ns = lo if self.min_ts_ns is None else min(self.min_ts_ns, lo)
        self.max_ts_ns = hi if self.max_ts_ns is None else max(self.max_ts_ns, hi)
