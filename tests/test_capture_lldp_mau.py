"""LLDP IEEE 802.3 MAC/PHY Configuration/Status TLV: decode, MAU table, merge capacity.

Expectations: tshark's own decode of the shared LLDP captures (autoneg status, PMD
advertised capability, operational MAU type) and of hand-built frames (its MAU type
names for types 1-53), and speeds written from the 802.3 names (``100BASE-TX`` ->
100 Mb/s), not from the decoder's output.
"""

from __future__ import annotations

import dataclasses
import re
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from netstage.auditor.capture import CaptureSummary, analyse_capture, control
from netstage.auditor.capture.mau import decode_mac_phy, mau_table
from netstage.auditor.capture_merge import DEFAULT_CAPACITY_MBPS, merge_capture
from netstage.simulator.io import load_district

from .support import TOPOLOGIES, shared_path, tshark, write_pcap

pytestmark = pytest.mark.skipif(not control.scapy_available(), reason="scapy extra missing")

LLDP_FILES = ["LLDP_and_CDP.pcap", "lldp.detailed.pcap", "lldp_mudurl.pcap",
              "lldpmed_civicloc.pcap", "sg200.pcap", "lldp.pcap"]


def _tlv(t: int, v: bytes) -> bytes:
    return struct.pack(">H", (t << 9) | len(v)) + v


def _mac_phy(status: int, caps: int, mau: int) -> bytes:
    return _tlv(127, b"\x00\x12\x0f\x01" + struct.pack(">BHH", status, caps, mau))


def _lldpdu(name: str, *extra: bytes, mac: bytes = b"\x02\x00\x00\x00\x00\x09") -> bytes:
    return (_tlv(1, b"\x04" + mac) + _tlv(2, b"\x05" + b"1/1/1") + _tlv(3, b"\x00\x78")
            + _tlv(5, name.encode()) + b"".join(extra) + _tlv(0, b""))


def _write_pcap(path: Path, pdus: list[bytes]) -> Path:
    return write_pcap(path, [b"\x01\x80\xc2\x00\x00\x0e" + bytes([2, 0, 0, 0, 0, k + 1])
                             + b"\x88\xcc" + pdu for k, pdu in enumerate(pdus)], first_ts=0)


def _tshark(path: Path, *args: str) -> str:
    exe = tshark()
    return subprocess.run([exe, "-r", str(path), *args], capture_output=True,
                          text=True, check=True, timeout=60).stdout


# --- against tshark on the shared captures -------------------------------------------

@pytest.mark.parametrize("name", LLDP_FILES)
def test_decode_matches_tshark_on_shared_captures(name: str) -> None:
    path = shared_path(f"pcap/{name}")
    rows = _tshark(path, "-Y", "lldp", "-T", "fields", "-E", "separator=;",
                   "-e", "lldp.ieee.802_3.mac_phy_auto_neg_status",
                   "-e", "lldp.ieee.802_3.pmd_auto_neg_advertised_caps",
                   "-e", "lldp.ieee.802_3.pmd_mau_type")
    want: set[tuple[bool | None, bool | None, int | None, int | None]] = set()
    for line in rows.splitlines():
        st, caps, mau = line.split(";")
        if mau:
            s = int(st, 16)
            want.add((bool(s & 1), bool(s & 2), int(caps, 16), int(mau, 16)))
        else:
            want.add((None, None, None, None))
    got = set()
    for n in analyse_capture(path).neighbours:
        if n["protocol"] != "lldp":
            continue
        caps = n["pmd_autoneg_advertised"]
        got.add((n["autoneg_supported"], n["autoneg_enabled"],
                 int(caps, 16) if caps else None, n["mau_type"]))
    assert got == want


def test_shared_100base_tx_fd_adverts_give_100_mbps_full() -> None:
    s = analyse_capture(shared_path("pcap/LLDP_and_CDP.pcap"))
    lldp = [n for n in s.neighbours if n["protocol"] == "lldp"]
    assert lldp and all(n["mau_type"] == 16 for n in lldp)  # tshark: 100BaseTXFD
    assert {(n["mau_speed_mbps"], n["mau_duplex"]) for n in lldp} == {(100, "full")}


def test_mau_type_zero_is_unknown_speed() -> None:
    s = analyse_capture(shared_path("pcap/sg200.pcap"))  # tshark: Unknown (0x0000)
    (n,) = [n for n in s.neighbours if n["protocol"] == "lldp"]
    assert n["mau_type"] == 0 and n["mau_speed_mbps"] is None and n["mau_duplex"] is None


# --- the data table ----------------------------------------------------------------

def _speed_from_name(name: str) -> int:
    """802.3 naming: the number before BASE is the rate (``G`` = Gb/s)."""
    m = re.match(r"(\d+)(G?)BASE-", name)
    assert m, name
    return int(m.group(1)) * (1000 if m.group(2) else 1)


def test_table_speeds_follow_the_8023_names() -> None:
    table = mau_table()
    assert len(table) >= 15
    for mau, info in table.items():
        assert info["speed_mbps"] == _speed_from_name(info["name"]), mau


def test_table_names_and_duplex_match_tshark(tmp_path: Path) -> None:
    """Wireshark names types 1-53 (RFC 4836), e.g. ``100BaseTXFD - ... full duplex``."""
    types = sorted(t for t in mau_table() if t <= 53)
    pcap = _write_pcap(tmp_path / "mau.pcap",
                       [_lldpdu(f"sw{t}", _mac_phy(3, 0x6C01, t)) for t in types])
    names = re.findall(r"Operational MAU Type: (\S+) - .*\(0x([0-9a-f]{4})\)",
                       _tshark(pcap, "-V"))
    assert [int(h, 16) for _n, h in names] == types
    for ts_name, h in names:
        info = mau_table()[int(h, 16)]
        norm = info["name"].replace("-", "").replace("GBASE", "GigBase").replace(
            "BASE", "Base").lower()
        assert ts_name.lower().startswith(norm), (ts_name, info)
        suffix = ts_name[len(norm):].upper()
        # no FD/HD suffix: duplex unknown, except 10 Gb/s and up (full duplex only)
        no_suffix = "full" if info["speed_mbps"] >= 10000 else None
        assert {"FD": "full", "HD": "half", "": no_suffix}[suffix] == info["duplex"]


# --- hand-built frames ----------------------------------------------------------------

def test_decoder_fields_of_a_hand_built_tlv() -> None:
    v = b"\x00\x12\x0f\x01" + struct.pack(">BHH", 0x01, 0x8001, 30)
    d = decode_mac_phy(v)
    assert d == {"autoneg_supported": True, "autoneg_enabled": False,
                 "pmd_autoneg_advertised": "0x8001", "mau_type": 30,
                 "mau_name": "1000BASE-T", "mau_speed_mbps": 1000, "mau_duplex": "full"}
    assert decode_mac_phy(v[:-1]) is None  # cut short
    assert decode_mac_phy(b"\x00\x12\x0f\x02" + v[4:]) is None  # another 802.3 subtype
    assert decode_mac_phy(b"\x00\x80\xc2\x01" + v[4:]) is None  # 802.1 OUI


def test_parse_lldp_keeps_port_vlan_and_mac_phy(tmp_path: Path) -> None:
    pdu = _lldpdu("edge", _tlv(127, b"\x00\x80\xc2\x01\x00\x6e"), _mac_phy(3, 0x6C00, 36))
    n = control.parse_lldp(pdu, "02:00:00:00:00:09")
    assert n is not None
    assert n["port_vlan_id"] == 110
    assert (n["mau_type"], n["mau_speed_mbps"], n["mau_duplex"]) == (36, 10000, "full")
    # cut inside the MAC/PHY TLV (snaplen): the TLV is dropped, the rest kept
    cut = pdu[:pdu.index(b"\x00\x12\x0f") + 5]
    m = control.parse_lldp(cut, None)
    assert m is not None and m["port_vlan_id"] == 110 and m["mau_type"] is None
    # and tshark reads the same MAU type from the same bytes
    out = _tshark(_write_pcap(tmp_path / "one.pcap", [pdu]), "-T", "fields",
                  "-e", "lldp.ieee.802_3.pmd_mau_type")
    assert int(out.strip(), 16) == 36


# --- merge: capacity from the advert --------------------------------------------------

def test_added_links_take_the_advertised_speed(tmp_path: Path) -> None:
    base = load_district(TOPOLOGIES / "stage3-emerging.yaml")
    obs = "core"
    linked = {lk.b if lk.a == obs else lk.a for lk in base.links if obs in (lk.a, lk.b)}
    acc1, acc2 = sorted(n.id for n in base.nodes if n.id != obs and n.id not in linked)[:2]
    acc3 = sorted(linked)[0]
    declared = next(lk.capacity_mbps for lk in base.links if {lk.a, lk.b} == {obs, acc3})
    pcap = _write_pcap(tmp_path / "span.pcap", [
        _lldpdu(acc1, _mac_phy(3, 0x6C00, 36)),  # 10GBASE-SR
        _lldpdu(acc2),  # no MAC/PHY TLV
        _lldpdu(acc3, _mac_phy(3, 0x6C00, 16)),  # existing link: untouched
    ])
    summary: CaptureSummary = analyse_capture(pcap)
    res = merge_capture(base, summary, observer=obs)
    by_b = {a["b"]: a for a in res.added_links}
    assert set(by_b) == {acc1, acc2}
    assert by_b[acc1]["capacity_mbps"] == 10000.0
    assert by_b[acc1]["capacity_source"] == "lldp-mau"
    assert by_b[acc1]["duplex"] == "full" and by_b[acc1]["mau_type"] == 36
    assert by_b[acc2]["capacity_mbps"] == DEFAULT_CAPACITY_MBPS
    assert by_b[acc2]["capacity_source"] == "default"
    links = {frozenset((lk.a, lk.b)): lk.capacity_mbps for lk in res.district.links}
    assert links[frozenset((obs, acc1))] == 10000.0
    assert links[frozenset((obs, acc2))] == DEFAULT_CAPACITY_MBPS
    assert links[frozenset((obs, acc3))] == declared  # a confirmed link keeps its capacity
    rows = {r["system_name"]: r for r in res.neighbours}
    assert rows[acc3]["speed_mbps"] == 100.0 and rows[acc3]["link"] == "matched"
    assert any("default capacity" in n for n in res.notes)
    assert any("MAU type" in n for n in res.notes)


def test_speed_from_lldp_also_when_a_cdp_advert_came_first(tmp_path: Path) -> None:
    base = load_district(TOPOLOGIES / "stage3-emerging.yaml")
    linked = {lk.b if lk.a == "core" else lk.a for lk in base.links if "core" in (lk.a, lk.b)}
    acc = sorted(n.id for n in base.nodes if n.id != "core" and n.id not in linked)[0]
    summary = analyse_capture(_write_pcap(tmp_path / "one.pcap",
                                          [_lldpdu(acc, _mac_phy(3, 0x6C00, 16))]))
    cdp: dict[str, Any] = {
        "protocol": "cdp", "source_mac": None, "device_id": acc, "port_id": "1/1/52",
        "platform": "x", "software_version": "y", "native_vlan": 1, "voice_vlan": None,
        "addresses_ipv4": [], "vtp_domain": None, "capabilities": None, "vlan": None,
        "frames": 1}
    both = dataclasses.replace(summary, neighbours=[cdp, *summary.neighbours])
    (added,) = merge_capture(base, both, observer="core").added_links
    assert added["protocols"] == ["cdp", "lldp"]
    assert (added["capacity_mbps"], added["capacity_source"]) == (100.0, "lldp-mau")
    assert added["mau_type"] == 16 and added["duplex"] == "full"  # 100BASE-TX FD
