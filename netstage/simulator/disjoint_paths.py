"""Edge- and node-disjoint path counts from many source sets to one sink (compiled).

For each *group* of source nodes (a site's nodes, merged into one super source) this
computes the maximum number of edge-disjoint, and of internally node-disjoint, paths
to the sink (the virtual Internet node), by unit-capacity augmenting paths (Ford-
Fulkerson). Each undirected edge is a pair of opposite arcs of capacity 1, so parallel
edges (several circuits, two fibres) count separately.

Why it is fast enough for every site of a 10k-node district in one call:

* adjacency lists are sorted by the neighbour's hop distance to the sink, so a
  depth-first search that takes the first arc with residual capacity usually walks
  straight down to the sink (a few dozen arc scans, not the whole graph);
* a search stops as soon as the flow reaches an upper bound (the number of edges
  leaving the group, the number of circuits), so the last, failing search that would
  explore the whole residual graph is skipped whenever the bound is tight;
* residual capacities touched by one group are restored from a list, not by
  resetting the whole array.

The node-disjoint count uses the classic split: node ``x`` becomes ``2x`` (in) and
``2x+1`` (out) joined by an arc of capacity 1; the group's own nodes and the sink get
an unbounded split arc.
"""

from __future__ import annotations

import numba
import numpy as np
from numpy.typing import NDArray

__all__ = ["EdgeFlowGraph", "disjoint_path_counts"]

I32 = NDArray[np.int32]
I64 = NDArray[np.int64]
_BIG = 1 << 30


def _csr(n: int, tail: I64, head: I64, order_key: I64) -> tuple[I64, I64]:
    """CSR offsets and arc ids sorted by (tail, order_key of the head)."""
    order = np.lexsort((order_key[head], tail))
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(tail, minlength=n), out=offsets[1:])
    return offsets, order.astype(np.int64)


@numba.njit(cache=True)
def _max_flow_groups(  # pragma: no cover - compiled; tested through disjoint_path_counts
    n: int, offsets: I64, arcs: I64, head: I64, cap: I64, sink: int,
    group_ptr: I64, group_nodes: I64, split_arc_of: I64, bound: I64,
) -> I64:
    """Max flow from each group's nodes to ``sink``; ``split_arc_of[v] >= 0`` names the
    arc whose capacity is lifted while ``v`` is a source (node-split mode)."""
    n_groups = group_ptr.shape[0] - 1
    out = np.zeros(n_groups, dtype=np.int64)
    resid = cap.copy()
    stamp = np.zeros(n, dtype=np.int64)
    via = np.full(n, -1, dtype=np.int64)
    cursor = np.zeros(n, dtype=np.int64)
    stack = np.empty(n, dtype=np.int64)
    touched = np.empty(cap.shape[0] * 2 + 16, dtype=np.int64)
    tick = 0
    for g in range(n_groups):
        lo, hi = group_ptr[g], group_ptr[g + 1]
        if lo == hi:
            continue
        n_touched = 0
        overflow = False
        for k in range(lo, hi):
            a = split_arc_of[group_nodes[k]]
            if a >= 0:
                resid[a] = _BIG
                touched[n_touched] = a
                n_touched += 1
        flow = 0
        while flow < bound[g]:
            tick += 1
            top = 0
            for k in range(lo, hi):
                s = group_nodes[k]
                if stamp[s] != tick:
                    stamp[s] = tick
                    via[s] = -1
                    cursor[s] = offsets[s]
                    stack[top] = s
                    top += 1
            found = False
            while top > 0:
                u = stack[top - 1]
                if u == sink:
                    found = True
                    break
                advanced = False
                while cursor[u] < offsets[u + 1]:
                    a = arcs[cursor[u]]
                    cursor[u] += 1
                    v = head[a]
                    if resid[a] > 0 and stamp[v] != tick:
                        stamp[v] = tick
                        via[v] = a
                        cursor[v] = offsets[v]
                        stack[top] = v
                        top += 1
                        advanced = True
                        break
                if not advanced:
                    top -= 1
            if not found:
                break
            v = sink
            while via[v] >= 0:
                a = via[v]
                resid[a] -= 1
                resid[a ^ 1] += 1
                if n_touched + 2 <= touched.shape[0]:
                    touched[n_touched] = a
                    touched[n_touched + 1] = a ^ 1
                    n_touched += 2
                else:
                    overflow = True
                v = head[a ^ 1]
            flow += 1
        out[g] = flow
        if overflow:
            resid[:] = cap
        else:
            for k in range(n_touched):
                a = touched[k]
                resid[a] = cap[a]
    return out


class EdgeFlowGraph:
    """One undirected multigraph prepared once for many edge-capacity max-flows (the
    shared-risk group search runs one per set of failed groups): only the per-edge
    capacities change between calls, the arc arrays and their order are built once."""

    def __init__(self, n_nodes: int, edge_u: I64, edge_v: I64, sink: int) -> None:
        m = edge_u.shape[0]
        depth = _depth(n_nodes, edge_u, edge_v, sink)
        self.n, self.sink, self.m = n_nodes, sink, m
        self.head = np.empty(2 * m, dtype=np.int64)
        tail = np.empty(2 * m, dtype=np.int64)
        tail[0::2], self.head[0::2] = edge_u, edge_v
        tail[1::2], self.head[1::2] = edge_v, edge_u
        self.offsets, self.arcs = _csr(n_nodes, tail, self.head, depth)
        self.split = np.full(n_nodes, -1, dtype=np.int64)

    def counts(self, edge_cap: I64, groups: list[I64], bound: I64) -> I64:
        """Max flow from each group of source nodes to the sink with these per-edge
        capacities (0 = failed), each stopped at ``bound[g]``."""
        cap = np.repeat(np.asarray(edge_cap, dtype=np.int64), 2)
        sizes = np.array([len(g) for g in groups], dtype=np.int64)
        ptr = np.zeros(len(groups) + 1, dtype=np.int64)
        np.cumsum(sizes, out=ptr[1:])
        flat = np.concatenate(groups).astype(np.int64) if groups else np.zeros(0, np.int64)
        return _max_flow_groups(self.n, self.offsets, self.arcs, self.head, cap, self.sink,
                                ptr, flat, self.split, np.asarray(bound, dtype=np.int64))


def _depth(n_nodes: int, edge_u: I64, edge_v: I64, sink: int) -> I64:
    """Hop distance of every node to the sink (unreachable: ``n_nodes + 1``)."""
    # igraph is loaded already by the redundancy analysis, its only caller; scipy's
    # csgraph would pull in scipy.linalg (about 70 ms of a command's start-up)
    from netstage.simulator._igraph import ig

    g = ig.Graph(n=n_nodes, edges=np.column_stack([edge_u, edge_v]).tolist())
    dist = np.asarray(g.distances(source=[sink])[0], dtype=np.float64)
    return np.where(np.isfinite(dist), dist, n_nodes + 1).astype(np.int64)


def disjoint_path_counts(
    n_nodes: int,
    edge_u: I64,
    edge_v: I64,
    sink: int,
    groups: list[I64],
    *,
    node_disjoint: bool = False,
    bound: I64 | None = None,
    node_capacity: I64 | None = None,
) -> I64:
    """Number of disjoint paths from each group of nodes to ``sink``.

    ``edge_u``/``edge_v`` are the undirected edges (parallel edges allowed) over nodes
    ``0..n_nodes-1``; ``groups[g]`` the source nodes of group ``g`` (merged into one
    source). With ``node_disjoint`` the paths share no node outside the group and the
    sink. ``bound[g]`` (optional) is a known upper bound that ends the search early.
    ``node_capacity[x]`` (node-disjoint only; default 1) lets up to that many paths
    share node ``x`` (a redundant stack or chassis: each member carries one).
    """
    m = edge_u.shape[0]
    # hop distance to the sink orders the adjacency lists (unreachable last)
    depth = _depth(n_nodes, edge_u, edge_v, sink)
    sizes = np.array([len(g) for g in groups], dtype=np.int64)
    group_ptr = np.zeros(len(groups) + 1, dtype=np.int64)
    np.cumsum(sizes, out=group_ptr[1:])
    flat = np.concatenate(groups).astype(np.int64) if groups else np.zeros(0, np.int64)
    if bound is None:
        bound = np.full(len(groups), _BIG, dtype=np.int64)
    if not node_disjoint:
        tail = np.empty(2 * m, dtype=np.int64)
        head = np.empty(2 * m, dtype=np.int64)
        tail[0::2], head[0::2] = edge_u, edge_v
        tail[1::2], head[1::2] = edge_v, edge_u
        cap = np.ones(2 * m, dtype=np.int64)
        offsets, arcs = _csr(n_nodes, tail, head, depth)
        split = np.full(n_nodes, -1, dtype=np.int64)
        return _max_flow_groups(n_nodes, offsets, arcs, head, cap, sink, group_ptr, flat,
                                split, bound.astype(np.int64))
    # node split: x_in = 2x, x_out = 2x+1; arcs come in (forward, reverse) pairs
    n2 = 2 * n_nodes
    x = np.arange(n_nodes, dtype=np.int64)
    tail = np.empty(2 * n_nodes + 4 * m, dtype=np.int64)
    head = np.empty_like(tail)
    cap = np.zeros_like(tail)
    tail[0:2 * n_nodes:2], head[0:2 * n_nodes:2] = 2 * x, 2 * x + 1
    tail[1:2 * n_nodes:2], head[1:2 * n_nodes:2] = 2 * x + 1, 2 * x
    cap[0:2 * n_nodes:2] = 1 if node_capacity is None else node_capacity
    cap[2 * sink] = _BIG
    base = 2 * n_nodes
    # u_out -> v_in (cap 1) with its reverse, then v_out -> u_in (cap 1) with its reverse
    tail[base + 0::4], head[base + 0::4], cap[base + 0::4] = 2 * edge_u + 1, 2 * edge_v, 1
    tail[base + 1::4], head[base + 1::4] = 2 * edge_v, 2 * edge_u + 1
    tail[base + 2::4], head[base + 2::4], cap[base + 2::4] = 2 * edge_v + 1, 2 * edge_u, 1
    tail[base + 3::4], head[base + 3::4] = 2 * edge_u, 2 * edge_v + 1
    offsets, arcs = _csr(n2, tail, head, np.repeat(depth, 2))
    # sources: every group node's out and in half; while x is a source its split arc
    # (arc id 2x by construction) is lifted to an unbounded capacity
    g_idx = np.repeat(np.arange(len(groups), dtype=np.int64), sizes)
    both = np.stack([2 * flat + 1, 2 * flat], axis=1).reshape(-1)
    ptr2 = np.zeros(len(groups) + 1, dtype=np.int64)
    np.cumsum(np.bincount(np.repeat(g_idx, 2), minlength=len(groups)), out=ptr2[1:])
    split_of = np.full(n2, -1, dtype=np.int64)
    split_of[2 * x] = 2 * x
    return _max_flow_groups(n2, offsets, arcs, head, cap, 2 * sink, ptr2, both,
                            split_of, bound.astype(np.int64))
