"""Graph redundancy of a district: disjoint paths per site, bridges, single points of failure.

The district graph has one vertex per model node plus the virtual Internet vertex,
one edge per link and one edge per Internet circuit (so two circuits are two exits,
even on the same edge router). An AP entry with ``count`` stays one leaf vertex.

Per site
    ``edge_disjoint_paths``: the most paths from the site (all its nodes merged into
    one source) to the Internet that share no link or circuit;
    ``node_disjoint_paths``: the same, sharing no node outside the site either (two
    circuits on one edge router count once). Computed by unit-capacity max flow
    (:mod:`netstage.simulator.disjoint_paths`).
    ``single_homed_nodes``: the site's nodes (APs excepted) that one link failure
    separates from the Internet.
District
    ``bridges`` (links and circuits whose loss splits the graph) and
    ``articulation_points`` (nodes whose loss splits it), from igraph.
Single points of failure
    Every link, circuit or node whose loss alone cuts devices off the Internet, with
    the devices and students it cuts off and the sites they are at. Found in one pass
    with a dominator tree rooted at the Internet over the graph in which every edge is
    subdivided by a midpoint vertex: an element cuts off exactly the vertices it
    dominates. ``r_ha_excluded`` marks elements docs/stages.md R-HA does not count: a
    school's own access switches, APs and AP uplinks, and any node that cuts off only
    the devices plugged into it (it is their access switch: a device has one way in).
Shared-risk groups and stacks
    ``srlg_disjoint_paths`` per site: the fewest links/circuits not in a group, or whole
    groups, whose failure cuts the site off (:mod:`netstage.simulator.srlg`); equal to
    ``edge_disjoint_paths`` without groups. ``srlg_binding`` names the groups of a
    smallest such cut. A group whose failure alone cuts devices off is a single point of
    failure of kind ``srlg`` (``srlg:<group>``). A declared redundant stack or chassis
    (``nodes[].stack``) is neither an articulation point nor a single point of failure
    here, and each of its members may carry one node-disjoint path.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from netstage.simulator._igraph import ig
from netstage.simulator.arrays import DEVICE_CLASSES, DistrictArrays, to_arrays
from netstage.simulator.disjoint_paths import disjoint_path_counts
from netstage.simulator.domtree import group_dominator, tree_passes
from netstage.simulator.element_ids import srlg_id
from netstage.simulator.model import District, NodeKind, SiteKind
from netstage.simulator.srlg import edge_groups, group_members, srlg_disjoint_counts

__all__ = [
    "DistrictGraph",
    "RedundancyReport",
    "SinglePointOfFailure",
    "SiteRedundancy",
    "analyse_redundancy",
    "district_graph",
    "subdivided_arcs",
]

I64 = NDArray[np.int64]
_STUDENT = DEVICE_CLASSES.index("student")


@dataclass(frozen=True, eq=False)
class DistrictGraph:
    """Integer form of the district graph. Vertex ``n_nodes`` is the Internet."""

    node_ids: tuple[str, ...]
    node_kind: tuple[NodeKind, ...]
    node_site: I64  # site index or -1
    edge_ids: tuple[str, ...]  # link keys, then circuit ids
    edge_u: I64
    edge_v: I64
    edge_is_circuit: NDArray[np.bool_]

    @property
    def n_nodes(self) -> int:
        return len(self.node_ids)

    @property
    def internet(self) -> int:
        return len(self.node_ids)


def district_graph(d: District) -> DistrictGraph:
    """The integer district graph of ``d`` (links in file order, then circuits)."""
    idx = {n.id: i for i, n in enumerate(d.nodes)}
    sidx = {s.id: i for i, s in enumerate(d.sites)}
    internet = len(d.nodes)
    u = [idx[lk.a] for lk in d.links] + [idx[c.attach] for c in d.circuits]
    v = [idx[lk.b] for lk in d.links] + [internet] * len(d.circuits)
    return DistrictGraph(
        node_ids=tuple(n.id for n in d.nodes),
        node_kind=tuple(n.kind for n in d.nodes),
        node_site=np.array([sidx[n.site] if n.site else -1 for n in d.nodes], dtype=np.int64),
        edge_ids=tuple([lk.key for lk in d.links] + [c.id for c in d.circuits]),
        edge_u=np.asarray(u, dtype=np.int64),
        edge_v=np.asarray(v, dtype=np.int64),
        edge_is_circuit=np.r_[np.zeros(len(d.links), bool), np.ones(len(d.circuits), bool)],
    )


@dataclass
class SiteRedundancy:
    """Redundancy of one site's connection to the Internet."""

    site: str
    kind: str
    students: int
    devices: int
    edge_disjoint_paths: int
    node_disjoint_paths: int
    single_homed_nodes: list[str] = field(default_factory=list)
    srlg_disjoint_paths: int = -1  # -1: not computed (old callers); see module docstring
    srlg_exact: bool = True
    srlg_binding: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.srlg_disjoint_paths < 0:
            self.srlg_disjoint_paths = self.edge_disjoint_paths


@dataclass
class SinglePointOfFailure:
    """One element whose failure alone cuts devices off the Internet."""

    element: str
    kind: str  # "link", "circuit", "node" or "srlg" (a whole shared-risk group)
    node_kind: str | None  # for nodes: edge, core, access, ...
    devices: int
    students: int
    sites: list[str]
    r_ha_excluded: bool


@dataclass
class RedundancyReport:
    """Everything :func:`analyse_redundancy` found (see the module docstring)."""

    district: str
    circuits: int
    sites: list[SiteRedundancy]
    bridges: list[str]
    articulation_points: list[str]
    single_points_of_failure: list[SinglePointOfFailure]
    srlg_groups: dict[str, list[str]] = field(default_factory=dict)
    redundant_stacks: list[str] = field(default_factory=list)

    @property
    def min_edge_disjoint_paths(self) -> int:
        """Smallest edge-disjoint path count over schools (0 without schools)."""
        schools = [s.edge_disjoint_paths for s in self.sites if s.kind == SiteKind.SCHOOL.value]
        return min(schools) if schools else 0

    @property
    def min_srlg_disjoint_paths(self) -> int:
        """Smallest SRLG-disjoint path count over schools (0 without schools)."""
        schools = [s.srlg_disjoint_paths for s in self.sites
                   if s.kind == SiteKind.SCHOOL.value]
        return min(schools) if schools else 0

    @property
    def spofs(self) -> list[SinglePointOfFailure]:
        """All single points of failure (alias of ``single_points_of_failure``)."""
        return self.single_points_of_failure

    @property
    def counted_spofs(self) -> list[SinglePointOfFailure]:
        """Single points of failure that R-HA counts (``r_ha_excluded`` is false)."""
        return [s for s in self.single_points_of_failure if not s.r_ha_excluded]

    def to_json(self) -> dict[str, Any]:
        return {
            "district": self.district,
            "circuits": self.circuits,
            "min_edge_disjoint_paths": self.min_edge_disjoint_paths,
            "min_srlg_disjoint_paths": self.min_srlg_disjoint_paths,
            "counted_single_points_of_failure": len(self.counted_spofs),
            "sites": [asdict(s) for s in self.sites],
            "bridges": self.bridges,
            "articulation_points": self.articulation_points,
            "single_points_of_failure": [asdict(s) for s in self.single_points_of_failure],
            "srlg_groups": self.srlg_groups,
            "redundant_stacks": self.redundant_stacks,
        }


def _site_groups(g: DistrictGraph, n_sites: int) -> list[I64]:
    order = np.argsort(g.node_site, kind="stable")
    sites_sorted = g.node_site[order]
    bounds = np.searchsorted(sites_sorted, np.arange(n_sites + 1))
    return [order[bounds[i]:bounds[i + 1]].astype(np.int64) for i in range(n_sites)]


def _upper_bounds(g: DistrictGraph, n_sites: int) -> I64:
    """Edges leaving each site (and circuits in total) bound its disjoint path count."""
    site_of = np.r_[g.node_site, -2]  # the Internet belongs to no site
    su, sv = site_of[g.edge_u], site_of[g.edge_v]
    leaving = np.zeros(n_sites, dtype=np.int64)
    cross = su != sv
    for ends in (su, sv):
        ok = cross & (ends >= 0)
        leaving += np.bincount(ends[ok], minlength=n_sites)
    return np.minimum(leaving, int(g.edge_is_circuit.sum()))


def subdivided_arcs(g: DistrictGraph) -> I64:
    """Directed arcs of the edge-subdivided graph, ``[4E, 2]``.

    Vertices ``0..N`` are nodes and the Internet, ``N+1+e`` the midpoint of edge ``e``;
    each edge ``u-v`` becomes ``u<->mid`` and ``v<->mid``, so that an edge can fail (or
    dominate) like a vertex. Shared by the dominator tree and the availability model.
    """
    n = g.n_nodes + 1
    mid = n + np.arange(g.edge_u.shape[0], dtype=np.int64)
    return np.concatenate([
        np.stack([g.edge_u, mid], 1), np.stack([mid, g.edge_u], 1),
        np.stack([g.edge_v, mid], 1), np.stack([mid, g.edge_v], 1),
    ])


def _dominator_tree(g: DistrictGraph) -> tuple[I64, I64]:
    """Immediate dominators over the edge-subdivided graph, and a top-down vertex order.

    Vertices ``0..N`` are nodes and the Internet, ``N+1+e`` the midpoint of edge ``e``.
    Unreachable vertices get idom -2 and are left out of the order.
    """
    n = g.n_nodes + 1
    m = g.edge_u.shape[0]
    dg = ig.Graph(n=n + m, edges=subdivided_arcs(g), directed=True)
    raw = np.asarray(dg.dominator(g.internet, mode="out"), dtype=np.float64)
    idom = np.where(np.isnan(raw), -2, raw).astype(np.int64)
    idom[g.internet] = -1
    child = np.flatnonzero(idom >= 0)
    tree = ig.Graph(n=n + m, edges=np.stack([idom[child], child], 1), directed=True)
    order = np.asarray(tree.bfs(g.internet, mode="out")[0], dtype=np.int64)
    return idom, order


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: the analysis allocates many small, acyclic
    objects, and a collection pass over a large district model costs more than the
    analysis itself (measured: 0.2 s -> 0.1 s on 10k nodes)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def analyse_redundancy(d: District, arrays: DistrictArrays | None = None) -> RedundancyReport:
    """Redundancy of ``d`` (see the module docstring). ``arrays`` (from
    :func:`~netstage.simulator.arrays.to_arrays`) is reused when given."""
    arr = arrays if arrays is not None else to_arrays(d)
    with _gc_paused():
        return _analyse(d, arr)


def _analyse(d: District, arr: DistrictArrays) -> RedundancyReport:
    g = district_graph(d)
    n, m = g.n_nodes + 1, g.edge_u.shape[0]
    n_sites = len(d.sites)

    # devices and student devices per vertex (AP members count at their AP entry)
    dev_node = arr.attach_node[arr.device_attach].astype(np.int64)
    devices = np.bincount(dev_node, minlength=n + m).astype(np.int64)
    students = np.bincount(dev_node[arr.device_class == _STUDENT],
                           minlength=n + m).astype(np.int64)

    # bridges and articulation points (igraph, C)
    ug = ig.Graph(n=n, edges=np.stack([g.edge_u, g.edge_v], 1))
    bridges = [g.edge_ids[e] for e in sorted(ug.bridges())]
    # a declared redundant stack/chassis is no cut vertex: one member failing leaves
    # the others forwarding (model.Stack)
    stacks = [nd.id for nd in d.nodes if nd.redundant_stack]
    stack_set = set(stacks)
    aps = [g.node_ids[v] for v in sorted(ug.articulation_points())
           if v != g.internet and g.node_ids[v] not in stack_set]

    # one pass over the dominator tree: what each vertex cuts off, and for which sites
    idom, order = _dominator_tree(g)
    vertex_site = np.r_[g.node_site, -1, np.full(m, -1)].astype(np.int64)
    sums, site_below, tin, tout, edge_dominated, depth = tree_passes(
        idom, order, np.stack([devices, students], 1), vertex_site, n)

    # per-site disjoint paths; an edge (midpoint) dominating the whole site settles the
    # edge-disjoint count at 1 (a dominating node does not: two links may reach it)
    groups = _site_groups(g, n_sites)
    sizes = np.array([len(x) for x in groups], dtype=np.int64)
    ptr = np.r_[0, np.cumsum(sizes)].astype(np.int64)
    flat = np.concatenate(groups) if groups else np.zeros(0, np.int64)
    dom = group_dominator(idom, depth, ptr, flat, np.zeros(n + m, dtype=np.int64))
    reachable = dom != -2
    single = reachable & (dom >= n)  # one link or circuit carries every path
    bound = np.where(reachable, _upper_bounds(g, n_sites), 0)
    bound = np.where(single, np.minimum(bound, 1), bound)
    edge_paths = disjoint_path_counts(n, g.edge_u, g.edge_v, g.internet, groups, bound=bound)
    # a dominating vertex outside the site (node or edge) carries every path: one
    # node-disjoint path. Tight bounds spare the last, failing (whole-graph) search.
    node_bound = np.where(reachable & (dom >= 0) & (dom != g.internet),
                          np.minimum(edge_paths, 1), edge_paths)
    node_cap = None
    if stacks:
        # each member of a redundant stack carries its own path; such a node does not
        # settle the count at one either
        node_cap = np.ones(n, dtype=np.int64)
        for v, nd in enumerate(d.nodes):
            if nd.stack is not None and nd.stack.redundant:
                node_cap[v] = nd.stack.members
        stack_dom = np.isin(dom, np.flatnonzero(node_cap > 1))
        node_bound = np.where(stack_dom, edge_paths, node_bound)
    node_paths = disjoint_path_counts(n, g.edge_u, g.edge_v, g.internet, groups,
                                      node_disjoint=True, bound=node_bound,
                                      node_capacity=node_cap)
    # physically diverse paths: links and circuits in one shared-risk group fail as one
    srlg_members = group_members(d)
    srlg = srlg_disjoint_counts(n, g.edge_u, g.edge_v, g.internet, groups, edge_groups(d),
                                edge_paths) if srlg_members else None

    spofs = [x for x in _spofs(d, g, order, sums, devices, site_below, tin, tout, vertex_site)
             if not (x.kind == "node" and x.element in stack_set)]
    if srlg_members:
        spofs = _order_spofs(spofs + _group_spofs(d, g, devices[:n], students[:n]))
    site_rows = []
    for i, s in enumerate(d.sites):
        members = groups[i]
        lone = [g.node_ids[v] for v in members
                if edge_dominated[v] and g.node_kind[v] != NodeKind.AP]
        site_rows.append(SiteRedundancy(
            site=s.id, kind=s.kind.value, students=s.students,
            devices=int(devices[members].sum()),
            edge_disjoint_paths=int(edge_paths[i]), node_disjoint_paths=int(node_paths[i]),
            single_homed_nodes=lone,
            srlg_disjoint_paths=int(srlg.paths[i]) if srlg else int(edge_paths[i]),
            srlg_exact=bool(srlg.exact[i]) if srlg else True,
            srlg_binding=list(srlg.binding[i]) if srlg else []))
    return RedundancyReport(
        district=d.district.name, circuits=len(d.circuits), sites=site_rows,
        bridges=bridges, articulation_points=aps, single_points_of_failure=spofs,
        srlg_groups=srlg_members, redundant_stacks=stacks)


def _group_spofs(d: District, g: DistrictGraph, devices: I64, students: I64,
                 ) -> list[SinglePointOfFailure]:
    """Shared-risk groups whose failure alone cuts devices off (kind ``"srlg"``, element
    ``srlg:<group>``): one reachability pass from the Internet per group. A group of AP
    uplinks only is excluded from R-HA like the uplinks themselves."""
    n = g.n_nodes + 1
    is_ap = np.r_[np.array([k == NodeKind.AP for k in g.node_kind], dtype=bool), False]
    site_ids = [s.id for s in d.sites]
    groups = edge_groups(d)
    out = []
    for gid in group_members(d):
        down = np.array([gid in gs for gs in groups], dtype=bool)
        keep = ~down
        eu, ev = g.edge_u[keep], g.edge_v[keep]
        reach = np.zeros(n, dtype=bool)
        reach[ig.Graph(n=n, edges=np.column_stack([eu, ev]).tolist()).subcomponent(
            g.internet)] = True
        cut = ~reach & (devices > 0)
        if not cut.any():
            continue
        excluded = bool(np.all(is_ap[g.edge_u[down]] | is_ap[g.edge_v[down]]))
        sites = sorted({site_ids[x] for x in g.node_site[cut[:g.n_nodes]].tolist() if x >= 0},
                       key=site_ids.index)
        out.append(SinglePointOfFailure(
            element=srlg_id(gid), kind="srlg", node_kind=None, devices=int(devices[cut].sum()),
            students=int(students[cut].sum()), sites=sites, r_ha_excluded=excluded))
    return out


def _order_spofs(spofs: list[SinglePointOfFailure]) -> list[SinglePointOfFailure]:
    """Counted before excluded, then most devices, then by element id (as :func:`_spofs`)."""
    return sorted(spofs, key=lambda x: (x.r_ha_excluded, -x.devices, x.element))


def _spofs(d: District, g: DistrictGraph, order: I64, sums: I64, devices: I64,
           site_below: I64, tin: I64, tout: I64, vertex_site: I64,
           ) -> list[SinglePointOfFailure]:
    """Every non-root vertex of the dominator tree with devices below it, worst first
    (counted before excluded, then most devices, then by element id)."""
    n = g.n_nodes + 1
    nn = g.n_nodes
    sub_dev, sub_stu = sums[:, 0], sums[:, 1]
    below = order[1:]
    xs = below[sub_dev[below] > 0]
    # R-HA exclusions, vectorised: nodes (AP, own access switch of a school, or a node
    # that only cuts off the devices plugged into it) and AP uplinks
    kinds = np.array([k.value for k in g.node_kind] + ["internet"], dtype=object)
    is_ap = np.r_[np.array([k == NodeKind.AP for k in g.node_kind], dtype=bool), False]
    is_access = np.r_[np.array([k == NodeKind.ACCESS for k in g.node_kind], dtype=bool), False]
    school = np.array([s.kind == SiteKind.SCHOOL for s in d.sites] + [False], dtype=bool)
    site_of = np.r_[g.node_site, -1]
    is_node = xs < n
    xn = np.where(is_node, xs, 0)
    node_excl = (is_ap[xn] | (sub_dev[xs] == devices[xs])
                 | (is_access[xn] & (site_of[xn] >= 0) & school[site_of[xn]]))
    e = np.where(is_node, 0, xs - n)
    ends_ap = np.r_[is_ap[:nn], False, False]  # the Internet is never an AP
    eu, ev = g.edge_u[e], np.minimum(g.edge_v[e], nn)
    link_excl = ends_ap[eu] | ends_ap[ev]
    excluded = np.where(is_node, node_excl, link_excl)
    # order before building objects: counted first, most devices first, then by id
    labels = np.array([g.node_ids[x] if x < nn else g.edge_ids[x - n] for x in xs.tolist()],
                      dtype=object)
    rank = np.lexsort((labels.astype(str), -sub_dev[xs], excluded))
    dev_vertices = np.flatnonzero(devices > 0)
    dev_vertices = dev_vertices[np.argsort(tin[dev_vertices])]
    dev_tin = tin[dev_vertices]
    site_ids = [s.id for s in d.sites]
    # plain Python lists: one pass building the objects, no numpy scalars in the loop
    xr = xs[rank]
    is_circ = np.r_[np.zeros(n, dtype=bool), g.edge_is_circuit]
    kind_of = np.where(xr < n, "node", np.where(is_circ[xr], "circuit", "link")).tolist()
    nk = [str(kinds[x]) if x < n else None for x in xr.tolist()]
    out: list[SinglePointOfFailure] = []
    for x, sb, lab, kd, nkd, dv, st, ex in zip(
            xr.tolist(), site_below[xr].tolist(), labels[rank].tolist(), kind_of, nk,
            sub_dev[xr].tolist(), sub_stu[xr].tolist(), excluded[rank].tolist(), strict=True):
        if sb >= 0:
            sites = [site_ids[sb]]
        else:  # several sites below: read them off the Euler interval
            lo, hi = np.searchsorted(dev_tin, [tin[x], tout[x]], side="left")
            sites = [site_ids[j] for j in np.unique(vertex_site[dev_vertices[lo:hi]]).tolist()
                     if j >= 0]
        out.append(SinglePointOfFailure(
            element=str(lab), kind=kd, node_kind=nkd, devices=dv, students=st, sites=sites,
            r_ha_excluded=bool(ex)))
    return out
