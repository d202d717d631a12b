"""Measured traffic -> the simulator's profile format (``apps.yaml`` / ``scenarios.yaml``).

From a :class:`~.analyse.CaptureSummary`:

* **application profiles** (``apps`` file): for every simulator application with at
  least :data:`MIN_DEVICES` measured devices, ``median_mbps`` and ``p95_mbps`` become
  the median and 95th percentile of the per-device rates (a device's bytes of that
  application over the time it was active with it, at least 1 s). ``min_mbps`` and
  ``elastic`` are properties of the application, not of a network, and are kept from
  the shipped profile, as are the profiles of applications the capture did not show.
* **scenario type** ``measured`` (``scenarios`` file): the application mix of an
  active device is the share of client devices whose dominant application (by bytes)
  is each one. Devices whose traffic nothing classified ("other") are left out of
  the mix (they are counted in ``unclassified_devices``). The activity per device
  class is kept from the shipped ``now`` scenario: a capture does not tell how many
  devices exist but were idle.

Client devices are the private-address (RFC 1918, CGNAT, ULA, link-local) side of
each flow.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from netstage.auditor.capture.analyse import CaptureSummary
from netstage.simulator.errors import ConfigError
from netstage.simulator.profiles import load_apps, load_scenarios

__all__ = ["MIN_DEVICES", "calibrate", "write_calibration"]

MIN_DEVICES = 3


def calibrate(summary: CaptureSummary, *, base_scenario: str = "now") -> dict[str, Any]:
    """``{"apps": <apps file>, "scenarios": <scenarios file>, "measured": {...}}``.

    Raises :class:`ConfigError` if the capture holds no classified client traffic.
    """
    apps_file = load_apps()
    scen_file = load_scenarios(apps=apps_file)
    if base_scenario not in scen_file.scenarios:
        raise ConfigError(f"base scenario {base_scenario!r} is not in the shipped "
                          f"scenarios ({', '.join(scen_file.scenarios)})")
    known = set(apps_file.apps)
    src = Path(summary.path).name
    rates: dict[str, list[float]] = {}
    dominant: dict[str, int] = {}
    unclassified = 0
    for dv in summary.devices:
        best, best_b = None, -1
        for cls, row in dv["apps"].items():
            if cls in known:
                rates.setdefault(cls, []).append(float(row["mbps"]))
                if row["bytes"] > best_b:
                    best, best_b = cls, int(row["bytes"])
        if best is None:
            unclassified += 1
        else:
            dominant[best] = dominant.get(best, 0) + 1
    n_dom = sum(dominant.values())
    if n_dom == 0:
        raise ConfigError(f"{summary.path}: no classified client traffic to calibrate "
                          "from (no private-address devices with web, video, conference, "
                          "testing or update flows); extend the mapping with --mapping")
    when = _dt.datetime.now(_dt.UTC).date().isoformat()
    apps_out: dict[str, Any] = {}
    measured: dict[str, Any] = {}
    for name, prof in apps_file.apps.items():
        row = prof.model_dump(exclude_none=True)
        r = rates.get(name, [])
        if len(r) >= MIN_DEVICES:
            arr = np.array(r)
            med = max(float(np.median(arr)), 1e-6)
            p95 = max(float(np.percentile(arr, 95)), med)
            row["median_mbps"] = round(med, 6)
            row["p95_mbps"] = round(p95, 6)
            if row.get("max_mbps") is not None and row["max_mbps"] < row["median_mbps"]:
                del row["max_mbps"]
            row["source"] = (f"measured with netstage capture {src} on {when}: "
                             f"median and p95 of {len(r)} devices' rates; min_mbps and "
                             f"elastic from the shipped profile ({prof.source})")
            measured[name] = {"devices": len(r), "median_mbps": row["median_mbps"],
                              "p95_mbps": row["p95_mbps"]}
        apps_out[name] = row
    shares = {k: v / n_dom for k, v in sorted(dominant.items())}
    rounded = {k: round(v, 4) for k, v in shares.items()}
    top = max(rounded, key=lambda k: rounded[k])
    rounded[top] = round(rounded[top] + (1.0 - sum(rounded.values())), 6)
    rounded = {k: v for k, v in rounded.items() if v > 0}
    base = scen_file.scenarios[base_scenario]
    classes: dict[str, Any] = {}
    for cname, cm in base.classes.items():
        if cname == "iot":
            classes[cname] = cm.model_dump()
        else:
            classes[cname] = {"active": cm.active, "mix": dict(rounded)}
    scen = {
        "description": f"measured application mix from capture {src}",
        "source": (f"netstage capture {src} on {when}: share of {n_dom} client devices "
                   f"by dominant application; activity per class from the shipped "
                   f"'{base_scenario}' scenario"),
        "classes": classes,
    }
    return {
        "apps": {"version": 1, "apps": apps_out},
        "scenarios": {"version": 1, "scenarios": {"measured": scen}},
        "measured": {"capture": src, "devices": len(summary.devices),
                     "classified_devices": n_dom, "unclassified_devices": unclassified,
                     "mix": rounded, "apps": measured},
    }


def write_calibration(summary: CaptureSummary, out: str | Path) -> list[Path]:
    """Write ``OUT.yaml`` (application profiles, ``--apps``) and
    ``OUT.scenarios.yaml`` (scenario type ``measured``); both are loaded back with the
    simulator's own loaders before returning, so they are valid inputs."""
    cal = calibrate(summary)
    out = Path(out)
    scen_path = out.with_name(out.stem + ".scenarios" + (out.suffix or ".yaml"))
    header = (f"# written by `netstage capture {Path(summary.path).name} --calibrate`; "
              "simulator profile format (see docs/capture.md)\n")
    try:
        out.write_text(header + yaml.safe_dump(cal["apps"], sort_keys=False), "utf-8")
        scen_path.write_text(header + yaml.safe_dump(cal["scenarios"], sort_keys=False),
                             "utf-8")
    except OSError as exc:
        raise ConfigError(f"{out}: cannot write calibration ({exc.strerror})") from None
    apps = load_apps(out)
    load_scenarios(scen_path, apps=apps)
    return [out, scen_path]
