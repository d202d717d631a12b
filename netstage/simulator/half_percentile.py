"""``np.percentile(values.T, q, axis=0)`` of non-negative float16 rows, without its cost.

The simulation keeps per-(link, scenario) utilisations as float16 (2 bytes each, up to
32 M of them) and reports each link's p95. ``np.percentile`` on float16 partitions
with float16 compares, which numpy emulates in software: 0.3-0.4 s of a 1,000-scenario,
13,000-link run, on the single thread that follows the compiled kernels. For values
that are ``+0`` or more and not NaN, the bit patterns of float16 order like the values
(IEEE 754), so the two neighbouring order statistics that the linear method
interpolates are found by partitioning the uint16 view (integer compares, numpy's
vectorised selection); the interpolation itself is then left to ``np.quantile`` on
those two rows, with the same weight numpy derives, so the float16 arithmetic and the
result are numpy's own (``tests/test_half_percentile.py`` compares them).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

__all__ = ["percentile_rows"]

_INF16 = 0x7C00  # bits of float16 +inf: every +0 .. +inf value is at or below


def percentile_rows(values: NDArray[np.float16], q: float) -> NDArray[np.float64]:
    """The ``q``-th percentile (linear method) of each row of ``values[L, n]``, as
    float64; equal to ``np.percentile(values.T, q, axis=0).astype(np.float64)``.

    The fast path is taken when every value is ``+0`` or more (infinity allowed) and
    none is NaN; otherwise (a negative background on a link off every path, say) this
    is ``np.percentile`` itself. ``values`` is left unchanged; ``n`` must be >= 1.
    """
    n_rows, n = values.shape
    if n_rows == 0:
        return np.zeros(0)
    # numpy's virtual index for the linear method: (n - 1) * q / 100, floor and weight
    virtual = (n - 1) * (q / 100.0)
    lo = min(math.floor(virtual), n - 1)
    keys = np.ascontiguousarray(values).view(np.uint16).copy()
    if int(keys.max()) > _INF16:  # a sign bit or a NaN: the bits do not order
        return np.asarray(np.percentile(values.T, q, axis=0), dtype=np.float64)
    keys.partition(lo, axis=1)
    prev = keys[:, lo]
    # the next order statistic: the smallest of those the partition put after lo
    nxt = keys[:, lo + 1:].min(axis=1) if lo + 1 < n else prev
    pair = np.stack([prev, nxt]).view(np.float16)
    # two rows: numpy's virtual index is then exactly the weight, the same float
    return np.asarray(np.quantile(pair, virtual - lo, axis=0), dtype=np.float64)
