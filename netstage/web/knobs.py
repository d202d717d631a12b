"""What-if knobs: the planner's settings, parsed from a form and applied to a district.

A :class:`Knobs` holds the values a planner moves on the page (``netstage serve``):
devices per student and per staff member, the share of devices active in the busy hour
and the busy hour's application mix (``district.devices_per_staff`` and
``district.busy_hour``, read by the simulator), growth per year and horizon, Internet
capacity per circuit, Wi-Fi generation / channel width / APs per classroom per school,
and upgrades from the planner's catalogue switched on or off. :func:`parse_knobs` turns
form fields into Knobs or a :class:`KnobError` listing every bad field with what to do
(the page shows it, the server answers 422). :func:`apply_knobs` returns a *new*
validated district;
the opened district is never modified. Only values that differ from the opened
district are written, so untouched knobs leave the district exactly as it was.

Upgrades are catalogue actions (``simulator/data/upgrades.yaml``) applied with the
planner's own :func:`~netstage.simulator.plan.apply_actions` and costed with its
:class:`~netstage.simulator.plan.Catalog`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from netstage.simulator.errors import NetstageError
from netstage.simulator.io import district_from_dict
from netstage.simulator.model import INFRASTRUCTURE_KINDS, District, NodeKind
from netstage.simulator.plan import Catalog, Cost, UpgradeAction, apply_actions, load_catalog
from netstage.simulator.profiles import BUSY_HOUR_TYPES, app_mix_names, load_scenarios
from netstage.simulator.rules.rubric import SECURITY_FACTS
from netstage.simulator.wording import plural

__all__ = ["GENERATIONS", "WIDTHS", "KnobError", "Knobs", "SiteWifi", "UpgradeOption",
           "app_mixes", "apply_knobs", "base_knobs", "parse_knobs", "upgrade_options"]

GENERATIONS = ("wifi4", "wifi5", "wifi6", "wifi6e", "wifi7")
WIDTHS = (20, 40, 80, 160)
# Form limits: the model's own limits where it has them (model.py), else a sanity bound
# that keeps one request to seconds of work.
LIMITS: dict[str, tuple[float, float]] = {
    "dps": (0.0, 10.0),            # DistrictInfo.devices_per_student
    "dps_staff": (0.0, 10.0),      # DistrictInfo.devices_per_staff
    "active_pct": (0.0, 100.0),    # BusyHour.active_share (in %)
    "growth_pct": (0.0, 500.0),    # Growth.growth_per_year <= 5 (500 %)
    "horizon": (0.0, 20.0),        # Growth.horizon_years <= 20
    "circuit_mbps": (1.0, 1_000_000.0),
    "apc": (0.05, 10.0),           # APs per classroom
    "aps": (1.0, 10_000.0),        # Node.count <= 10000
    "n": (10.0, 1000.0),           # scenarios per request (the CLI allows more; a page does not)
}
MAX_FIELDS = 2000


class KnobError(NetstageError):
    """Bad knob input: ``errors`` maps each form field to what is wrong and what to do."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


@dataclass
class SiteWifi:
    generation: str
    width: int
    aps: int
    classrooms: int | None

    @property
    def per_classroom(self) -> float | None:
        return self.aps / self.classrooms if self.classrooms else None


@dataclass
class Knobs:
    devices_per_student: float
    growth_per_year: float          # fraction, 0.5 = 50 %/yr
    horizon_years: float
    circuits: dict[str, float]      # circuit id -> Mbps
    wifi: dict[str, SiteWifi]       # site id -> Wi-Fi settings (sites with APs only)
    upgrades: list[str] = field(default_factory=list)
    n_scenarios: int = 200
    devices_per_staff: float = 1.0
    active_share: float = 0.4       # fraction of student/staff/lab devices active
    app_mix: str = "now"            # scenario type whose application mix the busy hour uses

    def key(self) -> tuple[Any, ...]:
        """A hashable identity of the scenario (for caches)."""
        return (self.devices_per_student, self.devices_per_staff, self.active_share,
                self.app_mix, self.growth_per_year, self.horizon_years,
                tuple(sorted(self.circuits.items())),
                tuple(sorted((k, v.generation, v.width, v.aps) for k, v in self.wifi.items())),
                tuple(sorted(self.upgrades)))


@dataclass(frozen=True)
class UpgradeOption:
    """One catalogue upgrade the page can switch on, ready to apply and costed."""

    name: str
    title: str
    rules: tuple[str, ...]
    actions: tuple[UpgradeAction, ...]

    @property
    def cost_usd(self) -> float:
        return sum(a.cost_usd for a in self.actions)

    @property
    def capex_usd(self) -> float:
        return sum(a.capex_usd for a in self.actions)

    @property
    def recurring_usd_per_year(self) -> float:
        return sum(a.recurring_usd_per_year for a in self.actions)

    @property
    def description(self) -> str:
        return self.actions[0].description if len(self.actions) == 1 else self.title


def _aps_at(d: District, site_id: str) -> list[Any]:
    return [n for n in d.nodes if n.kind == NodeKind.AP and n.site == site_id]


def app_mixes() -> dict[str, str]:
    """The application mixes a planner can choose (scenario types of the shipped
    ``simulator/data/scenarios.yaml`` with a student mix), name -> the student mix."""
    scen = load_scenarios()
    out = {}
    for name in app_mix_names(scen):
        mix = scen.scenarios[name].classes["student"].mix
        out[name] = ", ".join(f"{a} {v:.0%}" for a, v in mix.items())
    return out


def _busy_defaults(d: District) -> tuple[float, str]:
    """The busy hour ``d`` simulates: its ``busy_hour`` or the scenario file's 'now'."""
    b = d.district.busy_hour
    now = load_scenarios().scenarios.get(BUSY_HOUR_TYPES[0])
    cm = now.classes.get("student") if now is not None else None
    share = b.active_share if b is not None and b.active_share is not None else (
        cm.active if cm is not None else 0.4)
    mix = b.app_mix if b is not None and b.app_mix is not None else BUSY_HOUR_TYPES[0]
    return share, mix


def base_knobs(d: District, n_scenarios: int = 200) -> Knobs:
    """The knob values that leave ``d`` unchanged."""
    wifi: dict[str, SiteWifi] = {}
    for s in d.sites:
        aps = _aps_at(d, s.id)
        if not aps:
            continue
        gens: Counter[str] = Counter()
        widths: Counter[int] = Counter()
        for n in aps:
            w = n.wifi
            gens[w.generation if w else "wifi5"] += n.count
            widths[w.channel_width_mhz if w else 40] += n.count
        wifi[s.id] = SiteWifi(gens.most_common(1)[0][0], widths.most_common(1)[0][0],
                              sum(n.count for n in aps), s.classrooms)
    g = d.district.growth
    share, mix = _busy_defaults(d)
    return Knobs(d.district.devices_per_student, g.growth_per_year, g.horizon_years,
                 {c.id: c.capacity_mbps for c in d.circuits}, wifi, [], n_scenarios,
                 devices_per_staff=d.district.devices_per_staff, active_share=share,
                 app_mix=mix)


def _number(form: Mapping[str, str], name: str, limit: str, errors: dict[str, str],
            default: float, label: str) -> float:
    raw = form.get(name)
    if raw is None or str(raw).strip() == "":
        return default
    text = str(raw).strip()
    lo, hi = LIMITS[limit]
    try:
        v = float(text)
    except ValueError:
        errors[name] = f"{label}: '{text[:40]}' is not a number; type a number from {lo:g} " \
                       f"to {hi:g}"
        return default
    if not math.isfinite(v) or v < lo or v > hi:
        errors[name] = f"{label}: {text[:40]} is out of range; use {lo:g} to {hi:g}"
        return default
    return v


def parse_knobs(form: Mapping[str, str], d: District, options: dict[str, UpgradeOption],
                *, default_n: int = 200) -> Knobs:
    """Knobs from form fields (missing fields keep the opened district's values).

    Fields: ``dps``, ``dps_staff`` (devices per staff member), ``active`` (% of devices
    active in the busy hour), ``mix`` (application mix: a name of :func:`app_mixes`),
    ``growth`` (% per year), ``horizon`` (years), ``circuit:<id>``
    (Mbps), ``gen:<site>``, ``width:<site>``, ``apc:<site>`` (APs per classroom) or
    ``aps:<site>`` (APs, for sites without a classroom count), ``up:<name>`` (on),
    ``n`` (scenarios). Raises :class:`KnobError` naming every bad field.
    """
    base = base_knobs(d, default_n)
    errors: dict[str, str] = {}
    if len(form) > MAX_FIELDS:
        raise KnobError({"form": f"{len(form)} fields is too many (at most {MAX_FIELDS})"})
    k = Knobs(
        devices_per_student=_number(form, "dps", "dps", errors, base.devices_per_student,
                                    "devices per student"),
        growth_per_year=_number(form, "growth", "growth_pct", errors,
                                base.growth_per_year * 100, "growth per year (%)") / 100.0,
        horizon_years=_number(form, "horizon", "horizon", errors, base.horizon_years,
                              "horizon (years)"),
        circuits={cid: _number(form, f"circuit:{cid}", "circuit_mbps", errors, mbps,
                               f"Internet capacity of {cid} (Mbps)")
                  for cid, mbps in base.circuits.items()},
        wifi={},
        n_scenarios=int(_number(form, "n", "n", errors, default_n, "scenarios")),
        devices_per_staff=_number(form, "dps_staff", "dps_staff", errors,
                                  base.devices_per_staff, "devices per staff member"),
        active_share=_number(form, "active", "active_pct", errors, base.active_share * 100,
                             "devices active in the busy hour (%)") / 100.0,
        app_mix=base.app_mix,
    )
    # a percentage typed back as shown (40 % of 0.4) is the same value, not an override
    for name in ("growth_per_year", "active_share"):
        if math.isclose(getattr(k, name), getattr(base, name), rel_tol=1e-9, abs_tol=1e-12):
            setattr(k, name, getattr(base, name))
    mix = form.get("mix")
    if mix is not None and str(mix).strip() != "":
        mixes = app_mixes()
        name = str(mix).strip()
        if name in mixes or name == base.app_mix:
            k.app_mix = name
        else:
            errors["mix"] = f"application mix: '{name[:40]}' is not one of " \
                            f"{', '.join(mixes)} (simulator/data/scenarios.yaml)"
    for sid, w in base.wifi.items():
        gen = str(form.get(f"gen:{sid}", w.generation))
        if gen not in GENERATIONS:
            errors[f"gen:{sid}"] = f"Wi-Fi generation at {sid}: '{gen[:20]}' is not one of " \
                                   f"{', '.join(GENERATIONS)}"
            gen = w.generation
        width = _number(form, f"width:{sid}", "aps", errors, w.width, f"channel width at {sid}")
        if int(width) not in WIDTHS or width != int(width):
            errors[f"width:{sid}"] = f"channel width at {sid}: {width:g} MHz is not one of " \
                                     f"{', '.join(map(str, WIDTHS))}"
            width = w.width
        aps = w.aps
        if w.classrooms:
            apc = _number(form, f"apc:{sid}", "apc", errors, w.aps / w.classrooms,
                          f"APs per classroom at {sid}")
            # an unchanged per-classroom figure (rounded in the form) keeps the exact count
            if abs(apc - w.aps / w.classrooms) > 0.005:
                aps = max(1, round(apc * w.classrooms))
        else:
            aps = int(_number(form, f"aps:{sid}", "aps", errors, w.aps, f"APs at {sid}"))
        if aps > LIMITS["aps"][1] * max(1, len(_aps_at(d, sid))):
            errors[f"apc:{sid}"] = f"APs per classroom at {sid}: {aps} APs is too many"
        k.wifi[sid] = SiteWifi(gen, int(width), aps, w.classrooms)
    for name in form:
        if name.startswith("up:"):
            up = name[3:]
            if up not in options:
                errors[name] = f"unknown upgrade '{up[:40]}'; known: {', '.join(options)}"
            elif str(form[name]) not in ("on", "1", "true"):
                errors[name] = f"upgrade {up}: send 'on' to switch it on, or leave it out"
            else:
                k.upgrades.append(up)
    known = {"dps", "dps_staff", "active", "mix", "growth", "horizon", "n", "slot", "source",
             "quick"}
    for name in form:
        head = name.split(":", 1)[0]
        if name not in known and head not in ("circuit", "gen", "width", "apc", "aps", "up"):
            errors.setdefault(name, f"unknown knob '{name[:40]}'")
        elif head in ("circuit", "gen", "width", "apc", "aps") and ":" in name:
            tail = name.split(":", 1)[1]
            ok = tail in base.circuits if head == "circuit" else tail in base.wifi
            if not ok:
                errors.setdefault(name, f"'{tail[:40]}' is not a "
                                        f"{'circuit' if head == 'circuit' else 'school with APs'}"
                                        " of this district")
    if errors:
        raise KnobError(errors)
    return k


def _spread(total: int, weights: list[int]) -> list[int]:
    """``total`` split over entries in proportion to ``weights`` (largest remainder),
    every entry keeping at least one."""
    n = len(weights)
    total = max(total, n)
    w = [max(x, 1) for x in weights]
    s = sum(w)
    raw = [total * x / s for x in w]
    out = [max(1, math.floor(r)) for r in raw]
    order = sorted(range(n), key=lambda i: raw[i] - math.floor(raw[i]), reverse=True)
    i = 0
    while sum(out) < total:
        out[order[i % n]] += 1
        i += 1
    while sum(out) > total:
        j = max(range(n), key=lambda x: out[x])
        out[j] -= 1
    return out


def apply_knobs(d: District, k: Knobs, options: dict[str, UpgradeOption]) -> District:
    """A new, validated district: ``d`` with the knobs that differ from it, then the
    switched-on upgrades (in catalogue order)."""
    base = base_knobs(d)
    data = d.model_dump(mode="json", exclude_unset=True)
    info = data.setdefault("district", {})
    if k.devices_per_student != base.devices_per_student:
        info["devices_per_student"] = k.devices_per_student
    if k.devices_per_staff != base.devices_per_staff:
        info["devices_per_staff"] = k.devices_per_staff
    if (k.active_share, k.app_mix) != (base.active_share, base.app_mix):
        busy = dict(info.get("busy_hour") or {})
        if k.active_share != base.active_share:
            busy["active_share"] = k.active_share
        if k.app_mix != base.app_mix:
            busy["app_mix"] = k.app_mix
        info["busy_hour"] = busy
    if (k.growth_per_year, k.horizon_years) != (base.growth_per_year, base.horizon_years):
        g = info.setdefault("growth", {})
        g["growth_per_year"] = k.growth_per_year
        g["horizon_years"] = k.horizon_years
    for c in data.get("circuits", []):
        if k.circuits.get(c["id"], c["capacity_mbps"]) != base.circuits.get(c["id"]):
            c["capacity_mbps"] = k.circuits[c["id"]]
    for sid, w in k.wifi.items():
        b = base.wifi[sid]
        nodes = [n for n in data["nodes"] if n.get("kind") == "ap" and n.get("site") == sid]
        if (w.generation, w.width) != (b.generation, b.width):
            for n in nodes:
                wifi = dict(n.get("wifi") or {})
                wifi["generation"] = w.generation
                wifi["channel_width_mhz"] = w.width
                wifi.pop("air_capacity_mbps", None)  # a measured capacity is of the old radio
                n["wifi"] = wifi
        if w.aps != b.aps:
            counts = _spread(w.aps, [int(n.get("count", 1)) for n in nodes])
            for n, c in zip(nodes, counts, strict=True):
                n["count"] = c
    try:
        out = district_from_dict(data, source=f"{d.district.name} (what-if)")
    except NetstageError as exc:
        raise KnobError({"district": f"the knobs make an invalid district: {exc}"}) from None
    chosen = [a for u in options if u in k.upgrades for a in options[u].actions]
    return apply_actions(out, chosen) if chosen else out


def upgrade_options(d: District, catalog: Catalog | None = None) -> dict[str, UpgradeOption]:
    """The catalogue upgrades that apply to the whole district, costed for ``d``.

    The district-wide facts (security, management, standardisation), Wi-Fi 6E on every
    AP and a second Internet circuit on a second edge router. Link, AP-count and
    per-device upgrades are what the knobs set; ``netstage plan`` finds the rest.
    """
    cat = catalog or load_catalog()
    n_infra = max(1, sum(1 for n in d.nodes if n.kind in INFRASTRUCTURE_KINDS))
    devices = max(1.0, d.total_students * d.district.devices_per_student
                  + d.total_staff * d.district.devices_per_staff)
    units_by = {"student": float(max(d.total_students, 1)),
                "infrastructure device": float(n_infra), "device": devices}
    out: dict[str, UpgradeOption] = {}

    def action(name: str, target: str, desc: str, cost: Cost, what: str,
               params: dict[str, Any]) -> UpgradeAction:
        """A planner action priced from the catalogue (the planner's own cost fields)."""
        rules = [str(r) for r in cat.spec(name).get("rules", [])]
        return UpgradeAction.from_cost(cat, name, target, desc, cost, what, rules, params)

    def add(name: str, target: str, desc: str, units: float, params: dict[str, Any]) -> None:
        sp = cat.spec(name)
        what = f"{units:g} {sp.get('unit', 'unit')}"
        out[name] = UpgradeOption(name, str(sp.get("title", name)),
                                  tuple(str(r) for r in sp.get("rules", [])),
                                  (action(name, target, desc, cat.price(name, units), what,
                                          params),))

    for name in (*SECURITY_FACTS, "mdm", "config_backup", "snmp_monitoring",
                 "standardisation_plan"):
        if name not in cat.actions:
            continue
        sp = cat.spec(name)
        units = units_by.get(str(sp.get("unit", "district")), 1.0)
        params: dict[str, Any] = {}
        if name == "snmp_monitoring":
            params = {"history_days": 30.0}
        add(name, "district", str(sp.get("title", name)), units, params)
    aps = [n for n in d.nodes if n.kind == NodeKind.AP]
    if aps and "wifi_refresh" in cat.actions:
        # one toggle for every AP entry of the district (one planner action per entry)
        acts = []
        sp = cat.spec("wifi_refresh")
        rules = [str(r) for r in sp.get("rules", [])]
        for n in aps:
            acts.append(action("wifi_refresh", n.id,
                               f"replace the {plural(n.count, 'access point')} of {n.id} "
                               "with Wi-Fi 6E (80 MHz)", cat.price("wifi_refresh",
                                                                   float(n.count)),
                               plural(n.count, "access point"), {}))
        n_aps = sum(n.count for n in aps)
        out["wifi_refresh"] = UpgradeOption(
            "wifi_refresh", f"{sp.get('title', 'Wi-Fi refresh')} (all {n_aps} APs)",
            tuple(rules), tuple(acts))
    if d.circuits and "second_circuit" in cat.actions:
        c = max(d.circuits, key=lambda x: x.capacity_mbps)
        ids = {n.id for n in d.nodes}
        new_edge = c.attach + "-2"
        while new_edge in ids:
            new_edge += "b"
        cids = {x.id for x in d.circuits}
        cid = c.id + "-2"
        while cid in cids:
            cid += "b"
        sp = cat.spec("second_circuit")
        cost = cat.price("second_circuit", 1.0)
        if sp.get("per_mbps"):
            cost = cost + cat.price("second_circuit", c.capacity_mbps, sub="per_mbps")
        out["second_circuit"] = UpgradeOption(
            "second_circuit", str(sp.get("title", "second circuit")),
            tuple(str(r) for r in sp.get("rules", [])),
            (action("second_circuit", c.attach,
                    f"second {c.capacity_mbps:g} Mbps circuit on a second edge router",
                    cost, "1 circuit",
                    {"new_edge": new_edge, "circuit_id": cid,
                     "capacity_mbps": c.capacity_mbps, "srlg": [f"{cid}-entrance"]}),))
    return out
