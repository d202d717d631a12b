"""Capture facts merged into a district model: LLDP/CDP neighbours -> links, DHCP clients.

A capture from a span port shows the LLDP/CDP adverts of the devices next to the port
that was mirrored, so each advert is a device adjacent to the **observer** (the node
id of the switch whose port was captured; the user names it, a capture cannot know
it). :func:`merge_capture` lays this over a declared district:

* each advert is **matched** to a district node by the node's id or name (against the
  advertised system name / CDP device id, also without domain or CDP ``(serial)``
  suffix, and against a chassis id that is a name rather than a MAC) or by the node's
  ``mgmt_address`` (against the advertised management address);
* with an observer, a matched neighbour whose link to the observer exists is a
  *matched* link (confirmed), else a link ``observer -- neighbour`` is *added*. An
  added link takes the speed of the operational MAU type the neighbour advertises in
  the IEEE 802.3 MAC/PHY Configuration/Status LLDP TLV (``capacity_source:
  "lldp-mau"``, see ``auditor/capture/mau.py``); without that TLV (CDP, or LLDP without
  it, or a MAU type not in ``auditor/data/mau_types.yaml``) it gets
  :data:`DEFAULT_CAPACITY_MBPS` and is listed with ``capacity_source: "default"``
  (check it, or let an SNMP audit measure it). The advertised speed is the speed of the
  neighbour's port, which is the link's speed when both ends negotiated it;
* an advert from the observer itself (a switch sees its own adverts on a span of its
  own ports) is reported, not turned into a link;
* adverts that match no node are reported as *unknown neighbours* (no node is invented);
* DHCP: distinct client MAC addresses per VLAN (``"untagged"`` when the frames had no
  802.1Q tag). They are reported as seen in the capture window; site populations are
  left unchanged (a capture of a few minutes sees the clients that (re)joined, not all).

The result's district is a copy of ``base``; ``measured.extra["capture"]`` records what
was merged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netstage.auditor.capture.neighbours import advert_capabilities, neighbour_facts
from netstage.auditor.normalise import name_variants, usable_address
from netstage.simulator.errors import ConfigError
from netstage.simulator.model import District, Link, Measured

if TYPE_CHECKING:
    from netstage.auditor.capture import CaptureSummary

__all__ = ["DEFAULT_CAPACITY_MBPS", "CaptureMergeResult", "check_observer", "clients_per_vlan",
           "merge_capture"]

DEFAULT_CAPACITY_MBPS = 1000.0  # added links whose adverts carry no MAU type speed


@dataclass
class CaptureMergeResult:
    """The merged district and what the merge did."""

    district: District
    observer: str | None
    neighbours: list[dict[str, Any]]  # one row per advert: what it is and what it became
    added_links: list[dict[str, Any]]
    matched_links: list[str]  # keys of existing links the capture confirmed
    unknown_neighbours: list[dict[str, Any]]
    clients_per_vlan: dict[str, int]
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "observer": self.observer,
            "neighbours": self.neighbours,
            "added_links": self.added_links,
            "matched_links": self.matched_links,
            "unknown_neighbours": self.unknown_neighbours,
            "dhcp_clients_per_vlan": self.clients_per_vlan,
            "notes": self.notes,
        }


def _advert_speed(raw: dict[str, Any]) -> tuple[float | None, Any, Any]:
    """(speed Mb/s, duplex, MAU type) from an LLDP advert's MAC/PHY TLV, else Nones."""
    if raw["protocol"] != "lldp" or not raw.get("mau_speed_mbps"):
        return None, None, raw.get("mau_type")
    return float(raw["mau_speed_mbps"]), raw.get("mau_duplex"), raw.get("mau_type")


def _advert_fields(raw: dict[str, Any]) -> tuple[Any, Any]:
    """(VLAN, capabilities) of a raw advert (``CaptureSummary.neighbours`` row)."""
    return raw.get("port_vlan_id" if raw["protocol"] == "lldp" else "native_vlan"), \
        advert_capabilities(raw)[0]


def clients_per_vlan(dhcp: dict[str, Any]) -> dict[str, int]:
    """Distinct DHCP client MACs per VLAN id (``"untagged"`` without a tag)."""
    macs: dict[str, set[str]] = {}
    for c in dhcp.get("clients", []):
        mac = c.get("mac")
        if not mac:
            continue
        key = str(c["vlan"]) if c.get("vlan") is not None else "untagged"
        macs.setdefault(key, set()).add(str(mac).lower())
    return {k: len(v) for k, v in sorted(macs.items(), key=lambda kv: (
        not kv[0].isdigit(), int(kv[0]) if kv[0].isdigit() else 0, kv[0]))}


def check_observer(base: District, observer: str | None) -> None:
    """Raise :class:`ConfigError` unless ``observer`` is None or a node id of ``base``."""
    node_ids = {n.id for n in base.nodes}
    if observer is not None and observer not in node_ids:
        raise ConfigError(f"observer {observer!r} is not a node of the district "
                          f"({base.district.name}); give --observer one of: "
                          + ", ".join(sorted(node_ids)))


def merge_capture(base: District, summary: CaptureSummary, *,
                  observer: str | None = None) -> CaptureMergeResult:
    """``base`` with the capture's neighbours as links and DHCP clients per VLAN.

    ``observer``: node id of the switch whose port was captured (see the module
    docstring); without it neighbours are matched and reported but no link is added.
    Raises :class:`ConfigError` when ``observer`` is not a node of ``base``.
    """
    check_observer(base, observer)
    out = base.model_copy(deep=True)
    by_name: dict[str, str] = {}
    by_addr: dict[str, str] = {}
    for n in out.nodes:
        for key in (n.id.lower(), *([n.name.lower()] if n.name else [])):
            by_name.setdefault(key, n.id)
        if n.mgmt_address:
            by_addr.setdefault(n.mgmt_address, n.id)
    pairs = {frozenset((lk.a, lk.b)): lk for lk in out.links}
    new_links: dict[frozenset[str], Link] = {}

    facts = neighbour_facts(summary.neighbours)
    rows: list[dict[str, Any]] = []
    added: dict[frozenset[str], dict[str, Any]] = {}
    matched: list[str] = []
    unknown: list[dict[str, Any]] = []
    for raw, nb in zip(summary.neighbours, facts, strict=True):
        vlan, caps = _advert_fields(raw)
        speed, duplex, mau_type = _advert_speed(raw)
        row: dict[str, Any] = {
            "protocol": nb.protocol, "system_name": nb.remote_sysname,
            "chassis_id": nb.remote_chassis_id, "port": nb.remote_port_id,
            "mgmt_address": nb.remote_mgmt_address, "vlan": vlan, "capabilities": caps,
            "capability_names": nb.remote_capabilities,
            "mau_type": mau_type, "speed_mbps": speed, "duplex": duplex,
            "node": None, "matched_by": None, "link": None}
        keys = list(name_variants(nb.remote_sysname))
        if nb.remote_chassis_id_subtype != 4:  # not a MAC: a name (LLDP local, CDP id)
            keys += [k for k in name_variants(nb.remote_chassis_id) if k not in keys]
        for key in keys:
            if key in by_name:
                row["node"], row["matched_by"] = by_name[key], "name"
                break
        mgmt = nb.remote_mgmt_address
        if row["node"] is None and mgmt and usable_address(mgmt) and mgmt in by_addr:
            row["node"], row["matched_by"] = by_addr[mgmt], "mgmt_address"
        node = row["node"]
        if node is None:
            row["link"] = "unknown_neighbour"
            unknown.append({k: row[k] for k in ("protocol", "system_name", "chassis_id",
                                                "port", "mgmt_address", "vlan")})
        elif observer is None:
            row["link"] = "no_observer"
        elif node == observer:
            row["link"] = "observer_itself"
        else:
            pair = frozenset((observer, node))
            if pair in pairs:
                key = pairs[pair].key
                row["link"] = "matched"
                if key not in matched:
                    matched.append(key)
            else:
                row["link"] = "added"
                if pair not in added:
                    lk = Link(a=observer, b=node, capacity_mbps=DEFAULT_CAPACITY_MBPS)
                    out.links.append(lk)
                    new_links[pair] = lk
                    added[pair] = {"key": lk.key, "a": observer, "b": node,
                                   "capacity_mbps": DEFAULT_CAPACITY_MBPS,
                                   "capacity_source": "default", "duplex": None,
                                   "mau_type": None,
                                   "seen_port": nb.remote_port_id, "protocols": []}
                if speed is not None and added[pair]["capacity_source"] == "default":
                    # the first advert with a MAC/PHY TLV gives the speed (LLDP and CDP
                    # adverts of the same port may come in either order)
                    new_links[pair].capacity_mbps = speed
                    added[pair].update(capacity_mbps=speed, capacity_source="lldp-mau",
                                       duplex=duplex, mau_type=mau_type)
                if nb.protocol not in added[pair]["protocols"]:
                    added[pair]["protocols"].append(nb.protocol)
        rows.append(row)

    per_vlan = clients_per_vlan(summary.dhcp or {})
    notes: list[str] = []
    if observer is None and summary.neighbours:
        notes.append("no observer given: neighbours matched and reported, no link added")
    n_default = sum(a["capacity_source"] == "default" for a in added.values())
    if n_default:
        notes.append(f"{n_default} added link(s) have the default capacity "
                     f"{DEFAULT_CAPACITY_MBPS:g} Mb/s (their adverts carry no MAU type "
                     "speed): check them or measure with an SNMP audit")
    if len(added) > n_default:
        notes.append(f"{len(added) - n_default} added link(s) take the speed of the "
                     "operational MAU type the neighbour advertises (LLDP 802.3 MAC/PHY TLV)")
    if per_vlan:
        notes.append("DHCP clients are those seen in the capture window; site populations "
                     "are unchanged")
    res = CaptureMergeResult(out, observer, rows, list(added.values()), matched, unknown,
                             per_vlan, notes)
    extra = dict(out.measured.extra) if out.measured else {}
    extra["capture"] = {"file": Path(summary.path).name, **res.to_json()}
    if out.measured is None:
        out.measured = Measured(source=f"netstage capture {Path(summary.path).name}",
                                extra=extra)
    else:
        out.measured.extra = extra
    return res
