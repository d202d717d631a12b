"""What ``netstage validate`` and ``netstage info`` report about district files.

:func:`check_district_files` loads each file and collects its advisories or its one
located error; :func:`summarise_district` counts what a district holds (sites, students,
client devices by class, links by speed, Internet per student).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from netstage.simulator.model import District

__all__ = ["check_district_files", "speed_label", "summarise_district"]


def speed_label(mbps: float) -> str:
    """A capacity as people say it: ``1000`` -> ``1 Gbps``, ``100`` -> ``100 Mbps``."""
    if mbps >= 1000:
        g = mbps / 1000
        return f"{g:g} Gbps"
    return f"{mbps:g} Mbps"


def _parse_speed(label: str) -> float:
    value, unit = label.split()
    return float(value) * (1000 if unit == "Gbps" else 1)


def summarise_district(d: District) -> dict[str, Any]:
    """The figures `netstage info` shows, as a dict (units in the keys)."""
    from netstage.simulator.arrays import DEVICE_CLASSES, LINK_AIR, to_arrays  # numba: lazy
    from netstage.simulator.rules.target import district_internet_kbps_per_student

    arr = to_arrays(d)
    students = d.total_students
    devices = Counter(DEVICE_CLASSES[c] for c in arr.device_class.tolist())
    by_speed = Counter(speed_label(lk.capacity_mbps) for lk in d.links)
    internet = d.internet_capacity_mbps
    disconnected = int((arr.device_path_len == 0).sum())
    return {
        "name": d.district.name,
        "sites": len(d.sites),
        "schools": sum(1 for s in d.sites if s.kind.value == "school"),
        "students": students,
        "staff": d.total_staff,
        "devices": dict(devices),
        "devices_total": arr.n_devices,
        "devices_disconnected": disconnected,
        "nodes": dict(Counter(n.kind.value for n in d.nodes)),
        "access_points": sum(n.count for n in d.nodes if n.kind.value == "ap"),
        "links": len(d.links),
        "links_by_speed": dict(sorted(by_speed.items(), key=lambda kv: -_parse_speed(kv[0]))),
        "air_links": int((arr.link_role == LINK_AIR).sum()),
        "circuits": len(d.circuits),
        "internet_mbps": internet,
        # R-TARGET's measure: active circuits only (standby ones carry traffic on failure)
        "internet_kbps_per_student": district_internet_kbps_per_student(d),
    }


def check_district_files(files: Iterable[str | Path]) -> list[dict[str, Any]]:
    """One result per file, in order: ``{"file", "ok": True, "name", "warnings"}`` with
    the advisories as ``loc: message`` lines, or ``{"file", "ok": False, "error"}`` with
    the located message of the first problem. Never raises a
    :class:`~netstage.simulator.errors.NetstageError`: a bad file is a result."""
    from netstage.simulator.errors import NetstageError
    from netstage.simulator.io import format_loc, load_district
    from netstage.simulator.model import advisories

    results: list[dict[str, Any]] = []
    for f in files:
        try:
            d = load_district(f)
            notes = [f"{format_loc(a.loc)}: {a.message}" for a in advisories(d)]
            results.append({"file": str(f), "ok": True, "name": d.district.name,
                            "warnings": notes})
        except NetstageError as exc:
            results.append({"file": str(f), "ok": False, "error": str(exc)})
    return results
