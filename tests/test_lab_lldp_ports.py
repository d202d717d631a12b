"""LLDP local ports numbered by bridge port (LLDP-MIB LldpPortNumber = dot1dBasePort on a
bridge), two interfaces with one name, and the per-device warning for unresolved ports.

The device here is written by hand as an OID tree: ifIndexes 10, 11, 12 where 11 and 12
share the ifName "ge2" (a real pattern: a port and its sub-interface), BRIDGE-MIB maps
bridge ports 1 -> 10, 2 -> 12, 3 -> 11, and the LLDP local port numbers are bridge ports
(1, 2, 3), not ifIndexes; port 7 exists nowhere.
"""

from __future__ import annotations

from netstage.auditor.facts import SnmpTarget
from netstage.auditor.snmp import oids
from netstage.auditor.snmp.neighbours import parse_neighbours, unresolved_ports_warning
from netstage.auditor.snmp.parse import device_facts, parse_interfaces
from netstage.auditor.snmp.values import Oid, OidTree, Value

IF_NAME = (*oids.IF_X_ENTRY, 1)
IF_DESCR = (*oids.IF_ENTRY, 2)
IF_TYPE = (*oids.IF_ENTRY, 3)
REM = oids.LLDP_REM_ENTRY
LOC = oids.LLDP_LOC_PORT_ENTRY


def _tree(*, bridge: bool = True, loc_table: bool = True, extra_port: int | None = 7
          ) -> OidTree:
    items: list[tuple[Oid, Value]] = []
    for idx, name, descr in ((10, b"ge1", b"GigabitEthernet 1"),
                             (11, b"ge2", b"GigabitEthernet 2"),
                             (12, b"ge2", b"GigabitEthernet 2.100")):
        items += [((*IF_NAME, idx), name), ((*IF_DESCR, idx), descr), ((*IF_TYPE, idx), 6)]
    if bridge:
        items += [((*oids.DOT1D_BASE_PORT_IF_INDEX, 1), 10),
                  ((*oids.DOT1D_BASE_PORT_IF_INDEX, 2), 12),
                  ((*oids.DOT1D_BASE_PORT_IF_INDEX, 3), 11)]
    ports = [1, 2, 3] + ([extra_port] if extra_port else [])
    for k, port in enumerate(ports, start=1):
        if loc_table and port != 1:  # port 1: no lldpLocPortTable row at all
            items += [((*LOC, 2, port), 5), ((*LOC, 3, port), b"ge2" if port in (2, 3)
                                               else b"nope")]
        rem = (0, port, k)
        items += [((*REM, 4, *rem), 4), ((*REM, 5, *rem), bytes([0, 1, 2, 3, 4, k])),
                  ((*REM, 6, *rem), 5), ((*REM, 7, *rem), b"Gi0/%d" % k),
                  ((*REM, 9, *rem), b"peer%d" % k)]
    return OidTree(items)


def _by_peer(tree: OidTree) -> dict[str | None, int | None]:
    nbs = parse_neighbours(tree, parse_interfaces(tree))
    return {n.remote_sysname: n.local_if_index for n in nbs}


def test_bridge_port_numbers_map_through_dot1d_base_port() -> None:
    got = _by_peer(_tree())
    # 1: no loc row -> bridge port 1 -> ifIndex 10 (not "ifIndex 1", which does not exist)
    # 2 and 3: lldpLocPortId "ge2" names two interfaces -> the bridge port decides
    assert got["peer1"] == 10
    assert got["peer2"] == 12
    assert got["peer3"] == 11
    assert got["peer4"] is None  # port 7: in no table


def test_without_bridge_mib_ambiguous_names_stay_unresolved() -> None:
    got = _by_peer(_tree(bridge=False))
    assert got["peer1"] is None and got["peer2"] is None and got["peer3"] is None


def test_unresolved_local_ports_are_a_device_warning() -> None:
    facts = device_facts(_tree(), SnmpTarget(address="127.0.0.1"))
    lost = [w for w in facts.warnings if "no resolvable local port" in w]
    assert lost == [lost[0]] and "1 of 4 neighbours" in lost[0] and "7" in lost[0]
    clean = device_facts(_tree(extra_port=None), SnmpTarget(address="127.0.0.1"))
    assert not [w for w in clean.warnings if "local port" in w]
    # every neighbour without a local port (the case seen on real recordings: 22
    # neighbours, none placed) is reported, not silently kept
    none = device_facts(_tree(bridge=False, loc_table=False), SnmpTarget(address="127.0.0.1"))
    assert any("4 of 4 neighbours" in w for w in none.warnings)
    # meta warnings given by the collector are kept beside it
    both = device_facts(_tree(), SnmpTarget(address="127.0.0.1"), warnings=["walk: slow"])
    assert both.warnings[0] == "walk: slow" and len(both.warnings) == 2


def test_warning_text_lists_port_numbers() -> None:
    assert unresolved_ports_warning([]) is None


def test_row_with_only_a_system_description_is_kept_and_named_by_it() -> None:
    from netstage.auditor.facts import AuditResult, summarise
    from netstage.auditor.normalise import facts_to_district

    base = _tree(extra_port=None)
    items = [(k, base.get(k)) for k in sorted(k for k, _ in base.subtree(()))]
    # a fourth row on bridge port 3 with only lldpRemSysDesc (col 10): an unmanaged box
    items.append(((*REM, 10, 0, 3, 9), b"Acme PoE injector 4\nrev 2"))
    items += [((1, 3, 6, 1, 2, 1, 1, 5, 0), b"sw1")]  # sysName
    tree = OidTree(items)
    nbs = parse_neighbours(tree, parse_interfaces(tree))
    only = [n for n in nbs if n.remote_sysname is None]
    assert len(only) == 1 and (only[0].remote_sys_descr or "").startswith("Acme PoE injector")
    assert only[0].local_if_index == 11  # bridge port 3
    facts = device_facts(tree, SnmpTarget(address="127.0.0.1"))
    audit = AuditResult(inventory=None, devices=[facts], summary=summarise([facts]))
    res = facts_to_district(audit)
    assert len(res.named_by_description) == 1
    nid = res.named_by_description[0]
    assert "acme" in nid.lower() and nid in {n.id for n in res.district.nodes}
    assert res.to_json()["named_by_description"] == [nid]
