"""Synthetic districts of any size, reproducible by seed (tests and benchmarks).

Shape: a district office with edge router(s), a firewall and a core switch;
``schools`` schools of lognormally varied size, each with a distribution switch
linked to the core over the WAN, access switches (one per ~250 students) below
it, and one AP entry per access switch (about one AP per classroom of 25).
Options add dual-homing (a second WAN link to a second core switch), several
Internet circuits and the Wi-Fi generation. The same arguments and seed always
give the same district.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from netstage.simulator.io import district_from_dict
from netstage.simulator.model import District

__all__ = ["generate_district"]

_SIZES_MBPS = (100, 200, 500, 1000, 2000, 5000, 10000, 20000, 40000, 100000)


def _round_up_size(mbps: float) -> float:
    for s in _SIZES_MBPS:
        if mbps <= s:
            return float(s)
    return float(math.ceil(mbps / 100000) * 100000)


def generate_district(
    schools: int = 10,
    students: int = 5000,
    seed: int = 0,
    *,
    name: str | None = None,
    dual_homed: float = 0.0,
    circuits: int = 1,
    internet_kbps_per_student: float = 1000.0,
    wan_mbps: float = 10000.0,
    access_uplink_mbps: float = 10000.0,
    wifi_generation: str = "wifi6",
    students_per_access: int = 250,
    students_per_classroom: int = 25,
) -> District:
    """A synthetic district; ``dual_homed`` is the share of schools with two WAN links."""
    if schools < 1:
        raise ValueError("schools must be >= 1")
    if students < schools:
        raise ValueError("students must be >= schools")
    rng = np.random.default_rng(seed)
    weights = rng.lognormal(0.0, 0.5, size=schools)
    per_school = np.maximum(1, np.floor(weights / weights.sum() * students)).astype(int)
    per_school[0] += students - int(per_school.sum())
    nodes: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    sites: list[dict[str, Any]] = [
        {"id": "do", "name": "District office", "kind": "office", "staff": max(5, schools * 2)}
    ]
    n_edges = max(1, min(circuits, 2))
    for e in range(n_edges):
        nodes.append({"id": f"edge{e + 1}", "kind": "edge", "site": "do", "vendor": "Juniper",
                      "model": "MX204"})
    nodes.append({"id": "fw", "kind": "firewall", "site": "do", "vendor": "Fortinet",
                  "model": "FortiGate 600F"})
    cores = 2 if dual_homed > 0 else 1
    for c in range(cores):
        nodes.append({"id": f"core{c + 1}", "kind": "core", "site": "do", "vendor": "Arista",
                      "model": "7280R3"})
    for e in range(n_edges):
        links.append({"a": f"edge{e + 1}", "b": "fw", "capacity_mbps": 100000, "medium": "fiber"})
    for c in range(cores):
        links.append({"a": "fw", "b": f"core{c + 1}", "capacity_mbps": 100000, "medium": "fiber"})
    if cores == 2:
        links.append({"a": "core1", "b": "core2", "capacity_mbps": 100000, "medium": "fiber"})
    total_internet = _round_up_size(students * internet_kbps_per_student / 1000.0)
    circuit_rows = [
        {"id": f"isp{k + 1}", "attach": f"edge{k % n_edges + 1}", "provider": f"Provider {k + 1}",
         "capacity_mbps": max(100.0, _round_up_size(total_internet / circuits))}
        for k in range(circuits)
    ]
    homed = rng.random(schools) < dual_homed
    for i, n_students in enumerate(per_school):
        sid = f"s{i + 1:03d}"
        n_students = int(n_students)
        staff = max(2, n_students // 12)
        classrooms = max(1, math.ceil(n_students / students_per_classroom))
        sites.append({"id": sid, "name": f"School {i + 1}", "kind": "school",
                      "students": n_students, "staff": staff, "classrooms": classrooms})
        dist = f"{sid}-dist"
        nodes.append({"id": dist, "kind": "distribution", "site": sid, "vendor": "Aruba",
                      "model": "CX 6300"})
        links.append({"a": dist, "b": "core1", "capacity_mbps": wan_mbps, "medium": "fiber"})
        if homed[i]:
            links.append({"a": dist, "b": "core2", "capacity_mbps": wan_mbps, "medium": "fiber"})
        n_access = max(1, math.ceil(n_students / students_per_access))
        aps_per_access = max(1, math.ceil(classrooms / n_access))
        for j in range(n_access):
            acc = f"{sid}-acc{j + 1}"
            nodes.append({"id": acc, "kind": "access", "site": sid, "vendor": "Aruba",
                          "model": "CX 6100"})
            links.append({"a": acc, "b": dist, "capacity_mbps": access_uplink_mbps,
                          "medium": "fiber"})
            ap = f"{sid}-ap{j + 1}"
            nodes.append({"id": ap, "kind": "ap", "site": sid, "count": aps_per_access,
                          "vendor": "Aruba", "model": "AP-535",
                          "wifi": {"generation": wifi_generation, "channel_width_mhz": 40}})
            links.append({"a": ap, "b": acc, "capacity_mbps": 1000, "medium": "copper"})
    data = {
        "district": {"name": name or f"Synthetic district {schools}x{students} seed {seed}"},
        "sites": sites,
        "nodes": nodes,
        "links": links,
        "circuits": circuit_rows,
        "declared": {"security": {"edge_firewall": True}},
    }
    return district_from_dict(data, source=f"generate(seed={seed})")
