"""LLDP/CDP adverts seen in a capture -> the SNMP auditor's neighbour facts.

A capture shows what each switch *advertises* (its chassis, the port it sent from, its
name, capabilities, VLAN), not which local port received it, so ``local_if_name`` is
the capture interface's name when the file records one. The normaliser
(``netstage.auditor.normalise``) can merge these with SNMP facts to draw links.
LLDP and CDP adverts from the same device and port (LLDP_and_CDP.pcap) are merged:
the LLDP port description or CDP port id (``FastEthernet0/13``) is kept as
``remote_port_descr`` beside LLDP's port id (``Fa0/13`` or an alias).
"""

from __future__ import annotations

from typing import Any

from netstage.auditor.capabilities import from_cdp, from_lldp_tlv
from netstage.auditor.facts import Neighbour

__all__ = ["advert_capabilities", "neighbour_facts", "neighbour_links"]


def advert_capabilities(n: dict[str, Any]) -> tuple[str | None, list[str] | None]:
    """(capabilities as advertised in hex, their names) of one LLDP/CDP advert: LLDP's
    enabled set when present, else its supported set; CDP's capability word."""
    if n["protocol"] == "lldp":
        caps = n.get("enabled_capabilities") or n.get("system_capabilities")
        return caps, from_lldp_tlv(int(caps, 16)) if caps else None
    caps = n.get("capabilities")
    return caps, from_cdp(int(caps, 16)) if caps else None


def neighbour_facts(neighbours: list[dict[str, Any]],
                    local_if_name: str | None = None) -> list[Neighbour]:
    """One :class:`Neighbour` per distinct advert (``CaptureSummary.neighbours``)."""
    out = []
    for n in neighbours:
        if n["protocol"] == "lldp":
            mgmt = (n["management_ipv4"] or n["management_ipv6"] or [None])[0]
            desc = n.get("system_description")
            out.append(Neighbour(
                protocol="lldp", local_if_name=local_if_name,
                remote_chassis_id=n["chassis_id"],
                remote_chassis_id_subtype=n["chassis_id_subtype"],
                remote_sysname=n["system_name"], remote_port_id=n["port_id"],
                remote_port_id_subtype=n["port_id_subtype"],
                remote_port_descr=n["port_description"],
                remote_platform=desc.splitlines()[0] if desc else None,
                remote_sys_descr=desc, remote_mgmt_address=mgmt,
                remote_capabilities=advert_capabilities(n)[1]))
        else:
            out.append(Neighbour(
                protocol="cdp", local_if_name=local_if_name,
                remote_chassis_id=n["device_id"], remote_sysname=n["device_id"],
                remote_port_id=n["port_id"], remote_port_descr=n["port_id"],
                remote_platform=n["platform"], remote_sys_descr=n["software_version"],
                remote_mgmt_address=(n["addresses_ipv4"] or [None])[0],
                remote_capabilities=advert_capabilities(n)[1]))
    return out


def _short(name: str | None) -> str | None:
    """Device names as the district uses them: no domain (``S1.cisco.com`` -> ``S1``)."""
    return name.split(".")[0] if name else None


def neighbour_links(neighbours: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Distinct (device, port) adverts, LLDP and CDP merged by device name or MAC.

    Each row: ``device`` (system name without domain, else chassis id), ``port``,
    ``port_description``, ``protocols``, ``mgmt_address``, ``vlan`` (port VLAN id /
    native VLAN), ``capabilities``, ``frames``.
    """
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    by_mac: dict[str, str] = {}
    for n in sorted(neighbours, key=lambda x: x["protocol"] != "lldp"):
        if n["protocol"] == "lldp":
            dev = _short(n["system_name"]) or str(n["chassis_id"])
            port = str(n["port_id"])
            descr = n["port_description"]
            vlan = n["port_vlan_id"]
            mgmt = (n["management_ipv4"] or n["management_ipv6"] or [None])[0]
            caps = n["system_capabilities"]
            if n.get("source_mac"):
                by_mac[n["source_mac"]] = dev
        else:
            dev = by_mac.get(n.get("source_mac") or "", _short(n["device_id"]) or "?")
            port = str(n["port_id"])
            descr = n["port_id"]
            vlan = n["native_vlan"]
            mgmt = (n["addresses_ipv4"] or [None])[0]
            caps = n["capabilities"]
            # the same port advertised by LLDP under a short name or alias
            same = [k for k, r in rows.items() if k[0] == dev and r["port_description"] == descr]
            if same:
                r = rows[same[0]]
                r["protocols"] = sorted({*r["protocols"], "cdp"})
                r["frames"] += n["frames"]
                continue
        r = rows.setdefault((dev, port), {
            "device": dev, "port": port, "port_description": descr, "protocols": [],
            "mgmt_address": mgmt, "vlan": vlan, "capabilities": caps, "frames": 0})
        r["protocols"] = sorted({*r["protocols"], n["protocol"]})
        r["frames"] += n["frames"]
    return list(rows.values())
