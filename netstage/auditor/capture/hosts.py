"""Per-host byte totals only: the lean path (reader + vectorised decode + bincount).

A frame's wire length counts once for each distinct address among its (outer) IPv4
source and destination, the way totals are computed from
``tshark -T fields -e frame.len -e ip.src -e ip.dst``. Used by the benchmark and by
callers that need nothing else; :func:`~.analyse.analyse_capture` gives the same
numbers in ``top_talkers`` together with everything else.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable

import numpy as np

from netstage.auditor.capture.decode import decode_batch
from netstage.auditor.capture.reader import CHUNK_BYTES, ReadState, iter_batches

__all__ = ["host_byte_totals"]


def host_byte_totals(path: str | os.PathLike[str], *, chunk_bytes: int = CHUNK_BYTES,
                     progress: Callable[[int, int], None] | None = None,
                     state: ReadState | None = None) -> dict[str, int]:
    """``{IPv4 address: bytes}`` over the whole capture, streamed in chunks."""
    st = state if state is not None else ReadState(path=str(path))
    hosts = np.zeros(0, np.uint32)
    sums = np.zeros(0, np.int64)
    for b in iter_batches(path, st, chunk_bytes=chunk_bytes):
        d = decode_batch(b)
        if d.v4_idx.size == 0:
            continue
        w = b.wirelen[d.v4_idx]
        same = d.v4_src == d.v4_dst
        keys = np.concatenate([hosts, d.v4_src, d.v4_dst[~same]])
        vals = np.concatenate([sums, w, w[~same]])
        hosts, inv = np.unique(keys, return_inverse=True)
        sums = np.bincount(inv, weights=vals, minlength=hosts.shape[0]).astype(np.int64)
        if progress is not None:
            progress(st.bytes_read, st.size_bytes)
    return {str(ipaddress.IPv4Address(int(h))): int(v)
            for h, v in zip(hosts.tolist(), sums.tolist(), strict=True)}
