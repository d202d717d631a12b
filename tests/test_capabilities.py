"""LLDP/CDP capabilities: decoding (TLV, LLDP-MIB BITS in its real-world forms, CDP) and
their use by the normaliser for neighbours that do not answer SNMP.

Expected values are checked independently: the capture cases against tshark's own
decode (``tshark -V``: "Bridge: Capable", "Router: Yes"...), the recording cases against
what the neighbour says it is in its system description (an "ArubaOS (MODEL: 515) ...
Aruba AP" is a Wi-Fi AP, a Yealink "SIP-T41S" is a phone, "AXIS" is a camera).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netstage.auditor.capabilities import (
    LLDP_NAMES,
    from_cdp,
    from_lldp_mib,
    from_lldp_tlv,
    kind_hint,
)
from netstage.auditor.capture import analyse_capture
from netstage.auditor.capture.neighbours import neighbour_facts
from netstage.auditor.facts import AuditResult, DeviceFacts
from netstage.auditor.normalise import facts_to_district
from netstage.auditor.snmp.collector import CollectTarget, ReplayCollector
from netstage.auditor.snmp.credentials import Secret, SnmpCredential
from netstage.auditor.twin import _capabilities
from netstage.simulator.model import NodeKind

from .support import shared_path


def test_lldp_mib_octets_are_msb_first() -> None:
    assert from_lldp_mib(b"\x28\x00") == ["bridge", "router"]  # bits 2 and 4
    assert from_lldp_mib(b"\x10") == ["wlanAccessPoint"]
    assert from_lldp_mib(b"\x01\x00") == ["stationOnly"]
    assert from_lldp_mib(b"\x00\x20") == ["twoPortMACRelay"]  # bit 10
    assert from_lldp_mib(b"") == []
    assert from_lldp_mib(None) is None


@pytest.mark.parametrize(("text", "names"), [
    ("28 2 4", ["bridge", "router"]),
    ("10 3", ["wlanAccessPoint"]),
    ("24 2 5", ["bridge", "telephone"]),
    ("01 00 7", ["stationOnly"]),
    ("00 20 10", ["twoPortMACRelay"]),  # "10" is a bit number here, not an octet
    ("00 00", []),
    ("00", []),
    # Dell OS10 sends display text as the octets; net-snmp then displays those octets
    ("36 38 20 31 20 32 20 34 2 3 5 6 10 11 12 18 26 27 31 34 42 43 46 50 58 59 61",
     ["repeater", "bridge", "router"]),
    ("30 30 2 3 10 11", []),
])
def test_lldp_mib_display_forms_in_recordings(text: str, names: list[str]) -> None:
    assert from_lldp_mib(text.encode()) == names


def test_lldp_mib_inconsistent_display_form_is_unknown() -> None:
    assert from_lldp_mib(b"28 2 5") is None  # bits listed do not match the octet


def test_routeros_integer_is_the_byte_swapped_tlv_field() -> None:
    assert from_lldp_mib(5120) == ["bridge", "router"]
    assert from_lldp_mib(1024) == ["bridge"]
    assert from_lldp_mib(0) == []
    assert from_lldp_mib(-1) is None


def test_cdp_word() -> None:
    # tshark on VlanPackets.pcap: 0x00000029 = Router, Switch, IGMP capable
    assert from_cdp(bytes.fromhex("00000029")) == ["bridge", "router"]
    assert from_cdp(bytes.fromhex("29000000")) == ["bridge", "router"]  # host byte order
    assert from_cdp(0x90) == ["telephone", "stationOnly"]  # Cisco IP phone: host + phone
    assert from_cdp(bytes.fromhex("ffffffff")) is None
    assert from_cdp(b"\x01") is None


@given(st.sets(st.integers(min_value=0, max_value=len(LLDP_NAMES) - 1)))
def test_mib_and_tlv_encodings_agree(bits: set[int]) -> None:
    tlv = sum(1 << b for b in bits)
    octets = bytearray(2)
    for b in bits:
        octets[b // 8] |= 0x80 >> (b % 8)
    expected = [LLDP_NAMES[b] for b in sorted(bits)]
    assert from_lldp_tlv(tlv) == expected
    assert from_lldp_mib(bytes(octets)) == expected


@pytest.mark.parametrize(("kind", "names"), [
    (NodeKind.AP, ["wlanAccessPoint"]), (NodeKind.EDGE, ["router"]),
    (NodeKind.ACCESS, ["bridge"]), (NodeKind.SERVER, ["stationOnly"])])
def test_twin_encoding_reads_back(kind: NodeKind, names: list[str]) -> None:
    assert from_lldp_mib(bytes([_capabilities(kind), 0])) == names


def test_kind_hints() -> None:
    assert kind_hint(["bridge", "telephone"]) == "endpoint"  # a phone's PC port bridges
    assert kind_hint(["stationOnly"]) == "endpoint"
    assert kind_hint(["bridge", "wlanAccessPoint", "router"]) == NodeKind.AP
    assert kind_hint(["router"]) == NodeKind.EDGE
    assert kind_hint(["bridge", "router"]) is None  # a layer-3 switch: topology decides
    assert kind_hint(None) is None


# tshark -V of the shared captures (System Capabilities TLV / CDP Capabilities; the
# enabled set where the TLV has one)
TSHARK_CAPTURE_CAPABILITIES = {
    ("lldp.detailed.pcap", "Summit300-48"): ["bridge", "router"],
    ("lldp_mudurl.pcap", "upstairs.ofcourseimright.com"): ["wlanAccessPoint"],
    ("cdp_v2.pcap", "myswitch"): ["bridge"],
    ("VlanPackets.pcap", "R1"): ["bridge", "router"],
    ("VlanPackets.pcap", "S1"): ["bridge"],
    ("n0.eth2.cdp.pcap", "csr706a.pbm.ihost.com"): ["bridge", "router"],
}


@pytest.mark.parametrize(("capture", "system"), sorted(TSHARK_CAPTURE_CAPABILITIES))
def test_capture_capabilities_match_tshark(capture: str, system: str) -> None:
    summary = analyse_capture(shared_path("pcap", capture))
    found = {n.remote_sysname: n.remote_capabilities
             for n in neighbour_facts(summary.neighbours)}
    assert found[system] == TSHARK_CAPTURE_CAPABILITIES[(capture, system)]


def _replay(name: str) -> DeviceFacts:
    directory = shared_path("snmprec")
    target = CollectTarget(address="127.0.0.1", name=name, credential=SnmpCredential(
        profile="replay", version="v2c", community=Secret(name)))
    dev = asyncio.run(ReplayCollector(Path(directory)).collect(target))
    assert dev.ok, dev.failure
    return dev


@pytest.mark.parametrize(("recording", "descr_pattern", "names", "count"), [
    ("arubaos-cx_10.07", "Aruba AP", ["wlanAccessPoint"], 26),
    ("fortiswitch_148f-fpoe", "", ["bridge", "telephone"], 3),  # Yealink SIP-T41S phones
    ("procurve", "Polycom", ["telephone"], 1),
    ("procurve", "AXIS", ["stationOnly"], 3),
    ("routeros", "Comware", ["bridge", "router"], 1),  # INTEGER 5120
    ("routeros", "2530-8G", ["bridge"], 1),  # INTEGER 1024, an HP 2530 switch
    ("dell-os10", "Dell EMC", ["repeater", "bridge", "router"], 2),  # nested display text
    ("dell-os10", "Juniper", ["bridge", "router"], 1),
])
def test_recording_capabilities_fit_the_neighbours(recording: str, descr_pattern: str,
                                                   names: list[str], count: int) -> None:
    dev = _replay(recording)
    hits = [n for n in dev.neighbours if n.remote_capabilities == names
            and descr_pattern in f"{n.remote_sys_descr or ''} {n.remote_platform or ''}"]
    assert len(hits) == count, [(n.remote_sysname, n.remote_capabilities)
                                for n in dev.neighbours]


def test_normaliser_leaves_phones_and_cameras_out_and_makes_aps() -> None:
    devices = [_replay(n) for n in ("fortiswitch_148f-fpoe", "procurve", "arubaos-cx_10.07")]
    res = facts_to_district(AuditResult(devices=devices))
    kinds = {n.id: n.kind for n in res.district.nodes}
    assert "SIP-T41S" in res.endpoints  # phones: bridge + telephone
    assert "Polycom SoundPoint IP 335" in res.endpoints
    assert "axis" in res.endpoints  # camera: station only
    assert not any(k.lower().startswith(("sip-t41s", "axis", "polycom")) for k in kinds)
    aps = [nid for nid, k in kinds.items() if k == NodeKind.AP]
    assert aps and all(nid.startswith("aruba-ap-name") for nid in aps), kinds
