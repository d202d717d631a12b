"""Device identity: one node per device, however many names it answers to.

Node ids come from ``sysName``, else the inventory name, else the address; a device is
found again under any of its name variants (full name, without a CDP ``(serial)`` suffix,
short host name), its unique addresses or its MAC addresses. Vendor comes from the
``sysObjectID`` enterprise number, model and firmware from the ENTITY-MIB chassis,
``stack`` from the chassis under an ENTITY-MIB stack entity (:func:`entity_stack`). With a
base district, devices are matched to its nodes by id/name/management address.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter

from netstage.auditor.facts import DeviceFacts
from netstage.auditor.normalise.kinds import _kind_from_text
from netstage.auditor.normalise.state import _State
from netstage.auditor.twin import load_device_kinds
from netstage.simulator.model import Node, NodeKind, Stack

_ID_BAD = re.compile(r"[^A-Za-z0-9_.:/@#\-]+")
_PRIVATE = {"", "<private>", "unknown", "none", "(none)"}


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    t = text.strip().strip('"').strip()
    return None if t.lower() in _PRIVATE else t


def _id(text: str) -> str:
    out = _ID_BAD.sub("_", text.strip())[:128].strip("_")
    return out or "node"


def name_variants(name: str | None) -> list[str]:
    """Lower-case keys a device may be named by: full name, without a CDP ``(serial)``
    suffix, and the short host name before the first dot."""
    n = _clean(name)
    if n is None:
        return []
    n = n.lower()
    out = [n]
    bare = re.sub(r"\(.*\)$", "", n).strip()
    if bare and bare not in out:
        out.append(bare)
    short = bare.split(".", 1)[0] if not re.fullmatch(r"[\d.]+", bare) else bare
    if short and short not in out:
        out.append(short)
    return out


def _mac_like(chassis: str | None) -> str | None:
    """A chassis id that is a non-zero MAC address, lower case; else None."""
    if not chassis:
        return None
    c = chassis.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{2}([:-]?[0-9a-f]{2}){5}", c):
        return None
    return None if set(re.sub(r"[:-]", "", c)) == {"0"} else c


def usable_address(addr: str | None) -> bool:
    """An address that can name one device (not 0.0.0.0, loopback, link-local)."""
    if not addr:
        return False
    try:
        ip = ipaddress.ip_address(addr.split("%", 1)[0])
    except ValueError:
        return False
    return not (ip.is_unspecified or ip.is_loopback or ip.is_link_local or ip.is_multicast)


def _vendor_names() -> dict[str, str]:
    """IANA enterprise number -> vendor name, from device_kinds.yaml."""
    return {str(pen): name for name, pen in load_device_kinds()["enterprises"].items()}


def _enterprise(sys_object_id: str | None) -> str | None:
    prefix = "1.3.6.1.4.1."
    if not sys_object_id or not sys_object_id.lstrip(".").startswith(prefix):
        return None
    return sys_object_id.lstrip(".")[len(prefix):].split(".", 1)[0]


def entity_stack(dev: DeviceFacts) -> Stack | None:
    """A stack read from ENTITY-MIB: the chassis (entPhysicalClass 3) contained in a
    stack entity (class 11) are its members; two or more make a redundant stack.

    Empty member slots (a chassis row without model, serial or description, as a CBS350
    reports for absent units) are not members. One chassis under a stack entity (a
    stackable switch standing alone) is no stack. Redundant supervisors or line cards
    inside one chassis cannot be told apart from ordinary modules here: declare those
    as ``stack: {kind: chassis, ...}`` in the district.
    """
    stacks = {e.index for e in dev.entities if e.physical_class == 11}
    if not stacks:
        return None
    members = Counter(e.contained_in for e in dev.entities
                      if e.physical_class == 3 and e.contained_in in stacks
                      and (_clean(e.model) or _clean(e.serial) or _clean(e.descr)))
    most = max(members.values(), default=0)
    return Stack(members=most, redundant=True, kind="stack") if most >= 2 else None


class _IdentityMixin(_State):
    """Nodes of the devices that answered, and the indexes that name them."""

    def _base_match(self, dev: DeviceFacts) -> str | None:
        if not self.base:
            return None
        keys = set(name_variants(dev.sys_name)) | set(name_variants(dev.target.name))
        for n in self.base.nodes:
            if n.id.lower() in keys or (n.name and n.name.lower() in keys):
                return n.id
        for n in self.base.nodes:
            if n.mgmt_address and n.mgmt_address == dev.target.address:
                return n.id
        return None

    def _new_id(self, wanted: str) -> str:
        nid, k = _id(wanted), 2
        base_id = nid
        while nid in self.nodes:
            nid = f"{base_id}-{k}"
            k += 1
        return nid

    def add_devices(self) -> None:
        for i, dev in enumerate(self.audit.devices):
            if not dev.ok:
                continue
            nid = self._base_match(dev)
            if nid is None or nid in self.nodes:
                name = (_clean(dev.sys_name) or _clean(dev.target.name) or dev.target.address)
                nid = self._new_id(name)
            pen = _enterprise(dev.sys_object_id)
            vendor = self.vendors.get(pen) if pen else None
            if vendor == "net-snmp":
                # the agent software's number (Linux boxes, and what the twin writes for a
                # vendor it has no number for), not the maker: no evidence of the vendor
                vendor = None
            base = self.base_nodes.get(nid)
            kind = base.kind if base else (_kind_from_text(dev.sys_descr, dev.model)
                                           or NodeKind.ACCESS)
            site = self._site(base, dev.sys_location)
            node = Node(id=nid, kind=kind, site=site, name=base.name if base else None,
                        vendor=vendor or (base.vendor if base else None),
                        model=_clean(dev.model) or (base.model if base else None),
                        firmware=_clean(dev.firmware) or (base.firmware if base else None),
                        mgmt_address=dev.target.address
                        if dev.target.address in self.unique_address
                        else (base.mgmt_address if base else None),
                        count=base.count if base else 1, wifi=base.wifi if base else None,
                        stack=(base.stack if base and base.stack else None)
                        or (entity_stack(dev) if kind != NodeKind.AP else None))
            self.nodes[nid] = node
            self.answered[nid] = dev
            self.device_node[i] = nid
            self._guessed_kind[nid] = base is None and _kind_from_text(
                dev.sys_descr, dev.model) is None
            keys = [*name_variants(dev.sys_name), *name_variants(dev.target.name), nid.lower()]
            if dev.target.address in self.unique_address:
                keys.append(dev.target.address)
            for key in keys:
                self.index.setdefault(key, nid)
            for ip in dev.ip_addresses:
                if usable_address(ip.address) and ip.address in self.unique_ips:
                    self.index.setdefault(ip.address, nid)
            for iface in dev.interfaces:
                if iface.mac and iface.mac.strip("0:") != "":
                    self.mac_index.setdefault(iface.mac.lower(), nid)

    def _site(self, base: Node | None, location: str | None) -> str | None:
        if base is not None:
            return base.site
        loc = _clean(location)
        if loc is None:
            return None
        if self.base:
            for s in self.base.sites:
                if loc.lower() in (s.id.lower(), (s.name or "").lower()):
                    return s.id
            return None
        return _id(loc)
