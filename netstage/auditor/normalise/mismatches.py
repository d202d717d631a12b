"""Mismatches: what the two ends of a link, or a device and its links, disagree on.

Speed or duplex differing between the ends of a link, ports down under a neighbour,
unknown speeds (found while capacities are summed, :mod:`.lags`), LAG members of unequal
speed or seen in different numbers from the two ends (:mod:`.lags`), a device seeing
itself (:mod:`.neighbours`), several aggregates between one pair (:mod:`.lags`), and
access uplinks slower than the sum of their active access ports (here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from netstage.auditor.normalise.state import _State
from netstage.simulator.model import Link, NodeKind

if TYPE_CHECKING:
    from netstage.auditor.normalise.neighbours import PortRef

_PHYSICAL_TYPES = {6, 62, 69, 117, None}  # ethernetCsmacd, fastEther(FX), gigabitEthernet
_UP = 1

MismatchKind = Literal[
    "speed", "duplex", "uplink_slower_than_access", "lag_member_speed", "lag_member_count",
    "unknown_speed", "port_down", "self_link", "several_lags",
]


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


class _MismatchesMixin(_State):
    """The access-uplink check (it needs every link and the distances from the edge)."""

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
