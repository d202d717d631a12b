"""Load-sharing routes after a failure, recomputed only for the nodes it can affect.

:func:`routing.node_routes` routes every node from scratch; N-1 calls it once per failed
element, although a failure changes the routes of few nodes. :class:`RouteDelta` keeps
the parts of the base computation (:class:`routing.RouteParts`) and, per failure,
recomputes the routes of the *affected* nodes only, taking every other node's routes from
the base unchanged. The result is identical, array for array, to ``node_routes`` on the
failed network (``tests/test_incremental_routes.py``).

Why a node is unaffected (the argument :meth:`RouteDelta.routes_after` relies on). Write
``G_c`` for the physical links plus the usable circuit ``c`` and ``d_c`` for the hop
distance to the Internet root in ``G_c``; the *DAG* of ``G_c`` holds every hop
``v -> u`` over a usable link with ``d_c(u) = d_c(v) - 1`` (all of them, before the
"fastest next hops only" filter and the ``max_routes`` cut). A failure removes links
(a failed node removes all of its links). ``A_c`` is the set of DAG ancestors of the
removed hops: the nodes some fewest-hop path of which, in ``G_c``, crosses a failed
link or node. ``A`` is the union of the ``A_c`` over the usable circuits.

* Per circuit, for ``v`` not in ``A_c``: every node ``y`` of the DAG below ``v`` is not
  in ``A_c`` either, so it keeps a fewest-hop path and ``d_c(y)`` (distances only grow
  when links go). Its hops keep their links and ends, and no hop appears (a new hop
  ``y -> u`` would need ``d_c(u) = d_c(y) - 1`` after the failure, so before it too,
  since ``u`` is adjacent to ``y``). Same hops, same capacities: the same tree parent
  (:func:`routing.tree_parents` breaks ties among the hops by capacity, then link
  index), the same fastest hops, the same hop count ``k``, so by induction over the
  levels the same routes, tree flags and probabilities (each is computed from the node's
  hops and the routes of the nodes one hop nearer only). ``_routes_to_root`` is the
  per-circuit step of ``node_routes``, with that circuit's weight 1.
* The combined tree (the first route of every node): the tree of the active circuits
  is the tree of their union, whose fewest-hop paths are each a fewest-hop path in the
  ``G_c`` of the circuit they end at. For ``v`` not in ``A``, take ``y`` on such a path
  of ``v`` and a hop ``y -> u`` of it towards any circuit ``c'``: ``v`` reaches ``c'`` in
  as few hops over ``y -> u``, so the hop lies in the DAG of ``G_c'`` below ``v``; as
  ``v`` is not in ``A_c'``, the hop survives and ``d_c'(u)`` is unchanged. Hence the
  hops, depths and parents of the whole union-DAG below ``v`` are unchanged, and its
  tree path too. The same holds for the standby circuits' tree, so ``v``'s mode
  (active, or standby when it reaches no active circuit) is unchanged.
* The combination: ``v``'s per-circuit routes, which circuits it reaches, its mode, its
  weights ``wsum`` and its tree route are all unchanged; ``node_routes`` combines each
  node from these alone (:func:`routing._combined_routes`), so ``v``'s routes and
  probabilities are unchanged, bit for bit (the same floating-point operations in the
  same order).
* Global inputs: the set of usable circuits (their count sets the per-circuit share
  ``max_routes // circuits`` and the weights every node divides by). A failure that
  changes it (a circuit, or the node it is attached to) is routed in full. So is a
  failure that affects more than ``max_share`` of the nodes (a core switch), where the
  full computation is no slower.

The affected nodes themselves are routed by the rules of ``node_routes``: their new
distances and tree parents by a Dijkstra from the fixed distances of the nodes around
them (:func:`_subtree_reroute`, valid as every node whose distance changes is in the
set), their DAG hops by :func:`_hops`, their per-circuit routes by
:func:`_seeded_routes` (``routing._enumerate_routes`` node by node, compiled, reading the
base routes of all other nodes), and their combination by the code of ``node_routes``
itself (:func:`routing._combined_routes` restricted to them).
"""

from __future__ import annotations

import heapq

import numba as nb
import numpy as np
from numpy.typing import NDArray

from netstage.simulator.routing import (
    I32,
    MAX_ROUTES,
    NodeRoutes,
    _combined_routes,
    _ranks,
    node_route_parts,
    node_routes,
)

__all__ = ["RouteDelta"]


@nb.njit(cache=True)
def _subtree_reroute(  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
        sub, in_sub, adj_ptr, adj_link, adj_nbr, link_ok, node_ok, base_depth, cap):
    """New hop depth and parent link of the nodes ``sub`` after a failure (``sub`` must
    hold every node whose depth may change: the base routing tree's subtree below the
    failure, or the nodes it affects): Dijkstra with unit weights from the fixed depths
    of the nodes around them, then the tie-break of :func:`routing.tree_parents` (the
    shallowest neighbours; highest capacity, then lowest link index)."""
    big = 1 << 40
    k = sub.shape[0]
    dist = np.full(k, big, dtype=np.int64)
    pos = in_sub  # node -> position in sub + 1 (0 = outside)
    heap = [(np.int64(0), np.int64(0))]
    heap.pop()
    for i in range(k):
        v = sub[i]
        if not node_ok[v]:
            continue
        for j in range(adj_ptr[v], adj_ptr[v + 1]):
            lk = adj_link[j]
            u = adj_nbr[j]
            if (link_ok[lk] and node_ok[u] and pos[u] == 0 and base_depth[u] >= 0
                    and base_depth[u] + 1 < dist[i]):
                dist[i] = base_depth[u] + 1
        if dist[i] < big:
            heapq.heappush(heap, (dist[i], np.int64(i)))
    while len(heap) > 0:
        dv, h = heapq.heappop(heap)
        if dv > dist[h]:
            continue
        v = sub[h]
        for j in range(adj_ptr[v], adj_ptr[v + 1]):
            lk = adj_link[j]
            u = adj_nbr[j]
            q = pos[u] - 1
            if q >= 0 and link_ok[lk] and node_ok[u] and dv + 1 < dist[q]:
                dist[q] = dv + 1
                heapq.heappush(heap, (dv + 1, q))
    parent = np.full(k, -1, dtype=np.int64)
    for i in range(k):
        if dist[i] >= big:
            continue
        v = sub[i]
        best = -1
        for j in range(adj_ptr[v], adj_ptr[v + 1]):
            lk = adj_link[j]
            u = adj_nbr[j]
            if not (link_ok[lk] and node_ok[u]):
                continue
            du = dist[pos[u] - 1] if pos[u] > 0 else base_depth[u]
            if du != dist[i] - 1:
                continue
            if best < 0 or cap[lk] > cap[best] or (cap[lk] == cap[best] and lk < best):
                best = lk
        parent[i] = best
    for i in range(k):
        if dist[i] >= big:
            dist[i] = -1
    return dist, parent


@nb.njit(cache=True)
def _ancestors(  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
        failed, link_a, link_b, in_c, depth, adj_ptr, adj_link, adj_nbr):
    """``out[i, v]``: node ``v`` is a DAG ancestor (or the tail) of a failed hop in the
    graph ``in_c[i]`` of circuit ``i`` with the base distances ``depth[i]``."""
    n_c, total = depth.shape
    out = np.zeros((n_c, total), dtype=np.bool_)
    stack = np.empty(total, dtype=np.int64)
    for i in range(n_c):
        d = depth[i]
        n = 0
        for f in failed:
            if not in_c[i, f]:
                continue
            a = link_a[f]
            b = link_b[f]
            if d[a] > 0 and d[b] == d[a] - 1 and not out[i, a]:
                out[i, a] = True
                stack[n] = a
                n += 1
            if d[b] > 0 and d[a] == d[b] - 1 and not out[i, b]:
                out[i, b] = True
                stack[n] = b
                n += 1
        while n > 0:
            n -= 1
            y = stack[n]
            for j in range(adj_ptr[y], adj_ptr[y + 1]):
                v = adj_nbr[j]
                if in_c[i, adj_link[j]] and d[v] == d[y] + 1 and not out[i, v]:
                    out[i, v] = True
                    stack[n] = v
                    n += 1
    return out


@nb.njit(cache=True)
def _hops(  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
        sub, depth, adj_ptr, adj_link, adj_nbr, link_ok, cap, is_circuit):
    """The DAG hops ``v -> u`` over ``e`` of the nodes ``sub`` (ascending) as
    ``routing._routes_to_root_tree`` keeps them: ``u`` one hop nearer, among the physical
    hops only the fastest; sorted by ``v``, then ``e`` (the adjacency of each node is by
    link index)."""
    n = 0
    for v in sub:
        n += adj_ptr[v + 1] - adj_ptr[v]
    hv = np.empty(n, dtype=np.int64)
    hu = np.empty(n, dtype=np.int64)
    he = np.empty(n, dtype=np.int64)
    m = 0
    for v in sub:
        dv = depth[v]
        if dv <= 0:
            continue
        best = -np.inf
        for j in range(adj_ptr[v], adj_ptr[v + 1]):
            lk = adj_link[j]
            if link_ok[lk] and depth[adj_nbr[j]] == dv - 1 and not is_circuit[lk]:
                best = max(best, cap[lk])
        for j in range(adj_ptr[v], adj_ptr[v + 1]):
            lk = adj_link[j]
            u = adj_nbr[j]
            if (link_ok[lk] and depth[u] == dv - 1
                    and (is_circuit[lk] or cap[lk] >= best)):
                hv[m] = v
                hu[m] = u
                he[m] = lk
                m += 1
    return hv[:m], hu[:m], he[:m]


@nb.njit(cache=True)
def _tree_rows(  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
        order, parent, depth, link_a, link_b, tp):
    """Tree paths (as :func:`routing.node_paths`) of the nodes ``order`` (by
    ascending depth), in place in ``tp``: the parent link, then the path of the node
    above (already re-built when it is in ``order``)."""
    width = tp.shape[1]
    for v in order:
        tp[v, :] = -1
        if depth[v] <= 0:
            continue
        lk = parent[v]
        u = link_b[lk] if link_a[lk] == v else link_a[lk]
        tp[v, 0] = lk
        for h in range(1, width):
            tp[v, h] = tp[u, h - 1]


@nb.njit(cache=True)
def _seeded_routes(  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
        hv, hu, he, depth, parent, redo, b_start, b_links, b_len, b_prob, b_pc, max_routes,
        width):
    """:func:`routing._enumerate_routes` of one circuit for the nodes ``redo`` (their
    DAG hops ``hv -> hu`` over ``he``, sorted by node then link; new ``depth`` and
    tree ``parent``), every other node keeping its base routes ``b_*`` (``b_pc``: the
    sum of each node's route probabilities), as ``(start, links, length, prob)``.

    The same floating-point operations in the same order as the numpy code, node by
    node: a route over hop ``v -> u`` continuing with ``u``'s route ``s`` has
    probability ``((1 / 1) / k * p_s) / pc_u`` (``k``: ``v``'s hops reaching the
    circuit, ``pc_u``: the sum of ``u``'s route probabilities; ``1`` at level 1); a
    node's candidates are ordered tree route first, then by falling probability, then as
    built (hops by link, then ``u``'s routes in order), cut to ``max_routes``, and
    divided by their sum accumulated in that order."""
    total = b_start.shape[0] - 1
    n_h = hv.shape[0]
    n_v = 0
    for h in range(n_h):
        if h == 0 or hv[h] != hv[h - 1]:
            n_v += 1
    vs = np.empty(n_v, dtype=np.int64)
    h_lo = np.empty(n_v, dtype=np.int64)
    h_hi = np.empty(n_v, dtype=np.int64)
    j = -1
    for h in range(n_h):
        if h == 0 or hv[h] != hv[h - 1]:
            j += 1
            vs[j] = hv[h]
            h_lo[j] = h
        h_hi[j] = h + 1
    dv = np.empty(n_v, dtype=np.int64)
    for j in range(n_v):
        dv[j] = depth[vs[j]]
    order = np.argsort(dv, kind="mergesort")  # by level, then node: u before v
    cap_rows = max(n_v * max_routes, 1)
    n_links = np.full((cap_rows, width), -1, dtype=np.int32)
    n_len = np.zeros(cap_rows, dtype=np.int32)
    n_prob = np.zeros(cap_rows)
    n_tree = np.zeros(cap_rows, dtype=np.bool_)
    n_start = np.zeros(total, dtype=np.int64)
    n_count = np.zeros(total, dtype=np.int64)
    pc = b_pc.copy()
    for t in range(total):
        if redo[t]:
            pc[t] = 0.0
    b_w = b_links.shape[1]
    used = 0
    for jj in range(n_v):
        j = order[jj]
        v = vs[j]
        lv = depth[v]
        m = 0
        k = 0.0
        for h in range(h_lo[j], h_hi[j]):
            u = hu[h]
            cnt = n_count[u] if redo[u] else b_start[u + 1] - b_start[u]
            if lv == 1:
                m += 1
            else:
                m += cnt
                if cnt > 0:  # u reaches the circuit
                    k += 1.0
        c_e = np.empty(m, dtype=np.int64)
        c_src = np.empty(m, dtype=np.int64)  # u's row: base >= 0, new -2 - row, none -1
        c_prob = np.empty(m)
        c_tree = np.empty(m, dtype=np.bool_)
        c_len = np.empty(m, dtype=np.int32)
        q = 0
        for h in range(h_lo[j], h_hi[j]):
            u = hu[h]
            e = he[h]
            if lv == 1:
                c_e[q] = e
                c_src[q] = -1
                c_prob[q] = 1.0 / 1.0 / 1.0 * 1.0 / 1.0
                c_tree[q] = e == parent[v]
                c_len[q] = 1
                q += 1
                continue
            new = redo[u]
            s0 = n_start[u] if new else b_start[u]
            sc = n_count[u] if new else b_start[u + 1] - b_start[u]
            pcu = pc[u] if pc[u] > 0 else 1.0
            for s in range(s0, s0 + sc):
                p_src = n_prob[s] if new else b_prob[s]
                tr = n_tree[s] if new else s == s0
                c_e[q] = e
                c_src[q] = -2 - s if new else s
                c_prob[q] = 1.0 / 1.0 / k * p_src / pcu
                c_tree[q] = (e == parent[v]) and tr
                c_len[q] = (n_len[s] if new else b_len[s]) + 1
                q += 1
        # tree route first, then by falling probability, then as built (stable)
        idx = np.arange(m)
        for a in range(1, m):
            x = idx[a]
            b = a - 1
            while b >= 0:
                y = idx[b]
                first = c_tree[x] if c_tree[x] != c_tree[y] else c_prob[x] > c_prob[y]
                if not first:
                    break
                idx[b + 1] = y
                b -= 1
            idx[b + 1] = x
        kept = min(m, max_routes)
        tot = 0.0
        for a in range(kept):
            tot += c_prob[idx[a]]
        den = tot if tot > 0 else 1.0
        n_start[v] = used
        n_count[v] = kept
        for a in range(kept):
            i = idx[a]
            row = used + a
            n_links[row, 0] = c_e[i]
            src = c_src[i]
            if src >= 0:
                for col in range(1, width):
                    n_links[row, col] = b_links[src, col - 1] if col - 1 < b_w else -1
            elif src <= -2:
                for col in range(1, width):
                    n_links[row, col] = n_links[-2 - src, col - 1]
            n_len[row] = c_len[i]
            n_prob[row] = c_prob[i] / den
            n_tree[row] = c_tree[i]
            pc[v] += n_prob[row]
        used += kept
    # splice: the new rows of the redo nodes, the base rows of the others
    cnt_all = np.empty(total, dtype=np.int64)
    for t in range(total):
        cnt_all[t] = n_count[t] if redo[t] else b_start[t + 1] - b_start[t]
    start = np.zeros(total + 1, dtype=np.int64)
    for t in range(total):
        start[t + 1] = start[t] + cnt_all[t]
    n_rows = start[total]
    links = np.full((n_rows, width), -1, dtype=np.int32)
    length = np.zeros(n_rows, dtype=np.int32)
    prob = np.zeros(n_rows)
    for t in range(total):
        for a in range(cnt_all[t]):
            dst = start[t] + a
            if redo[t]:
                s = n_start[t] + a
                for col in range(width):
                    links[dst, col] = n_links[s, col]
                length[dst] = n_len[s]
                prob[dst] = n_prob[s]
            else:
                s = b_start[t] + a
                for col in range(min(width, b_w)):
                    links[dst, col] = b_links[s, col]
                length[dst] = b_len[s]
                prob[dst] = b_prob[s]
    return start, links, length, prob


def _splice(base: NodeRoutes, new: NodeRoutes, redo: NDArray[np.bool_]) -> NodeRoutes:
    """``new``'s routes for the nodes ``redo``, ``base``'s for the others (at the width
    of ``new``: the others' routes are no longer than it)."""
    width = new.links.shape[1]
    cnt = np.where(redo, np.diff(new.start), np.diff(base.start))
    n_b = base.length.shape[0]
    src = np.where(redo, new.start[:-1] + n_b, base.start[:-1])
    pos = np.repeat(src, cnt) + _ranks(cnt)
    links_b = np.full((n_b, width), -1, dtype=np.int32)
    cut = min(width, base.links.shape[1])
    links_b[:, :cut] = base.links[:, :cut]
    start = np.zeros(cnt.shape[0] + 1, dtype=np.int64)
    np.cumsum(cnt, out=start[1:])
    return NodeRoutes(start=start, links=np.concatenate([links_b, new.links])[pos],
                      length=np.concatenate([base.length, new.length])[pos],
                      prob=np.concatenate([base.prob, new.prob])[pos])


class RouteDelta:
    """The routes of a district (:func:`routing.node_routes` with these arguments) and,
    for a failure, the routes after it, recomputed for the affected nodes only (module
    docstring)."""

    def __init__(self, n_nodes: int, link_a: I32, link_b: I32,
                 link_capacity_mbps: NDArray[np.float64], usable: NDArray[np.bool_],
                 circuit_weight: NDArray[np.float64], circuit_standby: NDArray[np.bool_],
                 max_routes: int = MAX_ROUTES, max_share: float = 0.5) -> None:
        self.n_nodes = n_nodes
        self.link_a, self.link_b = link_a, link_b
        self.link_cap = link_capacity_mbps
        self.cap = np.ascontiguousarray(link_capacity_mbps, dtype=np.float64)
        self.usable = usable
        self.weight, self.standby_flag = circuit_weight, circuit_standby
        self.max_routes = max_routes
        self.max_share = max_share
        self.parts = p = node_route_parts(n_nodes, link_a, link_b, link_capacity_mbps,
                                          usable, circuit_weight, circuit_standby,
                                          max_routes)
        total = n_nodes + 1
        n_links = link_a.shape[0]
        self.is_circuit = is_circuit = link_b == n_nodes
        self.standby = circuit_standby & is_circuit
        # adjacency of the usable links, each node's entries by link index
        idx = np.flatnonzero(usable).astype(np.int64)
        ends = np.r_[link_a[idx], link_b[idx]].astype(np.int64)
        nbrs = np.r_[link_b[idx], link_a[idx]].astype(np.int64)
        links = np.r_[idx, idx]
        order = np.lexsort((links, ends))
        self.adj_ptr = np.zeros(total + 1, dtype=np.int64)
        np.cumsum(np.bincount(ends, minlength=total), out=self.adj_ptr[1:])
        self.adj_link, self.adj_nbr = links[order], nbrs[order]
        self.node_ok = np.ones(total, dtype=np.bool_)
        # per usable circuit: its graph, base distances, column, weight and route sums
        n_c = p.circ.shape[0]
        self.in_c = np.zeros((n_c, n_links), dtype=np.bool_)
        self.depth = np.zeros((n_c, total), dtype=np.int64)
        self.pc_sum = np.zeros((n_c, total))
        col_of = np.cumsum(is_circuit) - 1
        self.col = [int(col_of[c]) for c in p.circ.tolist()]
        self.one: list[NDArray[np.float64]] = []
        for i, c in enumerate(p.circ.tolist()):
            self.in_c[i] = usable & ~is_circuit
            self.in_c[i, c] = True
            self.depth[i] = p.per_depth[i]
            r = p.per[i]
            np.add.at(self.pc_sum[i], np.repeat(np.arange(total), np.diff(r.start)), r.prob)
            one = np.zeros_like(circuit_weight)
            one[c] = 1.0
            self.one.append(one)
        self.dep_a = p.dep_a.astype(np.int64)
        self.dep_s = p.dep_s.astype(np.int64) if p.dep_s is not None else None

    @property
    def routes(self) -> NodeRoutes:
        """The routes with nothing failed."""
        return self.parts.routes

    def usable_after(self, links: tuple[int, ...] = (), node: int = -1) -> NDArray[np.bool_]:
        """The usable links once ``links`` and ``node`` (-1: none) fail (as
        :func:`routing.route_usable` with those failures)."""
        usable = self.usable.copy()
        if links:
            usable[list(links)] = False
        if node >= 0:
            usable &= (self.link_a != node) & (self.link_b != node)
        return usable

    def routes_after(self, usable: NDArray[np.bool_]
                     ) -> tuple[NodeRoutes, NDArray[np.bool_] | None]:
        """``(routes, affected)`` on the network whose usable links are ``usable`` (a
        subset of the base ones): the routes equal ``node_routes`` on it; only the nodes
        ``affected`` may have routes other than the base ones (None: routed in full)."""
        p = self.parts
        total = self.n_nodes + 1
        failed = np.flatnonzero(self.usable & ~usable)
        if np.any(usable & ~self.usable):
            raise ValueError("routes_after: usable must be a subset of the base links")
        if np.any(self.is_circuit[failed]):  # the circuits, their count and weights change
            return self._full(usable), None
        anc = _ancestors(failed, self.link_a, self.link_b, self.in_c, self.depth,
                         self.adj_ptr, self.adj_link, self.adj_nbr)
        redo = anc.any(axis=0)
        n_redo = int(redo.sum())
        if n_redo == 0:
            return p.routes, redo
        if n_redo > self.max_share * total:
            return self._full(usable), None
        per: list[NodeRoutes] = []
        for i in range(len(p.per)):
            if not anc[i].any():
                per.append(p.per[i])
                continue
            link_ok = usable & self.in_c[i]
            sub = np.flatnonzero(anc[i])
            in_sub = np.zeros(total, dtype=np.int64)
            in_sub[sub] = np.arange(1, sub.shape[0] + 1)
            dist, par = _subtree_reroute(sub, in_sub, self.adj_ptr, self.adj_link,
                                         self.adj_nbr, link_ok, self.node_ok, self.depth[i],
                                         self.cap)
            depth = p.per_depth[i].copy()
            depth[sub] = dist
            parent = p.per_parent[i].copy()
            parent[sub] = par
            v, u, e = _hops(sub, depth, self.adj_ptr, self.adj_link, self.adj_nbr, link_ok,
                            self.cap, self.is_circuit)
            b = p.per[i]
            st, lk, ln, pr = _seeded_routes(v, u, e, depth, parent, anc[i], b.start, b.links,
                                            b.length, b.prob, self.pc_sum[i], self.max_routes,
                                            max(int(depth.max()), 1))
            per.append(NodeRoutes(start=st, links=lk, length=ln, prob=pr))
        tree_paths = self._tree_paths(usable, redo)
        new = _combined_routes(total, per, p.circ, self.standby, self.weight, tree_paths,
                               self.max_routes, only=redo)
        return _splice(p.routes, new, redo), redo

    def _tree_paths(self, usable: NDArray[np.bool_], redo: NDArray[np.bool_]) -> I32:
        """The combined tree's node paths after the failure (as ``node_route_parts``),
        re-built for the nodes ``redo`` only."""
        p = self.parts
        total = self.n_nodes + 1
        sub = np.flatnonzero(redo)
        in_sub = np.zeros(total, dtype=np.int64)
        in_sub[sub] = np.arange(1, sub.shape[0] + 1)

        def reroute(base_par: I32, base_dep: NDArray[np.int64], link_ok: NDArray[np.bool_]
                    ) -> tuple[I32, I32]:
            dist, par = _subtree_reroute(sub, in_sub, self.adj_ptr, self.adj_link,
                                         self.adj_nbr, link_ok, self.node_ok, base_dep,
                                         self.cap)
            parent, depth = base_par.copy(), base_dep.astype(np.int32)
            parent[sub] = par
            depth[sub] = dist
            return parent, depth

        par_a, dep_a = reroute(p.par_a, self.dep_a, usable & ~self.standby)
        if p.par_s is not None and self.dep_s is not None:
            par_s, dep_s = reroute(p.par_s, self.dep_s,
                                   usable & ~(self.is_circuit & ~self.standby))
            use_s = (dep_a < 0) & (dep_s > 0)
            parent = np.where(use_s, par_s, par_a)
            depth = np.where(use_s, dep_s, dep_a)
        else:
            parent, depth = par_a, dep_a
        width = max(int(depth.max()), 1)
        tp = np.full((total, width), -1, dtype=np.int32)
        cut = min(width, p.tree_paths.shape[1])
        tp[:, :cut] = p.tree_paths[:, :cut]
        order = sub[np.argsort(depth[sub], kind="stable")]
        _tree_rows(order, parent, depth, self.link_a, self.link_b, tp)
        return tp

    def _full(self, usable: NDArray[np.bool_]) -> NodeRoutes:
        return node_routes(self.n_nodes, self.link_a, self.link_b, self.link_cap, usable,
                           self.weight, self.standby_flag, self.max_routes)
