"""Application profiles and scenario types (``simulator/data/apps.yaml``, ``scenarios.yaml``).

An *application profile* gives the demand of one active device running it: lognormal
by ``median_mbps`` and ``p95_mbps`` (optionally capped at ``max_mbps``), the minimum
usable rate ``min_mbps`` (below it the device counts as *throttled*) and whether the
app is ``elastic``. A *scenario type* gives, per device class
(:data:`~netstage.simulator.arrays.DEVICE_CLASSES`), the probability that a device is
active at the busy hour and the mix of applications it runs, plus an optional demand
scale and growth over a planning horizon.

Files are pydantic models with ``extra="forbid"``; NaN, infinities and negative
numbers are rejected with ``file:line: path: message`` errors (via
:func:`netstage.simulator.io.load_model`). :func:`scenario_params` turns one scenario
type into the flat arrays the compiled demand kernel reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

from netstage.simulator.arrays import DEVICE_CLASSES
from netstage.simulator.datafiles import data_path
from netstage.simulator.errors import ConfigError, SimulationError
from netstage.simulator.io import LineMap, format_loc, load_model

__all__ = [
    "BUSY_HOUR_CLASSES",
    "BUSY_HOUR_TYPES",
    "Z95",
    "AppProfile",
    "AppsFile",
    "ClassMix",
    "ScenarioParams",
    "ScenarioType",
    "ScenariosFile",
    "app_mix_names",
    "load_apps",
    "load_scenarios",
    "scenario_params",
]

# The busy hour a district's ``busy_hour`` overrides (R-NOW, and R-FUTURE grown from it),
# and the device classes it changes (IoT devices stay as the scenario file says).
BUSY_HOUR_TYPES = ("now", "future")
BUSY_HOUR_CLASSES = ("student", "staff", "lab")

# 95th percentile of the standard normal distribution: p95 = median * exp(Z95 * sigma).
Z95 = 1.6448536269514722

DeviceClass = Literal["student", "staff", "lab", "iot"]


class _Strict(BaseModel):
    # allow_inf_nan=False: a NaN demand would silently poison every sum downstream.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class AppProfile(_Strict):
    """Demand of one active device running this application (Mbps)."""

    description: str = ""
    median_mbps: float = Field(gt=0, description="median demand of one device")
    p95_mbps: float = Field(gt=0, description="95th percentile of one device's demand")
    max_mbps: float | None = Field(None, gt=0, description="cap on one draw (optional)")
    min_mbps: float = Field(ge=0, description="minimum usable rate; less = throttled")
    elastic: bool
    source: str = Field(min_length=1, description="where the numbers come from")

    @model_validator(mode="after")
    def _ordered(self) -> AppProfile:
        if self.p95_mbps < self.median_mbps:
            raise ValueError(
                f"p95_mbps ({self.p95_mbps}) is below median_mbps ({self.median_mbps})"
            )
        if self.max_mbps is not None and self.max_mbps < self.median_mbps:
            raise ValueError(f"max_mbps ({self.max_mbps}) is below median_mbps")
        return self

    @property
    def sigma(self) -> float:
        """Lognormal shape parameter (standard deviation of ln demand)."""
        return math.log(self.p95_mbps / self.median_mbps) / Z95


class AppsFile(_Strict):
    version: int = Field(ge=1)
    apps: dict[str, AppProfile] = Field(min_length=1)


class ClassMix(_Strict):
    """One device class in one scenario type."""

    active: float = Field(ge=0, le=1, description="probability a device is active")
    mix: dict[str, float] = Field(min_length=1, description="app name -> probability")

    @model_validator(mode="after")
    def _mix_sums_to_one(self) -> ClassMix:
        bad = [k for k, v in self.mix.items() if v < 0]
        if bad:
            raise ValueError(f"mix shares must be >= 0 (negative: {', '.join(bad)})")
        total = sum(self.mix.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"mix shares must sum to 1, they sum to {total:g}")
        return self


class ScenarioType(_Strict):
    description: str = ""
    source: str = Field(min_length=1)
    classes: dict[DeviceClass, ClassMix] = Field(default_factory=dict)
    demand_scale: float = Field(1.0, gt=0)
    growth: bool = Field(False, description="grow demand over the district's horizon")
    growth_horizon_years: float | None = Field(None, ge=0, le=20)
    growth_per_year: float | None = Field(None, ge=0, le=5)


class ScenariosFile(_Strict):
    version: int = Field(ge=1)
    scenarios: dict[str, ScenarioType] = Field(min_length=1)


def load_apps(path: str | Path | None = None) -> AppsFile:
    """Load application profiles (default: the shipped ``apps.yaml``, parsed once)."""
    if path is None:
        return _shipped_apps()
    apps, _lines = load_model(path, AppsFile, what=f"application profiles {path}")
    return apps


@lru_cache(maxsize=1)
def _shipped_apps() -> AppsFile:
    p = data_path("apps.yaml")
    apps, _lines = load_model(p, AppsFile, what=f"application profiles {p}")
    return apps


@lru_cache(maxsize=1)
def _shipped_scenarios() -> ScenariosFile:
    p = data_path("scenarios.yaml")
    scen, lines = load_model(p, ScenariosFile, what=f"scenario types {p}")
    _check_app_names(scen, _shipped_apps(), lines)
    return scen


def load_scenarios(path: str | Path | None = None, apps: AppsFile | None = None) -> ScenariosFile:
    """Load scenario types (default: the shipped ``scenarios.yaml``).

    Every application a mix names must exist in ``apps`` (default: the shipped
    profiles); otherwise :class:`ConfigError` names the file and line.
    """
    if path is None and apps is None:
        return _shipped_scenarios()  # parsed once per process; treat as read-only
    p = path if path is not None else data_path("scenarios.yaml")
    scen, lines = load_model(p, ScenariosFile, what=f"scenario types {p}")
    apps = apps if apps is not None else load_apps()
    _check_app_names(scen, apps, lines, shipped=path is None)
    return scen


def _check_app_names(scen: ScenariosFile, apps: AppsFile, lines: LineMap,
                     shipped: bool = False) -> None:
    if shipped:  # the user's application profiles lack names the shipped scenarios use
        used = sorted({a for st in scen.scenarios.values() for cm in st.classes.values()
                       for a in cm.mix})
        missing = [a for a in used if a not in apps.apps]
        if missing:
            raise ConfigError(
                f"the application profiles lack {', '.join(repr(a) for a in missing)}, which "
                f"the shipped scenario types ({lines.source}) use; keep these names in the "
                "--apps file, or give your own scenario types with --scenario-file")
    rows = []
    for sname, st in scen.scenarios.items():
        for cname, cm in st.classes.items():
            for app in cm.mix:
                if app not in apps.apps:
                    loc = ("scenarios", sname, "classes", cname, "mix", app)
                    rows.append(
                        f"  {lines.where(loc)}: {format_loc(loc)}: unknown application "
                        f"'{app}' (known: {', '.join(apps.apps)})"
                    )
    if rows:
        raise ConfigError(f"scenario types {lines.source} are invalid:\n" + "\n".join(rows))


@dataclass(frozen=True)
class ScenarioParams:
    """One scenario type as flat arrays (C device classes, A applications).

    ``active_p[C]`` activity probability; ``mix_cdf[C, A]`` cumulative app shares
    (last column 1.0, or all zero for an inactive class); ``app_mu[A]`` and
    ``app_sigma[A]`` lognormal parameters of demand in Mbps (scale and growth
    included); ``app_max_mbps[A]`` cap (inf = none); ``app_min_mbps[A]`` minimum usable
    rate (scaled and grown likewise); ``growth_factor`` the multiplier applied.
    """

    name: str
    app_names: tuple[str, ...]
    active_p: NDArray[np.float64]
    mix_cdf: NDArray[np.float64]
    app_mu: NDArray[np.float64]
    app_sigma: NDArray[np.float64]
    app_max_mbps: NDArray[np.float64]
    app_min_mbps: NDArray[np.float64]
    app_elastic: NDArray[np.bool_]
    growth_factor: float


def scenario_params(
    name: str,
    *,
    apps: AppsFile | None = None,
    scenarios: ScenariosFile | None = None,
    growth_years: float | None = None,
    district_growth: tuple[float, float] | None = None,
    busy_hour: tuple[float | None, str | None] | None = None,
) -> ScenarioParams:
    """Flat parameters of scenario type ``name``.

    ``busy_hour = (active_share, app_mix)`` (the district's ``district.busy_hour``,
    :func:`~netstage.simulator.arrays.busy_hour_of`) overrides the busy-hour types
    (:data:`BUSY_HOUR_TYPES`): ``active_share`` replaces ``active`` of the student, staff
    and lab classes the type lists, ``app_mix`` names a scenario type whose mix replaces
    theirs (per class it lists). Other types, and IoT devices, are unchanged.

    Growth (scenario types with ``growth: true``): factor
    ``(1 + per_year) ** years`` where ``years`` is ``growth_years`` if given, else the
    scenario's ``growth_horizon_years``, else the district's; ``per_year`` likewise
    from the scenario or the district (``district_growth = (horizon_years,
    growth_per_year)``; defaults 3 years at 0.5/yr when neither is known).
    """
    if scenarios is None:
        scenarios = load_scenarios(apps=apps)  # shipped files: parsed once per process
    apps = apps if apps is not None else load_apps()
    if name not in scenarios.scenarios:
        raise SimulationError(
            f"unknown scenario type '{name}'; known: {', '.join(scenarios.scenarios)}"
        )
    st = scenarios.scenarios[name]
    names = tuple(apps.apps)
    aidx = {a: i for i, a in enumerate(names)}
    classes: dict[str, tuple[float, dict[str, float]]] = {
        str(c): (cm.active, cm.mix) for c, cm in st.classes.items()}
    if busy_hour is not None and name in BUSY_HOUR_TYPES:
        classes = _busy_hour(classes, busy_hour, scenarios)
    for _active, mix in classes.values():
        for a in mix:
            if a not in aidx:
                raise SimulationError(f"scenario '{name}' names unknown application '{a}'")
    d_years, d_rate = district_growth if district_growth is not None else (3.0, 0.5)
    factor = 1.0
    if st.growth:
        years = growth_years if growth_years is not None else (
            st.growth_horizon_years if st.growth_horizon_years is not None else d_years)
        rate = st.growth_per_year if st.growth_per_year is not None else d_rate
        if not (math.isfinite(years) and years >= 0):
            raise SimulationError(f"growth_years must be a finite number >= 0, got {years}")
        try:
            factor = (1.0 + rate) ** years
        except OverflowError:
            factor = math.inf
        if not math.isfinite(factor) or factor > 1e18:  # beyond it sums overflow to NaN
            raise SimulationError(
                f"scenario '{name}': growth of {rate:.0%}/yr over {years:g} years multiplies "
                f"demand by {factor:.3g}; give a planning horizon of at most a few decades "
                "(--growth-years, or district.growth.horizon_years)")
    scale = st.demand_scale * factor
    n_c, n_a = len(DEVICE_CLASSES), len(names)
    active = np.zeros(n_c)
    cdf = np.zeros((n_c, n_a))
    for ci, cname in enumerate(DEVICE_CLASSES):
        got = classes.get(cname)
        if got is None or got[0] == 0.0:
            continue
        active[ci] = got[0]
        shares = np.zeros(n_a)
        for a, share in got[1].items():
            shares[aidx[a]] = share
        cdf[ci] = np.cumsum(shares) / shares.sum()
        cdf[ci, -1] = 1.0  # guard against rounding: every uniform draw maps to an app
    profiles = [apps.apps[a] for a in names]
    mu = np.array([math.log(p.median_mbps * scale) for p in profiles])
    sigma = np.array([p.sigma for p in profiles])
    cap = np.array([p.max_mbps * scale if p.max_mbps else math.inf for p in profiles])
    mins = np.array([p.min_mbps * scale for p in profiles])
    for arr in (mu, sigma, mins):
        if not np.all(np.isfinite(arr)):
            raise SimulationError(f"scenario '{name}': non-finite profile parameter; check apps")
    return ScenarioParams(
        name=name, app_names=names, active_p=active, mix_cdf=cdf, app_mu=mu,
        app_sigma=sigma, app_max_mbps=cap, app_min_mbps=mins,
        app_elastic=np.array([p.elastic for p in profiles], dtype=bool),
        growth_factor=factor,
    )


def _busy_hour(classes: dict[str, tuple[float, dict[str, float]]],
               busy_hour: tuple[float | None, str | None],
               scenarios: ScenariosFile) -> dict[str, tuple[float, dict[str, float]]]:
    """``classes`` (class -> (active, mix)) with the district's busy-hour overrides."""
    share, mix_name = busy_hour
    out = dict(classes)
    if mix_name is not None:
        src = scenarios.scenarios.get(mix_name)
        if src is None:
            raise SimulationError(
                f"district.busy_hour.app_mix: '{mix_name}' is not a scenario type; known: "
                f"{', '.join(app_mix_names(scenarios))}")
        for cls, cm in src.classes.items():
            if cls in out and cls in BUSY_HOUR_CLASSES:
                out[cls] = (out[cls][0], cm.mix)
    if share is not None:
        if not (math.isfinite(share) and 0.0 <= share <= 1.0):
            raise SimulationError(f"district.busy_hour.active_share must be 0-1, got {share}")
        for name in BUSY_HOUR_CLASSES:
            if name in out:
                out[name] = (share, out[name][1])
    return out


def app_mix_names(scenarios: ScenariosFile | None = None) -> list[str]:
    """Scenario types a district's ``busy_hour.app_mix`` can name: those with a student
    mix that do not grow demand (shipped: now, testing, update-storm)."""
    scen = scenarios if scenarios is not None else load_scenarios()
    return [n for n, st in scen.scenarios.items() if "student" in st.classes and not st.growth]
