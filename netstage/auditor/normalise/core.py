"""Normalisation: what an SNMP audit found, turned into the district model.

:func:`facts_to_district` builds a :class:`~netstage.simulator.model.District` from an
:class:`~netstage.auditor.facts.AuditResult`:

* **nodes** from the answering devices (id = ``sysName``, else the inventory name, else
  the address; vendor from the ``sysObjectID`` enterprise number, model and firmware from
  the ENTITY-MIB chassis; ``stack`` from the chassis under an ENTITY-MIB stack entity,
  see :func:`entity_stack`) and from LLDP/CDP neighbours that did not answer (APs, phones
  filtered out as endpoints);
* **links** from LLDP/CDP rows, grouped per pair of nodes and matched on both ends where
  both ends answered. Ports that the device reports as members of one aggregate
  (IF-MIB ifStackTable / IEEE8023-LAG-MIB, ``Interface.lag_parent``) make one LAG link
  with every configured member counted; without that, parallel physical links between
  one pair are inferred to be one LAG (``lag_members``); a link whose other end did not
  answer, or does not list us back, is kept and reported as *half-seen*;
* **capacity** from the interface speeds (ifHighSpeed, else ifSpeed): the slower end of
  each member, summed over members;
* **circuits** from interfaces whose ``ifAlias`` reads ``internet:<id> (<provider>)``
  (the convention the digital twin writes, documented in docs/history-and-twin.md);
* **kinds** from a base district, else from ``auditor/data/device_kinds.yaml`` patterns
  on ``sysDescr``/model, else from the topology (switch next to a router/firewall ->
  core, switch with switches further from the edge -> distribution, else access);
* a **mismatch report**: speed or duplex differing between the ends of a link, access
  uplinks slower than the sum of their active access ports, LAG members of unequal speed
  or seen in different numbers from the two ends;
* **measured facts** for the stage rubric (:class:`~netstage.simulator.model.SnmpFacts`
  plus diversity counts in ``measured.extra["snmp"]``).

:func:`merge_measured` keeps a declared district's topology and overlays what was
measured: vendor/model/firmware of matched nodes, link capacities and LAG members,
``background_mbps`` from utilisation, and ``measured.snmp``.

Utilisation comes from a :class:`~netstage.auditor.store.HistoryStore` (p95 over the
polled history) when one is given, else from one audit's counters as the mean rate since
the counters started (octets / (sysUpTime - ifCounterDiscontinuityTime), Counter64 only).
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from typing import Any, Literal

from netstage.auditor.capabilities import is_network_gear, kind_hint
from netstage.auditor.facts import AuditResult, DeviceFacts, Interface, Neighbour
from netstage.auditor.twin import CIRCUIT_ALIAS_RE, load_device_kinds
from netstage.simulator.model import (
    INFRASTRUCTURE_KINDS,
    SWITCH_KINDS,
    Circuit,
    District,
    DistrictInfo,
    Link,
    Measured,
    Node,
    NodeKind,
    Site,
    SnmpFacts,
    Stack,
)

_ID_BAD = re.compile(r"[^A-Za-z0-9_.:/@#\-]+")
_PRIVATE = {"", "<private>", "unknown", "none", "(none)"}
_PHYSICAL_TYPES = {6, 62, 69, 117, None}  # ethernetCsmacd, fastEther(FX), gigabitEthernet
_UP = 1
_DEFAULT_SPEED_MBPS = 1000.0

MismatchKind = Literal[
    "speed", "duplex", "uplink_slower_than_access", "lag_member_speed", "lag_member_count",
    "unknown_speed", "port_down", "self_link", "several_lags",
]


@dataclass(frozen=True)
class PortRef:
    """One end of a physical link: node id and local interface (ifIndex/name)."""

    node: str
    if_index: int | None
    if_name: str | None

    @property
    def label(self) -> str:
        return f"{self.node}:{self.if_name or self.if_index or '?'}"


@dataclass
class Mismatch:
    """Something about a link or a node an engineer should look at."""

    kind: MismatchKind
    element: str  # link key or node id
    detail: str
    values: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "element": self.element, "detail": self.detail,
                "values": self.values}


@dataclass
class HalfSeenLink:
    """A neighbour seen from one end only.

    ``reason``: ``peer_not_audited`` (the neighbour did not answer or is not in the
    inventory: normal for APs and phones), ``peer_does_not_confirm`` (the neighbour
    answered but lists no neighbour row back to us on any port).
    """

    seen_from: PortRef
    peer: str
    peer_port: str | None
    protocol: str
    reason: Literal["peer_not_audited", "peer_does_not_confirm"]

    def to_json(self) -> dict[str, Any]:
        return {"seen_from": self.seen_from.label, "peer": self.peer,
                "peer_port": self.peer_port, "protocol": self.protocol, "reason": self.reason}


@dataclass
class NormaliseResult:
    """A measured district and what the normaliser noticed on the way."""

    district: District
    mismatches: list[Mismatch]
    half_seen_links: list[HalfSeenLink]
    measured: SnmpFacts
    device_node: dict[int, str]  # index in audit.devices -> node id
    link_ports: dict[str, list[tuple[PortRef, PortRef | None]]]  # link key -> member ports
    endpoints: list[str]  # neighbours left out as end devices (phones, hosts)
    unseen_base_nodes: list[str]  # base infrastructure nodes the audit did not see
    diversity: dict[str, dict[str, int]]
    # neighbours that announced only a system description (no name, chassis or port id):
    # their node is named after the description's first line
    named_by_description: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "named_by_description": self.named_by_description,
            "nodes": len(self.district.nodes),
            "links": len(self.district.links),
            "circuits": len(self.district.circuits),
            "measured": self.measured.model_dump(),
            "mismatches": [m.to_json() for m in self.mismatches],
            "half_seen_links": [h.to_json() for h in self.half_seen_links],
            "endpoints": self.endpoints,
            "unseen_base_nodes": self.unseen_base_nodes,
            "diversity": self.diversity,
            "link_ports": {k: [[a.label, b.label if b else None] for a, b in v]
                           for k, v in self.link_ports.items()},
        }


# -- naming ---------------------------------------------------------------------------

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


def _kind_from_text(*texts: str | None) -> NodeKind | None:
    joined = " | ".join(t for t in texts if t)
    if not joined:
        return None
    for rule in load_device_kinds()["kind_rules"]:
        if re.search(rule["pattern"], joined, re.IGNORECASE):
            return NodeKind(rule["kind"])
    return None


def _is_endpoint(*texts: str | None) -> bool:
    joined = "\n".join(t for t in texts if t)
    pattern = load_device_kinds().get("endpoint_pattern")
    return bool(joined and pattern and re.search(pattern, joined, re.IGNORECASE | re.MULTILINE))


# -- utilisation ----------------------------------------------------------------------

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


# -- the normaliser -------------------------------------------------------------------

@dataclass
class _Row:
    """A neighbour row with both ends resolved to node ids."""

    local: PortRef
    remote: str
    remote_port: str | None
    protocol: str


class _Builder:
    def __init__(self, audit: AuditResult, base: District | None) -> None:
        self.audit = audit
        self.base = base
        self.base_nodes = {n.id: n for n in base.nodes} if base else {}
        self.vendors = _vendor_names()
        self.nodes: dict[str, Node] = {}
        self.answered: dict[str, DeviceFacts] = {}
        self.device_node: dict[int, str] = {}
        self.index: dict[str, str] = {}  # name/address variant -> node id
        self.mac_index: dict[str, str] = {}
        self.site_of: dict[str, str | None] = {}
        self.endpoints: list[str] = []
        self.mismatches: list[Mismatch] = []
        self.half_seen: list[HalfSeenLink] = []
        self._guessed_kind: dict[str, bool] = {}
        self.remote_ports: dict[str, set[str]] = {}
        self.unverified: set[str] = set()
        self.named_by_description: list[str] = []
        self.remote_chassis: dict[str, str] = {}
        self.chassis_node: dict[tuple[str, str], str] = {}
        self.dist: dict[str, int] = {}
        addresses = Counter(d.target.address for d in audit.devices if d.ok)
        ips = Counter(ip.address for d in audit.devices if d.ok for ip in d.ip_addresses)
        self.unique_ips = {a for a, c in ips.items() if c == 1}
        self.unique_address = {a for a, c in addresses.items() if c == 1}

    # -- nodes --
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

    def _resolve(self, nb: Neighbour, seen_from: str) -> str | None:
        for key in name_variants(nb.remote_sysname):
            if key in self.index:
                return self.index[key]
        mgmt = nb.remote_mgmt_address
        # An address names the neighbour unless it is one of our own (anonymised or
        # virtual addresses are shared; a device is not its own LLDP neighbour).
        if usable_address(mgmt) and self.index.get(mgmt or "", seen_from) != seen_from:
            return self.index[mgmt or ""]
        chassis = (nb.remote_chassis_id or "").lower()
        if chassis and chassis in self.mac_index:
            return self.mac_index[chassis]
        return None

    def _neighbour_node(self, nb: Neighbour, seen_from: str) -> str | None:
        """A node for a neighbour that did not answer (None: an end device, left out)."""
        texts = (nb.remote_sys_descr, nb.remote_platform)
        name = _clean(nb.remote_sysname) or _clean(nb.remote_chassis_id)
        by_descr = False
        if name is None and nb.remote_sys_descr and not (nb.remote_sysname or "").strip() \
                and not (nb.remote_chassis_id or "").strip():
            # an LLDP row with only a system description (no name or chassis id at all,
            # not merely redacted ones): name the neighbour by it
            name = _clean(nb.remote_sys_descr.splitlines()[0][:64])
            by_descr = name is not None
        if name is None:
            return None
        hint = kind_hint(nb.remote_capabilities)
        if (_is_endpoint(*texts, name) or hint == "endpoint") \
                and self.base_nodes.get(_id(name)) is None:
            if name not in self.endpoints:
                self.endpoints.append(name)
            return None
        base = None
        for key in name_variants(name):
            if self.base and key in {n.id.lower() for n in self.base.nodes}:
                base = next(n for n in self.base.nodes if n.id.lower() == key)
                break
        nid = base.id if base else self._new_id(re.sub(r"\(.*\)$", "", name).strip() or name)
        text_kind = _kind_from_text(*texts)
        cap_kind = hint if isinstance(hint, NodeKind) else None
        if base is None and text_kind is None and cap_kind is None \
                and not is_network_gear(nb.remote_capabilities) and not re.search(
                    r"switch|router|bridge|firewall|gateway",
                    " ".join(t for t in texts if t), re.IGNORECASE):
            self.unverified.add(nid)  # nothing says it is network gear
        kind = base.kind if base else (text_kind or cap_kind or NodeKind.ACCESS)
        self._guessed_kind[nid] = base is None and text_kind is None and cap_kind is None
        site = base.site if base else self.nodes[seen_from].site
        self.nodes[nid] = Node(
            id=nid, kind=kind, site=site, name=base.name if base else None,
            vendor=base.vendor if base else None, model=base.model if base else None,
            firmware=base.firmware if base else None,
            mgmt_address=nb.remote_mgmt_address if usable_address(nb.remote_mgmt_address)
            else (base.mgmt_address if base else None),
            count=base.count if base and kind == NodeKind.AP else 1,
            wifi=base.wifi if base and kind == NodeKind.AP else None)
        for key in (*name_variants(name), *name_variants(nid)):
            self.index.setdefault(key, nid)
        if by_descr and nid not in self.named_by_description:
            self.named_by_description.append(nid)
        return nid

    # -- links --
    def rows(self) -> list[_Row]:
        out: list[_Row] = []
        for nid, dev in list(self.answered.items()):
            per_port: dict[tuple[object, str], _Row] = {}
            for nb in dev.neighbours:
                remote = self._resolve(nb, nid) or self._neighbour_node(nb, nid)
                if remote is None or remote == nid:
                    continue
                chassis = _mac_like(nb.remote_chassis_id)
                if remote not in self.answered and chassis:
                    # Different chassis ids under one name are different devices.
                    first = self.remote_chassis.setdefault(remote, chassis)
                    if first != chassis:
                        split = self.chassis_node.get((remote, chassis))
                        if split is None:
                            split = self.chassis_node[(remote, chassis)] = self._split(remote)
                            self.remote_chassis[split] = chassis
                        remote = split
                rport = (nb.remote_port_id or nb.remote_port_descr or "").lower()
                if remote not in self.answered and rport:
                    # One device cannot use one port for two links: a second row to the
                    # same name and port is a different device sharing the name (APs
                    # left at their factory name do that).
                    used = self.remote_ports.setdefault(remote, set())
                    if rport in used:
                        remote = self._split(remote)
                        self.remote_ports.setdefault(remote, set())
                    self.remote_ports[remote].add(rport)
                iface = dev.interface(nb.local_if_index) if nb.local_if_index else None
                port = PortRef(nid, nb.local_if_index,
                               nb.local_if_name or (iface.label if iface else None))
                key: tuple[object, str] = (nb.local_if_index or nb.local_if_name
                                           or f"n{nb.local_port_num}", remote)
                if key in per_port:  # LLDP and CDP on the same port: one row
                    continue
                per_port[key] = _Row(port, remote, nb.remote_port_id or nb.remote_port_descr,
                                     nb.protocol)
            out.extend(self._drop_self_view(nid, list(per_port.values())))
        referenced = {r.remote for r in out} | set(self.answered)
        for nid in [n for n in self.nodes if n not in referenced]:
            del self.nodes[nid]
            self._guessed_kind.pop(nid, None)
        return out

    def _drop_self_view(self, nid: str, rows: list[_Row]) -> list[_Row]:
        """Rows in which a device sees itself (stack/virtual-chassis links, loops).

        A neighbour that did not answer, whose every row names one of our own ports as
        its port, each seen back from that port, is this device: those rows are dropped
        and reported (``self_link``)."""
        by_remote: dict[str, list[_Row]] = defaultdict(list)
        for r in rows:
            if r.remote not in self.answered:
                by_remote[r.remote].append(r)
        drop: set[int] = set()
        for remote, group in by_remote.items():
            pairs = set()
            for r in group:
                other = self._find_iface(nid, r.remote_port)
                if other is None or r.local.if_index is None:
                    break
                pairs.add((r.local.if_index, other.if_index))
            else:
                if pairs and all(a != b and (b, a) in pairs for a, b in pairs):
                    drop.update(id(r) for r in group)
                    self.mismatches.append(Mismatch(
                        "self_link", nid, f"{nid} sees itself as '{remote}' on "
                        f"{len(group)} port(s): stack/virtual-chassis links or a loop",
                        {"ports": sorted(r.local.label for r in group)}))
        return [r for r in rows if id(r) not in drop]

    def _split(self, nid: str) -> str:
        """Another node like ``nid`` (same kind and site) under a new id."""
        copy = self.nodes[nid].model_copy()
        copy.id = self._new_id(nid)
        self.nodes[copy.id] = copy
        self._guessed_kind[copy.id] = self._guessed_kind.get(nid, False)
        if nid in self.unverified:
            self.unverified.add(copy.id)
        return copy.id

    def _find_iface(self, node: str, port: str | None) -> Interface | None:
        dev = self.answered.get(node)
        if dev is None or not port:
            return None
        p = port.strip().lower()
        for attr in ("name", "descr", "alias", "mac"):
            for iface in dev.interfaces:
                v = getattr(iface, attr)
                if v and v.strip().lower() == p:
                    return iface
        if p.isdigit():  # LLDP port id subtype local: often the ifIndex
            return dev.interface(int(p))
        return None

    def _speed(self, ref: PortRef | None) -> tuple[float | None, str | None, int | None]:
        if ref is None or ref.node not in self.answered:
            return None, None, None
        dev = self.answered[ref.node]
        iface = dev.interface(ref.if_index) if ref.if_index is not None else None
        if iface is None and ref.if_name:
            iface = self._find_iface(ref.node, ref.if_name)
        if iface is None:
            return None, None, None
        return iface.speed_mbps or None, iface.duplex, iface.oper_status

    def links(self, rows: list[_Row]) -> tuple[list[Link], dict[str, list[tuple[PortRef,
                                                                              PortRef | None]]]]:
        by_pair: dict[frozenset[str], dict[str, list[_Row]]] = defaultdict(
            lambda: defaultdict(list))
        for r in rows:
            by_pair[frozenset((r.local.node, r.remote))][r.local.node].append(r)
        links: list[Link] = []
        ports: dict[str, list[tuple[PortRef, PortRef | None]]] = {}
        base_links = {frozenset((lk.a, lk.b)): lk for lk in (self.base.links if self.base
                                                               else [])}
        for pair in sorted(by_pair, key=lambda p: tuple(sorted(p))):
            sides = by_pair[pair]
            a, b = sorted(pair)
            bl = base_links.get(pair)
            if bl is not None:
                a, b = bl.a, bl.b
            rows_a, rows_b = sides.get(a, []), sides.get(b, [])
            if not rows_a:  # describe the link from the side that saw it
                a, b, rows_a, rows_b = b, a, rows_b, rows_a
            members = self._pair_members(a, b, rows_a, rows_b)
            key = bl.key if bl is not None else f"{a}--{b}"
            capacity, lag = self._capacity(key, members)
            known = self._lag_from_membership(key, a, b, members)
            if known is not None:
                capacity, lag = known
            link = Link(a=a, b=b, capacity_mbps=capacity, lag_members=lag if lag > 1 else None,
                        id=bl.id if bl is not None else None,
                        medium=bl.medium if bl is not None else "unknown",
                        background_mbps=bl.background_mbps if bl is not None else 0.0)
            links.append(link)
            ports[link.key] = members
        return links, ports

    def _pair_members(self, a: str, b: str, rows_a: list[_Row],
                      rows_b: list[_Row]) -> list[tuple[PortRef, PortRef | None]]:
        """Physical member links between a and b as (a port, b port or None).

        A row of a is paired with the row of b on the port a's row names, or that names
        a's port; rows neither side can map are paired in order (one link each), so an
        unmappable port name never turns one link into two."""
        members: list[tuple[PortRef, PortRef | None]] = []
        used: set[int] = set()
        pending: list[_Row] = []
        for r in rows_a:
            target = self._find_iface(b, r.remote_port)
            match = None
            for j, rb in enumerate(rows_b):
                if j in used:
                    continue
                mine = self._find_iface(a, rb.remote_port)
                if (target is not None and rb.local.if_index == target.if_index) or (
                        mine is not None and mine.if_index == r.local.if_index):
                    match = j
                    break
            if match is not None:
                used.add(match)
                members.append((r.local, rows_b[match].local))
            elif target is not None:
                members.append((r.local, PortRef(b, target.if_index, target.name or
                                                 target.label)))
            else:
                pending.append(r)
        left = [rb for j, rb in enumerate(rows_b) if j not in used]
        for r, rb in zip(pending, left, strict=False):
            members.append((r.local, rb.local))
        for r in pending[len(left):]:
            members.append((r.local, None))
        for rb in left[len(pending):]:
            iface = self._find_iface(a, rb.remote_port)
            members.append((PortRef(a, iface.if_index, iface.name) if iface
                            else PortRef(a, None, rb.remote_port), rb.local))
        # half-seen reporting
        if b not in self.answered:
            for r in rows_a:
                self.half_seen.append(HalfSeenLink(r.local, b, r.remote_port, r.protocol,
                                                   "peer_not_audited"))
        elif not rows_b:
            for r in rows_a:
                self.half_seen.append(HalfSeenLink(r.local, b, r.remote_port, r.protocol,
                                                   "peer_does_not_confirm"))
        elif len({r.local for r in rows_a}) != len({r.local for r in rows_b}):
            self.mismatches.append(Mismatch(
                "lag_member_count", f"{a}--{b}",
                f"{a} sees {len(rows_a)} link(s) to {b}, {b} sees {len(rows_b)} to {a}: "
                "check cabling and LLDP on every member port",
                {a: len(rows_a), b: len(rows_b)}))
        return members

    def _aggregates_of(self, node: str, refs: list[PortRef]) -> set[int | None] | None:
        """The aggregates (ifIndex, None for a port in none) that ``node``'s ports ``refs``
        belong to, from the collected LAG membership; None when the device reported no
        membership or a port is unknown."""
        dev = self.answered.get(node)
        if dev is None or not refs:
            return None
        groups = dev.lag_members()
        if not groups:
            return None
        aggs: set[int | None] = set()
        for ref in refs:
            iface = dev.interface(ref.if_index) if ref.if_index is not None else None
            if iface is None and ref.if_name:
                iface = self._find_iface(node, ref.if_name)
            if iface is None:
                return None
            # LLDP seen on the aggregate itself (some agents do) names the aggregate.
            aggs.add(iface.if_index if iface.if_index in groups else iface.lag_parent)
        return aggs

    def _aggregate_members(self, node: str, aggs: set[int | None] | None) -> list[Interface]:
        """Member interfaces of the one aggregate in ``aggs`` (from :meth:`_aggregates_of`);
        [] when there is no membership, a port outside any aggregate, or several."""
        agg = next(iter(aggs)) if aggs is not None and len(aggs) == 1 else None
        if agg is None:
            return []
        dev = self.answered[node]
        found = [dev.interface(i) for i in dev.lag_members()[agg]]
        return [i for i in found if i is not None]

    def _if_label(self, node: str, if_index: int) -> str:
        iface = self.answered[node].interface(if_index)
        return (iface.name or iface.descr or str(if_index)) if iface else str(if_index)

    def _lag_from_membership(self, key: str, a: str, b: str,
                             members: list[tuple[PortRef, PortRef | None]]
                             ) -> tuple[float, int] | None:
        """(capacity, members) of a link whose ports are members of one aggregate on an
        end that reported LAG membership (ifStackTable / dot3adAggPortAttachedAggID):
        every configured member counts, capacity is the sum of their speeds. When both
        ends know and disagree on the member count it is reported and the smaller end
        is used (a member is only useful on both ends). None: fall back to inference."""
        ends: dict[str, tuple[int, float]] = {}
        sides = {a: self._aggregates_of(a, [pa for pa, _ in members]),
                 b: self._aggregates_of(b, [pb for _, pb in members if pb is not None])}
        several = {node: sorted(x for x in aggs if x is not None)
                   for node, aggs in sides.items()
                   if aggs is not None and len(aggs - {None}) > 1}
        if several:
            names = {node: [self._if_label(node, i) for i in idx] for node, idx in several.items()}
            self.mismatches.append(Mismatch(
                "several_lags", key,
                "the links between these two devices belong to " + "; ".join(
                    f"{len(v)} aggregates on {n} ({', '.join(v)})" for n, v in names.items())
                + ": modelled as one link with every member's capacity; with spanning tree "
                "only one aggregate forwards (layer-3 routing uses them all)",
                {**names, "source": "lag_membership"}))
            return None
        for node, aggs in sides.items():
            ifaces = self._aggregate_members(node, aggs)
            speed = sum(i.speed_mbps or 0.0 for i in ifaces)
            if ifaces and speed > 0:
                ends[node] = (len(ifaces), speed)
        if not ends:
            return None
        if len(ends) == 2 and ends[a][0] != ends[b][0]:
            self.mismatches.append(Mismatch(
                "lag_member_count", key,
                f"the LAG has {ends[a][0]} member(s) on {a} but {ends[b][0]} on {b} "
                "(ifStackTable/IEEE8023-LAG-MIB): add the missing ports to the aggregate",
                {a: ends[a][0], b: ends[b][0], "source": "lag_membership"}))
        return min(s for _, s in ends.values()), min(c for c, _ in ends.values())

    def _capacity(self, key: str, members: list[tuple[PortRef, PortRef | None]]
                  ) -> tuple[float, int]:
        total = 0.0
        speeds: list[float] = []
        for pa, pb in members:
            sa, da, oa = self._speed(pa)
            sb, db, ob = self._speed(pb)
            if sa and sb and abs(sa - sb) > 1e-6:
                self.mismatches.append(Mismatch(
                    "speed", key, f"{pa.label} runs at {sa:g} Mb/s but {pb.label if pb else '?'}"
                    f" at {sb:g} Mb/s: fix the port configuration or the optic",
                    {pa.label: sa, pb.label if pb else "?": sb}))
            if da and db and "unknown" not in (da, db) and da != db:
                self.mismatches.append(Mismatch(
                    "duplex", key, f"{pa.label} is {da} duplex but {pb.label if pb else '?'} is "
                    f"{db} duplex: set both to auto-negotiate", {pa.label: da}))
            for ref, status in ((pa, oa), (pb, ob)):
                if ref is not None and status is not None and status != _UP:
                    self.mismatches.append(Mismatch(
                        "port_down", key, f"{ref.label} has a neighbour but ifOperStatus "
                        f"{status}", {ref.label: status}))
            known = [s for s in (sa, sb) if s]
            speed = min(known) if known else None
            if speed is None:
                base = next((lk for lk in (self.base.links if self.base else [])
                             if lk.key == key), None)
                speed = (base.capacity_mbps / (base.lag_members or 1)) if base else \
                    _DEFAULT_SPEED_MBPS
                self.mismatches.append(Mismatch(
                    "unknown_speed", key, f"no interface speed for {pa.label}; assumed "
                    f"{speed:g} Mb/s", {"assumed_mbps": speed}))
            speeds.append(speed)
            total += speed
        if len(speeds) > 1 and len(set(speeds)) > 1:
            self.mismatches.append(Mismatch(
                "lag_member_speed", key, f"LAG members run at different speeds {speeds}: "
                "traffic hashed to the slow member is capped", {"speeds": speeds}))
        return total, len(members)

    # -- kinds by topology --
    def topology_kinds(self, links: list[Link], circuits: list[Circuit]) -> None:
        adj: dict[str, set[str]] = defaultdict(set)
        for lk in links:
            adj[lk.a].add(lk.b)
            adj[lk.b].add(lk.a)
        roots = {n for n, node in self.nodes.items()
                 if node.kind in (NodeKind.EDGE, NodeKind.FIREWALL)}
        attach = {c.attach for c in circuits}
        roots |= attach
        fallback: set[str] = set()
        if not roots and adj:  # no router, firewall or circuit seen: the best-connected node
            fallback = {max(sorted(adj), key=lambda n: len(adj[n]))}
        dist: dict[str, int] = {r: 0 for r in roots | fallback}
        queue = deque(sorted(roots | fallback))
        while queue:
            u = queue.popleft()
            for v in adj[u]:
                if v not in dist:
                    dist[v] = dist[u] + 1
                    queue.append(v)
        for nid, guessed in self._guessed_kind.items():
            node = self.nodes[nid]
            if not guessed or node.kind not in SWITCH_KINDS:
                continue
            nbrs = adj[nid]
            if nid in attach:
                kind = NodeKind.EDGE
            elif nid in roots or nid in fallback or nbrs & roots:
                kind = NodeKind.CORE
            elif any(self.nodes[v].kind in SWITCH_KINDS and dist.get(v, 0) > dist.get(nid, 0)
                     and v in self.answered for v in nbrs):
                kind = NodeKind.DISTRIBUTION
            else:
                kind = NodeKind.ACCESS
            node.kind = kind
        self.dist = dist

    def uplink_report(self, links: list[Link],
                      ports: dict[str, list[tuple[PortRef, PortRef | None]]]) -> None:
        for nid, dev in self.answered.items():
            if self.nodes[nid].kind != NodeKind.ACCESS:
                continue
            my_d = self.dist.get(nid)
            if my_d is None:
                continue
            up_links = [lk for lk in links if nid in (lk.a, lk.b)
                        and self.dist.get(lk.b if lk.a == nid else lk.a, my_d + 1) < my_d]
            if not up_links:
                continue
            up_ifaces: set[int] = set()
            for lk in up_links:
                for pa, pb in ports[lk.key]:
                    for ref in (pa, pb):
                        if ref is not None and ref.node == nid and ref.if_index is not None:
                            up_ifaces.add(ref.if_index)
            # LAG members without an LLDP row of their own are uplink ports too.
            parents = {i.lag_parent for i in dev.interfaces if i.if_index in up_ifaces}
            up_ifaces |= {i.if_index for i in dev.interfaces
                          if i.lag_parent is not None and i.lag_parent in parents}
            uplink = sum(lk.capacity_mbps for lk in up_links)
            access = sum(i.speed_mbps or 0.0 for i in dev.interfaces
                         if i.oper_status == _UP and i.if_type in _PHYSICAL_TYPES
                         and i.if_index not in up_ifaces)
            if access > uplink:
                self.mismatches.append(Mismatch(
                    "uplink_slower_than_access", nid,
                    f"{nid}: uplink {uplink:g} Mb/s < {access:g} Mb/s of active access ports "
                    f"({access / uplink:.1f}:1 oversubscription)",
                    {"uplink_mbps": uplink, "access_mbps": access,
                     "ratio": round(access / uplink, 3)}))


def _circuits(b: _Builder, base: District | None) -> list[Circuit]:
    out: dict[str, Circuit] = {}
    for nid, dev in b.answered.items():
        for iface in dev.interfaces:
            m = CIRCUIT_ALIAS_RE.match((iface.alias or "").strip())
            if m and iface.speed_mbps:
                out[m.group("id")] = Circuit(id=m.group("id"), attach=nid,
                                             capacity_mbps=iface.speed_mbps,
                                             provider=m.group("provider"))
    if base is not None:
        for c in base.circuits:
            if c.id in out:
                out[c.id].background_mbps = c.background_mbps
                if out[c.id].provider is None:
                    out[c.id].provider = c.provider
            elif c.attach in b.nodes:
                out[c.id] = c.model_copy()
    return list(out.values())


def _snmp_facts(audit: AuditResult, nodes: dict[str, Node], answered: dict[str, DeviceFacts],
                unseen_base: list[str], unverified: set[str]) -> SnmpFacts:
    """Coverage counts infrastructure we have evidence for: answered devices, base
    infrastructure, and silent neighbours whose description says network gear."""
    infra = [nid for nid, n in nodes.items() if n.kind in INFRASTRUCTURE_KINDS
             and (nid in answered or nid not in unverified)]
    ok_infra = [answered[nid] for nid in infra if nid in answered]
    tested = [d for d in audit.devices if d.default_communities_accepted is not None]
    return SnmpFacts(
        infrastructure_devices=len(infra) + len(unseen_base),
        answered=len(ok_infra),
        v3_devices=sum(1 for d in ok_infra if d.snmp_version == "v3"),
        v1v2c_devices=sum(1 for d in ok_infra if d.snmp_version in ("v1", "v2c")),
        default_community_accepted=(sum(1 for d in tested if d.default_communities_accepted)
                                    if tested else None),
        default_write_community_accepted=_write_accepted(audit),
    )


def _write_accepted(audit: AuditResult) -> int | None:
    """Devices that accepted a default write community (opt-in write test); None when the
    test did not run, or when no device accepted but some result was inconclusive."""
    results = [d.write_result for d in audit.devices if d.write_result is not None]
    if not results:
        return None
    accepted = results.count("accepted")
    return accepted if accepted or "inconclusive" not in results else None


def _diversity(nodes: dict[str, Node], answered: dict[str, DeviceFacts]) -> dict[str, dict[str,
                                                                                          int]]:
    ok = [nodes[n] for n in answered]
    return {
        "vendors": dict(Counter(n.vendor for n in ok if n.vendor)),
        "models": dict(Counter(f"{n.vendor or '?'} {n.model}" for n in ok if n.model)),
        "firmware": dict(Counter(f"{n.vendor or '?'} {n.model or '?'} {n.firmware}"
                                 for n in ok if n.firmware)),
        "snmp_versions": dict(Counter(d.snmp_version or "unknown" for d in answered.values())),
    }


def facts_to_district(audit: AuditResult, base: District | None = None) -> NormaliseResult:
    """The district an audit measured (see the module docstring for every rule).

    With ``base``, devices are matched to its nodes by id/name/management address and
    keep its kinds, sites, AP counts and radios, link ids and media; sites, populations
    and declared facts come from ``base``. Without it, sites come from ``sysLocation``.
    """
    b = _Builder(audit, base)
    b.add_devices()
    rows = b.rows()
    links, ports = b.links(rows)
    circuits = _circuits(b, base)
    b.topology_kinds(links, circuits)
    b.uplink_report(links, ports)
    unseen = sorted(n.id for n in (base.nodes if base else [])
                    if n.kind in INFRASTRUCTURE_KINDS and n.id not in b.nodes)
    measured = _snmp_facts(audit, b.nodes, b.answered, unseen, b.unverified)
    diversity = _diversity(b.nodes, b.answered)
    if base is not None:
        sites = [s.model_copy(deep=True) for s in base.sites]
        info = base.district.model_copy(deep=True)
        declared = base.declared.model_copy(deep=True)
    else:
        site_ids = sorted({n.site for n in b.nodes.values() if n.site})
        sites = [Site(id=s, kind="office") for s in site_ids]
        info = DistrictInfo(name=f"audited ({audit.inventory or 'inventory'})")
        from netstage.simulator.model import Declared
        declared = Declared()
    source = f"netstage audit {audit.inventory or ''} at {audit.started_at.isoformat()}"
    district = District(
        district=info, sites=sites, nodes=list(b.nodes.values()), links=links,
        circuits=circuits, declared=declared,
        measured=Measured(source=source.replace("  ", " "), snmp=measured,
                          extra={"snmp": {"diversity": diversity,
                                          "mismatches": len(b.mismatches),
                                          "half_seen_links": len(b.half_seen)}}))
    return NormaliseResult(district, b.mismatches, b.half_seen, measured, b.device_node, ports,
                           b.endpoints, unseen, diversity, b.named_by_description)


