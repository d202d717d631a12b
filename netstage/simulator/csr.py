"""Compressed sparse rows: the few sparse products N-1 runs, without ``scipy.sparse``.

N-1 needs three things of a sparse matrix: build it from (row, column, value) triples,
take a block of its rows, and multiply it by a dense matrix. ``scipy.sparse`` did that,
but importing it costs 0.1-0.15 s in every process that runs N-1 (``classify``, ``plan``,
``contingency``): its array-API layer imports ``numpy.f2py`` and ``numpy.testing``. That
is more than the products themselves take on a 40-school district.

Entries are kept in canonical order (columns ascending within a row, duplicates summed),
the order ``scipy.sparse.csr_matrix((data, (row, col)))`` keeps them in, and the product
adds each row's terms in stored order into a zeroed row, as scipy's does: results are
the same to the last bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np
from numpy.typing import ArrayLike, NDArray

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


@dataclass(frozen=True)
class Csr:
    """A sparse matrix of ``shape``: row ``r``'s entries are ``indices[indptr[r]:indptr[r
    + 1]]`` (columns) and ``data[...]`` (values)."""

    indptr: I64
    indices: I64
    data: F64
    shape: tuple[int, int]

    @classmethod
    def from_coo(cls, data: ArrayLike, rows: ArrayLike, cols: ArrayLike,
                 shape: tuple[int, int]) -> Csr:
        """The matrix with ``data[i]`` at ``(rows[i], cols[i])``, duplicates summed."""
        n_r, n_c = int(shape[0]), int(shape[1])
        r = np.asarray(rows, dtype=np.int64).ravel()
        c = np.asarray(cols, dtype=np.int64).ravel()
        v = np.asarray(data, dtype=np.float64).ravel()
        if not r.shape[0] == c.shape[0] == v.shape[0]:
            raise ValueError(f"Csr.from_coo: {v.shape[0]} values for {r.shape[0]} rows and "
                             f"{c.shape[0]} columns")
        if r.size and (r.min() < 0 or r.max() >= n_r or c.min() < 0 or c.max() >= n_c):
            raise ValueError(f"Csr.from_coo: an entry lies outside the shape {shape}")
        key = r * n_c + c
        order = np.argsort(key, kind="stable")
        key = key[order]
        first = np.ones(key.shape[0], dtype=bool)
        first[1:] = key[1:] != key[:-1]
        summed: F64 = v[order]
        if not first.all():  # duplicates, summed in the order given
            summed = np.bincount(np.cumsum(first) - 1, weights=summed).astype(np.float64)
            key = key[first]
        indptr = np.zeros(n_r + 1, dtype=np.int64)
        if n_c:
            np.cumsum(np.bincount(key // n_c, minlength=n_r), out=indptr[1:])
        return cls(indptr=indptr, indices=key % n_c if n_c else key, data=summed,
                   shape=(n_r, n_c))

    def row_block(self, r0: int, r1: int) -> Csr:
        """Rows ``r0:r1`` as a matrix of their own."""
        a, b = int(self.indptr[r0]), int(self.indptr[r1])
        return Csr(indptr=self.indptr[r0:r1 + 1] - a, indices=self.indices[a:b],
                   data=self.data[a:b], shape=(r1 - r0, self.shape[1]))

    def with_columns(self, indices: I64, n_cols: int) -> Csr:
        """The same rows and values with the columns renumbered (``indices``, one per
        stored entry) into ``n_cols`` columns."""
        return Csr(indptr=self.indptr, indices=np.asarray(indices, dtype=np.int64),
                   data=self.data, shape=(self.shape[0], n_cols))

    def __matmul__(self, x: NDArray[np.generic]) -> F64:
        """``self @ x`` for a dense ``x`` (``[n_cols]`` or ``[n_cols, k]``), float64."""
        dense = np.asarray(x, dtype=np.float64)
        if dense.shape[0] != self.shape[1]:
            raise ValueError(f"Csr @ x: {self.shape} by {dense.shape}")
        one = dense.ndim == 1
        x2 = np.ascontiguousarray(dense[:, None] if one else dense)
        out = np.empty((self.shape[0], x2.shape[1]), dtype=np.float64)
        if out.size:
            _csr_dense_kernel(self.indptr, self.indices, self.data, x2, out)
        return out[:, 0] if one else out


@nb.njit(parallel=True, cache=True)
def _csr_dense_kernel(indptr, indices, data, x, out):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    # rows in parallel (scipy's product runs on one core); each row adds its entries in
    # stored order into a zeroed row, as scipy does
    n_r, n_s = out.shape
    for r in nb.prange(n_r):
        for s in range(n_s):
            out[r, s] = 0.0
        for k in range(indptr[r], indptr[r + 1]):
            v = data[k]
            j = indices[k]
            for s in range(n_s):
                out[r, s] += v * x[j, s]
