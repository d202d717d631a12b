"""Normalisation of real device recordings (../shared/data/snmprec, LibreNMS expectations).

For every recording whose LibreNMS JSON lists discovery-protocol links, each listed
neighbour must come out of the normaliser as a link on the same local port (or as an end
device, or as the device seeing itself over stack links), and named after the neighbour's
announced system name.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from netstage.auditor.facts import AuditResult
from netstage.auditor.normalise import facts_to_district
from netstage.auditor.snmp.collector import CollectTarget, ReplayCollector
from netstage.auditor.snmp.credentials import Secret, SnmpCredential

from .support import SHARED, shared_path

SNMPREC = SHARED / "data" / "snmprec"


def _with_links() -> list[str]:
    if not SNMPREC.exists():
        return ["(missing)"]
    out = []
    for j in sorted(SNMPREC.glob("*.json")):
        if '"discovery-protocols"' in j.read_text(encoding="utf-8"):
            out.append(j.stem)
    return out


@pytest.mark.parametrize("name", _with_links())
def test_expected_neighbours_become_links(name: str) -> None:
    directory = shared_path("snmprec")
    expected = json.loads((directory / f"{name}.json").read_text(encoding="utf-8"))
    links = expected["discovery-protocols"]["discovery"]["links"]
    target = CollectTarget(address="127.0.0.1", name=name, credential=SnmpCredential(
        profile="replay", version="v2c", community=Secret(name)))
    dev = asyncio.run(ReplayCollector(Path(directory)).collect(target))
    assert dev.ok
    res = facts_to_district(AuditResult(devices=[dev]))
    me = res.device_node[0]
    ours: dict[str, set[str]] = {}  # our port name -> peer node ids
    for key, members in res.link_ports.items():
        lk = next(x for x in res.district.links if x.key == key)
        peer = lk.b if lk.a == me else lk.a
        for pa, pb in members:
            mine = pa if pa.node == me else pb
            assert mine is not None and mine.node == me
            iface = dev.interface(mine.if_index) if mine.if_index is not None else None
            for label in {mine.if_name, iface.name if iface else None,
                          iface.descr if iface else None} - {None}:
                ours.setdefault(str(label), set()).add(peer)
    self_ports = {p for m in res.mismatches if m.kind == "self_link"
                  for p in m.values["ports"]}
    announced = {nb.local_if_name: nb.remote_sysname for nb in dev.neighbours}
    problems = []
    for link in links:
        remote = link["remote_hostname"]
        if remote == "<private>":
            continue
        if remote in res.endpoints or f"{me}:{link['ifName']}" in self_ports:
            continue
        peers = ours.get(link["ifName"]) or ours.get(link["ifDescr"])
        if not peers:
            problems.append(f"no link on {link['ifName']} to {remote}")
            continue
        if announced.get(link["ifName"]) is None:
            continue  # no sysName announced: LibreNMS shows another field as the name
        want = remote.split("(")[0].strip().replace(" ", "_")
        if not any(p == want or p.startswith(want + "-") or p.startswith(want.split(".")[0])
                   for p in peers):
            problems.append(f"{link['ifName']}: peer {sorted(peers)} is not {remote}")
    assert problems == []
    # every expected local port with a neighbour is covered; nothing invented
    assert len(res.district.links) <= len({(n.local_if_index, n.remote_sysname)
                                           for n in dev.neighbours})


@pytest.mark.parametrize(("name", "members"), [
    ("ios_2960x", 3),  # three WS-C2960X chassis under one stack entity
    ("iosxe_c9400-svl", 2),  # StackWise Virtual: two C9404R chassis
    ("ciscosb_cbs350-4x", 2),  # four unit rows, two of them empty slots
    ("iosxe_c9300", None),  # a stack entity holding one chassis: a lone switch
    ("arista_eos", None),  # no stack entity at all
])
def test_stack_members_from_entity_mib(name: str, members: int | None) -> None:
    directory = shared_path("snmprec")
    target = CollectTarget(address="127.0.0.1", name=name, credential=SnmpCredential(
        profile="replay", version="v2c", community=Secret(name)))
    dev = asyncio.run(ReplayCollector(Path(directory)).collect(target))
    assert dev.ok
    res = facts_to_district(AuditResult(devices=[dev]))
    node = res.district.node(res.device_node[0])
    if members is None:
        assert node.stack is None
    else:
        assert node.stack is not None
        assert (node.stack.members, node.stack.redundant, node.stack.kind) == (
            members, True, "stack")
