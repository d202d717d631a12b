"""Wi-Fi radio model: the usable shared capacity of an AP's radios at the busy hour.

Every number comes from ``simulator/data/wifi.yaml`` (sources and assumptions are
labelled there). For one radio and a client mix (shares of client generations and
spatial streams) the capacity is

    contention(n) / sum_c(share_c / goodput_c)

where ``goodput_c`` is the PHY rate at the lower of the AP's and the client's
capability (generation, streams, channel width limited by band and generation) at the
band's typical classroom-range MCS, times the generation's MAC efficiency, and ``n``
is the number of active clients on the radio at the busy hour. The harmonic combination
is what a shared channel gives when every active client gets the same throughput (slow
clients hold the air longer), which is also how the simulator shares a link.

An AP has one radio per band it serves clients on:

* ``band: "2.4"``: one 2.4 GHz radio for every client;
* ``band: "5"`` (default): a 5 GHz radio and a 2.4 GHz radio; band steering puts
  ``band_steering_5ghz_share`` of the clients on 5 GHz;
* ``band: "6"``: a 6 GHz radio for the clients that can use it (Wi-Fi 6E/7) plus the
  dual-band pair above for the rest.

``wifi.air_capacity_mbps`` overrides the model: the AP is then one radio of that
capacity for every client (the pre-model behaviour, kept for measured figures).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

from netstage.simulator.datafiles import load_data_yaml
from netstage.simulator.errors import TopologyError

__all__ = [
    "ClientClass",
    "RadioPlan",
    "ap_radios",
    "client_goodput_mbps",
    "contention_factor",
    "default_client_mix",
    "density_by_site",
    "radio_capacity_mbps",
]


@dataclass(frozen=True)
class ClientClass:
    """A share of the Wi-Fi clients with one capability."""

    share: float
    generation: str
    spatial_streams: int


@dataclass(frozen=True)
class RadioPlan:
    """One radio of an AP: its band, the share of the AP's clients on it, their mix,
    and the single-client-equivalent capacity before contention (Mbps)."""

    band: str
    share: float
    mix: tuple[ClientClass, ...]
    width_mhz: int
    base_capacity_mbps: float
    override: bool = False

    def capacity_mbps(self, active_clients: float) -> float:
        """Usable capacity with ``active_clients`` active on this radio."""
        if self.override:
            return self.base_capacity_mbps
        return self.base_capacity_mbps * contention_factor(active_clients)


def _table() -> dict[str, Any]:
    t: dict[str, Any] = load_data_yaml("wifi.yaml")
    return t


def default_client_mix() -> tuple[ClientClass, ...]:
    """The labelled default mix of ``wifi.yaml``."""
    return tuple(ClientClass(float(c["share"]), str(c["generation"]),
                             int(c["spatial_streams"]))
                 for c in _table()["default_client_mix"])


def _rank(gen: str) -> int:
    return list(_table()["generations"]).index(gen)


def _in_band(gen: str, band: str) -> str | None:
    """The generation ``gen`` runs as in ``band`` (None: it cannot use the band)."""
    b = _table()["bands"][band]
    gen = str(b.get("fallback", {}).get(gen, gen))
    return gen if gen in b["generations"] else None


def contention_factor(active_clients: float) -> float:
    """Share of the single-client capacity left with ``active_clients`` active clients
    (piecewise linear in log n between the ``contention`` points of wifi.yaml)."""
    pts = sorted((float(k), float(v)) for k, v in _table()["contention"].items())
    n = max(float(active_clients), 1.0)
    if n <= pts[0][0]:
        return pts[0][1]
    for (n0, v0), (n1, v1) in itertools.pairwise(pts):
        if n <= n1:
            f = (math.log(n) - math.log(n0)) / (math.log(n1) - math.log(n0))
            return v0 + f * (v1 - v0)
    return pts[-1][1]


def client_goodput_mbps(ap_generation: str, band: str, width_mhz: int, ap_streams: int,
                        client: ClientClass, next_room: bool = False
                        ) -> tuple[float, str, int, int]:
    """Single-client TCP goodput of ``client`` on this radio (in the AP's classroom, or
    in another one with ``next_room``), with the link generation, width and streams
    used. Raises ``ValueError`` if the client cannot use the band."""
    t = _table()
    ap_gen = _in_band(ap_generation, band)
    cl_gen = _in_band(client.generation, band)
    if ap_gen is None or cl_gen is None:
        raise ValueError(f"{client.generation} cannot use the {band} GHz band")
    gen = ap_gen if _rank(ap_gen) <= _rank(cl_gen) else cl_gen
    b = t["bands"][band]
    width = int(min(width_mhz, b["width_mhz"] or width_mhz, t["max_width_mhz"][gen]))
    streams = max(1, min(int(ap_streams), int(client.spatial_streams)))
    mcs = b["mcs_next_room"] if next_room else b["mcs"]
    per_stream = float(t["rate_per_stream_mbps"][t["phy"][gen]][mcs][width])
    return per_stream * streams * float(t["mac_efficiency"][gen]), gen, width, streams


def radio_capacity_mbps(ap_generation: str, band: str, width_mhz: int, ap_streams: int,
                        mix: tuple[ClientClass, ...], active_clients: float,
                        same_room: float = 1.0) -> float:
    """Usable capacity (Mbps) of one radio serving ``mix`` with ``active_clients`` active,
    ``same_room`` of them in the AP's own classroom."""
    return _base_capacity(ap_generation, band, width_mhz, ap_streams, mix, same_room) \
        * contention_factor(active_clients)


def _base_capacity(ap_generation: str, band: str, width_mhz: int, ap_streams: int,
                   mix: tuple[ClientClass, ...], same_room: float = 1.0) -> float:
    """Equal-throughput capacity before contention: 1 / (airtime per Mbps, averaged)."""
    total = sum(c.share for c in mix)
    r = min(max(same_room, 0.0), 1.0)
    airtime = 0.0
    for c in mix:  # a handful of client classes, not devices
        if c.share <= 0:
            continue
        near = client_goodput_mbps(ap_generation, band, width_mhz, ap_streams, c)[0]
        far = client_goodput_mbps(ap_generation, band, width_mhz, ap_streams, c, True)[0]
        airtime += (c.share / total) * (r / near + (1.0 - r) / far)
    return 1.0 / airtime


def ap_radios(node_id: str, generation: str, band: str, width_mhz: int,
              spatial_streams: int | None, mix: tuple[ClientClass, ...],
              same_room: float = 1.0) -> list[RadioPlan]:
    """The client-serving radios of one AP, first the primary (declared band);
    ``same_room`` = share of its clients in its own classroom (min(1, APs/classrooms))."""
    t = _table()
    streams = int(spatial_streams or t["default_ap_spatial_streams"])
    where = f"node '{node_id}'"
    if t["max_width_mhz"].get(generation, 0) < width_mhz:
        raise TopologyError(
            f"{where}: {generation} has no {width_mhz} MHz channels (widest "
            f"{t['max_width_mhz'][generation]} MHz); fix wifi.channel_width_mhz or give "
            "wifi.air_capacity_mbps")
    if _in_band(generation, band) is None:
        raise TopologyError(
            f"{where}: a {generation} AP has no {band} GHz radio; fix wifi.band "
            "(6 GHz needs wifi6e or wifi7) or wifi.generation")
    mix = tuple(c for c in mix if c.share > 0)
    plans: list[RadioPlan] = []

    def add(b: str, share: float, sub: tuple[ClientClass, ...]) -> None:
        if share <= 0 or not sub:
            return
        w = int(min(width_mhz, t["bands"][b]["width_mhz"] or width_mhz))
        plans.append(RadioPlan(b, share, sub, w,
                               _base_capacity(generation, b, width_mhz, streams, sub,
                                              same_room)))

    if band == "2.4":
        add("2.4", 1.0, mix)
        return plans
    rest = mix
    if band == "6":
        six = tuple(c for c in mix if _in_band(c.generation, "6") is not None)
        rest = tuple(c for c in mix if _in_band(c.generation, "6") is None)
        add("6", sum(c.share for c in six) / sum(c.share for c in mix), six)
    rest_share = sum(c.share for c in rest) / sum(c.share for c in mix)
    steer = float(t["band_steering_5ghz_share"])
    add("5", rest_share * steer, rest)
    add("2.4", rest_share * (1.0 - steer), rest)
    return plans


def classrooms(site: Any) -> tuple[int | None, str]:
    """Classrooms of a site and where the figure comes from: ``declared`` when the site
    says, else ``default`` = students / ``students_per_classroom`` of wifi.yaml (a school
    that does not say how many rooms it has is not assumed to have one AP per room, which
    would be the most optimistic reading), ``missing`` for a site without students."""
    if site.classrooms is not None:
        return int(site.classrooms), "declared"
    if site.students > 0:
        per_room = float(_table()["students_per_classroom"])
        return max(1, math.ceil(site.students / per_room)), "default"
    return None, "missing"


def density_by_site(district: Any, arrays: Any) -> list[dict[str, Any]]:
    """AP density per school with Wi-Fi: APs per classroom, radios, expected busy-hour
    active clients per radio (mean and max) and radio capacity (Mbps), from the radio
    table ``arrays.meta["wifi_radios"]`` built by :func:`~netstage.simulator.arrays.to_arrays`."""
    import numpy as np

    from netstage.simulator.model import NodeKind

    w = arrays.meta.get("wifi_radios")
    if not w or len(w["attach"]) == 0:
        return []
    site_of = np.asarray(w["site"])
    out: list[dict[str, Any]] = []
    for si, s in enumerate(district.sites):
        on = site_of == si
        if not on.any():
            continue
        aps = sum(n.count for n in district.nodes if n.kind == NodeKind.AP and n.site == s.id)
        act = np.asarray(w["active_clients"])[on]
        cap = np.asarray(w["capacity_mbps"])[on]
        bands = sorted({b for b, x in zip(w["band"], on, strict=True) if x})
        rooms, rooms_from = classrooms(s)
        out.append({
            "site": s.id, "classrooms": rooms, "classrooms_provenance": rooms_from, "aps": aps,
            "aps_per_classroom": round(aps / rooms, 3) if rooms else None,
            "radios": int(on.sum()), "bands": bands,
            "active_clients_per_radio": round(float(act.mean()), 1),
            "active_clients_per_radio_max": round(float(act.max()), 1),
            "radio_capacity_mbps_min": round(float(cap.min()), 1),
            "radio_capacity_mbps_mean": round(float(cap.mean()), 1),
        })
    return out
