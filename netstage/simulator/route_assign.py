"""The slot-by-slot re-assignment of :func:`netstage.simulator.routing.spread_combo_paths`
compiled: for every node whose route set a failure changed, each slot of one of its
points keeps its base route when that route still exists, and the slots whose route
failed go, one by one, to the route with the largest shortfall against its probability
(:func:`netstage.simulator.routing._assign`, the rule written in Python, is the
reference; ``tests/test_spread_reroute.py`` compares the whole re-routing with it).

Kept apart from :mod:`netstage.simulator.routing` so that commands which route but never
fail anything (``validate``, ``simulate``) do not import numba for it.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numpy.typing import NDArray

I64 = NDArray[np.int64]


@nb.njit(cache=True)
def _assign_kernel(nodes, first, count, by_node, parent, route, share, slot,  # type: ignore[no-untyped-def]
                   b_start, b_links, b_len, n_start, n_links, n_len, n_prob,
                   choice):  # pragma: no cover - compiled
    width = min(b_links.shape[1], n_links.shape[1])
    for i in range(nodes.shape[0]):
        v = nodes[i]
        at = by_node[first[i]: first[i] + count[i]]
        p0 = parent[at[0]]
        n0 = n_start[v]
        nr = n_start[v + 1] - n0
        one = np.empty(at.shape[0], dtype=np.int64)
        k = 0
        for s in at:
            if parent[s] == p0:
                one[k] = s
                k += 1
        out = np.full(k, -1, dtype=np.int64)
        got = np.zeros(nr)
        for j in range(k):
            r = b_start[v] + route[one[j]]
            hit = -1
            for q in range(nr):  # the last equal route, as a dict of routes would keep
                rn = n0 + q
                if n_len[rn] != b_len[r]:
                    continue
                same = True
                for c in range(b_len[r]):
                    if c >= width or b_links[r, c] != n_links[rn, c]:
                        same = False
                        break
                if same:
                    hit = q
            if hit >= 0:
                out[j] = hit
                got[hit] += share[one[j]]
        for j in range(k):
            if out[j] < 0:
                best = 0
                best_v = n_prob[n0] - got[0]
                for q in range(1, nr):
                    val = n_prob[n0 + q] - got[q]
                    if val > best_v:  # the first largest, as numpy's argmax
                        best, best_v = q, val
                out[j] = best
                got[best] += share[one[j]]
        for s in at:
            choice[s] = out[slot[s]]


def assign_slots(nodes: I64, first: I64, count: I64, by_node: I64, parent: I64, route: I64,
                 share: NDArray[np.float64], slot: I64, base: object, routes: object,
                 choice: I64) -> None:
    """Fill ``choice`` (index among each node's new routes) for the slots of ``nodes``
    (``by_node[first[i]:first[i] + count[i]]`` are node ``nodes[i]``'s pairs; ``base``
    and ``routes`` are :class:`~netstage.simulator.routing.NodeRoutes`)."""
    if nodes.size == 0:
        return
    _assign_kernel(
        np.ascontiguousarray(nodes, dtype=np.int64), np.ascontiguousarray(first, np.int64),
        np.ascontiguousarray(count, np.int64), np.ascontiguousarray(by_node, np.int64),
        np.ascontiguousarray(parent, np.int64), np.ascontiguousarray(route, np.int64),
        np.ascontiguousarray(share, np.float64), np.ascontiguousarray(slot, np.int64),
        base.start, base.links, base.length,  # type: ignore[attr-defined]
        routes.start, routes.links, routes.length, routes.prob,  # type: ignore[attr-defined]
        choice)
