"""Passes over a dominator tree (compiled): subtree sums, Euler intervals, common ancestors.

The dominator tree comes as ``idom[V]`` (immediate dominator, -1 at the root, -2 for
unreachable vertices) and ``order[K]``, the reachable vertices top-down (root first).
These loops are sequential by nature (a child needs its parent), so they are compiled
instead of vectorised; each is one pass over the tree.
"""

from __future__ import annotations

import numba
import numpy as np
from numpy.typing import NDArray

__all__ = ["MULTI_SITE", "group_dominator", "tree_passes"]

I64 = NDArray[np.int64]
MULTI_SITE = -3  # "devices of several sites are below this vertex"


@numba.njit(cache=True)
def tree_passes(  # pragma: no cover - compiled; tested through analyse_redundancy
    idom: I64, order: I64, weights: NDArray[np.int64], vertex_site: I64, first_mid: int,
) -> tuple[NDArray[np.int64], I64, I64, I64, NDArray[np.bool_], I64]:
    """One bottom-up and one top-down pass.

    Returns ``(subtree weight sums [V, W], site_below [V], tin [V], tout [V],
    edge_dominated [V], depth [V])``: ``site_below`` is the one site whose weighted
    vertices lie below (-1 none, :data:`MULTI_SITE` several); ``[tin, tout)`` the
    pre-order interval of the subtree; ``edge_dominated`` whether some vertex
    ``>= first_mid`` (an edge midpoint) dominates the vertex.
    """
    n = idom.shape[0]
    w = weights.shape[1]
    sums = np.zeros((n, w), dtype=np.int64)
    site_below = np.full(n, -1, dtype=np.int64)
    size = np.ones(n, dtype=np.int64)
    for k in range(order.shape[0]):
        x = order[k]
        has = False
        for j in range(w):
            sums[x, j] = weights[x, j]
            if weights[x, j] > 0:
                has = True
        if has:
            site_below[x] = vertex_site[x] if vertex_site[x] >= 0 else MULTI_SITE
    for k in range(order.shape[0] - 1, 0, -1):
        x = order[k]
        p = idom[x]
        for j in range(w):
            sums[p, j] += sums[x, j]
        size[p] += size[x]
        s = site_below[x]
        if s != -1:
            if site_below[p] == -1:
                site_below[p] = s
            elif site_below[p] != s:
                site_below[p] = MULTI_SITE
    tin = np.zeros(n, dtype=np.int64)
    next_free = np.ones(n, dtype=np.int64)
    edge_dom = np.zeros(n, dtype=np.bool_)
    depth = np.full(n, -1, dtype=np.int64)
    depth[order[0]] = 0
    for k in range(1, order.shape[0]):
        x = order[k]
        p = idom[x]
        tin[x] = tin[p] + next_free[p]
        next_free[p] += size[x]
        edge_dom[x] = edge_dom[p] or p >= first_mid
        depth[x] = depth[p] + 1
    return sums, site_below, tin, tin + size, edge_dom, depth


@numba.njit(cache=True)
def group_dominator(  # pragma: no cover - compiled; tested through analyse_redundancy
    idom: I64, depth: I64, group_ptr: I64, group_nodes: I64, in_group_mark: I64,
) -> I64:
    """Per group, the nearest dominator of all its vertices that is outside the group.

    Unreachable members are ignored; -2 means no member is reachable, -1 that the
    group is empty. ``in_group_mark`` is scratch space (len V).
    """
    n_groups = group_ptr.shape[0] - 1
    out = np.full(n_groups, -1, dtype=np.int64)
    for g in range(n_groups):
        lo, hi = group_ptr[g], group_ptr[g + 1]
        if lo == hi:
            continue
        a = -1
        for k in range(lo, hi):
            b = group_nodes[k]
            if depth[b] < 0:
                continue  # unreachable members carry no path; the others still count
            if a < 0:
                a = b
                continue
            while depth[a] > depth[b]:
                a = idom[a]
            while depth[b] > depth[a]:
                b = idom[b]
            while a != b:
                a = idom[a]
                b = idom[b]
        if a < 0:
            out[g] = -2
            continue
        for k in range(lo, hi):
            in_group_mark[group_nodes[k]] = g + 1
        while a >= 0 and in_group_mark[a] == g + 1:
            a = idom[a]
        out[g] = a
    return out
