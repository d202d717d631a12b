"""Collected facts from REAL device recordings (../shared/data/snmprec, from LibreNMS)
compared with LibreNMS's independently produced expectations (<name>.json).

Every recording is collected through the replay collector (same parser as live, no
network, fast); a representative subset is also collected live from a real snmpsim
agent, and live must equal replay there. Expected values come from the JSON files or,
where the README says so (no ``discovery-protocols`` in the JSON), from the raw snmprec
lines read by the small independent reader in this file, never from our parser.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from netstage.auditor.facts import DeviceFacts
from netstage.auditor.snmp.collector import CollectTarget, ReplayCollector
from netstage.auditor.snmp.credentials import Secret, SnmpCredential
from netstage.auditor.snmp.live import SnmpCollector

from .snmp_fixtures import Agent, snmpsim_agent
from .support import SHARED, shared_path

pytestmark = pytest.mark.shared

SNMPREC = SHARED / "data" / "snmprec"
# Small recordings that still cover the hard cases: lldpLocPortTable mapping (dell-os10),
# MikroTik's index (routeros), LLDP-V2 (panos_vsys), no IF-MIB (junos_ex), no
# lldpLocPortTable (fortigate). test_live_all_recordings (slow) covers every recording.
_LIVE_SUBSET = ["dell-os10", "routeros", "panos_vsys", "junos_ex", "fortigate_60fospfv3"]


def _names(suffix: str) -> list[Any]:
    names = sorted(p.stem for p in SNMPREC.glob(f"*{suffix}") if "@" not in p.stem)
    return names or [pytest.param("(none)", marks=pytest.mark.skip(
        reason="../shared/data/snmprec not present"))]


def _with_links() -> list[Any]:
    """Recordings whose JSON has discovery-protocols links (read at collection time)."""
    out = []
    for p in sorted(SNMPREC.glob("*.json")):
        exp = json.loads(p.read_text(encoding="utf-8"))
        if ((exp.get("discovery-protocols") or {}).get("discovery") or {}).get("links"):
            out.append(p.stem)
    return out or [pytest.param("(none)", marks=pytest.mark.skip(
        reason="../shared/data/snmprec not present"))]


def _target(community: str, host: str = "127.0.0.1", port: int = 161) -> CollectTarget:
    return CollectTarget(address=host, port=port, timeout_s=5, retries=1,
                         credential=SnmpCredential(profile="rec", version="v2c",
                                                   community=Secret(community)))


@pytest.fixture(scope="module")
def replay() -> ReplayCollector:
    return ReplayCollector(shared_path("snmprec"))


_FACTS: dict[tuple[int, str], DeviceFacts] = {}


def _collect(collector: ReplayCollector, name: str) -> DeviceFacts:
    """The replayed facts of one recording. Replay is deterministic and the tests only
    read the facts, so each recording is collected once per collector (the module's) and
    shared by the five tests that check it (the suite's time, not what it checks);
    the live-vs-replay tests still collect afresh."""
    key = (id(collector), name)
    if key not in _FACTS:
        _FACTS[key] = asyncio.run(collector.collect(_target(name)))
    facts = _FACTS[key]
    assert facts.ok, facts.failure
    return facts


def _expected(name: str) -> dict[str, Any]:
    return json.loads((shared_path("snmprec") / f"{name}.json").read_text(encoding="utf-8"))


def _raw(name: str) -> dict[str, tuple[str, str]]:
    """Independent snmprec reader: ``{oid: (tag, value text)}``; hex decoded to text."""
    out: dict[str, tuple[str, str]] = {}
    for line in (shared_path("snmprec") / f"{name}.snmprec").read_text(
            encoding="utf-8", errors="replace").splitlines():
        if line.count("|") < 2:
            continue
        oid, tag, value = line.split("|", 2)
        if tag.endswith("x"):
            raw = bytes.fromhex(value)
            value = raw.decode("utf-8", "replace") if all(32 <= b < 127 for b in raw) \
                else raw.hex()
        out[oid] = (tag, value)
    return out


# --- interfaces: names and speeds for the ports LibreNMS lists --------------------

@pytest.mark.parametrize("name", _names(".json"))
def test_interface_names_and_speeds_match_librenms(replay: ReplayCollector, name: str) -> None:
    exp = _expected(name)
    ports = ((exp.get("ports") or {}).get("poller") or {}).get("ports") or []
    if not ports:
        pytest.skip(f"{name}: LibreNMS lists no ports")
    facts = _collect(replay, name)
    by_index = {i.if_index: i for i in facts.interfaces}
    agree = 0
    bad: list[tuple[Any, ...]] = []
    for p in ports:
        ours = by_index.get(p["ifIndex"])
        # LibreNMS stores ifSpeed in b/s = ifHighSpeed x 1e6; null -> ifSpeed_prev.
        speed = p["ifSpeed"] if p.get("ifSpeed") is not None else p.get("ifSpeed_prev")
        if ours is None:
            bad.append((p["ifIndex"], "missing"))
            continue
        # LibreNMS falls back to ifDescr when a port has no ifName (ifXTable row).
        name_ok = p.get("ifName") is None or (ours.name or ours.descr) == p["ifName"]
        ours_bps = round(ours.speed_mbps * 1e6) if ours.speed_mbps is not None else 0
        speed_ok = speed is None or ours_bps == int(speed)
        if name_ok and speed_ok:
            agree += 1
        else:
            bad.append((p["ifIndex"], ours.name, p.get("ifName"), ours_bps, speed))
    assert agree / len(ports) >= 0.99, f"{name}: {agree}/{len(ports)} agree; first: {bad[:5]}"


@pytest.mark.parametrize("name", _names(".json"))
def test_interface_status_and_mac_match_librenms(replay: ReplayCollector, name: str) -> None:
    exp = _expected(name)
    ports = ((exp.get("ports") or {}).get("poller") or {}).get("ports") or []
    if not ports:
        pytest.skip(f"{name}: LibreNMS lists no ports")
    oper = {1: "up", 2: "down", 3: "testing", 4: "unknown", 5: "dormant", 6: "notPresent",
            7: "lowerLayerDown"}
    by_index = {i.if_index: i for i in _collect(replay, name).interfaces}
    checked = agree = 0
    for p in ports:
        ours = by_index.get(p["ifIndex"])
        if ours is None or p.get("ifOperStatus") is None or ours.oper_status is None:
            continue
        checked += 1
        mac_ok = (not p.get("ifPhysAddress") or ours.mac is None
                  or ours.mac.replace(":", "") == p["ifPhysAddress"].lower())
        agree += oper.get(ours.oper_status) == p["ifOperStatus"] and mac_ok
    if checked:
        assert agree / checked >= 0.99, f"{name}: {agree}/{checked}"


# --- neighbours ---------------------------------------------------------------

def _neighbour_keys(facts: DeviceFacts) -> set[tuple[str, str | None, str | None]]:
    """(protocol, local name, remote id) for every identity LibreNMS may have used:
    sysName, else sysDescr, else chassis id (its remote_hostname fallback chain)."""
    by_index = {i.if_index: i for i in facts.interfaces}
    keys: set[tuple[str, str | None, str | None]] = set()
    for n in facts.neighbours:
        local = by_index.get(n.local_if_index) if n.local_if_index is not None else None
        locals_ = {n.local_if_name, local.name if local else None,
                   local.descr if local else None}
        for remote in (n.remote_sysname, n.remote_sys_descr, n.remote_chassis_id):
            for loc in locals_:
                keys.add((n.protocol, loc, remote))
    return keys


@pytest.mark.parametrize("name", _with_links())
def test_librenms_neighbours_are_all_found(replay: ReplayCollector, name: str) -> None:
    links = ((_expected(name).get("discovery-protocols") or {}).get("discovery")
             or {}).get("links")
    if not links:
        pytest.skip(f"{name}: LibreNMS did not test neighbours")
    keys = _neighbour_keys(_collect(replay, name))
    missing = [(lk["protocol"], lk.get("ifName"), lk.get("remote_hostname")) for lk in links
               if (lk["protocol"], lk.get("ifName"), lk.get("remote_hostname")) not in keys
               and (lk["protocol"], lk.get("ifDescr"), lk.get("remote_hostname")) not in keys]
    assert not missing, f"{name}: not found {missing}"


_LLDP_REM = "1.0.8802.1.1.2.1.4.1.1."
_LLDP_LOC_PORT_ID = "1.0.8802.1.1.2.1.3.7.1.3."
_IF_NAME = "1.3.6.1.2.1.31.1.1.1.1."


def _norm_id(text: str | None) -> str:
    return "".join(c for c in (text or "").lower() if c not in ": -.")


@pytest.mark.parametrize("name", ["dell-os10", "arista_eos", "dnos", "edgeswitch_es-24-250w"])
def test_lldp_local_ports_from_raw_rows(replay: ReplayCollector, name: str) -> None:
    """No JSON links: expected (local ifName, remote chassis id) straight from the rows,
    the local port mapped as the README prescribes (lldpLocPortId = ifName, else the
    port number is the ifIndex)."""
    raw = _raw(name)
    if_names = {oid[len(_IF_NAME):]: v for oid, (_, v) in raw.items() if oid.startswith(_IF_NAME)}
    by_name = {v: k for k, v in if_names.items()}
    loc_ids = {oid[len(_LLDP_LOC_PORT_ID):]: v for oid, (_, v) in raw.items()
               if oid.startswith(_LLDP_LOC_PORT_ID)}
    expected = set()
    for oid, (_, value) in raw.items():
        if not oid.startswith(_LLDP_REM + "5."):  # lldpRemChassisId
            continue
        _, local_port, _ = oid[len(_LLDP_REM) + 2:].split(".")
        port_id = loc_ids.get(local_port)
        if_index = by_name.get(port_id or "", local_port)
        expected.add((if_names.get(if_index), _norm_id(value)))
    assert expected
    facts = _collect(replay, name)
    got = {(n.local_if_name, _norm_id(n.remote_chassis_id))
           for n in facts.neighbours if n.protocol == "lldp"}
    assert expected <= got, f"{name}: missing {expected - got}"


def test_dell_os10_port_numbers_are_not_if_indexes(replay: ReplayCollector) -> None:
    facts = _collect(replay, "dell-os10")
    lldp = [n for n in facts.neighbours if n.protocol == "lldp"]
    assert lldp and all(n.local_if_index is not None for n in lldp)
    # the recording's local port numbers (4, 612, ...) are not its ifIndexes (10, 13, ...)
    assert any(n.local_port_num != n.local_if_index for n in lldp)
    names = {i.if_index: i.name for i in facts.interfaces}
    assert all(names[n.local_if_index] == n.local_if_name for n in lldp
               if n.local_if_index is not None)


def test_routeros_single_integer_lldp_index(replay: ReplayCollector) -> None:
    raw = _raw("routeros")
    rows = {oid[len(_LLDP_REM):].split(".", 1)[1] for oid in raw if oid.startswith(_LLDP_REM)}
    non_empty = {r for r in rows if raw.get(f"{_LLDP_REM}9.{r}", ("", ""))[1]
                 or raw.get(f"{_LLDP_REM}5.{r}", ("", ""))[1]}
    facts = _collect(replay, "routeros")
    lldp = [n for n in facts.neighbours if n.protocol == "lldp"]
    assert len(lldp) >= len(non_empty) - 1 > 0  # exact duplicates are merged
    assert all(n.local_if_name for n in lldp)


def test_panos_lldp_v2_neighbour(replay: ReplayCollector) -> None:
    links = _expected("panos_vsys")["discovery-protocols"]["discovery"]["links"]
    facts = _collect(replay, "panos_vsys")
    got = {(n.local_if_name, n.remote_sysname) for n in facts.neighbours}
    assert {(lk["ifName"], lk["remote_hostname"]) for lk in links} <= got


@pytest.mark.parametrize("name", _names(".json"))
def test_system_and_entity_match_librenms(replay: ReplayCollector, name: str) -> None:
    exp = _expected(name)
    dev = ((exp.get("os") or {}).get("discovery") or {}).get("devices") or []
    if not dev:
        pytest.skip(f"{name}: no os module")
    facts = _collect(replay, name)
    d = dev[0]
    assert facts.sys_object_id == (d.get("sysObjectID") or "").lstrip(".") or None
    if d.get("sysDescr"):
        assert facts.sys_descr is not None
        assert " ".join(facts.sys_descr.split()) == " ".join(d["sysDescr"].split())
    ents = ((exp.get("entity-physical") or {}).get("discovery") or {}).get("entPhysical") or []
    if not any(oid.startswith("1.3.6.1.2.1.47.1.1.1.1.") for oid in _raw(name)):
        ents = []  # LibreNMS built these from vendor MIBs; the recording has no ENTITY-MIB
    ours = {e.index: e for e in facts.entities}
    for e in ents:
        o = ours.get(e["entPhysicalIndex"])
        assert o is not None, f"{name}: entity {e['entPhysicalIndex']} missing"
        for field, key in (("model", "entPhysicalModelName"), ("serial", "entPhysicalSerialNum"),
                           ("physical_class", "entPhysicalClass")):
            want = e.get(key)
            got = getattr(o, field)
            if want in (None, "") or field == "physical_class":
                continue  # LibreNMS stores class as a name; covered by the model check
            assert (got or "").strip() == str(want).strip(), (name, key, got, want)


@pytest.mark.parametrize("name", ["junos_ex", "ironware_stack-temp", "ruckuswireless-sz",
                                  "xos_sfp", "ios_c3560"])
def test_sparse_recordings_do_not_crash(replay: ReplayCollector, name: str) -> None:
    facts = _collect(replay, name)
    assert facts.ok and facts.sys_descr


def test_every_recording_parses(replay: ReplayCollector) -> None:
    names = [p.stem for p in shared_path("snmprec").glob("*.snmprec")]
    assert len(names) >= 41
    for name in names:
        assert _collect(replay, name).ok


# --- live snmpsim: same facts as replay -------------------------------------

@pytest.fixture(scope="module")
def live_agent() -> Iterator[Agent]:
    files = [shared_path("snmprec") / f"{n}.snmprec" for n in _LIVE_SUBSET]
    with snmpsim_agent(files) as agent:
        yield agent


def test_live_snmpsim_equals_replay(live_agent: Agent, replay: ReplayCollector) -> None:
    async def both() -> list[tuple[DeviceFacts, DeviceFacts]]:
        live = SnmpCollector(concurrency=8)
        try:
            targets = [_target(n, live_agent.host, live_agent.port) for n in _LIVE_SUBSET]
            got = await asyncio.gather(*(live.collect(t) for t in targets))
            want = await asyncio.gather(*(replay.collect(t) for t in targets))
        finally:
            live.close()
        return list(zip(got, want, strict=True))

    for live_facts, replay_facts in asyncio.run(both()):
        assert live_facts.ok, live_facts.failure
        assert not live_facts.warnings
        assert live_facts.timings.n_requests > 0
        a = live_facts.model_dump(exclude={"timings"})
        b = replay_facts.model_dump(exclude={"timings"})
        assert a == b, live_facts.target


def _live_vs_replay(agent: Agent, replay: ReplayCollector, names: list[str]) -> list[str]:
    async def run() -> list[str]:
        live = SnmpCollector(concurrency=4)
        bad = []
        try:
            targets = [CollectTarget(address=agent.host, port=agent.port, timeout_s=10,
                                     retries=2, credential=_target(n).credential)
                       for n in names]
            got = await asyncio.gather(*(live.collect(t) for t in targets))
            for name, t, g in zip(names, targets, got, strict=True):
                want = await replay.collect(t)
                if not g.ok or g.model_dump(exclude={"timings"}) != \
                        want.model_dump(exclude={"timings"}):
                    bad.append(f"{name} ({g.failure or 'facts differ'})")
        finally:
            live.close()
        return bad

    return asyncio.run(run())


@pytest.mark.slow
def test_live_all_recordings_equal_replay(replay: ReplayCollector) -> None:
    """Every recording served by snmpsim gives the facts its replay gives (~1-2 min)."""
    names = sorted(p.stem for p in shared_path("snmprec").glob("*.snmprec"))
    with snmpsim_agent(shared_path("snmprec"), startup_timeout_s=120) as agent:
        bad = _live_vs_replay(agent, replay, names)
    assert not bad, f"live != replay for {bad}"


@pytest.mark.parametrize("name", _names(".json"))
def test_vlans_and_ipv4_addresses_match_librenms(replay: ReplayCollector, name: str) -> None:
    exp = _expected(name)
    facts = _collect(replay, name)
    vlans = ((exp.get("vlans") or {}).get("discovery") or {}).get("vlans") or []
    has_qbridge = any(oid.startswith("1.3.6.1.2.1.17.7.1.4.3.1.1.") for oid in _raw(name))
    checked = False
    if vlans and has_qbridge:  # else LibreNMS read them from vendor MIBs
        ours = {v.vlan_id: v.name for v in facts.vlans}
        assert {v["vlan_vlan"] for v in vlans} <= set(ours), name
        for v in vlans:  # LibreNMS names nameless VLANs "VLAN <id>"
            if ours[v["vlan_vlan"]] and v.get("vlan_name") != f"VLAN {v['vlan_vlan']}":
                assert ours[v["vlan_vlan"]] == v["vlan_name"], (name, v)
        checked = True
    addrs = ((exp.get("ipv4-addresses") or {}).get("discovery") or {}).get("ipv4_addresses")
    if addrs:
        ours_ip = {a.address: a.prefix_length for a in facts.ip_addresses}
        assert {a["ipv4_address"] for a in addrs} <= set(ours_ip), name
        # LibreNMS assumes /24 without a mask and /8 for a 0.0.0.0 loopback mask
        known = [a for a in addrs if ours_ip[a["ipv4_address"]]]
        assert all(ours_ip[a["ipv4_address"]] == a["ipv4_prefixlen"] for a in known), name
        checked = True
    if not checked:
        pytest.skip(f"{name}: no Q-BRIDGE VLANs or IPv4 addresses expected")
