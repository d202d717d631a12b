"""Normalisation: audit facts -> district model, mismatch report, merge into a base.

Facts are built by hand here (each expectation follows from the facts written in the
test), so these tests do not depend on the collector.
"""

from __future__ import annotations

import pytest

from netstage.auditor.facts import (
    AuditResult,
    DeviceFacts,
    EntityInfo,
    FailureKind,
    Interface,
    Neighbour,
    SnmpTarget,
    summarise,
)
from netstage.auditor.normalise import facts_to_district, merge_measured, since_start_mbps
from netstage.simulator.io import load_district
from netstage.simulator.model import NodeKind

from .support import TOPOLOGIES


def _if(idx: int, name: str, speed: float | None = 1000, duplex: str | None = "full",
        oper: int = 1, alias: str | None = None, **kw: object) -> Interface:
    return Interface.model_validate({"if_index": idx, "name": name, "speed_mbps": speed,
                                     "duplex": duplex, "oper_status": oper, "if_type": 6,
                                     "alias": alias, **kw})


def _nb(local_idx: int, local_name: str, remote: str, port: str,
        protocol: str = "lldp", **kw: object) -> Neighbour:
    return Neighbour.model_validate({"protocol": protocol, "local_if_index": local_idx,
                                     "local_if_name": local_name, "remote_sysname": remote,
                                     "remote_port_id": port, **kw})


def _dev(name: str, descr: str, interfaces: list[Interface], neighbours: list[Neighbour],
         *, version: str = "v2c", pen: int = 9, model: str = "WS-C2960X",
         firmware: str = "15.2", location: str | None = "hq") -> DeviceFacts:
    return DeviceFacts(
        target=SnmpTarget(address=f"10.0.0.{abs(hash(name)) % 200 + 1}", name=name.split(".")[0]),
        ok=True, snmp_version=version, sys_name=name, sys_descr=descr,
        sys_object_id=f"1.3.6.1.4.1.{pen}.1.1", sys_location=location,
        entities=[EntityInfo(index=1, physical_class=3, model=model, software_rev=firmware)],
        interfaces=interfaces, neighbours=neighbours)


def _lab_audit() -> AuditResult:
    """rtr -- core (10G) ; core == dist (2x10G LAG, one member 1G at the dist end) ;
    dist -- acc (1G, duplex mismatch) ; acc has 24 active 1G access ports and an AP and a
    phone; core -- ghost (ghost answered but lists nobody) ; a failed device."""
    rtr = _dev("rtr.example.org", "Cisco ISR 4331 Router", [
        _if(1, "Gi0/0/0", 10000), _if(2, "Gi0/0/1", 500, alias="internet:isp1 (Telco)")],
        [_nb(1, "Gi0/0/0", "core", "Te1/1")], model="ISR4331", firmware="17.3")
    core = _dev("core", "Cisco Catalyst 9300 switch", [
        _if(1, "Te1/1", 10000), _if(2, "Te1/2", 10000), _if(3, "Te1/3", 10000),
        _if(4, "Gi1/4", 1000)],
        [_nb(1, "Te1/1", "rtr.example.org", "Gi0/0/0", protocol="cdp",
             remote_platform="cisco ISR4331"),
         _nb(1, "Te1/1", "rtr", "Gi0/0/0"),  # the same neighbour over LLDP: one link
         _nb(2, "Te1/2", "dist(FOC123)", "Te0/1", protocol="cdp"),
         _nb(3, "Te1/3", "dist", "Te0/2"),
         _nb(4, "Gi1/4", "ghost", "Gi0/1")], model="C9300-48P", firmware="17.9")
    dist = _dev("dist", "Cisco Catalyst 3850 switch", [
        _if(1, "Te0/1", 10000), _if(2, "Te0/2", 1000), _if(3, "Gi0/3", 1000, "full")],
        [_nb(1, "Te0/1", "core", "Te1/2"), _nb(2, "Te0/2", "core", "Te1/3"),
         _nb(3, "Gi0/3", "acc", "Gi0/1")], model="WS-C3850", firmware="16.12")
    acc_ifs = [_if(1, "Gi0/1", 1000, "half")] + [_if(10 + k, f"Gi0/{10 + k}", 1000)
                                                    for k in range(24)]
    acc_ifs.append(_if(99, "Gi0/99", 1000, oper=2))  # down: not counted as access load
    acc = _dev("acc", "Cisco Catalyst 2960X switch", acc_ifs,
               [_nb(1, "Gi0/1", "dist", "Gi0/3"),
                _nb(10, "Gi0/10", "ap-1", "eth0", remote_sys_descr="Cisco AP access point"),
                _nb(11, "Gi0/11", "SEP0011223344AA", "Port 1", protocol="cdp",
                    remote_platform="Cisco IP Phone 8845")])
    ghost = _dev("ghost", "Netgear GS724T switch", [_if(1, "g1", 1000)], [], pen=4526,
                 model="GS724T", firmware="5.0", version="v3")
    failed = DeviceFacts.failed(SnmpTarget(address="10.9.9.9", name="lost"),
                                FailureKind.timeout, "no answer")
    devices = [rtr, core, dist, acc, ghost, failed]
    return AuditResult(devices=devices, summary=summarise(devices), inventory="lab.yaml")


def test_nodes_links_capacity_and_kinds_from_facts() -> None:
    res = facts_to_district(_lab_audit())
    d = res.district
    kinds = {n.id: n.kind for n in d.nodes}
    # rtr: "Router" in sysDescr; core: switch next to the router; dist: switch with a
    # switch further out; acc and ghost: switches with nothing further; ap-1 from its
    # LLDP description; the phone is an end device and is left out.
    assert kinds == {"rtr.example.org": NodeKind.EDGE, "core": NodeKind.CORE,
                     "dist": NodeKind.DISTRIBUTION, "acc": NodeKind.ACCESS,
                     "ghost": NodeKind.ACCESS, "ap-1": NodeKind.AP}
    assert res.endpoints == ["SEP0011223344AA"]
    links = {frozenset((lk.a, lk.b)): lk for lk in d.links}
    assert len(links) == 5
    assert links[frozenset(("rtr.example.org", "core"))].capacity_mbps == 10000
    lag = links[frozenset(("core", "dist"))]
    assert lag.lag_members == 2
    assert lag.capacity_mbps == 10000 + 1000  # the slower end of each member
    assert links[frozenset(("dist", "acc"))].capacity_mbps == 1000
    assert links[frozenset(("acc", "ap-1"))].capacity_mbps == 1000
    # vendor from the enterprise number, model/firmware from the ENTITY chassis
    rtr = d.node("rtr.example.org")
    assert (rtr.vendor, rtr.model, rtr.firmware, rtr.site) == ("Cisco", "ISR4331", "17.3", "hq")
    assert d.node("ghost").vendor == "Netgear"
    # the circuit marker alias on the router
    assert [(c.id, c.attach, c.capacity_mbps, c.provider) for c in d.circuits] == [
        ("isp1", "rtr.example.org", 500, "Telco")]


def test_mismatch_report_and_half_seen_links() -> None:
    res = facts_to_district(_lab_audit())
    by_kind: dict[str, list[str]] = {}
    for m in res.mismatches:
        by_kind.setdefault(m.kind, []).append(m.element)
    assert by_kind["speed"] == ["core--dist"]  # Te1/3 10G vs Te0/2 1G
    assert by_kind["lag_member_speed"] == ["core--dist"]
    assert by_kind["duplex"] == ["acc--dist"]  # acc half, dist full
    # acc: 24 active 1G access ports (the AP port among them) behind a 1 Gb/s uplink
    up = [m for m in res.mismatches if m.kind == "uplink_slower_than_access"]
    assert [m.element for m in up] == ["acc"]
    assert up[0].values["access_mbps"] == 24 * 1000
    assert up[0].values["uplink_mbps"] == 1000
    half = {(h.seen_from.label, h.peer, h.reason) for h in res.half_seen_links}
    assert half == {("acc:Gi0/10", "ap-1", "peer_not_audited"),
                    ("core:Gi1/4", "ghost", "peer_does_not_confirm")}
    assert "port_down" not in by_kind


def test_measured_facts_for_the_rubric() -> None:
    res = facts_to_district(_lab_audit())
    m = res.measured
    # infrastructure: rtr, core, dist, acc, ghost (the AP is not infrastructure); the
    # failed device "lost" matched no node, so it is not counted as infrastructure.
    assert (m.infrastructure_devices, m.answered) == (5, 5)
    assert (m.v3_devices, m.v1v2c_devices) == (1, 4)
    assert m.default_community_accepted is None  # not tested (opt-in)
    assert res.diversity["vendors"] == {"Cisco": 4, "Netgear": 1}
    assert len(res.diversity["models"]) == 5
    j = res.to_json()
    assert j["links"] == 5 and len(j["mismatches"]) == len(res.mismatches)


def test_default_community_and_unseen_base_nodes_count_against_coverage() -> None:
    d = load_district(TOPOLOGIES / "stage1-lab-era.yaml")
    devs = [DeviceFacts(target=SnmpTarget(address="10.1.1.1", name="core"), ok=True,
                        snmp_version="v2c", sys_name="core", default_communities_accepted=[
                            "public"]),
            DeviceFacts(target=SnmpTarget(address="10.1.1.2", name="rtr"), ok=True,
                        snmp_version="v3", sys_name="rtr", default_communities_accepted=[])]
    res = facts_to_district(AuditResult(devices=devs), base=d)
    # base infrastructure: rtr, core, es-sw, ms-sw, hs-sw; only two answered
    assert res.unseen_base_nodes == ["es-sw", "hs-sw", "ms-sw"]
    assert (res.measured.infrastructure_devices, res.measured.answered) == (5, 2)
    assert res.measured.default_community_accepted == 1
    assert {n.id: n.kind for n in res.district.nodes} == {"core": NodeKind.CORE,
                                                          "rtr": NodeKind.EDGE}


def test_same_name_same_port_neighbours_are_distinct_devices() -> None:
    # Three APs left at the factory name "ap", each announcing port "eth0": three nodes.
    sw = _dev("sw", "switch", [_if(k, f"p{k}") for k in (1, 2, 3)],
              [_nb(k, f"p{k}", "ap", "eth0", remote_sys_descr="access point")
               for k in (1, 2, 3)])
    res = facts_to_district(AuditResult(devices=[sw]))
    aps = sorted(n.id for n in res.district.nodes if n.kind == NodeKind.AP)
    assert len(aps) == 3 and aps[0] == "ap"
    assert all(lk.lag_members is None for lk in res.district.links)


def test_since_start_rate_from_one_sample() -> None:
    # 8e9 octets over 1000 s since the counters were cleared at uptime 500 s:
    # 8e9 * 8 / 1000 s = 64 Mb/s.
    dev = DeviceFacts(target=SnmpTarget(address="10.0.0.1"), ok=True, sys_uptime_ticks=150_000)
    iface = _if(1, "x", in_octets=8_000_000_000, out_octets=10, counters_64bit=True,
                counter_discontinuity_ticks=50_000)
    assert since_start_mbps(dev, iface) == 64.0
    iface32 = _if(1, "x", in_octets=8_000, out_octets=10, counters_64bit=False)
    assert since_start_mbps(dev, iface32) is None  # Counter32 may have wrapped


def test_merge_measured_overlays_base() -> None:
    base = load_district(TOPOLOGIES / "stage1-lab-era.yaml")
    # core -- rtr: core port 1 says 1000 Mb/s (base says 100), 30 Mb/s mean since boot.
    uptime = 100_000  # 1000 s
    octets = 30_000_000 * 1000 // 8
    core = DeviceFacts(
        target=SnmpTarget(address="10.1.1.1", name="core"), ok=True, snmp_version="v2c",
        sys_name="core", sys_uptime_ticks=uptime, sys_object_id="1.3.6.1.4.1.4526.1",
        entities=[EntityInfo(index=1, physical_class=3, model="GS728TP", software_rev="6.1")],
        interfaces=[_if(1, "g1", 1000, in_octets=octets, out_octets=0, counters_64bit=True)],
        neighbours=[_nb(1, "g1", "rtr", "Gi0/0")])
    merged = merge_measured(base, AuditResult(devices=[core]))
    assert base.node("core").model == "GS724T"  # base unchanged
    n = merged.node("core")
    assert (n.vendor, n.model, n.firmware) == ("Netgear", "GS728TP", "6.1")
    link = next(lk for lk in merged.links if {lk.a, lk.b} == {"core", "rtr"})
    assert link.capacity_mbps == 1000
    assert link.background_mbps == 30.0
    assert [len(merged.links), len(merged.nodes)] == [len(base.links), len(base.nodes)]
    assert merged.measured is not None and merged.measured.snmp is not None
    assert merged.measured.snmp.answered == 1
    assert merged.measured.snmp.infrastructure_devices == 5
    assert merged.measured.extra["snmp"]["unseen_base_nodes"] == ["es-sw", "hs-sw", "ms-sw"]


def test_silent_neighbours_count_as_infrastructure_only_with_evidence() -> None:
    # A silent "Aruba 2930F switch" neighbour lowers coverage; a silent "AXIS" device
    # (nothing says it is network gear) is kept as a node but not counted.
    sw = _dev("sw", "switch", [_if(1, "p1"), _if(2, "p2")],
              [_nb(1, "p1", "dist-9", "49", remote_sys_descr="Aruba 2930F switch"),
               _nb(2, "p2", "axis", "eth0", remote_sys_descr="AXIS")])
    res = facts_to_district(AuditResult(devices=[sw]))
    assert {n.id for n in res.district.nodes} == {"sw", "dist-9", "axis"}
    assert (res.measured.infrastructure_devices, res.measured.answered) == (2, 1)


def test_merge_measured_uses_p95_of_the_poll_history(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from netstage.auditor.facts import Timings
    from netstage.auditor.store import HistoryStore

    base = load_district(TOPOLOGIES / "stage1-lab-era.yaml")

    def core(t: float, octets: int) -> DeviceFacts:
        return DeviceFacts(
            target=SnmpTarget(address="10.1.1.1", name="core"), ok=True, snmp_version="v2c",
            sys_name="core", sys_uptime_ticks=int(100_000 + t * 100),
            timings=Timings(started_at=datetime.fromtimestamp(1000 + t, UTC)),
            interfaces=[_if(1, "g1", 100, in_octets=octets, out_octets=0, counters_64bit=True)],
            neighbours=[_nb(1, "g1", "rtr", "Gi0/0")])

    # intervals of 300 s at 10, 20, ..., 50 Mb/s (in): p95 = 40 + 0.8 * 10 = 48 Mb/s
    octets, samples = 0, [core(0, 0)]
    for k, mbps in enumerate((10, 20, 30, 40, 50), start=1):
        octets += mbps * 1_000_000 * 300 // 8
        samples.append(core(300 * k, octets))
    with HistoryStore(tmp_path / "h.db") as store:
        for dev in samples:
            store.record_poll([dev])
        merged = merge_measured(base, AuditResult(devices=[samples[-1]]), store=store)
    link = next(lk for lk in merged.links if {lk.a, lk.b} == {"core", "rtr"})
    assert link.background_mbps == pytest.approx(48.0)
    assert merged.measured is not None and merged.measured.snmp is not None
    assert merged.measured.snmp.history_days == pytest.approx(1500 / 86400, abs=1e-3)


def test_unmappable_port_names_do_not_double_a_link() -> None:
    # Both ends answered, but each announces its port by a name the other cannot map
    # ("uplink" is nobody's ifName): still one link, not a 2-member LAG.
    a = _dev("a", "switch", [_if(1, "Gi1")], [_nb(1, "Gi1", "b", "uplink")])
    b = _dev("b", "switch", [_if(7, "Te7")], [_nb(7, "Te7", "a", "downlink")])
    res = facts_to_district(AuditResult(devices=[a, b]))
    assert [(lk.a, lk.b, lk.capacity_mbps, lk.lag_members) for lk in res.district.links] == [
        ("a", "b", 1000, None)]
    assert [(pa.label, pb.label if pb else None) for pa, pb in res.link_ports["a--b"]] == [
        ("a:Gi1", "b:Te7")]
    # LLDP port id subtype "local" carrying the ifIndex is understood too
    c = _dev("c", "switch", [_if(3, "x3")], [_nb(3, "x3", "d", "12")])
    d = _dev("d", "switch", [_if(12, "y12", 100)], [])
    res = facts_to_district(AuditResult(devices=[c, d]))
    assert res.district.links[0].capacity_mbps == 100
    assert [m.kind for m in res.mismatches] == ["speed"]


def _stacked_core(entities: list[EntityInfo]) -> DeviceFacts:
    return DeviceFacts(
        target=SnmpTarget(address="10.1.1.1", name="core"), ok=True, snmp_version="v2c",
        sys_name="core", sys_object_id="1.3.6.1.4.1.9.1", entities=entities,
        interfaces=[_if(1, "g1", 1000)], neighbours=[_nb(1, "g1", "rtr", "Gi0/0")])


STACK_OF_TWO = [
    EntityInfo(index=1, physical_class=11, name="Stack"),
    EntityInfo(index=1001, physical_class=3, contained_in=1, model="WS-C2960X-48FPS-L"),
    EntityInfo(index=2001, physical_class=3, contained_in=1, serial="FOC123"),
    EntityInfo(index=3001, physical_class=3, contained_in=1),  # empty slot
    EntityInfo(index=1002, physical_class=9, contained_in=1001, model="C2960X-STACK"),
]


def test_merge_measured_sets_a_measured_stack_unless_one_is_declared() -> None:
    base = load_district(TOPOLOGIES / "stage1-lab-era.yaml")
    merged = merge_measured(base, AuditResult(devices=[_stacked_core(STACK_OF_TWO)]))
    st = merged.node("core").stack
    assert st is not None and (st.members, st.redundant, st.kind) == (2, True, "stack")
    # one chassis under the stack entity: a lone stackable switch, no stack
    lone = merge_measured(base, AuditResult(devices=[_stacked_core(STACK_OF_TWO[:2])]))
    assert lone.node("core").stack is None
    # a declared stack wins over the measured one
    data = base.model_dump(mode="json")
    next(n for n in data["nodes"] if n["id"] == "core")["stack"] = {
        "members": 4, "redundant": False}
    declared = type(base).model_validate(data)
    kept = merge_measured(declared, AuditResult(devices=[_stacked_core(STACK_OF_TWO)]))
    st = kept.node("core").stack
    assert st is not None and (st.members, st.redundant) == (4, False)
