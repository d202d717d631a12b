"""Incremental max-min N-1 when load is spread (no routing tree; issue 15 item 1 (c)).

With load spread over several circuits or equal-cost routes (dual-homed schools,
several active circuits), the paths of the (sub-)points do not form a tree of links:
below the firewall every link carries flows of both circuits. The subtree levels of
:mod:`netstage.simulator.incremental` still apply once the links that cannot
constrain anything are left out:

Reduced paths
    A link whose raw demand (the demand of the flows crossing it) fits its capacity in
    a scenario constrains no flow in that scenario (rates are at most demands). So only
    the links overloaded in *some* scenario of the chunk (``O``) are kept on each path;
    with two overloaded circuits and nothing else overloaded, a sub-point's reduced path
    is just its circuit.

Per-scenario trees
    In scenario ``s`` only the links overloaded in ``s`` (``O_s``) matter, and they form
    a tree on the reduced paths unless some pair ``(l, m)`` of them has ``m`` above
    ``l`` on some but not all paths through ``l`` (a *bad pair*: ``l``'s flows go on to
    different links). :func:`spread_tree` counts, for every pair of ``O`` links on a
    common reduced path, the paths with ``m`` above ``l`` and the paths through ``l``;
    a scenario is a tree when no bad pair has both links overloaded in it. The levels
    are then computed by :func:`incremental.tree_levels` on the reduced paths, links
    taken bottom-up in the order of the longest reduced path above them (a topological
    order of every scenario's tree; no order exists when some paths cross two links in
    opposite orders, and then nothing is incremental).

After a failure
    :func:`changed_pairs` updates the pair counts with the changed points' old and new
    reduced paths: a scenario whose new paths make a bad pair of two links overloaded in
    it is re-allocated, and it tells which links the new or old paths nest (one above
    the other on a common path). The driver then lets a scenario have several
    constrained links whose subtree changes when no two of them are nested: each one's
    new level is its own single-link equation (base flows minus the leaving ones plus
    the arriving ones). Links outside ``O`` whose flow set changes must still fit their
    capacity after the failure (else the scenario is re-allocated).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
I32 = NDArray[np.int32]


def reduce_rows(rows: I32, lens: I32, keep: NDArray[np.bool_]) -> tuple[I32, I32]:
    """``rows`` (``-1`` padded, ``lens`` links each) with only the links ``keep``
    marks, in their order; the same width."""
    w = rows.shape[1]
    on = (np.arange(w)[None, :] < lens[:, None]) & (rows >= 0)
    on &= keep[np.maximum(rows, 0)]
    order = np.argsort(~on, axis=1, kind="stable")
    out = np.take_along_axis(rows, order, axis=1).astype(np.int32)
    new_len = on.sum(axis=1).astype(np.int32)
    out[np.arange(w)[None, :] >= new_len[:, None]] = -1
    return out, new_len


def _pairs(rows_o: I64, lens: I32, n_o: int) -> I64:
    """Codes ``l * n_o + m`` of every (lower ``l``, upper ``m``) pair of links on each
    reduced row (``rows_o`` in positions of ``O``)."""
    w = rows_o.shape[1]
    if w < 2 or rows_o.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    i, j = np.triu_indices(w, 1)
    valid = j[None, :] < lens[:, None]
    return (rows_o[:, i][valid] * n_o + rows_o[:, j][valid]).astype(np.int64)


def _lookup(codes: I64, values: I64, q: I64) -> I64:
    """``values`` at ``q`` in the sorted ``codes`` (0 where absent)."""
    if codes.size == 0:
        return np.zeros(q.shape, dtype=np.int64)
    at = np.minimum(np.searchsorted(codes, q), codes.shape[0] - 1)
    return np.where(codes[at] == q, values[at], 0)


def _bad_in(lo: I64, hi: I64, over: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Per scenario: some pair ``(lo, hi)`` has both links overloaded."""
    if lo.size == 0:
        return np.zeros(over.shape[1], dtype=bool)
    return np.asarray((over[lo] & over[hi]).any(axis=0))


@dataclass
class SpreadTree:
    """The overloaded links ``O`` of a chunk on the reduced base paths (module docstring).

    ``o_index[L]`` position in ``O`` (-1: never overloaded), ``height[L]`` the longest
    reduced path above the link (-1 off ``O``), ``over[O, S]`` overloaded per scenario,
    ``codes``/``counts`` the (lower, upper) pairs on common reduced paths with their path
    counts, ``through[O]`` the paths through each link, ``tree_ok[S]`` the scenarios
    whose overloaded links form a tree."""

    o_index: I64
    height: I64
    over: NDArray[np.bool_]
    codes: I64
    counts: I64
    through: I64
    tree_ok: NDArray[np.bool_]

    @property
    def n_o(self) -> int:
        return int(self.over.shape[0])

    def to_o(self, rows: I32) -> I64:
        """Reduced rows in positions of ``O`` (``-1`` stays)."""
        return np.where(rows >= 0, self.o_index[np.maximum(rows, 0)], -1).astype(np.int64)


def spread_tree(path_links: I32, path_len: I32, cap: F64, link_dem: F64
                ) -> tuple[SpreadTree, I32, I32] | None:
    """The :class:`SpreadTree` of a chunk (``link_dem[L, S]`` its raw demands) with the
    reduced base paths, or None when no link is overloaded or no bottom-up order of the
    overloaded links exists."""
    n_l = cap.shape[0]
    over_l = link_dem > cap[:, None]
    o_links = np.flatnonzero(over_l.any(axis=1)).astype(np.int64)
    n_o = o_links.shape[0]
    if n_o == 0:
        return None
    o_index = np.full(n_l, -1, dtype=np.int64)
    o_index[o_links] = np.arange(n_o)
    rows, lens = reduce_rows(path_links, path_len, o_index >= 0)
    st0 = SpreadTree(o_index=o_index, height=np.zeros(0, np.int64), over=over_l[o_links],
                     codes=np.zeros(0, np.int64), counts=np.zeros(0, np.int64),
                     through=np.zeros(0, np.int64), tree_ok=np.zeros(0, bool))
    ro = st0.to_o(rows)
    codes, counts = np.unique(_pairs(ro, lens, n_o), return_counts=True)
    on = np.arange(ro.shape[1])[None, :] < lens[:, None]
    through = np.bincount(ro[on], minlength=n_o).astype(np.int64)
    # longest reduced path above each link, over the edges (link, next link up)
    w = ro.shape[1]
    edge = (np.arange(w - 1)[None, :] < (lens - 1)[:, None]) if w > 1 else np.zeros((0, 0), bool)
    lo_e = ro[:, :-1][edge] if w > 1 else np.zeros(0, np.int64)
    hi_e = ro[:, 1:][edge] if w > 1 else np.zeros(0, np.int64)
    h = np.zeros(n_o, dtype=np.int64)
    for _ in range(n_o + 1):
        nh = h.copy()
        np.maximum.at(nh, lo_e, h[hi_e] + 1)
        if np.array_equal(nh, h):
            break
        h = nh
    else:
        return None  # a cycle: some paths cross two links in opposite orders
    height = np.full(n_l, -1, dtype=np.int64)
    height[o_links] = h
    lo = codes // n_o
    bad = counts < through[lo]
    tree_ok = ~_bad_in(lo[bad], codes[bad] % n_o, st0.over)
    return (SpreadTree(o_index=o_index, height=height, over=st0.over, codes=codes,
                       counts=counts.astype(np.int64), through=through, tree_ok=tree_ok),
            rows, lens)


@dataclass
class ChangedPairs:
    """What a failure does to the pairs of :class:`SpreadTree` (:func:`changed_pairs`):
    the pairs ``(lo, hi)`` (positions in ``O``) that no longer nest on every path
    through ``lo``, and ``nested[i, j]`` for the O links the caller named."""

    lo: I64
    hi: I64
    nested: NDArray[np.bool_]

    def tree_ok(self, st: SpreadTree) -> NDArray[np.bool_]:
        """Per scenario of ``st``'s chunk: the overloaded links still form a tree."""
        return st.tree_ok & ~_bad_in(self.lo, self.hi, st.over)


def changed_pairs(st: SpreadTree, old_rows: I32, old_lens: I32, new_rows: I32,
                  new_lens: I32, links: I64) -> ChangedPairs:
    """After a failure that moves points from the reduced ``old_rows`` to ``new_rows``:
    the pairs that break the tree in a scenario where both are overloaded (with
    :attr:`SpreadTree.tree_ok`), and ``nested[i, j]`` for the O links ``links``: ``i``
    and ``j`` share a path before or after (``i != j``). Only ``st``'s paths and ``O``
    enter, not its chunk's scenarios: the N-1 driver keeps the result across chunks
    with the same ``O``."""
    n_o = st.n_o
    o_old, o_new = st.to_o(old_rows), st.to_o(new_rows)
    c_old, c_new = _pairs(o_old, old_lens, n_o), _pairs(o_new, new_lens, n_o)
    d_codes, inv = np.unique(np.r_[c_old, c_new], return_inverse=True)
    d_counts = np.bincount(inv.ravel(), weights=np.r_[-np.ones(c_old.shape[0]),
                                                      np.ones(c_new.shape[0])],
                           minlength=d_codes.shape[0]).astype(np.int64)
    on_old = np.arange(o_old.shape[1])[None, :] < old_lens[:, None]
    on_new = np.arange(o_new.shape[1])[None, :] < new_lens[:, None]
    t_new = (st.through - np.bincount(o_old[on_old], minlength=n_o)
             + np.bincount(o_new[on_new], minlength=n_o))
    touched = np.zeros(n_o, dtype=bool)
    touched[o_old[on_old]] = True
    touched[o_new[on_new]] = True
    # the pairs whose status can change: those of a link a changed path crosses
    cand = np.union1d(st.codes[touched[st.codes // n_o]], d_codes)
    cnt = _lookup(st.codes, st.counts, cand) + _lookup(d_codes, d_counts, cand)
    lo = cand // n_o
    bad = (cnt > 0) & (cnt < t_new[lo])
    k = links.shape[0]
    oi = st.o_index[links]
    a = np.repeat(oi, k)
    b = np.tile(oi, k)
    both = np.r_[a * n_o + b, b * n_o + a]
    shared = (_lookup(st.codes, st.counts, both) > 0) | (
        _lookup(st.codes, st.counts, both) + _lookup(d_codes, d_counts, both) > 0)
    nested = (shared[: k * k] | shared[k * k:]).reshape(k, k)
    np.fill_diagonal(nested, False)
    return ChangedPairs(lo=lo[bad], hi=cand[bad] % n_o, nested=nested)
