"""Incremental re-routing after a failure, next to :mod:`netstage.simulator.routing`:
only the subtree below a failed element is re-routed (tree routing), or, under load
sharing, only the nodes with a fewest-hop path over it
(:mod:`netstage.simulator.route_delta`) are routed and re-spread again; used by
:mod:`netstage.simulator.contingency`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import igraph as ig
import numpy as np
from numpy.typing import NDArray

from netstage.simulator.arrays import DistrictArrays
from netstage.simulator.route_delta import RouteDelta, _subtree_reroute
from netstage.simulator.routing import member_copies, node_paths, route_usable, tree_parents

I64 = NDArray[np.int64]


class _Router:
    """Re-routing after a failure: :func:`routing.tree_parents` and
    :func:`routing.node_paths` (the documented rule), then the attachment-point step of
    :func:`routing.attachment_paths` vectorised (AP member ``j`` takes copy ``j`` of its
    entry's uplink). Tested equal to :func:`routing.attachment_paths`."""

    def __init__(self, arr: DistrictArrays) -> None:
        self.arr = arr
        members: dict[int, list[int]] = arr.meta.get("member_links", {})
        usable = route_usable(arr.link_role, members, arr.link_a, arr.link_b)
        self.usable = usable
        self.row_of, self.copies, self.n_copies = member_copies(members, arr.n_links)
        self.has_air = arr.attach_air_link >= 0
        self.members = np.flatnonzero(self.has_air & (arr.attach_member > 0))
        # base tree, its pre-order intervals and the adjacency of usable links
        n = len(arr.node_ids)
        self.n = n
        self.parent, self.depth = tree_parents(n, arr.link_a, arr.link_b,
                                               arr.link_capacity_mbps, usable)
        self.npaths = node_paths(n, arr.link_a, arr.link_b, self.parent, self.depth)
        idx = np.flatnonzero(usable)
        ends = np.r_[arr.link_a[idx], arr.link_b[idx]].astype(np.int64)
        nbrs = np.r_[arr.link_b[idx], arr.link_a[idx]].astype(np.int64)
        links = np.r_[idx, idx].astype(np.int64)
        order = np.argsort(ends, kind="stable")
        self.adj_ptr = np.zeros(n + 2, dtype=np.int64)
        np.cumsum(np.bincount(ends, minlength=n + 1), out=self.adj_ptr[1:])
        self.adj_link, self.adj_nbr = links[order], nbrs[order]
        reach = np.flatnonzero(self.depth > 0)
        up = np.where(arr.link_a[self.parent[reach]] == reach, arr.link_b[self.parent[reach]],
                      arr.link_a[self.parent[reach]])
        tree = ig.Graph(n=n + 1, edges=np.stack([up, reach], 1).tolist(), directed=True)
        pre = np.asarray(tree.dfs(n, mode="out")[0], dtype=np.int64)
        size = np.ones(n + 1, dtype=np.int64)
        up_of = np.full(n + 1, -1, dtype=np.int64)
        up_of[reach] = up
        for v in pre[::-1].tolist():  # children before parents
            if up_of[v] >= 0:
                size[up_of[v]] += size[v]
        self.tin = np.full(n + 1, -1, dtype=np.int64)
        self.tin[pre] = np.arange(pre.shape[0])
        self.pre = pre
        self.size = size
        self.tree_child_of_link = np.full(arr.n_links, -1, dtype=np.int64)
        self.tree_child_of_link[self.parent[reach]] = reach
        self.points_of_node = np.argsort(arr.attach_node, kind="stable")
        self.points_ptr = np.zeros(n + 2, dtype=np.int64)
        np.cumsum(np.bincount(arr.attach_node, minlength=n + 1), out=self.points_ptr[1:])
        self.cap = np.ascontiguousarray(arr.link_capacity_mbps, dtype=np.float64)

    def paths_for(self, links: tuple[int, ...], node: int
                  ) -> tuple[NDArray[np.int32], NDArray[np.int32], I64]:
        """Paths after ``links`` and ``node`` (-1: none) fail, re-routing only the base
        subtree below the failure; also the attachment points that may have changed."""
        arr = self.arr
        roots = [int(self.tree_child_of_link[lk]) for lk in links
                 if self.tree_child_of_link[lk] >= 0]
        if node >= 0 and self.tin[node] >= 0:
            roots.append(node)
        if not roots:
            return arr.path_links, arr.path_len, np.zeros(0, dtype=np.int64)
        sub = np.unique(np.concatenate([
            self.pre[self.tin[r]: self.tin[r] + self.size[r]] for r in roots]))
        link_ok = np.ones(arr.n_links, dtype=np.bool_)
        link_ok[list(links)] = False
        node_ok = np.ones(self.n + 1, dtype=np.bool_)
        if node >= 0:
            node_ok[node] = False
        in_sub = np.zeros(self.n + 1, dtype=np.int64)
        in_sub[sub] = np.arange(1, sub.shape[0] + 1)
        dist, par = _subtree_reroute(sub, in_sub, self.adj_ptr, self.adj_link, self.adj_nbr,
                                     link_ok, node_ok, self.depth.astype(np.int64), self.cap)
        width = max(self.npaths.shape[1], int(dist.max(initial=0)))
        rows = np.full((sub.shape[0], width), -1, dtype=np.int32)
        for i in np.argsort(dist, kind="stable").tolist():
            if dist[i] <= 0:
                continue
            lk = int(par[i])
            v = int(sub[i])
            u = int(arr.link_b[lk] if arr.link_a[lk] == v else arr.link_a[lk])
            rows[i, 0] = lk
            if in_sub[u]:
                rows[i, 1:] = rows[in_sub[u] - 1, :-1]
            else:
                base = self.npaths[u]
                m = min(base.shape[0], width - 1)
                rows[i, 1: m + 1] = base[:m]
        pts = np.concatenate([self.points_of_node[self.points_ptr[v]: self.points_ptr[v + 1]]
                              for v in sub.tolist()]) if sub.size else np.zeros(0, np.int64)
        pl = _pad(arr.path_links, width + 1).copy()
        plen = arr.path_len.copy()
        if pts.size:
            at = arr.attach_node[pts]
            i_at = in_sub[at] - 1
            air = self.has_air[pts]
            pl[pts] = -1
            wired_pts, air_pts = pts[~air], pts[air]
            pl[wired_pts, :width] = rows[i_at[~air]]
            pl[air_pts, 0] = arr.attach_air_link[air_pts]
            pl[air_pts, 1: width + 1] = rows[i_at[air]]
            mem = air_pts[arr.attach_member[air_pts] > 0]
            if mem.size:
                first = pl[mem, 1].astype(np.int64)
                row = np.where(first >= 0, self.row_of[np.maximum(first, 0)], -1)
                ok = row >= 0
                r = row[ok]
                pl[mem[ok], 1] = self.copies[r, arr.attach_member[mem[ok]] % self.n_copies[r]]
            d_at = dist[i_at]
            reach = (d_at > 0) & node_ok[at]
            plen[pts] = np.where(reach, d_at + air.astype(np.int64), 0)
            pl[pts[~reach]] = -1
        return pl, plen, np.sort(pts)

    def paths(self, link_up: NDArray[np.bool_], node_up: NDArray[np.bool_] | None
              ) -> tuple[NDArray[np.int32], NDArray[np.int32]]:
        arr = self.arr
        n = len(arr.node_ids)
        usable = self.usable & link_up
        if node_up is not None:
            up = np.append(node_up, True)
            usable &= up[arr.link_a] & up[arr.link_b]
        parent, depth = tree_parents(n, arr.link_a, arr.link_b, arr.link_capacity_mbps, usable)
        npaths = node_paths(n, arr.link_a, arr.link_b, parent, depth)
        width = npaths.shape[1] + 1
        out = np.full((arr.attach_node.shape[0], width), -1, dtype=np.int32)
        wired = ~self.has_air
        out[wired, : width - 1] = npaths[arr.attach_node[wired]]
        out[self.has_air, 0] = arr.attach_air_link[self.has_air]
        out[self.has_air, 1:] = npaths[arr.attach_node[self.has_air]]
        if self.members.size:
            m = self.members
            first = out[m, 1].astype(np.int64)
            row = np.where(first >= 0, self.row_of[np.maximum(first, 0)], -1)
            ok = row >= 0
            r = row[ok]
            out[m[ok], 1] = self.copies[r, arr.attach_member[m[ok]] % self.n_copies[r]]
        node_depth = depth[arr.attach_node]
        reachable = node_depth > 0
        if node_up is not None:
            reachable &= node_up[arr.attach_node]
        plen = np.where(reachable, node_depth + self.has_air.astype(np.int32), 0
                        ).astype(np.int32)
        out[plen == 0] = -1
        return out, plen




@dataclass
class _Plan:
    """The re-routing of one contingency: the attachment points whose path changed."""

    changed: I64
    disc: I64
    rows: NDArray[np.int32]  # new paths of ``changed`` (padded to ``width``)
    lens: NDArray[np.int32]
    width: int

    def full(self, arr: DistrictArrays) -> tuple[NDArray[np.int32], NDArray[np.int32]]:
        pl = _pad(arr.path_links, self.width).copy()
        plen = arr.path_len.copy()
        pl[self.changed] = self.rows
        plen[self.changed] = self.lens
        return pl, plen




def _pad(pl: NDArray[np.int32], width: int) -> NDArray[np.int32]:
    """``pl`` widened to ``width`` columns with -1 padding (never narrowed)."""
    if pl.shape[1] >= width:
        return pl
    out = np.full((pl.shape[0], width), -1, dtype=np.int32)
    out[:, : pl.shape[1]] = pl
    return out


def _plan_points(spread: Any, plans: list[_Plan], attach_site: NDArray[np.int32]
                 ) -> tuple[I64, list[I64]]:
    """Per plan, the attachment points it re-routes (those it moves and does not cut
    off; sub-points of one point count once) and the sites of the points it changes
    (indices ascending), for every plan in two sorts: two ``numpy.unique`` calls per
    plan were most of an N-1 report on a district with a few hundred failures."""
    n = len(plans)
    if not n:
        return np.zeros(0, dtype=np.int64), []
    plan_of = np.repeat(np.arange(n, dtype=np.int64), [p.changed.shape[0] for p in plans])
    changed = np.concatenate([p.changed for p in plans]).astype(np.int64)
    kept = np.concatenate([p.lens for p in plans]) > 0
    point = changed if spread is None else np.asarray(spread.parent, dtype=np.int64)[changed]
    ptr, _ = _distinct_per_plan(plan_of[kept], point[kept], n)
    s_ptr, sites = _distinct_per_plan(plan_of, attach_site[changed].astype(np.int64), n)
    return np.diff(ptr), [sites[s_ptr[j]:s_ptr[j + 1]] for j in range(n)]


def _distinct_per_plan(plan_of: I64, values: I64, n: int) -> tuple[I64, I64]:
    """The distinct ``values`` (>= -1) of each plan, ascending: plan ``j``'s are
    ``vals[ptr[j]:ptr[j + 1]]``; returns ``(ptr, vals)``."""
    span = int(values.max(initial=-1)) + 2
    keys = np.unique(plan_of * span + (values + 1))
    ptr = np.searchsorted(keys // span, np.arange(n + 1)).astype(np.int64)
    return ptr, keys % span - 1


def _spread_inputs(arr: DistrictArrays, links: tuple[int, ...] = (), node: int = -1
                   ) -> dict[str, Any]:
    """:class:`routing.PathInputs` of ``arr`` with ``links`` and ``node`` failed."""
    link_up = node_up = None
    if links:
        link_up = np.ones(arr.n_links, dtype=bool)
        link_up[list(links)] = False
    if node >= 0:
        node_up = np.ones(len(arr.node_ids), dtype=bool)
        node_up[node] = False
    return dict(n_nodes=len(arr.node_ids), link_a=arr.link_a, link_b=arr.link_b,
                link_capacity_mbps=arr.link_capacity_mbps, link_role=arr.link_role,
                attach_member=arr.attach_member, attach_air_link=arr.attach_air_link,
                member_link_of=arr.meta.get("member_links", {}), link_up=link_up,
                node_up=node_up)


class SpreadBase(NamedTuple):
    """What N-1 under load sharing computes once per run (:func:`_spread_base`)."""

    cl: NDArray[np.int32]  # node paths per (node, slot) pair (routing.Spread.combos)
    clen: NDArray[np.int32]  # their lengths
    pl: NDArray[np.int32]  # point paths of the sub-points
    delta: RouteDelta  # the base routes, for the incremental re-routing
    copies: tuple[I64, I64, I64]  # routing.member_copies of the district


def _spread_base(arr: DistrictArrays, spread: Any) -> SpreadBase:
    """Node paths per (node, slot) pair (:attr:`routing.Spread.combos`) and point paths
    of the sub-points with nothing failed (computed once per run;
    :func:`_spread_paths_for` compares each contingency's pairs with it), and the
    :class:`route_delta.RouteDelta` of the district's routes."""
    from netstage.simulator.routing import attach_rows, spread_combo_paths

    g = _spread_inputs(arr)
    cl, clen = spread_combo_paths(spread, **g)
    combo_of = spread.combos[0]
    pl, _plen = attach_rows(cl[combo_of], clen[combo_of], g)  # type: ignore[arg-type]
    usable = route_usable(arr.link_role, g["member_link_of"], arr.link_a, arr.link_b)
    delta = RouteDelta(len(arr.node_ids), arr.link_a, arr.link_b, arr.link_capacity_mbps,
                       usable, spread.circuit_weight, spread.circuit_standby)
    return SpreadBase(cl, clen, pl, delta, member_copies(g["member_link_of"], arr.n_links))


def _spread_paths_for(arr: DistrictArrays, spread: Any, links: tuple[int, ...], node: int,
                      base: SpreadBase | None = None
                      ) -> tuple[NDArray[np.int32], NDArray[np.int32], I64]:
    """Paths of every (sub-)point after ``links`` and ``node`` fail, when load is spread
    over several circuits or equal-cost paths (:func:`routing.spread_paths`), and the
    sub-points that may have moved (:func:`_spread_moves`; every other sub-point keeps
    its base row; ``base``: :func:`_spread_base`, computed here when None)."""
    if base is None:
        base = _spread_base(arr, spread)
    cand, rows, lens = _spread_moves(arr, spread, links, node, base)
    out_w = rows.shape[1]
    pl = _pad(base.pl, out_w)[:, :out_w].copy()
    b_len = base.clen[spread.combos[0]]
    plen = np.where(b_len > 0, b_len + (arr.attach_air_link >= 0), 0).astype(np.int32)
    pl[cand] = rows
    plen[cand] = lens
    return pl, plen, cand


def _spread_moves(arr: DistrictArrays, spread: Any, links: tuple[int, ...], node: int,
                  base: SpreadBase | None = None
                  ) -> tuple[I64, NDArray[np.int32], NDArray[np.int32]]:
    """The sub-points that may move when ``links`` and ``node`` fail under load sharing,
    with their new paths and lengths: ``(cand, rows[cand], lens[cand])``, ``rows`` as
    wide as :func:`routing.spread_paths` makes them. The routes after the failure are
    recomputed for the nodes it can affect only
    (:meth:`route_delta.RouteDelta.routes_after`); only the (node, slot) pairs of those
    nodes are placed again and compared with the base; the sub-points of the pairs whose
    node path changed are the candidates (N-1 reads nothing else)."""
    from netstage.simulator.routing import attach_rows, spread_combo_paths

    if base is None:
        base = _spread_base(arr, spread)
    b_cl, b_clen, delta = base.cl, base.clen, base.delta
    g = _spread_inputs(arr, links, node)
    routes, affected = delta.routes_after(delta.usable_after(links, node))
    rep = spread.combos[1]
    if affected is None:
        pairs = np.arange(rep.shape[0], dtype=np.int64)
    else:
        pairs = np.flatnonzero(affected[spread.node[rep]]).astype(np.int64)
    cl, clen = spread_combo_paths(spread, routes=routes, pairs=pairs, **g)
    width = max(cl.shape[1], b_cl.shape[1])
    moved_k = (clen != b_clen[pairs]) | np.any(_pad(cl, width) != _pad(b_cl[pairs], width),
                                               axis=1)
    moved = np.zeros(rep.shape[0], dtype=bool)
    moved[pairs[moved_k]] = True
    row_of = np.full(rep.shape[0], -1, dtype=np.int64)
    row_of[pairs] = np.arange(pairs.shape[0])
    combo_of = spread.combos[0]
    cand = np.flatnonzero(moved[combo_of]).astype(np.int64)
    sub = dict(g, attach_member=arr.attach_member[cand],
               attach_air_link=arr.attach_air_link[cand])
    k = row_of[combo_of[cand]]
    rows, lens = attach_rows(cl[k], clen[k], sub, base.copies)  # type: ignore[arg-type]
    out_w = cl.shape[1] + 1  # as spread_paths: the air link, then the node path
    return cand, _pad(rows, out_w)[:, :out_w], lens
