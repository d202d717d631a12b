"""The one parser from walked values (:class:`OidTree`) to :class:`DeviceFacts`.

Live and replay collection both end here, so a quirk fixed for one is fixed for
both. Missing columns are normal (recordings and real agents omit many), so every
field is optional and a device with no IF-MIB at all yields zero interfaces.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from netstage.auditor.facts import (
    DeviceFacts,
    EntityInfo,
    Interface,
    IpAddress,
    SnmpTarget,
    Vlan,
)
from netstage.auditor.snmp import oids
from netstage.auditor.snmp.decode import as_int, as_mac, as_text, rows
from netstage.auditor.snmp.neighbours import parse_neighbours, unresolved_ports_warning
from netstage.auditor.snmp.values import OidTree, Value

__all__ = ["device_facts", "lag_parents", "parse_interfaces", "parse_system"]

_DUPLEX: dict[int, Literal["unknown", "half", "full"]] = {1: "unknown", 2: "half", 3: "full"}
_IFSPEED_SATURATED = 4294967295  # Gauge32 maximum: ifSpeed of links >= 4.3 Gb/s
_LAG_TYPE = 161  # IANAifType ieee8023adLag
_PROP_VIRTUAL = 53  # Cisco IOS types its Port-channels propVirtual, not ieee8023adLag
_PORT_CHANNEL = re.compile(r"^(po|port-?channel)\s*\d", re.IGNORECASE)
_MEMBER_TYPES = {6, 62, 69, 117}  # ethernetCsmacd, fastEther, fastEtherFX, gigabitEthernet
_STACK_ACTIVE = 1  # RowStatus active
_UNIT = re.compile(r"^(.+)\.(\d+)$")  # Junos logical unit: ae0.0, et-0/2/0.0


def parse_system(tree: OidTree) -> dict[str, Any]:
    """The SNMPv2-MIB system scalars as DeviceFacts fields."""
    descr = as_text(tree.get(oids.SYS_DESCR))
    # Some captures quote sysDescr ("...") literally; the quotes are not the device's.
    if descr and len(descr) >= 2 and descr[0] == descr[-1] == '"':
        descr = descr[1:-1].strip() or None
    object_id = tree.get(oids.SYS_OBJECT_ID)
    return {
        "sys_descr": descr,
        "sys_object_id": object_id.lstrip(".") if isinstance(object_id, str) else None,
        "sys_uptime_ticks": as_int(tree.get(oids.SYS_UPTIME)),
        "sys_contact": as_text(tree.get(oids.SYS_CONTACT)),
        "sys_name": as_text(tree.get(oids.SYS_NAME)),
        "sys_location": as_text(tree.get(oids.SYS_LOCATION)),
    }


def _speed(row: dict[int, Value], xrow: dict[int, Value]) -> tuple[float | None, Any]:
    high = as_int(xrow.get(15))  # ifHighSpeed, Mb/s
    low = as_int(row.get(5))  # ifSpeed, b/s (saturates at 2^32-1)
    # ifHighSpeed rounds sub-Mb/s links to 0; ifSpeed then still has the true figure.
    if high is not None and (high > 0 or not low or low >= _IFSPEED_SATURATED):
        return float(high), "ifHighSpeed"
    if low is not None:
        return low / 1e6, "ifSpeed"
    return None, None


def parse_interfaces(tree: OidTree) -> list[Interface]:
    """Join ifTable, ifXTable and dot3StatsDuplexStatus on ifIndex.

    ifTable and ifXTable do not always list the same indexes (some agents have only
    one of them), so the interface set is their union.
    """
    if_rows = rows(tree, oids.IF_ENTRY)
    x_rows = rows(tree, oids.IF_X_ENTRY)
    duplex = tree.int_column(oids.DOT3_DUPLEX)
    indexes = sorted({k[0] for k in (*if_rows, *x_rows) if len(k) == 1})
    out = []
    for idx in indexes:
        row = if_rows.get((idx,), {})
        xrow = x_rows.get((idx,), {})
        speed_mbps, source = _speed(row, xrow)
        hc_in, hc_out = as_int(xrow.get(6)), as_int(xrow.get(10))
        hc = hc_in is not None or hc_out is not None
        lo_in, lo_out = as_int(row.get(10)), as_int(row.get(16))
        d = as_int(duplex.get(idx))
        out.append(Interface(
            if_index=idx,
            name=as_text(xrow.get(1)),
            descr=as_text(row.get(2)),
            alias=as_text(xrow.get(18)),
            if_type=as_int(row.get(3)),
            admin_status=as_int(row.get(7)),
            oper_status=as_int(row.get(8)),
            mtu=as_int(row.get(4)),
            mac=as_mac(row.get(6)) if row.get(6) else None,
            speed_mbps=speed_mbps,
            speed_source=source,
            duplex=_DUPLEX.get(d) if d is not None else None,
            in_octets=hc_in if hc else lo_in,
            out_octets=hc_out if hc else lo_out,
            counters_64bit=True if hc else (False if lo_in is not None or lo_out is not None
                                            else None),
            in_discards=as_int(row.get(13)),
            in_errors=as_int(row.get(14)),
            out_discards=as_int(row.get(19)),
            out_errors=as_int(row.get(20)),
            counter_discontinuity_ticks=as_int(xrow.get(19)),
        ))
    return out


def lag_parents(tree: OidTree, interfaces: list[Interface]) -> dict[int, int]:
    """Member port ifIndex -> aggregate ifIndex.

    IEEE8023-LAG-MIB dot3adAggPortAttachedAggID wins where it names an aggregator
    (non-zero). Otherwise an active IF-MIB ifStackTable row whose higher layer is a LAG
    (ifType ieee8023adLag, or propVirtual named like a Port-channel) and whose lower
    layer is an Ethernet port. Junos stacks only logical units (``ae0.0`` over
    ``et-0/2/0.0``), never the physical ports: a unit of a LAG over the same unit of an
    Ethernet port makes that port a member of the LAG. Other stackings (sub-interfaces
    over a LAG, VLANs over ports) are not membership and are skipped.
    """
    by_index = {i.if_index: i for i in interfaces}

    def is_lag(idx: int) -> bool:
        iface = by_index.get(idx)
        if iface is None:
            return False
        return iface.if_type == _LAG_TYPE or (
            iface.if_type == _PROP_VIRTUAL
            and bool(_PORT_CHANNEL.match(iface.name or iface.descr or "")))

    by_name = {i.name: i.if_index for i in interfaces if i.name}

    def unit_parent(idx: int) -> tuple[int, str] | None:
        """(ifIndex of the interface that ``idx`` is a logical unit of, unit)."""
        iface = by_index.get(idx)
        m = _UNIT.match(iface.name or "") if iface is not None else None
        if m is None or m.group(1) not in by_name:
            return None
        return by_name[m.group(1)], m.group(2)

    out: dict[int, int] = {}
    for key, status in tree.column(oids.IF_STACK_STATUS).items():
        if len(key) != 2 or as_int(status) != _STACK_ACTIVE:
            continue
        higher, lower = key
        member = by_index.get(lower)
        if higher and lower and member is not None and member.if_type in _MEMBER_TYPES \
                and is_lag(higher):
            out.setdefault(lower, higher)
            continue
        hi_unit, lo_unit = unit_parent(higher), unit_parent(lower)
        if hi_unit and lo_unit and hi_unit[1] == lo_unit[1] and is_lag(hi_unit[0]) \
                and by_index[lo_unit[0]].if_type in _MEMBER_TYPES:
            out.setdefault(lo_unit[0], hi_unit[0])
    for port, agg in tree.int_column(oids.DOT3AD_AGG_PORT_ATTACHED_AGG_ID).items():
        agg_idx = as_int(agg)
        if agg_idx and agg_idx != port and agg_idx in by_index and port in by_index:
            out[port] = agg_idx
    return out


def parse_entities(tree: OidTree) -> list[EntityInfo]:
    """ENTITY-MIB entPhysicalTable rows (model, serial, revisions)."""
    out = []
    for idx, row in sorted(rows(tree, oids.ENT_PHYSICAL_ENTRY).items()):
        if len(idx) != 1:
            continue
        out.append(EntityInfo(
            index=idx[0], descr=as_text(row.get(2)), contained_in=as_int(row.get(4)),
            physical_class=as_int(row.get(5)), name=as_text(row.get(7)),
            hardware_rev=as_text(row.get(8)), firmware_rev=as_text(row.get(9)),
            software_rev=as_text(row.get(10)), serial=as_text(row.get(11)),
            model=as_text(row.get(13)),
        ))
    return out


def _prefix_from_mask(mask: Value) -> int | None:
    if not isinstance(mask, str):
        return None
    try:
        return sum(bin(int(p)).count("1") for p in mask.split("."))
    except ValueError:
        return None


def _inet_address(kind: int, rest: tuple[int, ...]) -> str | None:
    """InetAddress from an index: with its length octet (RFC 4001) or, as some agents
    do, without it."""
    size = {1: 4, 2: 16, 3: 8, 4: 20}.get(kind)
    if size is None:
        return None
    if len(rest) == size + 1 and rest[0] == size:
        rest = rest[1:]
    if len(rest) < size:
        return None
    octets = rest[:size]
    if size in (4, 8):
        return ".".join(str(b) for b in octets[:4])
    return ":".join(f"{octets[i] << 8 | octets[i + 1]:x}" for i in range(0, 16, 2))


def parse_ip_addresses(tree: OidTree) -> list[IpAddress]:
    """IPv4 from ipAddrTable, plus anything more from ipAddressTable (v4 and v6)."""
    out: dict[str, IpAddress] = {}
    for idx, row in rows(tree, oids.IP_ADDR_ENTRY).items():
        if len(idx) == 4:
            addr = ".".join(str(b) for b in idx)
            out[addr] = IpAddress(address=addr, if_index=as_int(row.get(2)),
                                  prefix_length=_prefix_from_mask(row.get(3)))
    for idx, row in rows(tree, oids.IP_ADDRESS_ENTRY).items():
        if not idx:
            continue
        found = _inet_address(idx[0], idx[1:])
        if found is None or found in out:
            continue
        prefix = row.get(5)  # ipAddressPrefix: a RowPointer ending in the prefix length
        plen = int(prefix.rsplit(".", 1)[-1]) if isinstance(prefix, str) and "." in prefix \
            else None
        out[found] = IpAddress(address=found, if_index=as_int(row.get(3)), prefix_length=plen)
    return list(out.values())


def parse_vlans(tree: OidTree) -> list[Vlan]:
    """Q-BRIDGE-MIB dot1qVlanStaticName rows."""
    return [Vlan(vlan_id=k, name=as_text(v))
            for k, v in sorted(tree.int_column(oids.DOT1Q_VLAN_STATIC_NAME).items())]


def device_facts(tree: OidTree, target: SnmpTarget, **meta: Any) -> DeviceFacts:
    """An ok :class:`DeviceFacts` from everything in ``tree``; ``meta`` adds fields
    such as ``snmp_version``, ``warnings`` or ``timings``."""
    interfaces = parse_interfaces(tree)
    for port, agg in lag_parents(tree, interfaces).items():
        next(i for i in interfaces if i.if_index == port).lag_parent = agg
    neighbours = parse_neighbours(tree, interfaces)
    lost = unresolved_ports_warning(neighbours)
    if lost:
        meta["warnings"] = [*meta.get("warnings", []), lost]
    return DeviceFacts.model_validate({
        "target": target,
        "ok": True,
        **parse_system(tree),
        "entities": parse_entities(tree),
        "interfaces": interfaces,
        "neighbours": neighbours,
        "ip_addresses": parse_ip_addresses(tree),
        "vlans": parse_vlans(tree),
        **meta,
    })
