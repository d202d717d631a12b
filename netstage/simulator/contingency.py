"""N-1 contingency: fail every single link and node in turn, re-route, re-simulate.

Like pandapower's contingency analysis for power grids: for each *contingency* (one
element out of service) the district is re-routed by the rule of
:mod:`netstage.simulator.routing` (fewest hops; highest capacity, then file order)
and the busy-hour scenario is re-simulated; the report lists, per contingency, the
p95 over scenarios of the unserved fraction, the p95 of the throttled share and the
students cut off, worst first.

Which elements
    Every model link and Internet circuit, and every node, except (as docs/stages.md R-HA
    and the issue say) a school's own access switches, access points and their
    uplinks, and servers (end devices): their failure only cuts off the devices
    plugged into them. ``include_access=True`` adds them. Every shared-risk group
    (``links[].srlg`` / ``circuits[].srlg``) is one more element, ``srlg:<group>``,
    whose links and circuits all fail at once. A declared redundant stack or chassis
    (``nodes[].stack``) is not failed as a whole: one member failing leaves the others
    forwarding, and losing all of them is not a single failure (it is listed in
    ``excluded`` and ``redundant_stacks``).

Common random numbers
    ONE demand batch (:func:`netstage.simulator.demand.draw_demand`, same seed) serves
    the base case and every contingency, so a difference between two rows is due to
    the failure, not to sampling noise.

Metrics (per scenario, exactly as :mod:`netstage.simulator.simulate` defines them)
    ``unserved = 1 - sum(rate) / sum(demand)`` over active devices; ``throttled`` =
    share of active devices with a minimum usable rate (``min_mbps > 0``) whose rate is
    below ``min(min_mbps, demand)`` (disconnected and unassociated devices get rate 0).
    Reported: p95 over scenarios (``numpy.percentile``, linear interpolation).

How it stays fast (exact, not an approximation)
    Routing is a tree towards the Internet, so after a failure only the attachment
    points whose path changed (set C) move, and only links whose *flow set* changed
    (set A: links that lose or gain a point of C) can change their max-min level.
    A link's level is unbounded when the raw demand crossing it fits its capacity. If,
    in one scenario, every link of A (with flows left) fits its capacity both before
    and after the failure, then every max-min level in the network is unchanged
    (levels depend only on the subtree below a link, and A's levels stay unbounded),
    so every flow that is still connected keeps its rate exactly and the disconnected
    ones drop to 0: the scenario's result follows from per-attachment-point sums of the
    base allocation in O(|C|). The other scenarios ("slow", e.g. every scenario when the
    circuit is overloaded) are solved by the incremental max-min of
    :mod:`netstage.simulator.incremental` when at most one link whose subtree the
    failure changes is constrained (the overloaded circuit or one trunk): that link's
    new level is one equation over the base's sorted values, every other flow keeps its
    base rate. The rest are re-allocated with :func:`netstage.simulator.maxmin.allocate`
    on a sub-batch of just those scenarios (``incremental=False`` re-allocates every
    slow scenario: the oracle of the incremental path's tests).
    A link or node that is on no device's path changes nothing and is answered by the
    base row without routing. Re-routing itself is incremental: only the nodes below
    the failed element in the base routing tree can change their route (every other
    node keeps its shortest path and its tie-break winner), so only that subtree is
    re-routed (Dijkstra with unit weights from the fixed depths around it; tested equal
    to :func:`netstage.simulator.routing.attachment_paths`). ``exact=True``
    re-allocates every scenario (tests).

Several circuits and equal-cost paths
    When load is spread (some attachment point has several routes, or a circuit is
    standby; ``arrays.meta["spread"]``), every contingency re-routes the whole district
    with :func:`netstage.simulator.routing.spread_paths`: a failed circuit's (or
    path's) devices are re-spread over the remaining active circuits, or go to the
    standby circuits when no active one is left. The fast path above stays exact (a
    link whose raw demand fits its capacity never constrains max-min, whatever the
    routing), but the slow scenarios re-allocate every point, since flows of different
    circuits may share links (no tree: the incremental max-min does not apply).
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import igraph as ig
import numba as nb
import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from netstage.simulator.arrays import DEVICE_CLASSES, DistrictArrays, to_arrays
from netstage.simulator.demand import DemandBatch
from netstage.simulator.element_ids import belongs_to, srlg_id
from netstage.simulator.errors import SimulationError
from netstage.simulator.incremental import Job, TreeLevels, link_tree, solve_jobs, tree_levels
from netstage.simulator.maxmin import allocate, effective_capacity
from netstage.simulator.model import District, NodeKind, SiteKind
from netstage.simulator.profiles import scenario_params
from netstage.simulator.routing import member_copies, node_paths, route_usable, tree_parents
from netstage.simulator.simulate import draw_demand_cached
from netstage.simulator.srlg import group_members

__all__ = [
    "Contingency",
    "ContingencyReport",
    "contingency_elements",
    "run_contingency",
    "subset_batch",
]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
_STUDENT = DEVICE_CLASSES.index("student")
Progress = Callable[[int, int], None]


@dataclass
class Contingency:
    """Result of one contingency (or of the base case, element ``"none"``)."""

    element: str
    kind: str  # "link" (links, circuits, shared-risk groups) or "node"; "none": base case
    element_type: str  # "link", "circuit", "srlg", "node" or "none"
    node_kind: str | None
    unserved_p95: float
    unserved_mean: float
    throttled_p95: float
    disconnected_students: int
    disconnected_devices: int
    rerouted_points: int
    sites_affected: list[str] = field(default_factory=list)
    slow_scenarios: int = 0
    members: list[str] = field(default_factory=list)  # srlg: links/circuits that fail

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ContingencyReport:
    """N-1 contingency analysis of one district (see the module docstring)."""

    district: str
    scenario: str
    n_scenarios: int
    seed: int
    base: Contingency
    contingencies: list[Contingency]  # worst first
    excluded: list[str]
    elapsed_s: float
    stats: dict[str, int] = field(default_factory=dict)
    redundant_stacks: list[str] = field(default_factory=list)  # in excluded: not failed
    # per element: served Mbps and throttled devices per scenario (``keep_sums=True``)
    scenario_sums: dict[str, tuple[F64, F64]] | None = field(default=None, repr=False,
                                                             compare=False)

    @property
    def worst(self) -> Contingency:
        """The worst contingency (the base case when there is none)."""
        return self.contingencies[0] if self.contingencies else self.base

    @property
    def worst_unserved_p95(self) -> float:
        """Largest p95 unserved fraction over all contingencies (and the base case)."""
        return max([self.base.unserved_p95] + [c.unserved_p95 for c in self.contingencies])

    def to_json(self) -> dict[str, Any]:
        return {
            "district": self.district,
            "scenario": self.scenario,
            "n_scenarios": self.n_scenarios,
            "seed": self.seed,
            "worst_unserved_p95": self.worst_unserved_p95,
            "base": self.base.to_json(),
            "contingencies": [c.to_json() for c in self.contingencies],
            "excluded": self.excluded,
            "redundant_stacks": self.redundant_stacks,
            "elapsed_s": round(self.elapsed_s, 3),
            "stats": self.stats,
        }


# -- elements ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Element:
    label: str
    element_type: str  # link / circuit / node
    node_kind: str | None
    links: tuple[int, ...]  # expanded link indices that fail
    node: int  # node index that fails, or -1
    members: tuple[str, ...] = ()  # srlg: the links and circuits of the group


def contingency_elements(d: District, arr: DistrictArrays, *, include_access: bool = False
                         ) -> tuple[list[_Element], list[str]]:
    """Elements to fail (in file order: links, circuits, nodes) and the excluded ids."""
    kind_of = {n.id: n.kind for n in d.nodes}
    node_of = {n.id: n for n in d.nodes}
    site_kind = {s.id: s.kind for s in d.sites}
    lidx = {lid: i for i, lid in enumerate(arr.link_ids)}
    nidx = {nid: i for i, nid in enumerate(arr.node_ids)}

    def end_device_node(nid: str) -> bool:
        n = node_of[nid]
        if n.kind in (NodeKind.AP, NodeKind.SERVER):
            return True
        return (n.kind == NodeKind.ACCESS and n.site is not None
                and site_kind.get(n.site) == SiteKind.SCHOOL)

    out: list[_Element] = []
    excluded: list[str] = []
    for lk in d.links:
        ap_link = NodeKind.AP in (kind_of[lk.a], kind_of[lk.b])
        if ap_link and not include_access:
            excluded.append(lk.key)
            continue
        members = [i for i, lid in enumerate(arr.link_ids)
                   if belongs_to(lid, lk.key)] if ap_link else [lidx[lk.key]]
        out.append(_Element(lk.key, "link", None, tuple(members), -1))
    for c in d.circuits:
        out.append(_Element(c.id, "circuit", None, (lidx[c.id],), -1))
    # shared-risk groups: all member links and circuits fail at once (one element)
    for gid, ids in group_members(d).items():
        members = sorted({i for key in ids for i, lid in enumerate(arr.link_ids)
                          if belongs_to(lid, key)})
        out.append(_Element(srlg_id(gid), "srlg", None, tuple(members), -1, tuple(ids)))
    for n in d.nodes:
        if end_device_node(n.id) and not include_access:
            excluded.append(n.id)
            continue
        if n.redundant_stack:
            # a declared redundant stack/chassis survives one member failing: failing
            # it whole would be an N-2 (or worse) event, so N-1 does not
            excluded.append(n.id)
            continue
        out.append(_Element(n.id, "node", n.kind.value, (), nidx[n.id]))
    return out, excluded


# -- batches -------------------------------------------------------------------------------


def subset_batch(batch: DemandBatch, scenarios: I64) -> DemandBatch:
    """A batch holding only the given scenarios (0-based within ``batch``), in order."""
    gs = batch.group_start
    lo, hi = gs[scenarios, 0], gs[scenarios, -1]
    sizes = hi - lo
    take = np.repeat(lo - np.r_[0, np.cumsum(sizes)[:-1]], sizes) + np.arange(int(sizes.sum()))
    new_gs = gs[scenarios] - lo[:, None] + np.r_[0, np.cumsum(sizes)[:-1]][:, None]
    return DemandBatch(
        scenario=batch.scenario, seed=batch.seed, first_scenario=batch.first_scenario,
        n_scenarios=int(scenarios.shape[0]), group_start=np.ascontiguousarray(new_gs),
        group_assoc=np.ascontiguousarray(batch.group_assoc[scenarios]),
        device=batch.device[take], app=batch.app[take], demand_mbps=batch.demand_mbps[take],
        app_min_mbps=batch.app_min_mbps, app_names=batch.app_names)


@nb.njit(parallel=True, cache=True)
def _group_sums_kernel(  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
        group_start, group_assoc, rate, demand, app, app_min, out):
    n_s, n_p = group_assoc.shape
    for s in nb.prange(n_s):
        for p in range(n_p):
            a = group_start[s, p]
            b = group_start[s, p + 1]
            e = a + group_assoc[s, p]
            served = 0.0
            thr = 0.0
            zthr = 0.0
            dem_assoc = 0.0
            dem_all = 0.0
            for k in range(a, b):
                m = app_min[app[k]]
                r = rate[k]
                d = demand[k]
                served += r
                if m > 0.0:
                    zthr += 1.0  # has a floor; throttled whenever it gets nothing
                    if r < min(m, d) * (1.0 - 1e-6):
                        thr += 1.0
                dem_all += d
                if k < e:
                    dem_assoc += demand[k]
            out[0, p, s] = served
            out[1, p, s] = thr
            out[2, p, s] = zthr
            out[3, p, s] = dem_assoc
            out[4, p, s] = dem_all


def _sums(batch: DemandBatch, rate: NDArray[np.float32]) -> NDArray[np.float64]:
    """``[5, P, S]``: allocated Mbps, throttled devices, devices with a minimum rate
    (``min_mbps > 0``: they are throttled when they get nothing), demand of associated
    devices and demand of all active devices, per attachment point and scenario
    (point-major, so a point's row is contiguous). Throttled as in
    :mod:`netstage.simulator.simulate`: ``rate < min(min_mbps, demand)``."""
    n_s, n_p = batch.group_assoc.shape
    out = np.zeros((5, n_p, n_s), dtype=np.float64)
    if n_s and n_p:
        _group_sums_kernel(batch.group_start, batch.group_assoc, rate, batch.demand_mbps,
                           batch.app, np.ascontiguousarray(batch.app_min_mbps,
                                                           dtype=np.float64), out)
    return out


def _p95(x: F64) -> float:
    return float(np.percentile(x, 95)) if x.size else 0.0


@dataclass
class _Base:
    """Sums of the base allocation, point-major (``[P, S]``) so a point's row is
    contiguous, and the associated demand crossing each link (``[L, S]``)."""

    served: F64
    thr: F64
    zthr: F64
    dem: F64
    demand_s: F64  # [S] demand of all active devices
    active_s: F64  # [S] active devices with a minimum rate (the throttled denominator)
    served_s: F64
    thr_s: F64
    link_dem: F64  # [L, S]
    link_count: I64  # [L] attachment points whose path crosses the link
    circuit_of: I64  # [P] the circuit (link index) each point's path ends at, -1 if none


@nb.njit(cache=True)
def _subtree_reroute(  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
        sub, in_sub, adj_ptr, adj_link, adj_nbr, link_ok, node_ok, base_depth, cap):
    """New hop depth and parent link of the nodes ``sub`` (a subtree of the base routing
    tree cut off by a failure): Dijkstra with unit weights from the fixed depths of the
    nodes around them, then the tie-break of :func:`routing.tree_parents` (the
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


def _link_pairs(pl: NDArray[np.int32], plen: NDArray[np.int32], rows: I64,
                n_links: int) -> I64:
    """Codes ``row_position * L + link`` of the links on the paths of ``rows``."""
    sub = pl[rows]
    pos, col = np.nonzero(sub >= 0)
    keep = col < plen[rows][pos]
    return np.asarray(pos[keep] * n_links + sub[pos[keep], col[keep]], dtype=np.int64)


# -- the run -------------------------------------------------------------------------------


_CHUNK_ENTRIES = 64_000_000  # active device-scenarios per chunk (about 9 bytes each)
_CHUNK_SUM_BYTES = 512 * 1024 * 1024  # per-(point, scenario) and per-(link, scenario) sums
_CHUNK_LEVEL_BYTES = 512 * 1024 * 1024  # sorted values of the incremental max-min


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


def _base_sums(arr: DistrictArrays, batch: DemandBatch) -> _Base:
    n_p, n_l = len(arr.attach_ids), arr.n_links
    sums = _sums(batch, allocate(batch, arr).rate_mbps)
    pairs = _link_pairs(arr.path_links, arr.path_len, np.arange(n_p), n_l)
    pt, lk = pairs // n_l, pairs % n_l
    pm = sp.csr_matrix((np.ones(lk.shape[0]), (lk, pt)), shape=(n_l, n_p))
    return _Base(served=sums[0], thr=sums[1], zthr=sums[2], dem=sums[3],
                 demand_s=sums[4].sum(0), active_s=sums[2].sum(0),
                 served_s=sums[0].sum(0), thr_s=sums[1].sum(0),
                 link_dem=np.asarray(pm @ sums[3]), link_count=np.bincount(lk, minlength=n_l),
                 circuit_of=np.where(arr.path_len > 0, arr.path_links[
                     np.arange(n_p), np.maximum(arr.path_len - 1, 0)], -1).astype(np.int64))


def run_contingency(
    d: District,
    *,
    n_scenarios: int = 1000,
    seed: int = 7,
    scenario: str = "now",
    progress: Progress | None = None,
    arrays: DistrictArrays | None = None,
    include_access: bool = False,
    exact: bool = False,
    elements: list[str] | None = None,
    chunk_scenarios: int | None = None,
    incremental: bool = True,
    keep_sums: bool = False,
) -> ContingencyReport:
    """Fail each element in turn and re-simulate ``scenario`` (see the module docstring).

    ``elements`` restricts the run to these element ids; ``exact`` re-allocates every
    scenario of every contingency (slow; for checking the fast path).
    ``incremental=False`` re-allocates the scenarios the fast path cannot answer instead
    of solving them with the incremental max-min (:mod:`netstage.simulator.incremental`;
    the oracle of its tests and the benchmark's baseline). Scenarios are processed in
    chunks (``chunk_scenarios``, default: what keeps the demand batch under about 600 MB
    and the incremental max-min's sorted values under about 512 MB); the result does not
    depend on the chunking. ``keep_sums`` keeps each contingency's per-scenario served
    Mbps and throttled devices in ``report.scenario_sums`` (tests).
    """
    if n_scenarios < 1:
        raise SimulationError(f"n_scenarios must be >= 1, got {n_scenarios}")
    if chunk_scenarios is not None and chunk_scenarios < 1:
        raise SimulationError(f"chunk_scenarios must be >= 1, got {chunk_scenarios}")
    t0 = time.perf_counter()
    arr = arrays if arrays is not None else to_arrays(d)
    g = d.district.growth
    params = scenario_params(scenario, district_growth=(g.horizon_years, g.growth_per_year),
                             busy_hour=arr.meta.get("busy_hour"))
    n_p, n_l = len(arr.attach_ids), arr.n_links
    if chunk_scenarios is None:
        per_scenario = float(params.active_p[arr.device_class].sum()) if arr.n_devices else 0.0
        by_entries = _CHUNK_ENTRIES / max(per_scenario, 1.0)
        by_sums = _CHUNK_SUM_BYTES / (8.0 * (5 * n_p + n_l + 1))
        # the incremental max-min keeps 4 float64 values per entry below each overloaded
        # link (about the active devices: the circuit's subtree, and small ones)
        by_levels = (_CHUNK_LEVEL_BYTES / (32.0 * max(per_scenario, 1.0))
                     if incremental else by_entries)
        chunk_scenarios = int(max(1, min(by_entries, by_sums, by_levels)))
    chunk = min(chunk_scenarios, n_scenarios)

    # what is on a path (failures elsewhere change nothing)
    on_path_links = np.zeros(n_l, dtype=bool)
    on_path_links[arr.path_links[arr.path_links >= 0]] = True
    on_path_nodes = np.zeros(len(arr.node_ids) + 1, dtype=bool)
    used = np.flatnonzero(on_path_links)
    on_path_nodes[arr.link_a[used]] = True
    on_path_nodes[arr.link_b[used]] = True
    on_path_nodes[arr.attach_node[arr.path_len > 0]] = True

    # students behind each attachment point (site students spread over student devices)
    is_student = arr.device_class == _STUDENT
    stud_dev = np.bincount(arr.device_attach[is_student], minlength=n_p)
    site_stud_dev = np.bincount(arr.device_site[is_student],
                                minlength=len(d.sites)).astype(np.float64)
    site_students = np.array([s.students for s in d.sites], dtype=np.float64)
    per_dev = np.divide(site_students, site_stud_dev, out=np.zeros_like(site_students),
                        where=site_stud_dev > 0)
    students_p = stud_dev * per_dev[arr.attach_site] if n_p else np.zeros(0)
    devices_p = np.bincount(arr.device_attach, minlength=n_p)

    elems, excluded = contingency_elements(d, arr, include_access=include_access)
    if elements is not None:
        wanted = set(elements)
        unknown = wanted - {e.label for e in elems} - set(excluded)
        if unknown:
            raise SimulationError(f"unknown contingency element(s): {', '.join(sorted(unknown))}")
        elems = [e for e in elems if e.label in wanted]

    # 1. re-route every contingency once; identical path changes share one evaluation
    spread = arr.meta.get("spread")
    multipath = spread is not None and spread.multipath
    router = None if multipath else _Router(arr)
    base_width = arr.path_links.shape[1]
    plans: list[_Plan] = []
    plan_of: list[int] = []  # per element: index into plans, -1 = changes nothing
    seen: dict[bytes, int] = {}
    stats = {"elements": len(elems), "unchanged": 0, "same_paths_as_other": 0,
             "fast_scenarios": 0, "slow_scenarios": 0, "incremental_scenarios": 0,
             "reallocated_scenarios": 0, "chunks": 0}
    n_chunks = -(-n_scenarios // chunk)
    for el in elems:
        touches = (any(on_path_links[i] for i in el.links) if el.node < 0
                   else bool(on_path_nodes[el.node]))
        if not touches and not exact:
            stats["unchanged"] += 1
            plan_of.append(-1)
            continue
        if multipath:  # several routes per point: re-route all, re-spread (routing.py)
            pl, plen, cand = _spread_paths_for(arr, spread, el.links, el.node)
        else:
            assert router is not None
            pl, plen, cand = router.paths_for(el.links, el.node)
        width = max(pl.shape[1], base_width)
        pl = _pad(pl, width)
        moved = (plen[cand] != arr.path_len[cand]) | np.any(
            pl[cand] != _pad(arr.path_links[cand], width), axis=1)
        changed = cand[moved]
        key = changed.tobytes() + pl[changed].tobytes() + plen[changed].tobytes()
        if key in seen:
            stats["same_paths_as_other"] += 1
            plan_of.append(seen[key])
            continue
        seen[key] = len(plans)
        plan_of.append(len(plans))
        plans.append(_Plan(changed=changed, disc=changed[plen[changed] == 0],
                           rows=pl[changed], lens=plen[changed], width=width))
    total_steps = n_chunks * (len(plans) + 1)
    step = 0
    if progress is not None:
        progress(0, total_steps)

    # 2. per chunk of scenarios: one demand batch and base allocation shared by all plans
    cap = effective_capacity(arr.link_capacity_mbps, arr.link_background_mbps, arr.path_links,
                             arr.link_ids)
    lt = link_tree(arr.path_links, arr.path_len, n_l) if incremental and not multipath else None
    demand_s = np.zeros(n_scenarios)
    active_s = np.zeros(n_scenarios)
    served0 = np.zeros(n_scenarios)
    thr0 = np.zeros(n_scenarios)
    served_p = np.zeros((len(plans), n_scenarios))
    thr_p = np.zeros((len(plans), n_scenarios))
    slow_p = np.zeros(len(plans), dtype=np.int64)
    for first in range(0, n_scenarios, chunk):
        k = min(chunk, n_scenarios - first)
        sl = slice(first, first + k)
        batch = draw_demand_cached(arr, params, k, seed, first)  # shared with the planner
        base = _base_sums(arr, batch)
        levels = None
        if incremental and not exact and not multipath and plans and lt is not None:
            levels = tree_levels(batch, arr.path_links, arr.path_len, cap, base.link_dem,
                                 lt[1], base.served, base.thr)
        stats["chunks"] += 1
        demand_s[sl], active_s[sl] = base.demand_s, base.active_s
        served0[sl], thr0[sl] = base.served_s, base.thr_s
        step += 1
        jobs: list[Job] = []
        for j, plan in enumerate(plans):
            if progress is not None:
                progress(step, total_steps)
            served, thr, slow, job = _contingency_sums(base, arr, batch, cap, plan, exact,
                                                       tree=not multipath, levels=levels)
            served_p[j, sl], thr_p[j, sl] = served, thr
            slow_p[j] += int(slow.sum())
            if job is not None:
                job.index = j
                jobs.append(job)
            step += 1
        if levels is not None and jobs:
            # the incremental max-min of every contingency of the chunk, in one call
            for job, (s_inc, t_inc) in zip(jobs, solve_jobs(
                    batch, base.served, base.thr, base.zthr, base.served_s, base.thr_s,
                    levels, cap, jobs), strict=True):
                served_p[job.index, first + job.scen] = s_inc
                thr_p[job.index, first + job.scen] = t_inc
                stats["incremental_scenarios"] += int(job.scen.shape[0])
        del batch, base
    stats["slow_scenarios"] = int(slow_p.sum())
    stats["reallocated_scenarios"] = stats["slow_scenarios"] - stats["incremental_scenarios"]
    stats["fast_scenarios"] = len(plans) * n_scenarios - stats["slow_scenarios"]

    safe_dem = np.where(demand_s > 0, demand_s, 1.0)
    safe_act = np.where(active_s > 0, active_s, 1.0)

    def metrics(served: F64, thr: F64) -> tuple[F64, F64]:
        uns = np.where(demand_s > 0, 1.0 - served / safe_dem, 0.0)
        return np.clip(uns, 0.0, 1.0), np.where(active_s > 0, thr / safe_act, 0.0)

    site_ids = list(arr.site_ids)
    cut0 = np.flatnonzero(arr.path_len == 0)

    def row(el: _Element | None, uns: F64, th: F64, plan: _Plan | None) -> Contingency:
        lost = cut0 if plan is None or not plan.disc.size else np.union1d(cut0, plan.disc)
        changed = plan.changed if plan is not None else np.zeros(0, dtype=np.int64)
        sites = sorted({site_ids[x] for x in np.unique(arr.attach_site[changed]).tolist()
                        if x >= 0}, key=site_ids.index)
        return Contingency(
            element=el.label if el else "none",
            kind=("node" if el.node >= 0 else "link") if el else "none",
            element_type=el.element_type if el else "none",
            node_kind=el.node_kind if el else None,
            unserved_p95=_p95(uns), unserved_mean=float(uns.mean()), throttled_p95=_p95(th),
            disconnected_students=int(np.rint(students_p[lost].sum())),
            disconnected_devices=int(devices_p[lost].sum()),
            rerouted_points=_n_points(spread, changed, plan.disc if plan else None),
            sites_affected=sites, members=list(el.members) if el else [])

    uns0, th0 = metrics(served0, thr0)
    base_row = row(None, uns0, th0, None)
    rows: list[Contingency] = []
    evaluated = [metrics(served_p[j], thr_p[j]) for j in range(len(plans))]
    for el, j in zip(elems, plan_of, strict=True):
        if j < 0:
            rows.append(row(el, uns0, th0, None))
        else:
            r = row(el, *evaluated[j], plans[j])
            r.slow_scenarios = int(slow_p[j])
            rows.append(r)
    if progress is not None:
        progress(total_steps, total_steps)
    rows.sort(key=lambda c: (-c.unserved_p95, -c.throttled_p95, -c.disconnected_students,
                             c.element))
    sums = None
    if keep_sums:
        sums = {el.label: (served_p[j], thr_p[j]) if j >= 0 else (served0, thr0)
                for el, j in zip(elems, plan_of, strict=True)}
    return ContingencyReport(
        district=d.district.name, scenario=scenario, n_scenarios=n_scenarios, seed=seed,
        base=base_row, contingencies=rows, excluded=excluded,
        elapsed_s=time.perf_counter() - t0, stats=stats,
        redundant_stacks=[n.id for n in d.nodes if n.redundant_stack], scenario_sums=sums)


def _pad(pl: NDArray[np.int32], width: int) -> NDArray[np.int32]:
    """``pl`` widened to ``width`` columns with -1 padding (never narrowed)."""
    if pl.shape[1] >= width:
        return pl
    out = np.full((pl.shape[0], width), -1, dtype=np.int32)
    out[:, : pl.shape[1]] = pl
    return out


def _n_points(spread: Any, changed: I64, disc: I64 | None) -> int:
    """Attachment points re-routed (sub-points of one point count once)."""
    moved = changed if disc is None or not disc.size else np.setdiff1d(changed, disc)
    if spread is None:
        return int(moved.shape[0])
    return int(np.unique(spread.parent[moved]).shape[0])


def _spread_paths_for(arr: DistrictArrays, spread: Any, links: tuple[int, ...], node: int
                      ) -> tuple[NDArray[np.int32], NDArray[np.int32], I64]:
    """Paths of every (sub-)point after ``links`` and ``node`` fail, when load is spread
    over several circuits or equal-cost paths (:func:`routing.spread_paths`): no tree,
    so every point is a candidate for a change."""
    from netstage.simulator.routing import spread_paths

    link_up = np.ones(arr.n_links, dtype=bool)
    link_up[list(links)] = False
    node_up = None
    if node >= 0:
        node_up = np.ones(len(arr.node_ids), dtype=bool)
        node_up[node] = False
    pl, plen = spread_paths(spread, n_nodes=len(arr.node_ids), link_a=arr.link_a,
                            link_b=arr.link_b, link_capacity_mbps=arr.link_capacity_mbps,
                            link_role=arr.link_role, attach_member=arr.attach_member,
                            attach_air_link=arr.attach_air_link,
                            member_link_of=arr.meta.get("member_links", {}),
                            link_up=link_up, node_up=node_up)
    return pl, plen, np.arange(len(arr.attach_ids), dtype=np.int64)


def _contingency_sums(base: _Base, arr: DistrictArrays, batch: DemandBatch, cap: F64,
                      plan: _Plan, exact: bool, *, tree: bool = True,
                      levels: TreeLevels | None = None
                      ) -> tuple[F64, F64, NDArray[np.bool_], Job | None]:
    """Served Mbps and throttled devices per scenario of ``batch`` under the plan's
    paths, which scenarios the fast path could not answer, and the incremental max-min's
    job for those it can solve (``levels``: :func:`incremental.tree_levels` of the
    batch; their entries in the returned arrays are filled by the caller with
    :func:`incremental.solve_jobs`; the rest are re-allocated here; module docstring).
    ``tree=False`` (load spread over several routes) re-allocates every point in the
    slow scenarios: flows of different circuits may then share links."""
    changed, disc = plan.changed, plan.disc
    n_s = batch.n_scenarios
    served = base.served_s.copy()
    thr = base.thr_s.copy()
    if changed.size == 0:
        return served, thr, np.zeros(n_s, dtype=bool), None
    if exact:
        slow = np.ones(n_s, dtype=bool)
        if disc.size:
            served -= base.served[disc].sum(0)
            thr += (base.zthr[disc] - base.thr[disc]).sum(0)
    else:
        n_l = arr.n_links
        old = _link_pairs(arr.path_links, arr.path_len, changed, n_l)
        new = _link_pairs(plan.rows, plan.lens, np.arange(changed.shape[0]), n_l)
        lost = np.setdiff1d(old, new, assume_unique=True)
        gained = np.setdiff1d(new, old, assume_unique=True)
        a_links, inv = np.unique(np.r_[lost % n_l, gained % n_l], return_inverse=True)
        n_lost = lost.shape[0]
        lost_pt = changed[lost // n_l]
        li, gi = inv[:n_lost], inv[n_lost:]
        n_a = a_links.shape[0]
        # delta[A, S] = (gained - lost indicator)[A, C] @ demand[C, S], one sparse product
        col = np.r_[lost // n_l, gained // n_l]
        sign = np.r_[-np.ones(n_lost), np.ones(gained.shape[0])]
        ind = sp.csr_matrix((sign, (inv, col)), shape=(n_a, changed.shape[0]))
        delta = np.asarray(ind @ base.dem[changed])
        old_dem = base.link_dem[a_links]
        new_dem = old_dem + delta
        lost_n = np.bincount(li, minlength=a_links.shape[0])
        new_count = (base.link_count[a_links] - lost_n
                     + np.bincount(gi, minlength=a_links.shape[0]))
        is_disc = np.isin(lost_pt, disc, assume_unique=False)
        lost_disc = np.bincount(li[is_disc], minlength=a_links.shape[0])
        all_base_disc = lost_disc >= base.link_count[a_links]
        c = cap[a_links][:, None]
        ok_new = (new_dem <= c) | (new_count <= 0)[:, None]
        ok_old = (old_dem <= c) | all_base_disc[:, None]
        slow = ~np.all(ok_new & ok_old, axis=0)
        if disc.size:
            served -= base.served[disc].sum(0)
            thr += (base.zthr[disc] - base.thr[disc]).sum(0)
        if levels is not None and slow.any():
            job = _incremental(base, arr, cap, plan, levels, np.flatnonzero(slow), old,
                               a_links, new_dem, new_count)
            if job is not None:
                slow_left = slow.copy()
                slow_left[job.scen] = False
                idx = np.flatnonzero(slow_left)
                return (*_reallocate(base, arr, batch, plan, idx, served, thr, tree), slow,
                        job)
    idx = np.flatnonzero(slow)
    return (*_reallocate(base, arr, batch, plan, idx, served, thr, tree), slow, None)


def _reallocate(base: _Base, arr: DistrictArrays, batch: DemandBatch, plan: _Plan, idx: I64,
                served: F64, thr: F64, tree: bool) -> tuple[F64, F64]:
    """``served``/``thr`` with the scenarios ``idx`` re-allocated in full (the points of
    the circuits the failure touches; all points when ``tree`` is False)."""
    changed = plan.changed
    n_s = batch.n_scenarios
    if idx.size:
        # Routing is a tree, so the flows under different Internet circuits share no
        # link: only the circuits whose subtree the failure touches are re-allocated;
        # the others keep their base rates exactly.
        last = np.where(plan.lens > 0, plan.rows[np.arange(changed.shape[0]),
                                                 np.maximum(plan.lens - 1, 0)], -1)
        hit = np.unique(np.r_[base.circuit_of[changed], last])
        touched = np.isin(base.circuit_of, hit[hit >= 0]) if tree else \
            np.ones(base.circuit_of.shape[0], dtype=bool)
        touched[changed] = True
        pl, plen = plan.full(arr)
        plen[~touched] = 0  # not simulated (their rates come from the base)
        sub = subset_batch(batch, idx) if idx.size < n_s else batch
        alloc = allocate(sub, arr.with_paths(pl, plen))
        sub_sums = _sums(sub, alloc.rate_mbps)
        rest = ~touched
        served[idx] = sub_sums[0][touched].sum(0) + base.served[rest][:, idx].sum(0)
        thr[idx] = sub_sums[1][touched].sum(0) + base.thr[rest][:, idx].sum(0)
    return served, thr


def _incremental(base: _Base, arr: DistrictArrays, cap: F64, plan: _Plan, levels: TreeLevels,
                 slow_idx: I64, old: I64, a_links: I64, new_dem: F64, new_count: I64
                 ) -> Job | None:
    """The incremental max-min's job for the slow scenarios it can solve (at most one
    constrained link among those whose subtree the failure changes;
    :mod:`netstage.simulator.incremental`), or None when it can solve none."""
    n_l = arr.n_links
    changed = plan.changed
    width = plan.width
    old_rows = _pad(arr.path_links[changed], width)
    old_lens = arr.path_len[changed]
    new_rows, new_lens = plan.rows, plan.lens
    pos = np.arange(width)[None, :]
    differ = (old_rows != new_rows) & ((pos < old_lens[:, None]) | (pos < new_lens[:, None]))
    first = np.where(differ.any(axis=1), differ.argmax(axis=1), width)[:, None]
    lam_links = np.unique(np.r_[old_rows[(pos >= first) & (pos < old_lens[:, None])],
                                new_rows[(pos >= first) & (pos < new_lens[:, None])]]
                          ).astype(np.int64)
    if lam_links.size == 0:
        return None
    in_lam = np.zeros(n_l, dtype=np.bool_)
    in_lam[lam_links] = True
    # raw demand and flow count of each Lambda link after the failure (A links changed)
    new_raw = base.link_dem[lam_links][:, slow_idx]
    count_new = base.link_count[lam_links].copy()
    at = np.searchsorted(lam_links, a_links)
    new_raw[at] = new_dem[:, slow_idx]
    count_new[at] = new_count
    c = cap[lam_links][:, None]
    new_free = (new_raw <= c) | (count_new <= 0)[:, None]
    oi = levels.o_index[lam_links]
    lam_base = np.full((lam_links.shape[0], slow_idx.shape[0]), np.inf)
    has = oi >= 0
    lam_base[has] = levels.lam[oi[has]][:, slow_idx]
    changed_base = np.bincount(old % n_l, minlength=n_l)[lam_links]
    only_changed = changed_base >= base.link_count[lam_links]
    base_free = np.isinf(lam_base) | only_changed[:, None]
    cons = ~(new_free & base_free)
    n_cons = cons.sum(axis=0)
    r_pos = cons.argmax(axis=0)
    r_link = np.where(n_cons == 1, lam_links[r_pos], -1)
    r_oi = np.where(r_link >= 0, levels.o_index[np.maximum(r_link, 0)], -1)
    r_slot = np.full(slow_idx.shape[0], -1, dtype=np.int64)
    has_r = r_oi >= 0
    r_slot[has_r] = levels.slot[r_oi[has_r], slow_idx[has_r]]
    ok = (n_cons == 0) | ((n_cons == 1) & (r_slot >= 0))
    if not ok.any():
        return None
    return Job(index=-1, scen=slow_idx[ok], r_link=r_link[ok], changed=changed,
               old_rows=old_rows, old_lens=old_lens, new_rows=new_rows, new_lens=new_lens,
               in_lam=in_lam)
