"""Neighbours: LLDP/CDP rows resolved to nodes at both ends.

A row's neighbour is a device that answered (by name variant, management address or
chassis MAC), else a new node for a neighbour that did not answer (APs, phones and hosts
are left out as end devices, see :mod:`.kinds`). Different chassis ids, or two rows on
one remote port, under one name are different devices; rows in which a device sees itself
(stack/virtual-chassis links, loops) are dropped and reported.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Literal

from netstage.auditor.capabilities import is_network_gear, kind_hint
from netstage.auditor.facts import Interface, Neighbour
from netstage.auditor.normalise.identity import (
    _clean,
    _id,
    _IdentityMixin,
    _mac_like,
    name_variants,
    usable_address,
)
from netstage.auditor.normalise.kinds import _is_endpoint, _kind_from_text
from netstage.auditor.normalise.mismatches import Mismatch
from netstage.simulator.model import Node, NodeKind


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
class _Row:
    """A neighbour row with both ends resolved to node ids."""

    local: PortRef
    remote: str
    remote_port: str | None
    protocol: str


class _NeighboursMixin(_IdentityMixin):
    """Neighbour rows per answering device, resolved to nodes."""

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
