"""Availability estimate: expected outage hours per year per school and district-wide.

Every component (node, link, Internet circuit) fails independently with the
unavailability ``u = MTTR / (MTBF + MTTR)`` of its class in
``simulator/data/reliability.yaml`` (sources or labelled assumptions there; pass
``reliability=`` for a district's own figures).

A device is *out* when no path joins its attachment node to the Internet. Its
unavailability uses the minimal cut sets of order 1 and 2 (the rare-event
approximation of series/parallel composition):

    U(v) = sum of u over the elements that alone cut v off (in series)
         + sum of u_e * u_f over pairs {e, f} that cut v off only together (in parallel)

Order 1 is read off a dominator tree rooted at the Internet over the graph whose
edges are subdivided by midpoint vertices (as in :mod:`netstage.simulator.redundancy`):
the elements that cut ``v`` off are exactly its dominators, so a single-homed chain
adds up its parts (series) and two disjoint paths contribute only through order 2
(parallel). Order 2: for each element ``e`` on a cycle, the dominator tree of the
graph without ``e`` gives the partners ``f`` that become cut elements. Higher orders
are neglected (relative error about ``u``, below 1e-3 with the defaults).

A declared redundant stack or chassis (``nodes[].stack``) is down only when all its
members are: ``u ** members``. Shared-risk groups (``srlg``) are not modelled here
(each link and circuit still fails independently); R-HA and N-1 count them.

Per site the figure is the device-weighted mean over its devices (students' devices
when it has any), times hours per year; district-wide the student-weighted mean over
schools. Each site lists its largest contributors.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from netstage.simulator._igraph import ig
from netstage.simulator.arrays import DEVICE_CLASSES, DistrictArrays, to_arrays
from netstage.simulator.datafiles import data_path
from netstage.simulator.errors import ConfigError
from netstage.simulator.io import load_model
from netstage.simulator.model import District, Medium, NodeKind, SiteKind
from netstage.simulator.redundancy import district_graph, subdivided_arcs

__all__ = [
    "AvailabilityReport",
    "ReliabilityFile",
    "SiteAvailability",
    "estimate_availability",
    "load_reliability",
]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
_STUDENT = DEVICE_CLASSES.index("student")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Component(_Strict):
    mtbf_h: float = Field(gt=0)
    mttr_h: float = Field(ge=0)
    source: str = Field(min_length=1)

    @property
    def unavailability(self) -> float:
        return self.mttr_h / (self.mtbf_h + self.mttr_h)


class ReliabilityFile(_Strict):
    version: int = Field(ge=1)
    hours_per_year: float = Field(8766, gt=0)
    nodes: dict[NodeKind, Component]
    links: dict[str, Component]
    circuits: dict[str, Component]


_LINK_CLASSES = ("lan", "wan_fiber", "wan_copper", "wan_wireless", "wan_leased", "wan_unknown")


def load_reliability(path: str | Path | None = None) -> ReliabilityFile:
    """Load reliability defaults (default: the shipped ``reliability.yaml``)."""
    p = path if path is not None else data_path("reliability.yaml")
    rel, _lines = load_model(p, ReliabilityFile, what=f"reliability defaults {p}")
    missing = [k.value for k in NodeKind if k not in rel.nodes]
    missing += [f"links.{k}" for k in _LINK_CLASSES if k not in rel.links]
    if "default" not in rel.circuits:
        missing.append("circuits.default")
    if missing:
        raise ConfigError(f"reliability defaults {p}: missing entries: {', '.join(missing)}")
    return rel


@dataclass
class Contributor:
    element: str
    kind: str  # node / link / circuit / pair
    hours_per_year: float


@dataclass
class SiteAvailability:
    site: str
    kind: str
    students: int
    expected_outage_h_per_year: float
    availability: float
    single_point_share: float  # part of the outage from order-1 cut elements
    top_contributors: list[Contributor] = field(default_factory=list)


@dataclass
class AvailabilityReport:
    district: str
    hours_per_year: float
    sites: list[SiteAvailability]
    district_expected_outage_h_per_year: float  # student-weighted mean over schools
    worst_site: str | None
    second_order: bool  # False when the district was too large for order-2 cut sets
    elements_on_cycles: int

    def to_json(self) -> dict[str, Any]:
        return {
            "district": self.district,
            "hours_per_year": self.hours_per_year,
            "district_expected_outage_h_per_year": self.district_expected_outage_h_per_year,
            "worst_site": self.worst_site,
            "second_order": self.second_order,
            "elements_on_cycles": self.elements_on_cycles,
            "sites": [asdict(s) for s in self.sites],
        }


def _unavailability(d: District, rel: ReliabilityFile) -> tuple[F64, list[str]]:
    """Per vertex of the subdivided graph (nodes, Internet, edge midpoints): ``u`` and
    a label. The Internet never fails."""
    g = district_graph(d)
    site_of = {n.id: n.site for n in d.nodes}
    # a redundant stack/chassis is down only when every member is: its members are in
    # parallel (independent failures), so it is no single point of failure here either
    u = [rel.nodes[n.kind].unavailability ** (n.stack.members if n.redundant_stack
                                              and n.stack else 1)
         for n in d.nodes] + [0.0]
    labels = [n.id for n in d.nodes] + ["internet"]
    circ = rel.circuits
    for lk in d.links:
        sa, sb = site_of[lk.a], site_of[lk.b]
        if sa is not None and sa == sb:
            cls = "lan"
        else:
            medium = lk.medium.value if lk.medium != Medium.UNKNOWN else "unknown"
            cls = f"wan_{medium}"
        u.append(rel.links[cls].unavailability)
        labels.append(lk.key)
    for c in d.circuits:
        comp = circ.get(c.id) or circ.get(c.provider or "") or circ["default"]
        u.append(comp.unavailability)
        labels.append(c.id)
    assert len(u) == g.n_nodes + 1 + g.edge_u.shape[0]
    return np.asarray(u, dtype=np.float64), labels


def _arcs(d: District) -> tuple[I64, int, int]:
    g = district_graph(d)
    return subdivided_arcs(g), g.n_nodes + 1 + g.edge_u.shape[0], g.internet


def _dominators(arcs: I64, n_vertices: int, root: int) -> I64:
    """Immediate dominators (-1 root, -2 unreachable)."""
    dg = ig.Graph(n=n_vertices, edges=arcs.tolist(), directed=True)
    raw = np.asarray(dg.dominator(root, mode="out"), dtype=np.float64)
    idom = np.where(np.isnan(raw), -2, raw).astype(np.int64)
    idom[root] = -1
    return idom


def _ancestor_sums(idom: I64, u: F64, root: int) -> F64:
    """Sum of ``u`` over each vertex's dominators including itself (NaN if unreachable),
    by pointer jumping: ``log2(depth)`` vectorised steps instead of a walk per vertex."""
    reach = (idom >= 0) | (np.arange(idom.shape[0]) == root)
    total = np.where(reach, u, 0.0)
    ptr = np.where(idom >= 0, idom, -1)
    while True:
        has = ptr >= 0
        if not has.any():
            break
        total = total + np.where(has, total[np.maximum(ptr, 0)], 0.0)
        ptr = np.where(has, ptr[np.maximum(ptr, 0)], -1)
    return np.where(reach, total, np.nan)


def estimate_availability(
    d: District,
    *,
    reliability: ReliabilityFile | None = None,
    arrays: DistrictArrays | None = None,
    max_second_order_elements: int = 3000,
    top: int = 5,
) -> AvailabilityReport:
    """Expected outage hours per year per site and district-wide (module docstring)."""
    rel = reliability if reliability is not None else load_reliability()
    arr = arrays if arrays is not None else to_arrays(d)
    u, labels = _unavailability(d, rel)
    arcs, nv, root = _arcs(d)
    idom = _dominators(arcs, nv, root)
    anc = _ancestor_sums(idom, u, root)
    n_nodes = len(d.nodes)

    # device weights per node vertex and site (students' devices where a site has any)
    dev_node = arr.attach_node[arr.device_attach].astype(np.int64)
    student = arr.device_class == _STUDENT
    n_sites = len(d.sites)
    has_students = np.bincount(arr.device_site[student], minlength=n_sites) > 0
    use = np.where(has_students[arr.device_site], student, True)
    weight = np.zeros((n_sites, n_nodes))
    np.add.at(weight, (arr.device_site[use], dev_node[use]), 1.0)

    # order 2: elements on a cycle of the subdivided graph (others cannot pair up)
    m = arcs.shape[0] // 4  # arcs come in four blocks: u->mid, mid->u, v->mid, mid->v
    ug = ig.Graph(n=nv, edges=np.concatenate([arcs[:m], arcs[2 * m: 3 * m]]))
    on_cycle = np.zeros(nv, dtype=bool)
    for comp in ug.biconnected_components():
        if len(comp) >= 3:
            on_cycle[list(comp)] = True
    on_cycle[root] = False
    candidates = np.flatnonzero(on_cycle)
    second = np.zeros(nv)
    pair_contrib: dict[int, F64] = {}  # element -> its order-2 share per node vertex
    do_second = candidates.shape[0] <= max_second_order_elements
    reachable = ~np.isnan(anc)
    if do_second:
        base_graph = ig.Graph(n=nv, edges=arcs.tolist(), directed=True)
        into = np.argsort(arcs[:, 1], kind="stable")
        into_ptr = np.searchsorted(arcs[into, 1], np.arange(nv + 1))
        for e in candidates.tolist():
            # without e: drop the arcs into it (it becomes unreachable, so never a detour)
            h = base_graph.copy()
            h.delete_edges(into[into_ptr[e]: into_ptr[e + 1]].tolist())
            raw = np.asarray(h.dominator(root, mode="out"), dtype=np.float64)
            idom_e = np.where(np.isnan(raw), -2, raw).astype(np.int64)
            idom_e[root] = -1
            anc_e = _ancestor_sums(idom_e, np.where(np.arange(nv) == e, 0.0, u), root)
            # vertices still reachable and not cut off by e alone
            ok = reachable & ~np.isnan(anc_e)
            delta = np.where(ok, anc_e - anc, 0.0)
            delta[delta < 0] = 0.0  # guard against rounding
            if delta.any():
                second += u[e] * delta
                pair_contrib[e] = u[e] * delta[:n_nodes]
    total = np.where(reachable, anc + 0.5 * second, 1.0)
    total = np.clip(total, 0.0, 1.0)

    hpy = rel.hours_per_year
    rows: list[SiteAvailability] = []
    # order-1 contributions per site: for each node vertex with devices, its dominators
    for si, s in enumerate(d.sites):
        w = weight[si]
        wsum = w.sum()
        if wsum == 0:
            rows.append(SiteAvailability(site=s.id, kind=s.kind.value, students=s.students,
                                         expected_outage_h_per_year=0.0, availability=1.0,
                                         single_point_share=0.0))
            continue
        vs = np.flatnonzero(w)
        share = w[vs] / wsum
        site_u = float((share * total[vs]).sum())
        first = float((share * np.where(reachable[vs], anc[vs], 1.0)).sum())
        contrib: dict[int, float] = {}
        for v, sh in zip(vs.tolist(), share.tolist(), strict=True):
            x = v
            while x >= 0 and x != root:
                contrib[x] = contrib.get(x, 0.0) + sh * u[x]
                x = int(idom[x])
        for e, vec in pair_contrib.items():
            c2 = float(0.5 * (share * vec[vs]).sum())
            if c2 > 0:
                contrib[e] = contrib.get(e, 0.0) + c2
        best = sorted(contrib.items(), key=lambda kv: -kv[1])[:top]
        rows.append(SiteAvailability(
            site=s.id, kind=s.kind.value, students=s.students,
            expected_outage_h_per_year=site_u * hpy, availability=1.0 - site_u,
            single_point_share=(first / site_u) if site_u > 0 else 0.0,
            top_contributors=[Contributor(
                element=labels[e], kind=_kind(e, n_nodes, d),
                hours_per_year=float(c * hpy)) for e, c in best if c > 0]))
    schools = [r for r in rows if r.kind == SiteKind.SCHOOL.value and r.students > 0]
    if schools:
        wts = np.array([r.students for r in schools], dtype=np.float64)
        dist = float(np.dot(wts, [r.expected_outage_h_per_year for r in schools]) / wts.sum())
        worst = max(schools, key=lambda r: r.expected_outage_h_per_year).site
    else:
        dist, worst = 0.0, None
    return AvailabilityReport(
        district=d.district.name, hours_per_year=hpy, sites=rows,
        district_expected_outage_h_per_year=dist, worst_site=worst,
        second_order=do_second, elements_on_cycles=int(candidates.shape[0]))


def _kind(vertex: int, n_nodes: int, d: District) -> str:
    if vertex < n_nodes:
        return "node"
    e = vertex - n_nodes - 1
    return "link" if e < len(d.links) else "circuit"
