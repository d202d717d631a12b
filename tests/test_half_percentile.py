"""Property: ``percentile_rows`` is ``np.percentile`` on float16 rows, bit for bit.

The simulation's link p95 went from ``np.percentile`` (float16 compares) to a partition
of the uint16 view plus numpy's own interpolation of the two order statistics
(``netstage/simulator/half_percentile.py``). The claim is exact equality with numpy
for every row length and percentile, with ties, zeros, subnormals and infinities, and
(through the fallback) with negative values and NaN too.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from netstage.simulator.half_percentile import percentile_rows

_HALF = st.floats(min_value=0.0, max_value=np.inf, width=16, allow_nan=False)
_ANY_HALF = st.floats(width=16, allow_nan=True)


def _numpy(values: np.ndarray, q: float) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.asarray(np.percentile(values.T, q, axis=0), dtype=np.float64)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal values and signs of zero (what a printed figure could show)."""
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=True) and \
        np.array_equal(np.signbit(a), np.signbit(b))


@settings(max_examples=300, deadline=None)
@given(values=hnp.arrays(np.float16, st.tuples(st.integers(1, 6), st.integers(1, 60)),
                         elements=_HALF),
       q=st.sampled_from([0.0, 5.0, 50.0, 95.0, 99.0, 100.0]) | st.floats(0.0, 100.0))
def test_equals_numpy_on_non_negative_rows(values: np.ndarray, q: float) -> None:
    with np.errstate(invalid="ignore"):
        got = percentile_rows(values, q)
    assert _same(got, _numpy(values, q))


@settings(max_examples=150, deadline=None)
@given(values=hnp.arrays(np.float16, st.tuples(st.integers(1, 4), st.integers(1, 30)),
                         elements=_ANY_HALF))
def test_equals_numpy_with_negatives_and_nan(values: np.ndarray) -> None:
    with np.errstate(invalid="ignore"):
        got = percentile_rows(values, 95.0)
    assert _same(got, _numpy(values, 95.0))


def test_simulation_sized_input_and_input_unchanged() -> None:
    """1,000 scenarios x 2,000 links of utilisations with many ties and idle links (the
    shape the simulation hands over); the input is not reordered."""
    rng = np.random.default_rng(5)
    values = (rng.gamma(0.6, 0.4, size=(2000, 1000))).astype(np.float16)
    values[:300] = 0.0
    values[300:600] = np.round(values[300:600], 1)
    before = values.copy()
    assert _same(percentile_rows(values, 95.0), _numpy(values, 95.0))
    assert np.array_equal(values, before)


def test_no_rows() -> None:
    assert percentile_rows(np.zeros((0, 5), dtype=np.float16), 95.0).shape == (0,)
