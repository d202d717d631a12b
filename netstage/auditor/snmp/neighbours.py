"""LLDP (LLDP-MIB, LLDP-V2-MIB) and CDP neighbours, resolved to local interfaces.

The local side of an LLDP row is ``lldpRemLocalPortNum``, which is *not* always an
ifIndex (Dell OS10 numbers ports 4, 612, ... while ifIndexes are 10, 13, ...). It is
resolved through lldpLocPortTable (port id / description matched to ifName, ifDescr,
ifAlias or the MAC), and only then, or when that table is absent, taken as an
ifIndex. When lldpLocPortTable does not resolve a port uniquely (no match, or two
interfaces with the same name), BRIDGE-MIB dot1dBasePortIfIndex maps it: LLDP-MIB's
LldpPortNumber is the dot1dBasePort on a bridge. MikroTik RouterOS indexes lldpRemTable
by one integer; its own neighbour table (mtxrNeighborInterfaceID) gives the ifIndex.
CDP rows are ``ifIndex.device``.
"""

from __future__ import annotations

from netstage.auditor.capabilities import from_cdp, from_lldp_mib
from netstage.auditor.facts import Interface, Neighbour
from netstage.auditor.snmp import oids
from netstage.auditor.snmp.decode import as_int, as_mac, as_text, rows
from netstage.auditor.snmp.values import Oid, OidTree, Value

__all__ = ["parse_neighbours", "unresolved_ports_warning"]

_CHASSIS_MAC = 4  # LldpChassisIdSubtype macAddress
_PORT_MAC = 3  # LldpPortIdSubtype macAddress


class _LocalPorts:
    """Resolves a local port reference to one of this device's interfaces."""

    def __init__(self, interfaces: list[Interface], loc_ports: dict[Oid, dict[int, Value]],
                 mtxr_if_ids: dict[int, Value],
                 base_ports: dict[int, Value] | None = None) -> None:
        self.by_index = {i.if_index: i for i in interfaces}
        self.base_ports = {k: v for k, v in ((k, as_int(v)) for k, v in
                                             (base_ports or {}).items()) if v is not None}
        self.loc_ports = loc_ports
        self.mtxr = mtxr_if_ids
        self.keyed: list[dict[str, list[int]]] = []
        for attr in ("name", "descr", "alias", "mac"):
            table: dict[str, list[int]] = {}
            for i in interfaces:
                v = getattr(i, attr)
                if v:
                    table.setdefault(v.casefold(), []).append(i.if_index)
            self.keyed.append(table)

    def _unique(self, text: str | None, prefer: int | None = None) -> int | None:
        """The one interface named ``text``; of several with that name, ``prefer``."""
        if not text:
            return None
        for table in self.keyed:
            hits = table.get(text.casefold(), [])
            if len(hits) == 1:
                return hits[0]
            if prefer is not None and prefer in hits:
                return prefer
        return None

    def lldp(self, port_num: int | None, rem_index: int | None) -> int | None:
        """ifIndex of LLDP local port ``port_num`` (None when it cannot be resolved)."""
        if port_num:
            bridge = self.base_ports.get(port_num)
            bridge = bridge if bridge in self.by_index else None
            row = self.loc_ports.get((port_num,))
            if row is not None:
                subtype = as_int(row.get(2))
                port_id = as_mac(row.get(3)) if subtype == _PORT_MAC else as_text(row.get(3))
                for text in (port_id, as_text(row.get(4))):
                    hit = self._unique(text, prefer=bridge)
                    if hit is not None:
                        return hit
            if bridge is not None:
                return bridge
            if port_num in self.by_index:
                return port_num
        if rem_index is not None:
            mt = as_int(self.mtxr.get(rem_index))
            if mt is not None and mt in self.by_index:
                return mt
        return None

    def name(self, if_index: int | None) -> str | None:
        i = self.by_index.get(if_index) if if_index is not None else None
        return (i.name or i.descr) if i else None


def _man_addresses(tree: OidTree) -> dict[Oid, str]:
    """lldpRemManAddrTable: ``(timeMark, localPort, remIndex)`` -> first IPv4/IPv6."""
    out: dict[Oid, str] = {}
    for idx in rows(tree, oids.LLDP_REM_MAN_ADDR_ENTRY):
        if len(idx) < 6:
            continue
        key, subtype, size, addr = idx[:3], idx[3], idx[4], idx[5:]
        if subtype == 1 and size == 4 and len(addr) == 4 and any(addr):
            out.setdefault(key, ".".join(str(b) for b in addr))
        elif subtype == 2 and size == 16 and len(addr) == 16:
            out.setdefault(key, ":".join(f"{addr[i] << 8 | addr[i + 1]:x}"
                                         for i in range(0, 16, 2)))
    return out


def _lldp_row(row: dict[int, Value], first: int) -> dict[str, object]:
    """Remote fields of an lldpRemEntry (``first`` = 4) or lldpV2RemEntry (``first`` = 5);
    the enabled capabilities are column ``first + 8``."""
    chassis_sub = as_int(row.get(first))
    port_sub = as_int(row.get(first + 2))
    chassis = row.get(first + 1)
    port = row.get(first + 3)
    sys_descr = as_text(row.get(first + 6))
    return {
        "remote_chassis_id_subtype": chassis_sub,
        "remote_chassis_id": as_mac(chassis) if chassis_sub == _CHASSIS_MAC else as_text(chassis),
        "remote_port_id_subtype": port_sub,
        "remote_port_id": as_mac(port) if port_sub == _PORT_MAC else as_text(port),
        "remote_port_descr": as_text(row.get(first + 4)),
        "remote_sysname": as_text(row.get(first + 5)),
        "remote_sys_descr": sys_descr,
        "remote_platform": sys_descr.splitlines()[0].strip() or None if sys_descr else None,
        "remote_capabilities": from_lldp_mib(row.get(first + 8)),
    }


def _is_empty(fields: dict[str, object]) -> bool:
    return not any(fields.get(k) for k in (
        "remote_chassis_id", "remote_port_id", "remote_port_descr", "remote_sysname",
        "remote_sys_descr"))


def parse_neighbours(tree: OidTree, interfaces: list[Interface]) -> list[Neighbour]:
    """Every LLDP and CDP neighbour, with the local interface resolved where possible.

    Empty rows are dropped, exact duplicates (same local interface, chassis and
    port) are merged.
    """
    local = _LocalPorts(interfaces, rows(tree, oids.LLDP_LOC_PORT_ENTRY),
                        tree.int_column(oids.MTXR_NEIGHBOR_IF_ID),
                        tree.int_column(oids.DOT1D_BASE_PORT_IF_INDEX))
    man = _man_addresses(tree)
    found: list[Neighbour] = []
    seen: set[tuple[object, ...]] = set()

    def add(n: Neighbour) -> None:
        key = (n.protocol, n.local_if_index, n.local_port_num, n.remote_chassis_id,
               n.remote_port_id, n.remote_sysname)
        if key not in seen:
            seen.add(key)
            found.append(n)

    for idx, row in rows(tree, oids.LLDP_REM_ENTRY).items():
        fields = _lldp_row(row, 4)
        if _is_empty(fields):
            continue
        port_num = idx[1] if len(idx) == 3 else None
        rem_index = idx[-1] if idx else None
        if_index = local.lldp(port_num, rem_index)
        add(Neighbour(protocol="lldp", local_port_num=port_num, local_if_index=if_index,
                      local_if_name=local.name(if_index),
                      remote_mgmt_address=man.get(idx) if len(idx) == 3 else None,
                      **fields))

    # LLDP-V2-MIB: index timeMark.localIfIndex.destMacAddrIndex.remIndex (ifIndex direct)
    for idx, row in rows(tree, oids.LLDP_V2_REM_ENTRY).items():
        fields = _lldp_row(row, 5)
        if len(idx) != 4 or _is_empty(fields):
            continue
        if_index = idx[1] if idx[1] in local.by_index else None
        add(Neighbour(protocol="lldp", local_port_num=idx[1], local_if_index=if_index,
                      local_if_name=local.name(if_index), **fields))

    for idx, row in rows(tree, oids.CDP_CACHE_ENTRY).items():
        if len(idx) != 2:
            continue
        addr = row.get(4)
        mgmt = ".".join(str(b) for b in addr) if (
            as_int(row.get(3)) == 1 and isinstance(addr, bytes) and len(addr) == 4) else None
        if_index = idx[0] if idx[0] in local.by_index else None
        n = Neighbour(
            protocol="cdp", local_port_num=idx[0], local_if_index=if_index,
            local_if_name=local.name(if_index), remote_sysname=as_text(row.get(6)),
            remote_chassis_id=as_text(row.get(6)), remote_port_id=as_text(row.get(7)),
            remote_platform=as_text(row.get(8)), remote_sys_descr=as_text(row.get(5)),
            remote_mgmt_address=mgmt, remote_capabilities=from_cdp(row.get(9)),
        )
        if n.remote_sysname or n.remote_port_id:
            add(n)
    return found


def unresolved_ports_warning(neighbours: list[Neighbour]) -> str | None:
    """A warning when LLDP/CDP neighbours have no local interface: their links then
    lack a local port (speed, counters) and cannot be matched to the other end's view."""
    lost = [n for n in neighbours if n.local_if_index is None]
    if not lost:
        return None
    nums = sorted({n.local_port_num for n in lost if n.local_port_num is not None})
    shown = ", ".join(str(x) for x in nums[:8]) + (", ..." if len(nums) > 8 else "")
    return (f"{len(lost)} of {len(neighbours)} neighbours have no resolvable local port "
            f"(local port numbers {shown or 'none'} match no lldpLocPortTable row, "
            "dot1dBasePort or ifIndex): their links have no local interface")
