"""The district as flat numpy arrays: the one form the simulator runs on.

:func:`to_arrays` converts a :class:`~netstage.simulator.model.District` once.
Like pandapower, the tables are canonical; the networkx graph is only a view.

Layout (N nodes, L links, P attachment points, D devices, H = max path length)
-------------------------------------------------------------------------------
Nodes
    ``node_ids[N]`` model node ids; index ``N`` (== ``root``) is the virtual
    Internet node every circuit connects to. ``node_kind[N]`` codes of
    :data:`NODE_KINDS`; ``node_site[N]`` site index or -1.
Links
    ``link_a[L]``, ``link_b[L]`` node indices (a circuit's ``link_b`` is ``root``),
    ``link_capacity_mbps[L]`` float64 (> 0), ``link_background_mbps[L]`` measured load
    not modelled as devices, ``link_role[L]`` one of :data:`LINK_PHYSICAL`,
    :data:`LINK_CIRCUIT`, :data:`LINK_AIR`, :data:`LINK_AP_UPLINK`, and ``link_ids[L]``.
    Order: model links (an AP entry with ``count`` k has its links expanded into k
    member copies, ``"<link>#<j>"``, role :data:`LINK_AP_UPLINK`), then circuits, then
    one air link per AP member radio.
Attachment points
    Where devices connect: one per client-serving radio of each AP member
    (``attach_air_link[p]`` = its air link; the first radio keeps the member's id, the
    others are ``"<member>#<band>"``; see :mod:`netstage.simulator.wifi`) and one per
    node that wired devices use (``attach_air_link[p] = -1``). ``meta["wifi_radios"]``
    has, per radio: attachment point, band, devices, expected busy-hour active clients
    and air capacity (Mbps).
    ``attach_node[P]`` node index, ``attach_member[P]`` AP member number (0 for
    switches), ``attach_site[P]`` site index, ``attach_max_clients[P]`` (0 = unbounded).
Paths
    ``path_links[P, H]`` int32, the links a device at ``p`` crosses towards the
    Internet: the air link first (Wi-Fi), then each link up to and including a circuit,
    padded with -1; ``path_len[P]`` (0 = disconnected). Computed by
    :mod:`netstage.simulator.routing`, so failed elements can be re-routed with the
    same layout.
Devices
    ``device_attach[D]`` attachment point, ``device_class[D]`` codes of
    :data:`DEVICE_CLASSES`, ``device_site[D]`` site index; ordered by site, then
    population, then attachment point round-robin.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

from netstage.simulator import element_ids as eids
from netstage.simulator.datafiles import load_data_yaml
from netstage.simulator.errors import TopologyError
from netstage.simulator.model import District, Node, NodeKind, Population, SiteKind
from netstage.simulator.wifi import ClientClass, RadioPlan, ap_radios, default_client_mix

__all__ = [
    "DEVICE_CLASSES",
    "LINK_AIR",
    "LINK_AP_UPLINK",
    "LINK_CIRCUIT",
    "LINK_PHYSICAL",
    "MAX_DEVICES",
    "NODE_KINDS",
    "DistrictArrays",
    "busy_hour_of",
    "client_mix",
    "radio_plans",
    "same_room_share",
    "to_arrays",
]

NODE_KINDS: tuple[str, ...] = tuple(k.value for k in NodeKind)
DEVICE_CLASSES: tuple[str, ...] = ("student", "staff", "lab", "iot")
LINK_PHYSICAL, LINK_CIRCUIT, LINK_AIR, LINK_AP_UPLINK = 0, 1, 2, 3
# Client devices one district may have (the largest US district has about 1 million
# students); above it a typo is far likelier than a real district, and the arrays would
# not fit in memory.
MAX_DEVICES = 5_000_000

I32 = NDArray[np.int32]
F64 = NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class DistrictArrays:
    """Flat arrays of one district (see the module docstring for the layout)."""

    name: str
    node_ids: tuple[str, ...]
    node_kind: NDArray[np.int8]
    node_site: I32
    site_ids: tuple[str, ...]
    link_ids: tuple[str, ...]
    link_a: I32
    link_b: I32
    link_capacity_mbps: F64
    link_background_mbps: F64
    link_role: NDArray[np.int8]
    attach_ids: tuple[str, ...]
    attach_node: I32
    attach_member: I32
    attach_site: I32
    attach_air_link: I32
    attach_max_clients: I32
    path_links: I32
    path_len: I32
    device_attach: I32
    device_class: NDArray[np.int8]
    device_site: I32
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def root(self) -> int:
        """Index of the virtual Internet node."""
        return len(self.node_ids)

    @property
    def n_devices(self) -> int:
        return int(self.device_attach.shape[0])

    @property
    def n_links(self) -> int:
        return int(self.link_capacity_mbps.shape[0])

    @cached_property
    def device_path_len(self) -> I32:
        """Path length per device (0 = disconnected)."""
        return np.asarray(self.path_len[self.device_attach], dtype=np.int32)

    def with_paths(self, path_links: I32, path_len: I32) -> DistrictArrays:
        """The same district with other paths (e.g. after a failure)."""
        return replace(self, path_links=path_links, path_len=path_len)

    def with_capacity(self, link_capacity_mbps: F64) -> DistrictArrays:
        return replace(self, link_capacity_mbps=link_capacity_mbps)


def radio_plans(node: Node, mix: tuple[ClientClass, ...],
                same_room: float = 1.0) -> tuple[list[RadioPlan], int]:
    """The client-serving radios of one AP of ``node`` and the per-radio active-client
    bound (:mod:`netstage.simulator.wifi`; ``wifi.air_capacity_mbps`` overrides);
    ``same_room``: share of its clients in the AP's own classroom."""
    table = load_data_yaml("wifi.yaml")
    wifi = node.wifi
    max_clients = int((wifi.max_clients if wifi and wifi.max_clients else None)
                      or table["max_active_clients_per_radio"])
    if wifi is not None and wifi.air_capacity_mbps is not None:
        return [RadioPlan(wifi.band, 1.0, mix, wifi.channel_width_mhz,
                          float(wifi.air_capacity_mbps), override=True)], max_clients
    gen = wifi.generation if wifi else "wifi5"
    width = wifi.channel_width_mhz if wifi else 40
    band = wifi.band if wifi else "5"
    plans = ap_radios(node.id, gen, band, width, wifi.spatial_streams if wifi else None, mix,
                      same_room)
    if not plans:
        raise TopologyError(
            f"node '{node.id}': none of the Wi-Fi clients of its site can use its "
            f"{band} GHz radio; fix wifi.band or the site's wifi_clients")
    return plans, max_clients


def client_mix(d: District, site_id: str | None) -> tuple[ClientClass, ...]:
    """The Wi-Fi client mix of a site: ``sites[].wifi_clients``, else
    ``district.wifi_clients``, else the labelled default of wifi.yaml."""
    s = next((x for x in d.sites if x.id == site_id), None)
    given = (s.wifi_clients if s is not None and s.wifi_clients is not None
             else d.district.wifi_clients)
    if given is None:
        return default_client_mix()
    return tuple(ClientClass(c.share, c.generation, c.spatial_streams) for c in given)


def same_room_share(d: District) -> dict[str, float]:
    """Per site: the share of Wi-Fi clients in their AP's own classroom, min(1, APs /
    classrooms); classrooms not declared are derived from the students
    (:func:`~netstage.simulator.wifi.classrooms`); 1.0 for a site without students."""
    from netstage.simulator.wifi import classrooms

    aps: dict[str, int] = {}
    for n in d.nodes:
        if n.kind == NodeKind.AP and n.site is not None:
            aps[n.site] = aps.get(n.site, 0) + n.count
    out: dict[str, float] = {}
    for s in d.sites:
        rooms, _ = classrooms(s)
        out[s.id] = min(1.0, aps.get(s.id, 0) / rooms) if rooms else 1.0
    return out


def _spread_wifi(size: int, rows: list[list[int]], cums: list[list[float]]) -> I32:
    """Attachment point of each of ``size`` devices spread round-robin over AP members
    (``rows[m]`` = the member's radio points) and, within a member, over its radios in
    the proportions ``cums[m]`` (cumulative shares, last 1.0): the member's k-th of K
    devices goes to the radio whose cumulative share first exceeds (k + 0.5) / K."""
    m_count = len(rows)
    width = max(len(r) for r in rows)
    pts = np.full((m_count, width), -1, dtype=np.int32)
    cum = np.full((m_count, width), 2.0)
    for i, (r, c) in enumerate(zip(rows, cums, strict=True)):
        pts[i, : len(r)] = r
        cum[i, : len(c)] = c
        cum[i, len(c) - 1] = 1.0
    idx = np.arange(size, dtype=np.int64)
    member = idx % m_count
    k = idx // m_count
    per_member = (size - 1 - np.arange(m_count)) // m_count + 1
    u = (k + 0.5) / per_member[member]
    radio = (u[:, None] >= cum[member]).sum(axis=1)
    return np.asarray(pts[member, radio], dtype=np.int32)


def busy_hour_of(d: District) -> tuple[float | None, str | None] | None:
    """``district.busy_hour`` as the simulator reads it (None: the scenario file's)."""
    b = d.district.busy_hour
    if b is None or (b.active_share is None and b.app_mix is None):
        return None
    return (b.active_share, b.app_mix)


def _population_size(p: Population, students: int, staff: int) -> int:
    if p.count is not None:
        return p.count
    if p.per_student is not None:
        return round(students * p.per_student)
    assert p.per_staff is not None
    return round(staff * p.per_staff)


def _default_populations(d: District, site_index: int) -> list[Population]:
    s = d.sites[site_index]
    site_nodes = [n for n in d.nodes if n.site == s.id]
    aps = [n.id for n in site_nodes if n.kind == NodeKind.AP]
    access = [n.id for n in site_nodes if n.kind == NodeKind.ACCESS]
    switches = access or [n.id for n in site_nodes if n.kind in
                          (NodeKind.DISTRIBUTION, NodeKind.CORE)] or [n.id for n in site_nodes]
    wifi_or_wired: tuple[list[str], str] = (aps, "wifi") if aps else (switches, "wired")
    out: list[Population] = []
    if s.students:
        out.append(Population(device_class="student", per_student=d.district.devices_per_student,
                              attach=wifi_or_wired[0], connection=wifi_or_wired[1]))
    if s.staff:
        out.append(Population(device_class="staff", per_staff=d.district.devices_per_staff,
                              attach=wifi_or_wired[0], connection=wifi_or_wired[1]))
    labs = s.wired_lab_pcs
    if labs is None and s.kind == SiteKind.SCHOOL:
        labs = d.district.default_wired_lab_pcs
    if labs:
        out.append(Population(device_class="lab", count=labs, attach=switches, connection="wired"))
    return out


def to_arrays(d: District) -> DistrictArrays:
    """Convert a checked district into :class:`DistrictArrays` with tree routing.

    Paths follow :func:`netstage.simulator.routing.node_routes` (fewest hops; equal-cost
    next hops and several circuits share devices: attachment points with several routes
    are split into sub-points, one per route, ``meta["spread"]``).
    """
    node_ids = tuple(n.id for n in d.nodes)
    nidx = {nid: i for i, nid in enumerate(node_ids)}
    site_ids = tuple(s.id for s in d.sites)
    sidx = {sid: i for i, sid in enumerate(site_ids)}
    kind_code = {k: i for i, k in enumerate(NODE_KINDS)}
    node_kind = np.array([kind_code[n.kind.value] for n in d.nodes], dtype=np.int8)
    node_site = np.array([sidx[n.site] if n.site else -1 for n in d.nodes], dtype=np.int32)
    ap_count = {n.id: n.count for n in d.nodes if n.kind == NodeKind.AP}

    link_ids: list[str] = []
    la: list[int] = []
    lb: list[int] = []
    cap: list[float] = []
    bg: list[float] = []
    role: list[int] = []
    # member_link[(model link index, member j)] -> expanded link index
    member_link: dict[tuple[int, int], int] = {}
    for i, lk in enumerate(d.links):
        k = max(ap_count.get(lk.a, 1), ap_count.get(lk.b, 1))
        for j in range(k):
            member_link[(i, j)] = len(link_ids)
            link_ids.append(eids.member_id(lk.key, j, k))
            la.append(nidx[lk.a])
            lb.append(nidx[lk.b])
            cap.append(lk.capacity_mbps)
            bg.append(lk.background_mbps)
            role.append(LINK_AP_UPLINK if k > 1 else LINK_PHYSICAL)
    root = len(node_ids)
    for c in d.circuits:
        link_ids.append(c.id)
        la.append(nidx[c.attach])
        lb.append(root)
        cap.append(c.capacity_mbps)
        bg.append(c.background_mbps)
        role.append(LINK_CIRCUIT)

    # attachment points: AP members (with air links) and wired nodes
    attach_ids: list[str] = []
    a_node: list[int] = []
    a_member: list[int] = []
    a_air: list[int] = []
    a_max: list[int] = []
    # one attachment point (with its air link) per client-serving radio of each AP
    # member; the first radio keeps the member's id, the others are "<member>#<band>"
    ap_attach: dict[str, list[list[int]]] = {}
    ap_cum: dict[str, list[float]] = {}
    radios: list[tuple[int, RadioPlan]] = []  # (attachment point, plan)
    same_room = same_room_share(d)
    for n in d.nodes:
        if n.kind != NodeKind.AP:
            continue
        plans, max_clients = radio_plans(n, client_mix(d, n.site),
                                         same_room.get(n.site or "", 1.0))
        ap_cum[n.id] = [float(x) for x in np.cumsum([pl.share for pl in plans])]
        for j in range(n.count):
            member_id = eids.member_id(n.id, j, n.count)
            row: list[int] = []
            for r, plan in enumerate(plans):
                row.append(len(attach_ids))
                radios.append((len(attach_ids), plan))
                attach_ids.append(member_id if r == 0 else eids.radio_point(member_id, plan.band))
                a_node.append(nidx[n.id])
                a_member.append(j)
                a_air.append(len(link_ids))
                a_max.append(max_clients)
                link_ids.append(eids.air_link_id(attach_ids[-1]))
                la.append(nidx[n.id])
                lb.append(nidx[n.id])
                cap.append(plan.base_capacity_mbps)  # sized below, once devices are known
                bg.append(0.0)
                role.append(LINK_AIR)
            ap_attach.setdefault(n.id, []).append(row)
    wired_attach: dict[str, int] = {}

    def wired_point(node_id: str) -> int:
        if node_id not in wired_attach:
            wired_attach[node_id] = len(attach_ids)
            attach_ids.append(node_id)
            a_node.append(nidx[node_id])
            a_member.append(0)
            a_air.append(-1)
            a_max.append(0)
        return wired_attach[node_id]

    # devices
    dev_attach: list[NDArray[np.int32]] = []
    dev_class: list[NDArray[np.int8]] = []
    dev_site: list[NDArray[np.int32]] = []
    total = 0
    for si, s in enumerate(d.sites):
        pops = s.populations if s.populations is not None else _default_populations(d, si)
        for p in pops:
            size = _population_size(p, s.students, s.staff)
            if size == 0:
                continue
            total += size
            if total > MAX_DEVICES:
                raise TopologyError(
                    f"sites[{si}] ('{s.id}'): the district has more than {MAX_DEVICES:,} client "
                    f"devices (this site's {p.device_class} population alone is {size:,}); check "
                    "students/staff/count for a typo, or split the district into several files"
                )
            points: list[int] = []
            rows: list[list[int]] = []
            cums: list[list[float]] = []
            for a in p.attach:
                if p.connection == "wifi":
                    rows.extend(ap_attach[a])
                    cums.extend([ap_cum[a]] * len(ap_attach[a]))
                else:
                    points.append(wired_point(a))
            if not points and not rows:
                raise TopologyError(
                    f"site '{s.id}': {size} {p.device_class} devices have nowhere to attach; "
                    "give the site access points or switches, or a population with 'attach'"
                )
            if rows:
                dev_attach.append(_spread_wifi(size, rows, cums))
            else:
                pts = np.asarray(points, dtype=np.int32)
                dev_attach.append(pts[np.arange(size) % len(pts)])
            dev_class.append(np.full(size, DEVICE_CLASSES.index(p.device_class), dtype=np.int8))
            dev_site.append(np.full(size, si, dtype=np.int32))

    device_attach = np.concatenate(dev_attach) if dev_attach else np.zeros(0, np.int32)
    wifi_radios = _size_radios(radios, a_air, a_max, cap, device_attach, len(attach_ids))
    link_a = np.asarray(la, dtype=np.int32)
    link_b = np.asarray(lb, dtype=np.int32)
    link_cap = np.asarray(cap, dtype=np.float64)
    link_role = np.asarray(role, dtype=np.int8)
    attach_node = np.asarray(a_node, dtype=np.int32)
    attach_member = np.asarray(a_member, dtype=np.int32)
    attach_air = np.asarray(a_air, dtype=np.int32)
    # the radio table names physical points; load sharing below renumbers them into
    # sub-points, so each radio keeps its site here
    wifi_radios["site"] = (node_site[attach_node[wifi_radios["attach"]]]
                           if len(wifi_radios["attach"]) else np.zeros(0, dtype=np.int32))
    # load sharing over circuits and equal-cost paths (routing.py): points with several
    # routes are split into sub-points, one per route
    spread, device_attach, (point_ids, attach_node, attach_member, attach_air, max_clients), \
        (path_links, path_len) = _spread(d, link_a, link_b, link_cap, link_role, member_link,
                                         link_ids, attach_ids, attach_node, attach_member,
                                         attach_air, a_max, device_attach)
    empty_i32 = np.zeros(0, dtype=np.int32)
    return DistrictArrays(
        name=d.district.name,
        node_ids=node_ids,
        node_kind=node_kind,
        node_site=node_site,
        site_ids=site_ids,
        link_ids=tuple(link_ids),
        link_a=link_a,
        link_b=link_b,
        link_capacity_mbps=link_cap,
        link_background_mbps=np.asarray(bg, dtype=np.float64),
        link_role=link_role,
        attach_ids=point_ids,
        attach_node=attach_node,
        attach_member=attach_member,
        attach_site=node_site[attach_node] if len(attach_node) else empty_i32,
        attach_air_link=attach_air,
        attach_max_clients=max_clients,
        path_links=path_links,
        path_len=path_len,
        device_attach=device_attach,
        device_class=np.concatenate(dev_class) if dev_class else np.zeros(0, np.int8),
        device_site=np.concatenate(dev_site) if dev_site else empty_i32,
        meta={"member_links": _member_lookup(member_link, link_ids), "spread": spread,
              # (horizon_years, growth_per_year): the simulator's R-FUTURE growth
              "growth": (d.district.growth.horizon_years, d.district.growth.growth_per_year),
              # (active_share, app_mix) or None: district.busy_hour, read by scenario_params
              "busy_hour": busy_hour_of(d),
              # one row per AP radio: see _size_radios
              "wifi_radios": wifi_radios},
    )


def _size_radios(radios: list[tuple[int, RadioPlan]], a_air: list[int], a_max: list[int],
                 cap: list[float], device_attach: I32, n_points: int) -> dict[str, Any]:
    """Set each radio's air capacity for its busy-hour load (in ``cap``) and return the
    radio table: attachment point, band, devices, expected active clients, capacity."""
    share = float(load_data_yaml("wifi.yaml")["busy_hour_active_share"])
    devices = np.bincount(device_attach, minlength=n_points) if n_points else np.zeros(0)
    point = np.asarray([p for p, _ in radios], dtype=np.int64)
    n_dev = devices[point].astype(np.int64) if len(point) else np.zeros(0, np.int64)
    bound = np.asarray([a_max[p] for p in point], dtype=np.float64)
    active = np.minimum(n_dev * share, np.where(bound > 0, bound, np.inf))
    capacity = np.empty(len(radios))
    for i, (p, plan) in enumerate(radios):  # once per AP radio, not per device
        capacity[i] = plan.capacity_mbps(float(active[i]))
        cap[a_air[p]] = float(capacity[i])
    return {"attach": point.astype(np.int32), "band": tuple(pl.band for _, pl in radios),
            "devices": n_dev, "active_clients": active, "capacity_mbps": capacity}


def _spread(d: District, link_a: I32, link_b: I32, link_cap: F64, link_role: NDArray[np.int8],
            member_link: dict[tuple[int, int], int], link_ids: list[str],
            attach_ids: list[str], attach_node: I32, attach_member: I32, attach_air: I32,
            a_max: list[int], device_attach: I32) -> tuple[Any, I32, tuple[Any, ...],
                                                            tuple[I32, I32]]:
    """Routes, sub-points and paths (see routing.py, "load sharing")."""
    from netstage.simulator.routing import node_routes, route_usable, spread_paths, spread_points

    n_links = link_a.shape[0]
    weight = np.zeros(n_links)
    standby = np.zeros(n_links, dtype=bool)
    for li, c in zip(np.flatnonzero(link_role == LINK_CIRCUIT).tolist(), d.circuits,
                     strict=True):
        weight[li] = c.load_weight
        standby[li] = c.role == "standby"
    members = _member_lookup(member_link, link_ids)
    n_nodes = len(d.nodes)
    usable = route_usable(link_role, members, link_a, link_b)
    routes = node_routes(n_nodes, link_a, link_b, link_cap, usable, weight, standby)
    spread, dev = spread_points(routes, attach_node, device_attach, weight, standby)
    par = spread.parent
    max_clients = np.asarray(a_max, dtype=np.int32)
    if par.shape[0] != attach_node.shape[0]:
        n_sub = np.bincount(par, minlength=attach_node.shape[0])
        ids = tuple(attach_ids[p] if n_sub[p] == 1 else f"{attach_ids[p]}~{int(j)}"
                    for p, j in zip(par.tolist(), spread.slot.tolist(), strict=True))
        # sub-points keep their AP member's client bound: demand is drawn and associated
        # per physical point, then regrouped (demand.regroup_batch)
        attach = (ids, attach_node[par], attach_member[par], attach_air[par],
                  max_clients[par])
    else:
        attach = (tuple(attach_ids), attach_node, attach_member, attach_air, max_clients)
    paths = spread_paths(spread, n_nodes=n_nodes, link_a=link_a, link_b=link_b,
                         link_capacity_mbps=link_cap, link_role=link_role,
                         attach_member=attach_member[par], attach_air_link=attach_air[par],
                         member_link_of=members)
    return spread, dev, attach, paths


def _member_lookup(member_link: dict[tuple[int, int], int],
                   link_ids: list[str]) -> dict[int, list[int]]:
    """Expanded link index of member 0 -> indices of all members (only for k > 1)."""
    out: dict[int, list[int]] = {}
    for (i, _j), li in sorted(member_link.items()):
        first = member_link[(i, 0)]
        if first != li or (i, 1) in member_link:
            out.setdefault(first, []).append(li)
    return {k: v for k, v in out.items() if len(v) > 1}
