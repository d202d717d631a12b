"""Control-plane facts (LLDP, CDP, STP, DHCP) decoded with scapy.

Only the few frames preselected by the vectorised pass reach this module: EtherType
0x88cc (LLDP), 802.3 LLC frames to the Cisco and IEEE bridge multicast addresses (CDP
is SNAP OUI 00:00:0c PID 0x2000; UDLD 0x0111, VTP 0x2003, DTP 0x2004 and PVST+ 0x010b
share the OUI and are told apart here), and UDP 67/68 (DHCP). Identical frames are
parsed once and counted.

scapy is the optional extra ``capture``: :func:`require_scapy` raises
:class:`MissingExtraError` when it is absent.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import logging
from typing import Any

from netstage.auditor.capture.mau import decode_mac_phy
from netstage.simulator.errors import MissingExtraError

__all__ = [
    "check_scapy",
    "parse_cisco_llc",
    "parse_dhcp",
    "parse_lldp",
    "parse_stp",
    "require_scapy",
    "scapy_available",
]

CDP_PID = 0x2000
PVST_PID = 0x010B
CISCO_OUI = b"\x00\x00\x0c"
_loaded = False


def scapy_available() -> bool:
    """True when scapy can be imported (cheap: no import happens)."""
    return importlib.util.find_spec("scapy") is not None


def check_scapy() -> None:
    """MissingExtraError if scapy is absent, without importing it (scapy's import costs
    about a second; it is paid only when a capture holds control-plane frames)."""
    if not _loaded and not scapy_available():
        raise MissingExtraError("scapy", "capture")


def require_scapy() -> None:
    """Import the scapy layers used here once; MissingExtraError if scapy is absent."""
    global _loaded
    if _loaded:
        return
    check_scapy()
    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
    logging.getLogger("scapy").setLevel(logging.ERROR)
    import scapy.contrib.cdp
    import scapy.contrib.lldp
    import scapy.layers.dhcp
    import scapy.layers.l2  # noqa: F401
    _loaded = True


def _mac(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)


def _text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    return str(v).rstrip("\0")


def _chassis_or_port(subtype: int, raw: bytes, port: bool) -> str:
    mac_subtype = 3 if port else 4
    addr_subtype = 4 if port else 5
    if subtype == mac_subtype and len(raw) == 6:
        return _mac(raw)
    if subtype == addr_subtype and len(raw) >= 5:
        fam = raw[0]
        try:
            if fam == 1 and len(raw) == 5:
                return str(ipaddress.IPv4Address(raw[1:5]))
            if fam == 2 and len(raw) == 17:
                return str(ipaddress.IPv6Address(raw[1:17]))
        except ValueError:
            pass
    return raw.decode("utf-8", "replace").rstrip("\0")


def parse_lldp(pdu: bytes, source_mac: str | None) -> dict[str, Any] | None:
    """Decode an LLDPDU (the bytes after EtherType 0x88cc).

    The TLV walk is done on the raw bytes (7-bit type, 9-bit length) with scapy
    decoding the TLVs it knows; a snaplen-cut PDU keeps the TLVs that are complete.
    """
    require_scapy()
    from scapy.contrib.lldp import LLDPDU

    out: dict[str, Any] = {
        "protocol": "lldp", "source_mac": source_mac, "chassis_id_subtype": None,
        "chassis_id": None, "port_id_subtype": None, "port_id": None, "system_name": None,
        "port_description": None, "system_description": None, "management_ipv4": [],
        "management_ipv6": [], "management_other_hex": [], "port_vlan_id": None,
        "system_capabilities": None, "enabled_capabilities": None, "ttl": None,
        # IEEE 802.3 MAC/PHY Configuration/Status (OUI 00-12-0F subtype 1), see mau.py
        "autoneg_supported": None, "autoneg_enabled": None, "pmd_autoneg_advertised": None,
        "mau_type": None, "mau_name": None, "mau_speed_mbps": None, "mau_duplex": None,
    }
    try:
        pkt = LLDPDU(pdu)
    except Exception:  # scapy raises many types on odd input; fall back to raw TLVs
        pkt = None
    p = 0
    seen = 0
    while p + 2 <= len(pdu) and seen < 512:
        seen += 1
        hdr = (pdu[p] << 8) | pdu[p + 1]
        t, ln = hdr >> 9, hdr & 0x1FF
        v = pdu[p + 2:p + 2 + ln]
        p += 2 + ln
        if t == 0 or len(v) < ln:  # End TLV, or a TLV cut by the snaplen: stop here
            break
        if t in (1, 2) and len(v) >= 1:
            key = "chassis" if t == 1 else "port"
            out[f"{key}_id_subtype"] = v[0]
            out[f"{key}_id"] = _chassis_or_port(v[0], v[1:], t == 2)
        elif t == 3 and len(v) == 2:
            out["ttl"] = (v[0] << 8) | v[1]
        elif t in (4, 5, 6):
            key = {4: "port_description", 5: "system_name", 6: "system_description"}[t]
            out[key] = _text(v)
        elif t == 7 and len(v) == 4:
            out["system_capabilities"] = f"0x{(v[0] << 8) | v[1]:04x}"
            out["enabled_capabilities"] = f"0x{(v[2] << 8) | v[3]:04x}"
        elif t == 8 and len(v) >= 2 and len(v) >= 1 + v[0]:
            alen, sub, addr = v[0], v[1], v[2:1 + v[0]]
            if sub == 1 and alen == 5:
                out["management_ipv4"].append(str(ipaddress.IPv4Address(addr)))
            elif sub == 2 and alen == 17:
                out["management_ipv6"].append(str(ipaddress.IPv6Address(addr)))
            else:
                out["management_other_hex"].append(addr.hex())
        elif t == 127 and len(v) >= 6 and v[:3] == b"\x00\x80\xc2" and v[3] == 1:
            out["port_vlan_id"] = (v[4] << 8) | v[5]
        elif t == 127 and (mac_phy := decode_mac_phy(v)) is not None:
            out.update(mac_phy)
    if out["chassis_id"] is None and pkt is None:
        return None
    return out


def _cdp_tlvs(pdu: bytes) -> dict[int, list[bytes]]:
    tlvs: dict[int, list[bytes]] = {}
    p = 4
    for _ in range(256):
        if p + 4 > len(pdu):
            break
        t, ln = (pdu[p] << 8) | pdu[p + 1], (pdu[p + 2] << 8) | pdu[p + 3]
        if ln < 4:
            break
        tlvs.setdefault(t, []).append(pdu[p + 4:p + ln])
        p += ln
    return tlvs


def parse_cisco_llc(llc: bytes, source_mac: str | None) -> tuple[str, dict[str, Any]] | None:
    """Decode an 802.3 LLC/SNAP frame body to Cisco's multicast.

    Returns ``("cdp", neighbour)`` for CDP (SNAP OUI 00:00:0c, PID 0x2000),
    ``("cisco", {"pid": ...})`` for the other Cisco protocols (UDLD, VTP, DTP, PVST+),
    ``None`` when it is not SNAP at all.
    """
    require_scapy()
    from scapy.contrib.cdp import CDPv2_HDR

    if len(llc) < 8 or llc[:3] != b"\xaa\xaa\x03" or llc[3:6] != CISCO_OUI:
        return None
    pid = (llc[6] << 8) | llc[7]
    if pid != CDP_PID:
        return "cisco", {"pid": f"0x{pid:04x}"}
    body = llc[8:]
    try:
        pkt = CDPv2_HDR(body)
        del pkt  # scapy validates the layout; values come from the raw TLVs below
    except Exception:
        pass
    tlvs = _cdp_tlvs(body)

    def first(t: int) -> str | None:
        v = tlvs.get(t)
        return _text(v[0]) if v else None

    def vlan(t: int) -> int | None:
        v = tlvs.get(t)
        return int.from_bytes(v[0][:2], "big") if v and len(v[0]) >= 2 else None

    addrs: list[str] = []
    # Addresses (2) and Management Address (22) TLVs, in order, as tshark lists them
    addr_tlvs = [v for t, vs in sorted(tlvs.items()) if t in (2, 22) for v in vs]
    for v in addr_tlvs:
        q = 4
        n = int.from_bytes(v[:4], "big") if len(v) >= 4 else 0
        for _ in range(min(n, 32)):
            if q + 2 > len(v):
                break
            plen = v[q + 1]
            proto = v[q + 2:q + 2 + plen]
            q += 2 + plen
            if q + 2 > len(v):
                break
            alen = int.from_bytes(v[q:q + 2], "big")
            a = v[q + 2:q + 2 + alen]
            q += 2 + alen
            if proto == b"\xcc" and len(a) == 4:
                addrs.append(str(ipaddress.IPv4Address(a)))
    caps = tlvs.get(4)
    voice = None
    if 14 in tlvs and len(tlvs[14][0]) >= 3:
        voice = int.from_bytes(tlvs[14][0][1:3], "big")
    return "cdp", {
        "protocol": "cdp", "source_mac": source_mac, "device_id": first(1),
        "port_id": first(3), "platform": first(6), "software_version": first(5),
        "native_vlan": vlan(10), "voice_vlan": voice, "addresses_ipv4": addrs,
        "vtp_domain": first(9),
        "capabilities": (f"0x{int.from_bytes(caps[0][:4], 'big'):08x}"
                         if caps and len(caps[0]) >= 4 else None),
    }


def parse_stp(llc: bytes, dst_mac: str) -> dict[str, Any] | None:
    """Decode an STP/RSTP/MSTP BPDU (IEEE LLC SAP 0x42) or a Cisco PVST+ BPDU (SNAP)."""
    require_scapy()
    from scapy.layers.l2 import STP

    pvst = len(llc) >= 8 and llc[:3] == b"\xaa\xaa\x03" and llc[3:6] == CISCO_OUI and (
        (llc[6] << 8) | llc[7]) == PVST_PID
    if pvst:
        bpdu = llc[8:]
    elif len(llc) >= 3 and llc[0] == 0x42 and llc[1] == 0x42:
        bpdu = llc[3:]
    else:
        return None
    if len(bpdu) < 4:
        return None
    try:
        s = STP(bpdu)
    except Exception:
        return None
    version = {0: "STP", 2: "RSTP", 3: "MSTP"}.get(int(s.version), str(s.version))
    out: dict[str, Any] = {"dst_mac": dst_mac, "pvst": pvst, "version": version,
                           "bpdu_type": f"0x{int(s.bpdutype):02x}"}
    if len(bpdu) >= 35:
        # priority = top 4 bits; the low 12 bits are the system ID extension (VLAN)
        out.update(root_priority=int(s.rootid) & 0xF000, root_mac=str(s.rootmac),
                   bridge_priority=int(s.bridgeid) & 0xF000, bridge_mac=str(s.bridgemac),
                   bridge_system_id_extension=int(s.bridgeid) & 0x0FFF)
    out["pvst_originating_vlan"] = None
    if pvst:
        # PVST+ TLVs after the BPDU (36 bytes for RSTP, 35 for STP): type 0 = VLAN
        q = 36 if int(s.version) >= 2 else 35
        for _ in range(8):
            if q + 4 > len(bpdu):
                break
            t, ln = (bpdu[q] << 8) | bpdu[q + 1], (bpdu[q + 2] << 8) | bpdu[q + 3]
            if t == 0 and ln == 2 and q + 6 <= len(bpdu):
                out["pvst_originating_vlan"] = (bpdu[q + 4] << 8) | bpdu[q + 5]
                break
            q += 4 + ln
    return out


def parse_dhcp(udp_payload: bytes) -> dict[str, Any] | None:
    """Decode a DHCP message (BOOTP with the magic cookie): type, client MAC, yiaddr,
    requested address, host name, vendor class."""
    require_scapy()
    from scapy.layers.dhcp import BOOTP, DHCP

    if len(udp_payload) < 240 or udp_payload[236:240] != b"\x63\x82\x53\x63":
        return None
    try:
        b = BOOTP(udp_payload)
    except Exception:
        return None
    names = {1: "discover", 2: "offer", 3: "request", 4: "decline", 5: "ack", 6: "nak",
             7: "release", 8: "inform"}
    out: dict[str, Any] = {"message_type": None, "client_mac": _mac(bytes(b.chaddr)[:6]),
                           "your_ip": None, "requested_ip": None, "hostname": None,
                           "vendor_class": None}
    if b.yiaddr and str(b.yiaddr) != "0.0.0.0":
        out["your_ip"] = str(b.yiaddr)
    opts = b[DHCP].options if DHCP in b else []
    for opt in opts if isinstance(opts, list) else []:
        if not isinstance(opt, tuple) or len(opt) < 2:
            continue
        k, v = opt[0], opt[1]
        if k == "message-type":
            out["message_type"] = names.get(v, str(v)) if isinstance(v, int) else _text(v)
        elif k == "hostname":
            out["hostname"] = _text(v)
        elif k == "vendor_class_id":
            out["vendor_class"] = _text(v)
        elif k == "requested_addr":
            out["requested_ip"] = str(v)
    return out
