"""Merge: a declared district with what an audit measured laid over it.

:func:`merge_measured` / :func:`merge_with_differences` keep a declared district's
topology and overlay what was measured: vendor/model/firmware of matched nodes, link
capacities and LAG members, ``background_mbps`` from utilisation
(:mod:`~netstage.auditor.normalise.utilisation`), and ``measured.snmp``. A declared value
the measurement replaces is reported as a :class:`Difference`, never changed silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from netstage.auditor.facts import AuditResult
from netstage.auditor.normalise.core import facts_to_district
from netstage.auditor.normalise.utilisation import (
    _circuit_utilisation,
    _link_utilisation,
    client_load_mbps,
)
from netstage.simulator.model import Circuit, District, Link, Measured, NodeKind

if TYPE_CHECKING:
    from netstage.auditor.store import HistoryStore


@dataclass(frozen=True)
class Difference:
    """A declared value that the measurement replaced: which element, which field, both
    values. A merge never corrects what the user declared without one of these."""

    element: str  # node id, link key or circuit id
    element_kind: Literal["node", "link", "circuit"]
    field: str
    declared: Any
    measured: Any

    def to_json(self) -> dict[str, Any]:
        return {"element": self.element, "element_kind": self.element_kind,
                "field": self.field, "declared": self.declared, "measured": self.measured}

    @property
    def sentence(self) -> str:
        return (f"{self.element_kind} {self.element}: {self.field} declared "
                f"{self.declared!s}, measured {self.measured!s} (the measured value is kept)")


@dataclass
class MergeResult:
    """What :func:`merge_with_differences` returns: the merged district and every
    declared value the measurement replaced."""

    district: District
    differences: list[Difference]


def merge_measured(base: District, audit: AuditResult, *, store: HistoryStore | None = None,
                   q: float = 95.0, clients_in_measurement: bool = False) -> District:
    """The district of :func:`merge_with_differences` (the differences are also in its
    ``measured.extra["snmp"]["differences"]``)."""
    return merge_with_differences(base, audit, store=store, q=q,
                                  clients_in_measurement=clients_in_measurement).district


def _declared(obj: Any, attr: str) -> bool:
    """True if the user gave ``attr`` (in the file, not a default)."""
    return attr in obj.model_fields_set and getattr(obj, attr) is not None


def _overlay(obj: Any, attr: str, value: Any, element: str,
             element_kind: Literal["node", "link", "circuit"],
             diffs: list[Difference]) -> None:
    """Set a measured value; a declared value it changes becomes a :class:`Difference`."""
    old = getattr(obj, attr)
    if _declared(obj, attr) and old != value:
        diffs.append(Difference(element, element_kind, attr, old, value))
    setattr(obj, attr, value)


def merge_with_differences(base: District, audit: AuditResult, *,
                           store: HistoryStore | None = None, q: float = 95.0,
                           clients_in_measurement: bool = False) -> MergeResult:
    """``base`` with what ``audit`` measured laid over it (a new District; base unchanged),
    and every declared value the measurement replaced (:class:`Difference`: element,
    field, declared and measured value). A measured value corrects a declared one only
    with a reported difference: the CLI prints them, ``--json`` lists them, and the
    merged district keeps them in ``measured.extra["snmp"]["differences"]``.

    * matched nodes get the measured vendor/model/firmware, and the measured stack
      (ENTITY-MIB) when ``base`` declares none;
    * links seen by the audit get the measured capacity, LAG members and
      ``background_mbps`` (p``q`` from ``store`` when given, else the mean since the
      counters started), capped at the capacity;
    * circuits seen (``internet:`` alias) get their measured speed and background load;
    * ``measured.snmp`` gets coverage/versions/default community; ``history_days`` comes
      from ``store``; ``measured.extra["snmp"]`` lists mismatches, half-seen links,
      diversity and what the audit saw that ``base`` does not have.

    ``clients_in_measurement``: the measurement was taken while the district's devices
    were in use, so it already carries the client traffic that the simulation adds on
    its own; the background becomes the measured load minus the simulated mean 'now'
    client load of each link (:func:`client_load_mbps`), never below zero. Off (the
    default), the whole measured load is background: conservative, since client traffic
    at measurement time is then counted twice.
    """
    res = facts_to_district(audit, base)
    out = base.model_copy(deep=True)
    diffs: list[Difference] = []
    seen_nodes = {n.id: n for n in res.district.nodes}
    for node in out.nodes:
        m = seen_nodes.get(node.id)
        if m is None or node.id not in res.device_node.values():
            continue
        for attr in ("vendor", "model", "firmware"):
            if getattr(m, attr):
                _overlay(node, attr, getattr(m, attr), node.id, "node", diffs)
        if node.stack is None and m.stack is not None and node.kind != NodeKind.AP:
            node.stack = m.stack  # measured stack members (ENTITY-MIB); a declared one wins
    util = _link_utilisation(res, audit, store, q)
    measured_keys: set[str] = set()
    measured_links = {frozenset((lk.a, lk.b)): lk for lk in res.district.links}
    base_pairs = set()
    for lk in out.links:
        pair = frozenset((lk.a, lk.b))
        base_pairs.add(pair)
        m_link = measured_links.get(pair)
        if m_link is None:
            continue
        answered_end = any(e in res.device_node.values() for e in pair)
        if answered_end and not any(mm.kind == "unknown_speed" and mm.element == m_link.key
                                    for mm in res.mismatches):
            _overlay(lk, "capacity_mbps", m_link.capacity_mbps, lk.key, "link", diffs)
            _overlay(lk, "lag_members", m_link.lag_members, lk.key, "link", diffs)
        if m_link.key in util:
            _overlay(lk, "background_mbps", round(min(util[m_link.key], lk.capacity_mbps), 3),
                     lk.key, "link", diffs)
            measured_keys.add(lk.key)
    circuits = {c.id: c for c in res.district.circuits}
    circuit_load = _circuit_utilisation(audit, store, q)
    for c in out.circuits:
        if c.id in circuits and c.attach in res.device_node.values():
            _overlay(c, "capacity_mbps", circuits[c.id].capacity_mbps, c.id, "circuit", diffs)
        if c.id in circuit_load:
            _overlay(c, "background_mbps", round(min(circuit_load[c.id], c.capacity_mbps), 3),
                     c.id, "circuit", diffs)
            measured_keys.add(c.id)
    subtracted: dict[str, float] = {}
    if clients_in_measurement and measured_keys:
        clients = client_load_mbps(out)
        elements: list[Link | Circuit] = [*out.links, *out.circuits]
        for el in elements:
            key = el.key if isinstance(el, Link) else el.id
            if key in measured_keys:
                minus = min(el.background_mbps, clients.get(key, 0.0))
                el.background_mbps = round(el.background_mbps - minus, 3)
                subtracted[key] = round(minus, 3)
    snmp = res.measured.model_copy()
    if store is not None:
        snmp.history_days = round(store.history_days(), 3)
    elif base.measured and base.measured.snmp:
        snmp.history_days = base.measured.snmp.history_days
    if snmp.default_write_community_accepted is None and base.measured and base.measured.snmp:
        # this audit did not run the write test: keep what the base district had
        snmp.default_write_community_accepted = base.measured.snmp.default_write_community_accepted
    extra = dict(base.measured.extra) if base.measured else {}
    extra["snmp"] = {
        "diversity": res.diversity,
        "mismatches": [m.to_json() for m in res.mismatches],
        "half_seen_links": [h.to_json() for h in res.half_seen_links],
        "unseen_base_nodes": res.unseen_base_nodes,
        "new_nodes": sorted(n for n in seen_nodes if n not in {x.id for x in base.nodes}),
        "new_links": sorted(lk.key for p, lk in measured_links.items() if p not in base_pairs),
        "utilisation": f"p{q:g} of polled history" if store is not None
        else "mean since counters started (one audit)",
        "background": ("measured load minus the simulated mean 'now' client load "
                       "(clients_in_measurement)" if clients_in_measurement
                       else "measured load (client traffic at measurement time included)"),
        "client_load_subtracted_mbps": subtracted,
        "differences": [x.to_json() for x in diffs],
    }
    out.measured = Measured(source=res.district.measured.source if res.district.measured
                            else None, snmp=snmp, extra=extra)
    return MergeResult(out, diffs)
