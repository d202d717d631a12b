"""Links, LAGs and capacity.

LLDP/CDP rows are grouped per pair of nodes and matched on both ends where both ends
answered. Ports that the device reports as members of one aggregate (IF-MIB ifStackTable
/ IEEE8023-LAG-MIB, ``Interface.lag_parent``) make one LAG link with every configured
member counted; without that, parallel physical links between one pair are inferred to be
one LAG (``lag_members``); a link whose other end did not answer, or does not list us
back, is kept and reported as *half-seen*. Capacity comes from the interface speeds
(ifHighSpeed, else ifSpeed): the slower end of each member, summed over members.
"""

from __future__ import annotations

from collections import defaultdict

from netstage.auditor.facts import Interface
from netstage.auditor.normalise.mismatches import _UP, Mismatch
from netstage.auditor.normalise.neighbours import HalfSeenLink, PortRef, _NeighboursMixin, _Row
from netstage.simulator.model import Link

_DEFAULT_SPEED_MBPS = 1000.0


class _LagsMixin(_NeighboursMixin):
    """Links with their member ports, LAG members and capacity."""

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
