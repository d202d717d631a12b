"""The kernels' radix sort (:mod:`netstage.simulator.float_sort`) equals numpy's sort.

The subtree levels' results are bit-identical to those with ``ndarray.sort`` only if
the sort is: random float64 and float32 values (float32-exact demands as in a demand
batch, full-precision levels, negative values, signed zeros, infinities, ties), sorted
in place inside a longer array whose other values must not move.
"""

from __future__ import annotations

import numpy as np
import pytest

from netstage.simulator.float_sort import sort_f32, sort_f64


def _values(rng: np.random.Generator, kind: int, n: int) -> np.ndarray:
    if kind == 0:  # demands drawn as float32, as in a batch
        return rng.lognormal(0.0, 3.0, n).astype(np.float32).astype(np.float64)
    if kind == 1:  # levels: any float64
        return rng.lognormal(0.0, 3.0, n)
    if kind == 2:  # signs, signed zeros, infinities
        a = rng.normal(0.0, 10.0, n)
        for v, share in ((0.0, 0.1), (-0.0, 0.05), (np.inf, 0.05), (-np.inf, 0.05)):
            a[rng.random(n) < share] = v
        return a
    return np.round(rng.normal(0.0, 3.0, n))  # many ties


@pytest.mark.parametrize("kind", [0, 1, 2, 3])
def test_radix_sort_equals_numpy_sort(kind: int) -> None:
    rng = np.random.default_rng(kind)
    count = np.zeros((8, 256), dtype=np.int64)
    k64, t64 = np.empty(5000, np.uint64), np.empty(5000, np.uint64)
    k32, t32 = np.empty(5000, np.uint32), np.empty(5000, np.uint32)
    for n in [0, 1, 2, 47, 48, 49, 50, 300, 4999]:  # both sides of the insertion-sort cut
        a = _values(rng, kind, n)
        b = np.r_[7.5, a, -7.5]
        sort_f64(b, 1, n + 1, k64, t64, count)
        np.testing.assert_array_equal(b[1:-1], np.sort(a))
        assert b[0] == 7.5 and b[-1] == -7.5
        f = a.astype(np.float32)
        g = np.r_[np.float32(7.5), f, np.float32(-7.5)]
        sort_f32(g, 1, n + 1, k32, t32, count)
        np.testing.assert_array_equal(g[1:-1], np.sort(f))
        assert g[0] == 7.5 and g[-1] == -7.5
