"""Routing: which links a device's traffic crosses on its way to the Internet.

Rule (documented, deterministic): every node uses a shortest path (fewest hops) to
the virtual Internet node; among equal-hop next hops it takes the link with the
higher capacity, then the link that comes first in the file. This builds a tree
rooted at the Internet, recomputed from scratch when elements fail
(``link_up``/``node_up`` masks), so N-1 contingency reuses the same code.

The breadth-first search runs one numpy step per hop level (a district has < 15
levels), not one Python step per node.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import NotRequired, TypedDict, Unpack

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "PathInputs",
    "attach_rows",
    "attachment_paths",
    "node_paths",
    "spread_node_paths",
    "spread_paths",
    "tree_parents",
]

I32 = NDArray[np.int32]


class PathInputs(TypedDict):
    """What both path builders (:func:`attachment_paths`, the tree rule, and
    :func:`spread_paths`, load sharing) take, as keyword arguments: the links (ends,
    capacity, role), each attachment point's AP member and air link (-1: wired), the
    AP-member uplink copies, and optionally what has failed (``link_up``/``node_up``;
    none given = nothing)."""

    n_nodes: int
    link_a: I32
    link_b: I32
    link_capacity_mbps: NDArray[np.float64]
    link_role: NDArray[np.int8]
    attach_member: I32
    attach_air_link: I32
    member_link_of: dict[int, list[int]]
    link_up: NotRequired[NDArray[np.bool_] | None]
    node_up: NotRequired[NDArray[np.bool_] | None]


def tree_parents(
    n_nodes: int,
    link_a: I32,
    link_b: I32,
    link_capacity_mbps: NDArray[np.float64],
    usable: NDArray[np.bool_],
) -> tuple[I32, I32]:
    """Parent link and hop depth of every node (index ``n_nodes`` is the Internet root).

    ``usable[L]`` marks links that may carry traffic. Unreachable nodes get parent -1
    and depth -1.
    """
    total = n_nodes + 1
    root = n_nodes
    parent = np.full(total, -1, dtype=np.int32)
    depth = np.full(total, -1, dtype=np.int32)
    depth[root] = 0
    idx = np.flatnonzero(usable).astype(np.int32)
    a = link_a[idx]
    b = link_b[idx]
    frontier = np.zeros(total, dtype=bool)
    frontier[root] = True
    level = 0
    while True:
        unvisited = depth < 0
        fwd = frontier[a] & unvisited[b]
        back = frontier[b] & unvisited[a]
        child = np.concatenate([b[fwd], a[back]])
        if child.size == 0:
            break
        via = np.concatenate([idx[fwd], idx[back]])
        order = np.lexsort((via, -link_capacity_mbps[via], child))
        child, via = child[order], via[order]
        first = np.unique(child, return_index=True)[1]
        level += 1
        parent[child[first]] = via[first]
        depth[child[first]] = level
        frontier[:] = False
        frontier[child[first]] = True
    return parent, depth


def node_paths(n_nodes: int, link_a: I32, link_b: I32, parent: I32, depth: I32) -> I32:
    """``paths[N+1, H]``: links from each node up to the Internet, padded with -1."""
    total = n_nodes + 1
    hmax = max(int(depth.max()), 1)
    paths = np.full((total, hmax), -1, dtype=np.int32)
    for level in range(1, hmax + 1):
        nodes = np.flatnonzero(depth == level)
        if nodes.size == 0:
            continue
        pl = parent[nodes]
        up = np.where(link_a[pl] == nodes, link_b[pl], link_a[pl])
        paths[nodes, 0] = pl
        paths[nodes, 1:] = paths[up, :-1]
    return paths


def attachment_paths(*, attach_node: I32, **g: Unpack[PathInputs]) -> tuple[I32, I32]:
    """Paths of all attachment points: ``(path_links[P, H], path_len[P])``.

    An AP member ``j`` crosses its own air link, then its own copy ``j`` of the AP
    entry's uplink (``member_link_of``), then the tree path of the switch above.
    ``path_len`` is 0 where no path exists (the devices there are *disconnected*).
    """
    n_nodes, link_a, link_b = g["n_nodes"], g["link_a"], g["link_b"]
    node_up = g.get("node_up")
    usable = route_usable(g["link_role"], g["member_link_of"], link_a, link_b,
                          g.get("link_up"), node_up)
    parent, depth = tree_parents(n_nodes, link_a, link_b, g["link_capacity_mbps"], usable)
    npaths = node_paths(n_nodes, link_a, link_b, parent, depth)
    node_depth = depth[attach_node]
    reachable = node_depth > 0
    if node_up is not None:
        reachable &= node_up[attach_node]
    node_len = np.where(reachable, node_depth, 0).astype(np.int32)
    return attach_rows(npaths[attach_node], node_len, g)


# -- load sharing: several circuits and equal-cost paths -----------------------------------
#
# Rule (docs/simulation.md, "Load sharing: circuits and equal-cost paths"):
#
# * Active circuits share every node's devices in proportion to their weight
#   (``circuits[].weight``, default the capacity), over all the active circuits the node
#   reaches (a district-wide active/active policy: what R-TARGET counts is what carries
#   load). Standby circuits are used only by nodes that reach no active circuit (e.g.
#   when every active one has failed).
# * A device first picks its circuit (weighted), then follows the fewest-hop paths to
#   it: among the equal-cost next hops, one per node with equal probability (flow-hash
#   ECMP). Equal cost = equal hop count and, as OSPF/IS-IS default link costs follow
#   bandwidth, equal capacity: a faster equal-hop link still wins, as in the tree rule.
# * The first route of every node is the tree route of :func:`tree_parents`, so a
#   district with one circuit and no parallel paths routes exactly as before.
#
# Devices are spread over a node's routes by a deterministic hash of the device (its
# rank at its attachment point, Fibonacci hashing: a low-discrepancy sequence, so the
# device counts per route are proportional to the route probabilities within one
# device). Each route of an attachment point becomes a *sub-point* holding its share of
# the devices, so the max-min kernel, the demand batches and N-1 stay as they are.

MAX_ROUTES = 16  # routes kept per node and circuit set (most probable first; the tree route
#                  always; split evenly between the circuits so each keeps its share)
_PHI = 0.6180339887498949  # 1 / golden ratio: Fibonacci hashing of the device rank
_PLASTIC = 0.7548776662466927  # per-point offset, so points do not all start on route 0


@dataclass(frozen=True, eq=False)
class NodeRoutes:
    """Routes of every node to the Internet: rows ``start[v]:start[v + 1]`` are node
    ``v``'s (the tree route first, then by falling probability)."""

    start: NDArray[np.int64]  # [N + 2]
    links: I32  # [R, H] padded with -1
    length: I32  # [R]
    prob: NDArray[np.float64]  # [R], sums to 1 per reachable node

    def rows(self, v: int) -> range:
        return range(int(self.start[v]), int(self.start[v + 1]))


def _routes_to_root(
    n_nodes: int,
    link_a: I32,
    link_b: I32,
    link_capacity_mbps: NDArray[np.float64],
    usable: NDArray[np.bool_],
    circuit_weight: NDArray[np.float64],
    circuit_standby: NDArray[np.bool_],
    max_routes: int = MAX_ROUTES,
) -> NodeRoutes:
    """Fewest-hop routes to the root with ECMP (used per circuit by :func:`node_routes`,
    whose ``usable`` then holds that one circuit).

    ``circuit_weight[L]`` > 0 on circuits (links to the root ``n_nodes``);
    ``circuit_standby[L]`` marks standby circuits. ``usable`` as for
    :func:`tree_parents`.
    """
    return _routes_to_root_tree(n_nodes, link_a, link_b, link_capacity_mbps, usable,
                                circuit_weight, circuit_standby, max_routes)[0]


def _routes_to_root_tree(
    n_nodes: int,
    link_a: I32,
    link_b: I32,
    link_capacity_mbps: NDArray[np.float64],
    usable: NDArray[np.bool_],
    circuit_weight: NDArray[np.float64],
    circuit_standby: NDArray[np.bool_],
    max_routes: int = MAX_ROUTES,
) -> tuple[NodeRoutes, I32, I32]:
    """:func:`_routes_to_root` and the tree it was built on (``parent``, ``depth``; the
    incremental re-routing of :mod:`netstage.simulator.route_delta` starts from them)."""
    root = n_nodes
    total = n_nodes + 1
    is_circuit = link_b == root
    standby = is_circuit & circuit_standby
    par_a, dep_a = tree_parents(n_nodes, link_a, link_b, link_capacity_mbps,
                                usable & ~standby)
    if np.any(standby & usable):
        par_s, dep_s = tree_parents(n_nodes, link_a, link_b, link_capacity_mbps,
                                    usable & ~(is_circuit & ~standby))
        use_s = (dep_a < 0) & (dep_s > 0)
        parent = np.where(use_s, par_s, par_a)
        depth = np.where(use_s, dep_s, dep_a)
    else:
        use_s = np.zeros(total, dtype=bool)
        parent, depth = par_a, dep_a
    # DAG hops v -> u over link e: u one hop nearer, circuits of v's mode only
    idx = np.flatnonzero(usable).astype(np.int64)
    v = np.r_[link_a[idx], link_b[idx]].astype(np.int64)
    u = np.r_[link_b[idx], link_a[idx]].astype(np.int64)
    e = np.r_[idx, idx]
    ok = (v != root) & (depth[v] > 0) & (depth[u] == depth[v] - 1)
    ok &= ~is_circuit[e] | (standby[e] == use_s[v])
    v, u, e = v[ok], u[ok], e[ok]
    # equal cost: among physical next hops only the fastest ones
    cap = link_capacity_mbps[e]
    best = np.full(total, -np.inf)
    np.maximum.at(best, v, np.where(is_circuit[e], -np.inf, cap))
    keep = is_circuit[e] | (cap >= best[v])
    v, u, e = v[keep], u[keep], e[keep]
    order = np.lexsort((e, v))
    v, u, e = v[order], u[order], e[order]
    routes = _enumerate_routes(total, v, u, e, depth, parent, is_circuit, circuit_weight,
                               max_routes)
    return routes, parent, depth


def _enumerate_routes(total: int, v: NDArray[np.int64], u: NDArray[np.int64],
                      e: NDArray[np.int64], depth: I32, parent: I32,
                      is_circuit: NDArray[np.bool_], circuit_weight: NDArray[np.float64],
                      max_routes: int) -> NodeRoutes:
    """The routes of :func:`_routes_to_root` from its DAG hops ``v -> u`` over ``e``
    (sorted by ``v``, then ``e``), level by level: a node's routes are its hops followed
    by each route of the node one hop nearer (``route_delta._seeded_routes`` is the same
    computation for a few nodes, node by node, compiled)."""
    circ = np.flatnonzero(is_circuit)
    col_of = np.full(is_circuit.shape[0], -1, dtype=np.int64)
    col_of[circ] = np.arange(circ.shape[0])
    w = np.where(circuit_weight[circ] > 0, circuit_weight[circ], 0.0)
    n_c = circ.shape[0]
    reach = np.zeros((total, max(n_c, 1)), dtype=bool)
    hmax = max(int(depth.max()), 1)
    width = hmax
    node_start = np.zeros(total, dtype=np.int64)
    node_count = np.zeros(total, dtype=np.int64)
    all_links = np.zeros((0, width), dtype=np.int32)
    all_len = np.zeros(0, dtype=np.int32)
    all_prob = np.zeros(0)
    all_col = np.zeros(0, dtype=np.int64)
    all_tree = np.zeros(0, dtype=bool)
    pc_sum = np.zeros((total, max(n_c, 1)))
    hop_depth = depth[v]
    for level in range(1, hmax + 1):
        sel = hop_depth == level
        hv, hu, he = v[sel], u[sel], e[sel]
        if hv.size == 0:
            continue
        if level == 1:
            c = col_of[he]
            reach[hv, c] = True
            k_vc = np.ones(hv.shape[0])
            nv, nc = hv, c
            links = np.full((hv.shape[0], width), -1, dtype=np.int32)
            links[:, 0] = he
            length = np.ones(hv.shape[0], dtype=np.int32)
            tree = he == parent[hv]
            p_src = np.ones(hv.shape[0])
            p_cu = np.ones(hv.shape[0])
        else:
            np.logical_or.at(reach, hv, reach[hu])
            k = np.zeros((total, max(n_c, 1)))
            np.add.at(k, hv, reach[hu].astype(np.float64))
            cnt = node_count[hu]
            rep = np.repeat(np.arange(hv.shape[0]), cnt)
            offs = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt)
            src = np.repeat(node_start[hu], cnt) + offs
            nv, ne, nc = hv[rep], he[rep], all_col[src]
            links = np.full((src.shape[0], width), -1, dtype=np.int32)
            links[:, 0] = ne
            links[:, 1:] = all_links[src, :-1]
            length = all_len[src] + 1
            tree = (ne == parent[nv]) & all_tree[src]
            k_vc = k[nv, nc]
            p_src = all_prob[src]
            p_cu = pc_sum[hu[rep], nc]
        wv = reach[nv] @ w if n_c else np.ones(nv.shape[0])
        prob = np.where(wv > 0, w[nc] / np.where(wv > 0, wv, 1.0), 0.0) / k_vc \
            * p_src / np.where(p_cu > 0, p_cu, 1.0)
        # order per node: tree route first, then by falling probability, then as built
        o = np.lexsort((np.arange(nv.shape[0]), -prob, ~tree, nv))
        nv, nc, links, length, prob, tree = nv[o], nc[o], links[o], length[o], prob[o], tree[o]
        first = np.r_[0, np.flatnonzero(np.diff(nv)) + 1]
        rank = np.arange(nv.shape[0]) - np.repeat(first, np.diff(np.r_[first, nv.shape[0]]))
        kept = rank < max_routes
        nv, nc, links, length, prob, tree = (nv[kept], nc[kept], links[kept], length[kept],
                                             prob[kept], tree[kept])
        tot = np.zeros(total)
        np.add.at(tot, nv, prob)
        prob = prob / np.where(tot[nv] > 0, tot[nv], 1.0)
        np.add.at(pc_sum, (nv, nc), prob)
        base = all_len.shape[0]
        uniq, first, counts = np.unique(nv, return_index=True, return_counts=True)
        node_start[uniq] = base + first
        node_count[uniq] = counts
        all_links = np.concatenate([all_links, links])
        all_len = np.concatenate([all_len, length])
        all_prob = np.concatenate([all_prob, prob])
        all_col = np.concatenate([all_col, nc])
        all_tree = np.concatenate([all_tree, tree])
    # re-pack by node index
    pos = np.repeat(node_start, node_count) + _ranks(node_count)
    start = np.zeros(total + 1, dtype=np.int64)
    np.cumsum(node_count, out=start[1:])
    return NodeRoutes(start=start, links=all_links[pos], length=all_len[pos],
                      prob=all_prob[pos])


def _ranks(count: NDArray[np.int64]) -> NDArray[np.int64]:
    return np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)


def node_routes(
    n_nodes: int,
    link_a: I32,
    link_b: I32,
    link_capacity_mbps: NDArray[np.float64],
    usable: NDArray[np.bool_],
    circuit_weight: NDArray[np.float64],
    circuit_standby: NDArray[np.bool_],
    max_routes: int = MAX_ROUTES,
) -> NodeRoutes:
    """All routes of every node with their probabilities (module comment above).

    ``circuit_weight[L]`` > 0 on circuits (links to the root ``n_nodes``);
    ``circuit_standby[L]`` marks standby circuits. ``usable`` as for
    :func:`tree_parents`. Per usable circuit, the fewest-hop ECMP routes to it
    (:func:`_routes_to_root` on the physical links plus that circuit); a node combines
    the circuits of its mode (active, or standby when it reaches no active circuit) in
    proportion to their weights.
    """
    return node_route_parts(n_nodes, link_a, link_b, link_capacity_mbps, usable,
                            circuit_weight, circuit_standby, max_routes).routes


@dataclass(frozen=True, eq=False)
class RouteParts:
    """:func:`node_routes` with what it was built from (what the incremental
    re-routing of :mod:`netstage.simulator.route_delta` starts from): per usable circuit
    ``circ[i]`` its routes ``per[i]`` and tree (``per_parent[i]``, ``per_depth[i]``); the
    tree of the active circuits (``par_a``, ``dep_a``) and of the standby ones
    (``par_s``, ``dep_s``; None when no standby circuit is usable), the combined tree's
    node paths ``tree_paths``, and the combined ``routes``."""

    circ: NDArray[np.int64]
    per: list[NodeRoutes]
    per_parent: list[I32]
    per_depth: list[I32]
    par_a: I32
    dep_a: I32
    par_s: I32 | None
    dep_s: I32 | None
    tree_paths: I32
    routes: NodeRoutes


def node_route_parts(
    n_nodes: int,
    link_a: I32,
    link_b: I32,
    link_capacity_mbps: NDArray[np.float64],
    usable: NDArray[np.bool_],
    circuit_weight: NDArray[np.float64],
    circuit_standby: NDArray[np.bool_],
    max_routes: int = MAX_ROUTES,
) -> RouteParts:
    """:func:`node_routes` and its parts (:class:`RouteParts`)."""
    root = n_nodes
    total = n_nodes + 1
    is_circuit = link_b == root
    circ = np.flatnonzero(is_circuit & usable)
    physical = usable & ~is_circuit
    standby = circuit_standby & is_circuit
    no_weight = np.zeros_like(circuit_weight)
    no_standby = np.zeros_like(circuit_standby)
    per: list[NodeRoutes] = []
    per_parent: list[I32] = []
    per_depth: list[I32] = []
    for c in circ.tolist():
        use_c = physical.copy()
        use_c[c] = True
        one = no_weight.copy()
        one[c] = 1.0
        r, par_c, dep_c = _routes_to_root_tree(n_nodes, link_a, link_b, link_capacity_mbps,
                                               use_c, one, no_standby, max_routes)
        per.append(r)
        per_parent.append(par_c)
        per_depth.append(dep_c)
    # the old tree (for the first route of every node)
    par_a, dep_a = tree_parents(n_nodes, link_a, link_b, link_capacity_mbps, usable & ~standby)
    par_s: I32 | None = None
    dep_s: I32 | None = None
    if np.any(standby & usable):
        ps, ds = tree_parents(n_nodes, link_a, link_b, link_capacity_mbps,
                              usable & ~(is_circuit & ~standby))
        par_s, dep_s = ps, ds
        use_s = (dep_a < 0) & (ds > 0)
        parent = np.where(use_s, ps, par_a)
        depth = np.where(use_s, ds, dep_a)
    else:
        parent, depth = par_a, dep_a
    tree_paths = node_paths(n_nodes, link_a, link_b, parent, depth)
    routes = _combined_routes(total, per, circ, standby, circuit_weight, tree_paths,
                              max_routes)
    return RouteParts(circ=circ, per=per, per_parent=per_parent, per_depth=per_depth,
                      par_a=par_a, dep_a=dep_a, par_s=par_s, dep_s=dep_s,
                      tree_paths=tree_paths, routes=routes)


def _combined_routes(total: int, per: list[NodeRoutes], circ: NDArray[np.int64],
                     standby: NDArray[np.bool_], circuit_weight: NDArray[np.float64],
                     tree_paths: I32, max_routes: int,
                     only: NDArray[np.bool_] | None = None) -> NodeRoutes:
    """The routes of every node (of the nodes ``only``, the others get none) from the
    per-circuit routes ``per`` (of the usable circuits ``circ``) and the combined tree's
    node paths (the tree route is a node's first route). Each node is combined on its own
    (its mode, weights, tree route and per-circuit routes), so the routes of a node do
    not depend on which other nodes are in ``only``."""
    n_c = len(per)
    reach = np.zeros((total, max(n_c, 1)), dtype=bool)
    for i, r in enumerate(per):
        reach[:, i] = np.diff(r.start) > 0
    is_standby = np.asarray(standby[circ], dtype=bool)
    has_active = np.asarray(reach[:, :n_c][:, ~is_standby].any(axis=1), dtype=bool)
    use = reach[:, :n_c] & (is_standby[None, :] != has_active[:, None]) if n_c else reach
    w = circuit_weight[circ] if n_c else np.ones(1)
    wsum = (use * w).sum(axis=1) if n_c else np.zeros(total)
    width = max([tree_paths.shape[1]] + [r.links.shape[1] for r in per if r.links.size])
    tp = np.full((total, width), -1, dtype=np.int32)
    tp[:, : tree_paths.shape[1]] = tree_paths
    # Each circuit keeps its own share: a node keeps at most max_routes // circuits routes
    # *per circuit* (tree route first, then the most probable), renormalised within that
    # circuit. Cutting the combined list instead would drop a whole circuit whenever one
    # circuit alone has max_routes equal-cost routes (an HA pair of firewalls behind two
    # cores): every device then went out of the first circuit and the second sat idle.
    per_circuit = max(1, max_routes // max(1, n_c))
    nodes_l: list[NDArray[np.int64]] = []
    links_l: list[I32] = []
    len_l: list[I32] = []
    prob_l: list[NDArray[np.float64]] = []
    for i, r in enumerate(per):
        node_of = np.repeat(np.arange(total), np.diff(r.start))
        keep = use[node_of, i]
        if only is not None:
            keep &= only[node_of]
        if not keep.any():
            continue
        nodes = node_of[keep]
        lk = np.full((int(keep.sum()), width), -1, dtype=np.int32)
        lk[:, : r.links.shape[1]] = r.links[keep]
        pr, ln = r.prob[keep], r.length[keep]
        is_tree = np.all(lk == tp[nodes], axis=1)
        o = np.lexsort((np.arange(nodes.shape[0]), -pr, ~is_tree, nodes))
        nodes, lk, pr, ln = nodes[o], lk[o], pr[o], ln[o]
        kept = _ranks(np.bincount(nodes, minlength=total)) < per_circuit
        nodes, lk, pr, ln = nodes[kept], lk[kept], pr[kept], ln[kept]
        within = np.bincount(nodes, weights=pr, minlength=total)
        pr = pr / np.where(within[nodes] > 0, within[nodes], 1.0)
        nodes_l.append(nodes)
        links_l.append(lk)
        len_l.append(ln)
        prob_l.append(pr * w[i] / wsum[nodes])
    if not nodes_l:
        return NodeRoutes(start=np.zeros(total + 1, dtype=np.int64),
                          links=np.zeros((0, width), dtype=np.int32),
                          length=np.zeros(0, dtype=np.int32), prob=np.zeros(0))
    nv = np.concatenate(nodes_l)
    links = np.concatenate(links_l)
    length = np.concatenate(len_l)
    prob = np.concatenate(prob_l)
    tree = np.all(links == tp[nv], axis=1)
    o = np.lexsort((np.arange(nv.shape[0]), -prob, ~tree, nv))
    nv, links, length, prob = nv[o], links[o], length[o], prob[o]
    tot = np.bincount(nv, weights=prob, minlength=total)
    prob = prob / np.where(tot[nv] > 0, tot[nv], 1.0)
    start = np.zeros(total + 1, dtype=np.int64)
    np.cumsum(np.bincount(nv, minlength=total), out=start[1:])
    return NodeRoutes(start=start, links=links, length=length, prob=prob)


@dataclass(frozen=True, eq=False)
class Spread:
    """How attachment points were split into sub-points, one per route (and piece).

    ``parent[P']`` physical attachment point of each sub-point, ``node[P']`` its node,
    ``slot[P']`` its position among the sub-points of its point, ``route[P']`` the
    index of its route among its node's base routes, ``share[P']`` the expected share of
    the point's devices. ``split_nodes`` maps a node with several routes to the
    ``(route, share)`` of its slots; ``base`` holds the base routes.
    """

    parent: NDArray[np.int64]
    node: NDArray[np.int64]
    slot: NDArray[np.int64]
    route: NDArray[np.int64]
    share: NDArray[np.float64]
    base: NodeRoutes
    circuit_weight: NDArray[np.float64]
    circuit_standby: NDArray[np.bool_]

    @cached_property
    def combos(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """``(combo_of[P'], rep[K])``: the distinct (node, slot) pairs of the sub-points,
        sorted, each with its first sub-point; every point of a node is split alike, so
        sub-points of one pair always take the same route (routing works on the pairs)."""
        key = self.node * (int(self.slot.max(initial=0)) + 1) + self.slot
        _u, rep, combo_of = np.unique(key, return_index=True, return_inverse=True)
        return combo_of.astype(np.int64).ravel(), rep.astype(np.int64)

    @property
    def multipath(self) -> bool:
        """True when some point is split or some circuit is standby (N-1 must then
        re-route with :func:`spread_paths`, not the tree shortcut)."""
        return bool(self.parent.shape[0] != np.unique(self.parent).shape[0]
                    or np.any(self.circuit_standby))


def route_usable(link_role: NDArray[np.int8], member_link_of: dict[int, list[int]],
                 link_a: I32, link_b: I32, link_up: NDArray[np.bool_] | None = None,
                 node_up: NDArray[np.bool_] | None = None) -> NDArray[np.bool_]:
    """Links routing may use: no air links, member copy 0 only, up, with both ends up."""
    from netstage.simulator.arrays import LINK_AIR

    usable = link_role != LINK_AIR
    for copies in member_link_of.values():
        usable[copies[1:]] = False
    if link_up is not None:
        usable &= link_up
    if node_up is not None:
        up = np.append(node_up, True)  # the Internet root never fails
        usable &= up[link_a] & up[link_b]
    return usable


def spread_points(routes: NodeRoutes, attach_node: I32, device_attach: I32,
                  circuit_weight: NDArray[np.float64], circuit_standby: NDArray[np.bool_]
                  ) -> tuple[Spread, I32]:
    """Split attachment points whose node has several routes; ``(spread, new
    device_attach)``. A point of a node with ``m >= 2`` routes gets one sub-point per
    route, or two per route when ``m >= 3`` (so that a failed route's devices can be
    re-spread over two others); a device goes to the sub-point whose share interval
    holds ``frac(offset(p) + rank * 0.618...)``, its rank among the point's devices."""
    n_p = attach_node.shape[0]
    m = np.diff(routes.start)[attach_node] if n_p else np.zeros(0, dtype=np.int64)
    pieces = np.where(m >= 3, 2, 1)
    n_sub = np.where(m >= 2, m * pieces, 1)
    parent = np.repeat(np.arange(n_p, dtype=np.int64), n_sub)
    slot = _ranks(n_sub)
    route = np.where(m[parent] >= 2, slot // pieces[parent], 0)
    row = routes.start[attach_node[parent]] + route
    prob = routes.prob[np.where(m[parent] >= 1, row, 0)] if routes.prob.size else \
        np.ones(parent.shape[0])
    share = np.where(m[parent] >= 2, prob / pieces[parent], 1.0)
    hi = np.cumsum(share)
    first = np.cumsum(n_sub) - n_sub
    hi = hi - np.repeat(np.r_[0.0, hi][first], n_sub)  # cumulative within the point
    last = first + n_sub - 1
    hi[last] = 1.0
    # devices: rank at their point, Fibonacci hash
    n_d = device_attach.shape[0]
    order = np.argsort(device_attach, kind="stable")
    counts = np.bincount(device_attach, minlength=n_p)
    rank = np.empty(n_d, dtype=np.int64)
    rank[order] = _ranks(counts)
    pt = device_attach.astype(np.int64)
    u = np.mod(pt * _PLASTIC + rank * _PHI, 1.0)
    key_sub = parent.astype(np.float64) + hi
    new_attach = np.searchsorted(key_sub, pt + u, side="right")
    new_attach = np.minimum(new_attach, last[pt]).astype(np.int32)
    spread = Spread(parent=parent, node=attach_node[parent].astype(np.int64), slot=slot,
                    route=route.astype(np.int64), share=share, base=routes,
                    circuit_weight=circuit_weight, circuit_standby=circuit_standby)
    return spread, new_attach


def _assign(base_links: list[tuple[int, ...]], share: NDArray[np.float64],
            new_links: list[tuple[int, ...]], new_prob: NDArray[np.float64]) -> list[int]:
    """New route of each slot of one node: its base route if it still exists (devices
    keep their circuit and path), else the route with the largest shortfall against its
    probability (a failed route's devices are re-spread over the others)."""
    where = {lk: i for i, lk in enumerate(new_links)}
    got = np.zeros(len(new_links))
    out = [-1] * len(base_links)
    for j, lk in enumerate(base_links):
        i = where.get(lk, -1)
        if i >= 0:
            out[j] = i
            got[i] += share[j]
    for j in range(len(base_links)):
        if out[j] < 0:
            i = int(np.argmax(new_prob - got))
            out[j] = i
            got[i] += share[j]
    return out


def _same_routes(a: NodeRoutes, b: NodeRoutes, nodes: NDArray[np.int64]
                 ) -> NDArray[np.bool_]:
    """Per node of ``nodes``: True when it has the same routes (links, in order) in ``a``
    and ``b`` (probabilities aside), compared for all nodes at once."""
    count = a.start[nodes + 1] - a.start[nodes]
    same = count == b.start[nodes + 1] - b.start[nodes]
    rows = np.repeat(np.flatnonzero(same), count[same])
    if rows.size == 0:
        return same
    off = _ranks(count[same])
    ra = a.start[nodes[rows]] + off
    rb = b.start[nodes[rows]] + off
    width = max(a.links.shape[1], b.links.shape[1])
    la = np.full((ra.shape[0], width), -1, dtype=np.int32)
    lb = np.full((rb.shape[0], width), -1, dtype=np.int32)
    pos = np.arange(width)[None, :]
    la[:, : a.links.shape[1]] = np.where(pos[:, : a.links.shape[1]] < a.length[ra][:, None],
                                         a.links[ra], -1)
    lb[:, : b.links.shape[1]] = np.where(pos[:, : b.links.shape[1]] < b.length[rb][:, None],
                                         b.links[rb], -1)
    row_same = (a.length[ra] == b.length[rb]) & np.all(la == lb, axis=1)
    bad = np.unique(rows[~row_same])
    same[bad] = False
    return same


def spread_paths(spread: Spread, **g: Unpack[PathInputs]) -> tuple[I32, I32]:
    """Paths of the sub-points after failures (``link_up``/``node_up``; none = base).

    ``attach_member`` / ``attach_air_link`` are per sub-point (as in
    :class:`~netstage.simulator.arrays.DistrictArrays`).

    Every node is routed afresh (:func:`node_routes`); a point with one sub-point takes
    its node's first (tree) route; the slots of a split point keep their base route
    when it survives, and the slots whose route failed are re-spread (:func:`_assign`).
    """
    return attach_rows(*spread_node_paths(spread, **g), g)


def spread_node_paths(spread: Spread, **g: Unpack[PathInputs]) -> tuple[I32, I32]:
    """The node part of :func:`spread_paths`: per sub-point, the links from its node to
    the Internet (``[P', H]``, -1 padded) and their count (0: cut off)."""
    combo_of, _rep = spread.combos
    links, length = spread_combo_paths(spread, **g)
    return links[combo_of], length[combo_of]


def spread_combo_paths(spread: Spread, *, routes: NodeRoutes | None = None,
                       pairs: NDArray[np.int64] | None = None,
                       **g: Unpack[PathInputs]) -> tuple[I32, I32]:
    """:func:`spread_node_paths` per (node, slot) pair of :attr:`Spread.combos` (a few
    hundred where there are tens of thousands of sub-points). Two sub-points with the
    same node path have the same point path (the air link and the AP member's uplink
    copy are fixed per sub-point), so N-1 turns only the sub-points of pairs whose node
    path changed into point paths.

    ``routes``: the routes after the failures when the caller has them (N-1 computes
    them incrementally, :mod:`netstage.simulator.route_delta`), else :func:`node_routes`
    here. ``pairs``: only these pairs (indices into the combos; every pair of a node is
    placed alike whatever the other nodes, so a subset gives the same rows)."""
    link_up, node_up = g.get("link_up"), g.get("node_up")
    base = spread.base
    if routes is not None:
        pass
    elif link_up is None and node_up is None:
        routes = base
    else:
        usable = route_usable(g["link_role"], g["member_link_of"], g["link_a"], g["link_b"],
                              link_up, node_up)
        routes = node_routes(g["n_nodes"], g["link_a"], g["link_b"], g["link_capacity_mbps"],
                             usable, spread.circuit_weight, spread.circuit_standby)
    rep = spread.combos[1] if pairs is None else spread.combos[1][pairs]
    n_sp = rep.shape[0]
    m_new = np.diff(routes.start)
    node = spread.node[rep]
    route, slot = spread.route[rep], spread.slot[rep]
    parent, share = spread.parent[rep], spread.share[rep]
    choice = np.zeros(n_sp, dtype=np.int64)  # index among the node's new routes
    split = np.flatnonzero(np.diff(base.start)[node] >= 2)
    if routes is not base and split.size:
        by_node = split[np.argsort(node[split], kind="stable")]  # each node's slots
        nodes, first, count = np.unique(node[by_node], return_index=True,
                                        return_counts=True)
        same = _same_routes(base, routes, nodes)
        keep = by_node[np.repeat(same, count)]
        choice[keep] = route[keep]
        # only the nodes whose route set changed (those the failure touches) are
        # re-assigned slot by slot (compiled :func:`_assign`); the others keep their
        # base route
        from netstage.simulator.route_assign import assign_slots

        todo = np.flatnonzero(~same & (m_new[nodes] > 0))
        assign_slots(nodes[todo], first[todo], count[todo], by_node, parent, route, share,
                     slot, base, routes, choice)
    elif split.size:
        choice[split] = route[split]
    reachable = m_new[node] > 0
    if node_up is not None:
        reachable &= node_up[node]
    row = np.where(reachable, routes.start[node] + choice, 0)
    width = routes.links.shape[1] if routes.links.size else 1
    node_links = np.where(reachable[:, None], routes.links[row] if routes.links.size
                          else np.full((n_sp, width), -1, np.int32), -1).astype(np.int32)
    node_len = np.where(reachable, routes.length[row] if routes.length.size else 0, 0)
    return node_links, node_len.astype(np.int32)


def attach_rows(node_links: I32, node_len: I32, g: PathInputs,
                copies: tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]
                | None = None) -> tuple[I32, I32]:
    """Point paths from their nodes' paths (``node_len`` 0: no path): the air link
    first (Wi-Fi), then the node's path with AP member ``j``'s own copy of the AP
    entry's uplink. The one place both path builders turn node paths into point paths.
    ``copies``: :func:`member_copies` of ``g`` when the caller has it (N-1, per failure)."""
    air, member = g["attach_air_link"], g["attach_member"]
    member_link_of, n_links = g["member_link_of"], g["link_a"].shape[0]
    n = node_links.shape[0]
    has_air = air >= 0
    width = node_links.shape[1] + 1
    out = np.full((n, width), -1, dtype=np.int32)
    out[~has_air, : width - 1] = node_links[~has_air]
    out[has_air, 0] = air[has_air]
    out[has_air, 1:] = node_links[has_air]
    mem = np.flatnonzero(has_air & (member > 0))
    if member_link_of and mem.size:
        row_of, copies_of, n_copies = copies if copies is not None else member_copies(
            member_link_of, n_links)
        first_link = out[mem, 1].astype(np.int64)
        row = np.where(first_link >= 0, row_of[np.maximum(first_link, 0)], -1)
        ok = row >= 0
        r_ok = row[ok]
        out[mem[ok], 1] = copies_of[r_ok, member[mem[ok]] % n_copies[r_ok]]
    path_len = np.where(node_len > 0, node_len + has_air.astype(np.int32), 0).astype(np.int32)
    out[path_len == 0] = -1
    return out, path_len


def member_copies(member_link_of: dict[int, list[int]], n_links: int
                  ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """The AP-member uplink copies as a table: ``(row_of[L], copies[R, C], n_copies[R])``.

    ``row_of[first]`` is the row of a link that has member copies (-1 for any other
    link); row ``r`` lists that link's copies (copy ``j`` is what AP member ``j`` uses,
    ``copies[r, j % n_copies[r]]``).
    """
    row_of = np.full(n_links, -1, dtype=np.int64)
    width = max((len(c) for c in member_link_of.values()), default=1)
    copies = np.full((max(len(member_link_of), 1), width), -1, dtype=np.int64)
    n_copies = np.ones(max(len(member_link_of), 1), dtype=np.int64)
    for r, (first, cs) in enumerate(sorted(member_link_of.items())):
        row_of[first] = r
        copies[r, : len(cs)] = cs
        n_copies[r] = len(cs)
    return row_of, copies, n_copies
