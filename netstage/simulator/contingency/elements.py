"""Which elements N-1 fails, and the report's rows (part of
:mod:`netstage.simulator.contingency`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from netstage.simulator.arrays import DistrictArrays
from netstage.simulator.element_ids import belongs_to, srlg_id
from netstage.simulator.model import District, NodeKind, SiteKind
from netstage.simulator.srlg import group_members

F64 = NDArray[np.float64]


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
