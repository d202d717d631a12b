"""The N-1 code's own sparse rows (:mod:`netstage.simulator.csr`) against
``scipy.sparse``, which they replace: the same entries in the same order, and products
equal to the last bit (N-1's results are compared bit for bit with the full
re-allocation, so a product that rounded differently would show there too)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from netstage.simulator.csr import Csr


def _random_coo(rng: np.random.Generator, n_r: int, n_c: int, n: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = rng.integers(0, n_r, n)
    cols = rng.integers(0, n_c, n)  # duplicates likely
    data = rng.choice([-1.0, 1.0, 0.5, 3.0], n)
    return data, rows, cols


@pytest.mark.parametrize("seed", range(6))
def test_entries_and_products_equal_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_r, n_c = int(rng.integers(1, 40)), int(rng.integers(1, 60))
    data, rows, cols = _random_coo(rng, n_r, n_c, int(rng.integers(0, 300)))
    ours = Csr.from_coo(data, rows, cols, (n_r, n_c))
    ref = sp.csr_matrix((data, (rows, cols)), shape=(n_r, n_c))
    assert np.array_equal(ours.indptr, ref.indptr)
    assert np.array_equal(ours.indices, ref.indices)
    assert np.array_equal(ours.data, ref.data)
    # values whose sums depend on the order they are added in
    x = rng.standard_normal((n_c, 7)) * 10.0 ** rng.integers(-8, 9, (n_c, 7))
    assert np.array_equal(ours @ x, ref @ x)
    v = x[:, 0].copy()
    assert np.array_equal(ours @ v, ref @ v)
    x32 = x.astype(np.float32)  # a float32 operand is widened, as scipy widens it
    assert np.array_equal(ours @ x32, ref @ x32)
    r0, r1 = sorted(int(i) for i in rng.integers(0, n_r + 1, 2))
    block = ours.row_block(r0, r1)
    assert block.shape == (r1 - r0, n_c)
    assert np.array_equal(block @ x, (ref[r0:r1] @ x).reshape(r1 - r0, -1))


def test_renumbered_columns() -> None:
    m = Csr.from_coo([1.0, 2.0, 3.0], [0, 0, 1], [10, 40, 40], (2, 50))
    cut, at = np.unique(m.indices, return_inverse=True)
    local = m.with_columns(at.ravel(), cut.shape[0])
    x = np.arange(50, dtype=np.float64)[:, None]
    assert np.array_equal(local @ x[cut], m @ x)
    assert local.shape == (2, 2)


def test_empty_and_bad_input() -> None:
    empty = Csr.from_coo([], [], [], (3, 4))
    assert np.array_equal(empty.indptr, [0, 0, 0, 0])
    assert np.array_equal(empty @ np.ones((4, 2)), np.zeros((3, 2)))
    assert (Csr.from_coo([], [], [], (0, 0)) @ np.ones((0, 2))).shape == (0, 2)
    with pytest.raises(ValueError, match="outside the shape"):
        Csr.from_coo([1.0], [3], [0], (3, 4))
    with pytest.raises(ValueError, match="2 values for 1 rows"):
        Csr.from_coo([1.0, 2.0], [0], [0], (3, 4))
    with pytest.raises(ValueError, match="by"):
        _ = empty @ np.ones(5)


def test_n1_does_not_import_scipy_sparse() -> None:
    """The reason the module exists: N-1's modules load without ``scipy.sparse``."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c",
         "import sys; import netstage.simulator.contingency, netstage.simulator.incremental; "
         "print('scipy.sparse' in sys.modules)"],
        capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
