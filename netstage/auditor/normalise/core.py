"""The normaliser's driver: :func:`facts_to_district` runs the builder's steps in order.

:class:`_Builder` is the steps' mixins (:mod:`.identity` -> :mod:`.neighbours` ->
:mod:`.lags` -> :mod:`.kinds` -> :mod:`.mismatches`) over one state; here too are the
circuits (interfaces whose ``ifAlias`` reads ``internet:<id> (<provider>)``, the
convention the digital twin writes) and the measured facts for the stage rubric
(:class:`~netstage.simulator.model.SnmpFacts` plus diversity counts in
``measured.extra["snmp"]``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from netstage.auditor.facts import AuditResult, DeviceFacts
from netstage.auditor.normalise.identity import _vendor_names
from netstage.auditor.normalise.kinds import _KindsMixin
from netstage.auditor.normalise.lags import _LagsMixin
from netstage.auditor.normalise.mismatches import Mismatch, _MismatchesMixin
from netstage.auditor.normalise.neighbours import HalfSeenLink, PortRef
from netstage.auditor.twin import CIRCUIT_ALIAS_RE
from netstage.simulator.model import (
    INFRASTRUCTURE_KINDS,
    Circuit,
    District,
    DistrictInfo,
    Measured,
    Node,
    Site,
    SnmpFacts,
)


@dataclass
class NormaliseResult:
    """A measured district and what the normaliser noticed on the way."""

    district: District
    mismatches: list[Mismatch]
    half_seen_links: list[HalfSeenLink]
    measured: SnmpFacts
    device_node: dict[int, str]  # index in audit.devices -> node id
    link_ports: dict[str, list[tuple[PortRef, PortRef | None]]]  # link key -> member ports
    endpoints: list[str]  # neighbours left out as end devices (phones, hosts)
    unseen_base_nodes: list[str]  # base infrastructure nodes the audit did not see
    diversity: dict[str, dict[str, int]]
    # neighbours that announced only a system description (no name, chassis or port id):
    # their node is named after the description's first line
    named_by_description: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "named_by_description": self.named_by_description,
            "nodes": len(self.district.nodes),
            "links": len(self.district.links),
            "circuits": len(self.district.circuits),
            "measured": self.measured.model_dump(),
            "mismatches": [m.to_json() for m in self.mismatches],
            "half_seen_links": [h.to_json() for h in self.half_seen_links],
            "endpoints": self.endpoints,
            "unseen_base_nodes": self.unseen_base_nodes,
            "diversity": self.diversity,
            "link_ports": {k: [[a.label, b.label if b else None] for a, b in v]
                           for k, v in self.link_ports.items()},
        }


class _Builder(_LagsMixin, _KindsMixin, _MismatchesMixin):
    """Every step's mixin over one state, which is set here."""

    def __init__(self, audit: AuditResult, base: District | None) -> None:
        self.audit = audit
        self.base = base
        self.base_nodes = {n.id: n for n in base.nodes} if base else {}
        self.vendors = _vendor_names()
        self.nodes: dict[str, Node] = {}
        self.answered: dict[str, DeviceFacts] = {}
        self.device_node: dict[int, str] = {}
        self.index: dict[str, str] = {}  # name/address variant -> node id
        self.mac_index: dict[str, str] = {}
        self.site_of: dict[str, str | None] = {}
        self.endpoints: list[str] = []
        self.mismatches: list[Mismatch] = []
        self.half_seen: list[HalfSeenLink] = []
        self._guessed_kind: dict[str, bool] = {}
        self.remote_ports: dict[str, set[str]] = {}
        self.unverified: set[str] = set()
        self.named_by_description: list[str] = []
        self.remote_chassis: dict[str, str] = {}
        self.chassis_node: dict[tuple[str, str], str] = {}
        self.dist: dict[str, int] = {}
        addresses = Counter(d.target.address for d in audit.devices if d.ok)
        ips = Counter(ip.address for d in audit.devices if d.ok for ip in d.ip_addresses)
        self.unique_ips = {a for a, c in ips.items() if c == 1}
        self.unique_address = {a for a, c in addresses.items() if c == 1}


def _circuits(b: _Builder, base: District | None) -> list[Circuit]:
    out: dict[str, Circuit] = {}
    for nid, dev in b.answered.items():
        for iface in dev.interfaces:
            m = CIRCUIT_ALIAS_RE.match((iface.alias or "").strip())
            if m and iface.speed_mbps:
                out[m.group("id")] = Circuit(id=m.group("id"), attach=nid,
                                             capacity_mbps=iface.speed_mbps,
                                             provider=m.group("provider"))
    if base is not None:
        for c in base.circuits:
            if c.id in out:
                out[c.id].background_mbps = c.background_mbps
                if out[c.id].provider is None:
                    out[c.id].provider = c.provider
            elif c.attach in b.nodes:
                out[c.id] = c.model_copy()
    return list(out.values())


def _snmp_facts(audit: AuditResult, nodes: dict[str, Node], answered: dict[str, DeviceFacts],
                unseen_base: list[str], unverified: set[str]) -> SnmpFacts:
    """Coverage counts infrastructure we have evidence for: answered devices, base
    infrastructure, and silent neighbours whose description says network gear."""
    infra = [nid for nid, n in nodes.items() if n.kind in INFRASTRUCTURE_KINDS
             and (nid in answered or nid not in unverified)]
    ok_infra = [answered[nid] for nid in infra if nid in answered]
    tested = [d for d in audit.devices if d.default_communities_accepted is not None]
    return SnmpFacts(
        infrastructure_devices=len(infra) + len(unseen_base),
        answered=len(ok_infra),
        v3_devices=sum(1 for d in ok_infra if d.snmp_version == "v3"),
        v1v2c_devices=sum(1 for d in ok_infra if d.snmp_version in ("v1", "v2c")),
        default_community_accepted=(sum(1 for d in tested if d.default_communities_accepted)
                                    if tested else None),
        default_write_community_accepted=_write_accepted(audit),
    )


def _write_accepted(audit: AuditResult) -> int | None:
    """Devices that accepted a default write community (opt-in write test); None when the
    test did not run, or when no device accepted but some result was inconclusive."""
    results = [d.write_result for d in audit.devices if d.write_result is not None]
    if not results:
        return None
    accepted = results.count("accepted")
    return accepted if accepted or "inconclusive" not in results else None


def _diversity(nodes: dict[str, Node], answered: dict[str, DeviceFacts]) -> dict[str, dict[str,
                                                                                          int]]:
    ok = [nodes[n] for n in answered]
    return {
        "vendors": dict(Counter(n.vendor for n in ok if n.vendor)),
        "models": dict(Counter(f"{n.vendor or '?'} {n.model}" for n in ok if n.model)),
        "firmware": dict(Counter(f"{n.vendor or '?'} {n.model or '?'} {n.firmware}"
                                 for n in ok if n.firmware)),
        "snmp_versions": dict(Counter(d.snmp_version or "unknown" for d in answered.values())),
    }


def facts_to_district(audit: AuditResult, base: District | None = None) -> NormaliseResult:
    """The district an audit measured (see the module docstring for every rule).

    With ``base``, devices are matched to its nodes by id/name/management address and
    keep its kinds, sites, AP counts and radios, link ids and media; sites, populations
    and declared facts come from ``base``. Without it, sites come from ``sysLocation``.
    """
    b = _Builder(audit, base)
    b.add_devices()
    rows = b.rows()
    links, ports = b.links(rows)
    circuits = _circuits(b, base)
    b.topology_kinds(links, circuits)
    b.uplink_report(links, ports)
    unseen = sorted(n.id for n in (base.nodes if base else [])
                    if n.kind in INFRASTRUCTURE_KINDS and n.id not in b.nodes)
    measured = _snmp_facts(audit, b.nodes, b.answered, unseen, b.unverified)
    diversity = _diversity(b.nodes, b.answered)
    if base is not None:
        sites = [s.model_copy(deep=True) for s in base.sites]
        info = base.district.model_copy(deep=True)
        declared = base.declared.model_copy(deep=True)
    else:
        site_ids = sorted({n.site for n in b.nodes.values() if n.site})
        sites = [Site(id=s, kind="office") for s in site_ids]
        info = DistrictInfo(name=f"audited ({audit.inventory or 'inventory'})")
        from netstage.simulator.model import Declared
        declared = Declared()
    source = f"netstage audit {audit.inventory or ''} at {audit.started_at.isoformat()}"
    district = District(
        district=info, sites=sites, nodes=list(b.nodes.values()), links=links,
        circuits=circuits, declared=declared,
        measured=Measured(source=source.replace("  ", " "), snmp=measured,
                          extra={"snmp": {"diversity": diversity,
                                          "mismatches": len(b.mismatches),
                                          "half_seen_links": len(b.half_seen)}}))
    return NormaliseResult(district, b.mismatches, b.half_seen, measured, b.device_node, ports,
                           b.endpoints, unseen, diversity, b.named_by_description)
