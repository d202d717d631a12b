"""Upgrade planner: the cheapest set of catalog actions that reaches a stage.

>>> from netstage.simulator.io import load_district
>>> p = plan_upgrades(load_district("netstage/topologies/stage2-organic.yaml"))   # doctest: +SKIP
>>> p.stage_before, p.stage_after, round(p.cost_usd)                     # doctest: +SKIP

Method (greedy with re-simulation, then pruning, then verification):

1. Classify the district; the target is ``target_stage`` or the next stage.
2. While some rule allows less than the target (at most ``max_steps`` times):
   generate candidate actions from the catalog (``simulator/data/upgrades.yaml``) for
   the failing rules only (the simulation's hottest links, the Internet circuit, the
   single points of failure of the redundancy analysis, the missing security and
   management facts, ...), apply each to a copy of the district, re-run the failing
   rules (fewer scenarios while searching) and take the action with the largest
   reduction of the *gap* per dollar. The gap is, over failing rules, the stages
   missing plus a continuous shortfall (e.g. p95 unserved above its limit), so steps
   that help without yet flipping a rule still count.
3. Prune: drop any action (most expensive first) without which the target is still
   reached.
4. Verify: classify the upgraded district with the caller's ``n_scenarios``/``seed``;
   :attr:`UpgradePlan.stage_after` is *that* stage, never a prediction. If the
   verification misses the target (sampling noise near a threshold), search resumes
   at full precision.

Costs are indicative (see the catalog's header); the plan is a ranking of options to
put in front of a board, with every number's assumption in the catalog.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from netstage.simulator.datafiles import load_data_yaml
from netstage.simulator.errors import ConfigError, NetstageError
from netstage.simulator.io import district_from_dict, dump_district
from netstage.simulator.model import INFRASTRUCTURE_KINDS, District, NodeKind, SiteKind
from netstage.simulator.rules import RULE_ORDER, Rubric, RuleVerdict
from netstage.simulator.rules.declared_rules import model_family
from netstage.simulator.rules.rubric import RENAMED_FACTS, SECURITY_FACTS
from netstage.simulator.stage import DEFAULT_N_SCENARIOS, Classification, classify, resolve_rubric
from netstage.simulator.wording import element_name, join_and, plural

__all__ = ["Catalog", "Cost", "UpgradeAction", "UpgradePlan", "best_plan_within",
           "exhaustive_plan", "load_catalog", "plan_upgrades"]

CAPACITY_RULES = ("R-LAB", "R-NOW", "R-FUTURE")
SEARCH_SCENARIOS = 40  # scenarios per candidate while searching (verification uses the caller's)
Data = dict[str, Any]


# -- catalog ---------------------------------------------------------------------------
PRICE_KEYS = ("capex_usd", "recurring_usd_per_year", "cost_low_usd", "cost_high_usd",
              "price_source", "note")


@dataclass(frozen=True)
class Cost:
    """Capital, recurring per year and the low/high of the three-year cost of one or
    more catalogue price rows, with the rows' ``price_source`` values."""

    capex: float = 0.0
    recurring: float = 0.0
    low: float = 0.0
    high: float = 0.0
    sources: tuple[str, ...] = ()

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.capex + other.capex, self.recurring + other.recurring,
                    self.low + other.low, self.high + other.high,
                    tuple(dict.fromkeys(self.sources + other.sources)))

    def total(self, years: float) -> float:
        return self.capex + years * self.recurring


@dataclass(frozen=True)
class Catalog:
    """The upgrade catalog (``simulator/data/upgrades.yaml`` or a user file)."""

    version: str
    cost_years: float
    link_tiers: tuple[float, ...]
    internet_tiers: tuple[float, ...]
    actions: dict[str, dict[str, Any]]
    source: str = "simulator/data/upgrades.yaml"
    default_path_km: float = 5.0
    default_path_km_source: str = "assumption"

    def spec(self, name: str) -> dict[str, Any]:
        try:
            return self.actions[name]
        except KeyError:
            raise ConfigError(f"upgrade catalog {self.source} has no action '{name}'; "
                              f"known: {', '.join(self.actions)}") from None

    def has(self, name: str) -> bool:
        return name in self.actions

    def row(self, row: dict[str, Any], units: float = 1.0, *,
            inherit: str = "assumption") -> Cost:
        """The cost of ``units`` of one price row."""
        cx = float(row.get("capex_usd", 0.0)) * units
        rc = float(row.get("recurring_usd_per_year", 0.0)) * units
        point = cx + self.cost_years * rc
        low = float(row.get("cost_low_usd", point / units if units else 0.0)) * units
        high = float(row.get("cost_high_usd", point / units if units else 0.0)) * units
        return Cost(cx, rc, min(low, point), max(high, point),
                    (str(row.get("price_source", inherit)),))

    def price(self, name: str, units: float = 1.0, *, sub: str | None = None,
              key: str | int | None = None) -> Cost:
        """The cost of ``units`` of action ``name``: its top-level row, or the row
        ``sub`` (``per_mbps``, ``per_km``) or ``sub[key]`` (``tiers``, ``by_kind``)."""
        sp = self.spec(name)
        inherit = str(sp.get("price_source", "assumption"))
        row: Any = sp
        if sub is not None:
            row = sp.get(sub) or {}
            if key is not None:
                row = row.get(key) or row.get(str(key)) or (
                    row.get(int(key)) if str(key).isdigit() else None) or row.get("other") or {}
        return self.row(row, units, inherit=inherit)

    def cost(self, name: str, units: float = 1.0) -> tuple[float, float, float, str]:
        """(three-year total, capex, recurring per year, note) of ``units`` of ``name``."""
        c = self.price(name, units)
        return (c.total(self.cost_years), c.capex, c.recurring,
                self.note(c, f"{units:g} {self.spec(name).get('unit', 'unit')}"))

    def note(self, c: Cost, what: str) -> str:
        parts = []
        if c.capex:
            parts.append(f"${c.capex:,.0f} one-time")
        if c.recurring:
            parts.append(f"${c.recurring:,.0f}/yr x {self.cost_years:g} yr")
        rng = f"; range ${c.low:,.0f}-${c.high:,.0f}" if (c.low, c.high) != (0, 0) else ""
        src = "; price: " + " / ".join(c.sources) if c.sources else ""
        return what + (": " + " + ".join(parts) if parts else "") + rng + src


_REQUIRED = ("version", "cost_years", "link_tiers_mbps", "internet_tiers_mbps", "actions")
_TOP_KEYS = (*_REQUIRED, "currency", "default_path_km")
_ACTION_KEYS = ("title", "rules", "unit", *PRICE_KEYS, "per_mbps", "per_km", "tiers",
                "by_kind", "fact", "design_density")
_RENAMED = {"annual_usd": "recurring_usd_per_year", "source": "price_source",
            "leased_annual_per_mbps": "per_mbps: {recurring_usd_per_year: ...}"}


def load_catalog(path: str | Path | None = None) -> Catalog:
    """The shipped catalog, or a user catalog in the same format (located errors).

    Every price row must carry ``price_source`` (a citation or ``assumption``, given on
    the row or on its action) and ``cost_low_usd`` <= three-year point <= ``cost_high_usd``.
    """
    from netstage.simulator.io import LineMap, format_loc, load_yaml_located

    if path is None:
        raw = load_data_yaml("upgrades.yaml")
        source = "simulator/data/upgrades.yaml"
        lines = LineMap(source)
    else:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{p}: no such upgrade catalog; check the --catalog path") from None
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise ConfigError(f"{p}: cannot read the upgrade catalog ({why})") from None
        raw, lines = load_yaml_located(text, str(p))
        source = str(p)

    def fail(loc: tuple[str | int, ...], msg: str) -> ConfigError:
        return ConfigError(f"{lines.where(loc)}: upgrade catalog: {format_loc(loc)}: {msg} "
                           "(format: simulator/data/upgrades.yaml)")

    def number(loc: tuple[str | int, ...], v: Any, *, positive: bool = False) -> float:
        ok = (isinstance(v, int | float) and not isinstance(v, bool)
              and not (isinstance(v, int) and v.bit_length() > 1000) and math.isfinite(v))
        if not ok or v < 0 or (positive and v == 0):
            raise fail(loc, f"must be a number {'> 0' if positive else '>= 0'}, got {v!r}")
        return float(v)

    if not isinstance(raw, dict):
        raise fail((), "expected a mapping ('key: value' lines) at the top level")
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise fail((), f"missing {', '.join(missing)}")
    for k in raw:
        if k not in _TOP_KEYS:
            raise fail((str(k),), f"unknown key; allowed: {', '.join(_TOP_KEYS)}")
    cost_years = number(("cost_years",), raw["cost_years"])
    tiers: dict[str, tuple[float, ...]] = {}
    for key in ("link_tiers_mbps", "internet_tiers_mbps"):
        if not isinstance(raw[key], list) or not raw[key]:
            raise fail((key,), "expected a non-empty list of speeds in Mbps")
        tiers[key] = tuple(sorted(number((key, i), x, positive=True)
                                  for i, x in enumerate(raw[key])))
    km, km_source = 5.0, "assumption"
    if "default_path_km" in raw:
        dk = raw["default_path_km"]
        if not isinstance(dk, dict) or "km" not in dk or not dk.get("source"):
            raise fail(("default_path_km",), "expected {km: NUMBER, source: CITATION or "
                                             "assumption}")
        km, km_source = number(("default_path_km", "km"), dk["km"]), str(dk["source"])
    if not isinstance(raw["actions"], dict):
        raise fail(("actions",), "expected a mapping of action names")
    # an action named after a renamed fact (no_default_write_community) keeps working
    raw = {**raw, "actions": {RENAMED_FACTS.get(str(k), k): v
                              for k, v in raw["actions"].items()}}
    known = set(_default_action_names())
    unknown = [str(a) for a in raw["actions"] if a not in known]
    if unknown:
        raise fail(("actions", unknown[0]), f"unknown action(s) {', '.join(unknown)}; known: "
                                            f"{', '.join(sorted(known))}")

    def price_row(loc: tuple[str | int, ...], row: Any, inherited: Any) -> None:
        if not isinstance(row, dict):
            raise fail(loc, "expected a price row {capex_usd, recurring_usd_per_year, "
                            "cost_low_usd, cost_high_usd, price_source}")
        for k in row:
            if k not in PRICE_KEYS:
                hint = f" (renamed: use {_RENAMED[k]})" if k in _RENAMED else ""
                raise fail((*loc, k), f"unknown key{hint}; allowed: {', '.join(PRICE_KEYS)}")
        cx = number((*loc, "capex_usd"), row.get("capex_usd", 0))
        rc = number((*loc, "recurring_usd_per_year"), row.get("recurring_usd_per_year", 0))
        src = row.get("price_source", inherited)
        if not isinstance(src, str) or not src.strip():
            raise fail((*loc, "price_source"), "every price needs price_source: a citation "
                                               "(where the figure comes from) or 'assumption'")
        for k in ("cost_low_usd", "cost_high_usd"):
            if k not in row:
                raise fail((*loc, k), "every price needs a range: cost_low_usd and "
                                      "cost_high_usd (of capex + cost_years x recurring)")
        lo = number((*loc, "cost_low_usd"), row["cost_low_usd"])
        hi = number((*loc, "cost_high_usd"), row["cost_high_usd"])
        point = cx + cost_years * rc
        if not lo <= point + 1e-9 or not point <= hi + 1e-9:
            raise fail((*loc, "cost_low_usd"), f"range {lo:g}-{hi:g} does not contain the "
                                               f"three-year point cost {point:g} (capex + "
                                               f"{cost_years:g} x recurring)")

    for name, sp in raw["actions"].items():
        loc0: tuple[str | int, ...] = ("actions", name)
        if not isinstance(sp, dict):
            raise fail(loc0, "expected a mapping (title, capex_usd, ...)")
        for k in sp:
            if k not in _ACTION_KEYS:
                hint = f" (renamed: use {_RENAMED[k]})" if k in _RENAMED else ""
                raise fail((*loc0, k), f"unknown key{hint}; allowed: {', '.join(_ACTION_KEYS)}")
        inherited = sp.get("price_source")
        top = {k: v for k, v in sp.items() if k in PRICE_KEYS}
        if "capex_usd" in top or "recurring_usd_per_year" in top:
            price_row(loc0, top, inherited)
        elif not (sp.get("tiers") or sp.get("by_kind")):
            raise fail(loc0, "no price: give capex_usd and/or recurring_usd_per_year "
                             "(or tiers / by_kind rows)")
        for sub in ("per_mbps", "per_km"):
            if sub in sp:
                price_row((*loc0, sub), sp[sub], inherited)
        for sub in ("tiers", "by_kind"):
            rows = sp.get(sub) or {}
            if not isinstance(rows, dict):
                raise fail((*loc0, sub), "expected a mapping of price rows")
            for k, row in rows.items():
                price_row((*loc0, sub, k), row, inherited)
        dd = sp.get("design_density")
        if dd is not None:
            if not isinstance(dd, dict) or not dd.get("source"):
                raise fail((*loc0, "design_density"), "expected {aps_per_classroom: NUMBER, "
                                                      "source: CITATION or assumption}")
            number((*loc0, "design_density", "aps_per_classroom"),
                   dd.get("aps_per_classroom"), positive=True)
    return Catalog(version=str(raw["version"]), cost_years=cost_years,
                   link_tiers=tiers["link_tiers_mbps"],
                   internet_tiers=tiers["internet_tiers_mbps"],
                   actions=dict(raw["actions"]), source=source,
                   default_path_km=km, default_path_km_source=km_source)


def _default_action_names() -> list[str]:
    return list(load_data_yaml("upgrades.yaml")["actions"])


# -- actions ---------------------------------------------------------------------------
@dataclass
class UpgradeAction:
    """One planned change: catalog action ``action`` applied to ``target``.

    ``cost_usd`` is the three-year cost (``capex_usd`` + cost_years x
    ``recurring_usd_per_year``); ``cost_low_usd``/``cost_high_usd`` its range from the
    catalogue; ``price_source`` the catalogue rows' sources (citations or ``assumption``).
    """

    action: str
    target: str
    description: str
    cost_usd: float
    capex_usd: float
    recurring_usd_per_year: float
    cost_note: str
    rules: list[str]
    params: dict[str, Any] = field(default_factory=dict)
    cost_low_usd: float = 0.0
    cost_high_usd: float = 0.0
    price_source: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "target": self.target, "description": self.description,
                "cost_usd": round(self.cost_usd, 2), "capex_usd": round(self.capex_usd, 2),
                "recurring_usd_per_year": round(self.recurring_usd_per_year, 2),
                "cost_low_usd": round(self.cost_low_usd, 2),
                "cost_high_usd": round(self.cost_high_usd, 2),
                "price_source": self.price_source, "cost_note": self.cost_note,
                "rules": list(self.rules), "params": self.params}

    @classmethod
    def from_cost(cls, cat: Catalog, action: str, target: str, description: str, c: Cost,
                  what: str, rules: list[str], params: dict[str, Any]) -> UpgradeAction:
        """An action whose cost is ``c`` (one or several catalogue rows added up): its
        cost over the catalogue's years, range, price sources and cost note (``what``:
        the quantity priced, e.g. ``"12 access point"``). The planner and the what-if
        page (:mod:`netstage.web.knobs`) price actions only through this."""
        return cls(action, target, description, c.total(cat.cost_years), c.capex,
                   c.recurring, cat.note(c, what), list(rules), params,
                   cost_low_usd=c.low, cost_high_usd=c.high,
                   price_source=" / ".join(c.sources))


def _dump(d: District) -> Data:
    return d.model_dump(mode="json", exclude_unset=True)


def _link_key(lk: Data) -> str:
    return str(lk.get("id") or f"{lk['a']}--{lk['b']}")


def _unique(existing: set[str], base: str) -> str:
    if base not in existing:
        return base
    i = 2
    while f"{base}{i}" in existing:
        i += 1
    return f"{base}{i}"


def _mirror_node(data: Data, node_id: str, new_id: str,
                 paths: dict[str, dict[str, Any]] | None = None) -> None:
    """Add ``new_id``, a copy of ``node_id`` with a copy of each of its links (not to APs).

    A copy never inherits the original link's shared-risk groups (it is not in the same
    conduit); ``paths`` gives, per original link key, the fields of a copy that is a new
    route (``medium``, ``distance_km``, ``srlg``: a new group).
    """
    nodes = data["nodes"]
    src = next(n for n in nodes if n["id"] == node_id)
    twin = copy.deepcopy(src)
    twin["id"] = new_id
    twin.pop("mgmt_address", None)
    twin.pop("name", None)
    nodes.append(twin)
    ap_ids = {n["id"] for n in nodes if n.get("kind") == NodeKind.AP.value}
    link_ids = {_link_key(lk) for lk in data.get("links", [])}
    new_links = []
    for lk in data.get("links", []):
        if node_id not in (lk["a"], lk["b"]):
            continue
        other = lk["b"] if lk["a"] == node_id else lk["a"]
        if other in ap_ids:
            continue
        nl = copy.deepcopy(lk)
        nl["a"], nl["b"] = (new_id, other) if lk["a"] == node_id else (other, new_id)
        nl.pop("background_mbps", None)
        nl.pop("srlg", None)
        nl.pop("distance_km", None)
        nl.update((paths or {}).get(_link_key(lk), {}))
        if "id" in nl:
            nl["id"] = _unique(link_ids, f"{nl['id']}-ha")
            link_ids.add(nl["id"])
        new_links.append(nl)
    data.setdefault("links", []).extend(new_links)


def _set_in(data: Data, path: tuple[str, ...], value: Any) -> None:
    cur = data
    for k in path[:-1]:
        cur = cur.setdefault(k, {})
    cur[path[-1]] = value


def _infra_count(data: Data) -> int:
    kinds = {k.value for k in INFRASTRUCTURE_KINDS}
    return sum(1 for n in data.get("nodes", []) if n.get("kind") in kinds)


def apply_action(data: Data, a: UpgradeAction) -> None:
    """Apply ``a`` to a district dict (as from ``model_dump(exclude_unset=True)``)."""
    p = a.params
    kind = a.action
    if kind == "internet_capacity":
        new = p.get("circuits") or {a.target: p["capacity_mbps"]}
        by_id = {c["id"]: c for c in data["circuits"]}
        for cid, cap in new.items():
            if cid not in by_id:
                raise KeyError(cid)
            by_id[cid]["capacity_mbps"] = cap
        caps = dict(zip(p.get("links", []), p.get("link_caps", []), strict=True))
        for lk in data.get("links", []):
            k = _link_key(lk)
            if k in caps and caps[k] > lk["capacity_mbps"]:
                lk["capacity_mbps"] = caps[k]
        return
    if kind == "link_upgrade":
        keys = p.get("links", [a.target])
        caps = p["capacity_mbps"]
        for lk in data.get("links", []):
            k = _link_key(lk)
            if k in keys:
                lk["capacity_mbps"] = caps[keys.index(k)] if isinstance(caps, list) else caps
        return
    if kind in ("add_aps", "wifi_refresh"):
        counts = dict(p.get("counts") or {})
        if "count" in p:                       # one AP entry (plans from catalog 1.x)
            counts[a.target] = int(p["count"])
        refresh = set(p.get("refresh", []))
        if kind == "wifi_refresh" and not refresh:
            refresh = {a.target}
        found = set()
        for n in data["nodes"]:
            if n["id"] in counts:
                n["count"] = int(counts[n["id"]])
                found.add(n["id"])
            if n["id"] in refresh:
                n["wifi"] = {**(n.get("wifi") or {}), "generation": "wifi6e",
                             "channel_width_mhz": 80}
                n["wifi"].pop("air_capacity_mbps", None)
                found.add(n["id"])
        if not found or (set(counts) | refresh) - found:
            raise KeyError(a.target)
        return
    if kind == "ha_pair":
        _mirror_node(data, a.target, p["new_id"], p.get("paths"))
        return
    if kind == "second_circuit":
        _mirror_node(data, a.target, p["new_edge"])
        row = {"id": p["circuit_id"], "attach": p["new_edge"],
               "capacity_mbps": p["capacity_mbps"], "provider": "second provider (planned)"}
        if p.get("srlg"):
            row["srlg"] = list(p["srlg"])
        data["circuits"].append(row)
        return
    if kind in ("leased_path", "fiber_build", "building_link", "redundant_link"):
        row = {"a": p["a"], "b": p["b"], "capacity_mbps": p["capacity_mbps"],
               "medium": p.get("medium", "fiber"), "id": p["id"]}
        if p.get("srlg"):
            row["srlg"] = list(p["srlg"])
        if p.get("distance_km") is not None:
            row["distance_km"] = p["distance_km"]
        data.setdefault("links", []).append(row)
        return
    if kind in SECURITY_FACTS:
        sec = ("declared", "security")
        if kind == "default_write_communities_removed":
            _set_in(data, (*sec, "default_write_communities_removed"), True)
            snmp = (data.get("measured") or {}).get("snmp")
            if snmp is not None:
                snmp["default_write_community_accepted"] = 0
        elif kind == "snmp_v3_only":
            _set_in(data, (*sec, "snmp_v3_only"), True)
            snmp = (data.get("measured") or {}).get("snmp")
            if snmp is not None:
                snmp["v3_devices"] = snmp.get("answered", 0)
                snmp["v1v2c_devices"] = 0
                snmp["default_community_accepted"] = 0
        else:
            _set_in(data, (*sec, kind), True)
        return
    if kind in ("mdm", "config_backup"):
        _set_in(data, ("declared", "management", kind), True)
        return
    if kind == "snmp_monitoring":
        n = _infra_count(data)
        meas = data.setdefault("measured", {})
        old = meas.get("snmp") or {}
        meas["source"] = (meas.get("source") or "") + " + planned: SNMP on every device, polled"
        meas["snmp"] = {**old, "infrastructure_devices": n, "answered": n,
                        "history_days": max(float(old.get("history_days") or 0),
                                            float(p["history_days"]))}
        _set_in(data, ("declared", "management", "monitoring"), True)
        return
    if kind == "standardisation_plan":
        _set_in(data, ("declared", "standardisation", "plan"), True)
        return
    if kind == "firmware_alignment":
        for n in data["nodes"]:
            if n["id"] in p["firmware"]:
                n["firmware"] = p["firmware"][n["id"]]
        return
    if kind == "replace_nonstandard":
        for n in data["nodes"]:
            if n["id"] in p["nodes"]:
                n["vendor"], n["model"] = p["vendor"], p["model"]
                if p.get("firmware"):
                    n["firmware"] = p["firmware"]
        return
    raise ConfigError(f"planner cannot apply unknown action '{kind}'")


def apply_actions(d: District, actions: list[UpgradeAction]) -> District:
    """A new, validated district with ``actions`` applied in order."""
    data = _dump(d)
    for a in actions:
        apply_action(data, a)
    return district_from_dict(data, source=f"{d.district.name} (planned)")


# -- the plan --------------------------------------------------------------------------
@dataclass
class UpgradePlan:
    """The result of :func:`plan_upgrades` (``stage_after`` is re-classified, never guessed)."""

    district_name: str
    target_stage: int
    stage_before: int
    stage_after: int
    actions: list[UpgradeAction]
    cost_usd: float
    capex_usd: float
    recurring_usd_per_year: float
    cost_years: float
    budget_usd: float | None
    classification_before: Classification
    classification_after: Classification
    district_after: District
    catalog_version: str
    notes: list[str] = field(default_factory=list)
    stage_within_budget: int | None = None
    actions_within_budget: list[UpgradeAction] = field(default_factory=list)
    elapsed_s: float = 0.0
    cost_low_usd: float = 0.0
    cost_high_usd: float = 0.0
    unreachable: dict[str, str] = field(default_factory=dict)
    candidates_unmeasured: int = 0
    candidates_evaluated: int = 0
    # every candidate action the search generated (the pool of :func:`exhaustive_plan`)
    considered: list[UpgradeAction] = field(default_factory=list, repr=False)

    @property
    def three_year_total_usd(self) -> float:
        """Capital + 3 x recurring (the catalogue's ``cost_years``, 3 by default)."""
        return self.cost_usd

    def cost_line(self) -> str:
        """Capital, recurring per year, the total over ``cost_years`` and its range."""
        return (f"${self.capex_usd:,.0f} capital + ${self.recurring_usd_per_year:,.0f}/yr "
                f"recurring = ${self.cost_usd:,.0f} over {self.cost_years:g} years "
                f"(range ${self.cost_low_usd:,.0f}-${self.cost_high_usd:,.0f})")

    @property
    def reached(self) -> bool:
        return self.stage_after >= self.target_stage

    @property
    def within_budget(self) -> bool | None:
        return None if self.budget_usd is None else self.cost_usd <= self.budget_usd

    def summary(self) -> str:
        if not self.actions and self.reached:
            return (f"{self.district_name} is already at stage {self.stage_before} "
                    f"(target {self.target_stage}): nothing to do.")
        head = (f"{self.district_name}: stage {self.stage_before} -> {self.stage_after} "
                f"(target {self.target_stage}, re-classified) with {len(self.actions)} "
                f"action(s): {self.cost_line()}")
        if not self.reached:
            head += "; the target is NOT reached: " + "; ".join(self.notes or ["see notes"])
        if self.budget_usd is not None:
            if self.within_budget:
                head += f"; within the ${self.budget_usd:,.0f} budget"
            else:
                head += (f"; OVER the ${self.budget_usd:,.0f} budget (within it: "
                         f"{len(self.actions_within_budget)} action(s) reaching stage "
                         f"{self.stage_within_budget})")
        return head + "."

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": "netstage.plan/1",
            "district": self.district_name,
            "target_stage": self.target_stage,
            "stage_before": self.stage_before,
            "stage_after": self.stage_after,
            "reached": self.reached,
            "cost_usd": round(self.cost_usd, 2),
            "capex_usd": round(self.capex_usd, 2),
            "recurring_usd_per_year": round(self.recurring_usd_per_year, 2),
            "three_year_total_usd": round(self.three_year_total_usd, 2),
            "cost_low_usd": round(self.cost_low_usd, 2),
            "cost_high_usd": round(self.cost_high_usd, 2),
            "cost_years": self.cost_years,
            "budget_usd": self.budget_usd,
            "within_budget": self.within_budget,
            "stage_within_budget": self.stage_within_budget,
            "actions_within_budget": [a.action + ":" + a.target
                                      for a in self.actions_within_budget],
            "catalog_version": self.catalog_version,
            "actions": [a.to_json() for a in self.actions],
            "binding_before": self.classification_before.binding,
            "binding_after": self.classification_after.binding,
            "rules_before": {r.rule_id: r.allows_stage for r in self.classification_before.rules},
            "rules_after": {r.rule_id: r.allows_stage for r in self.classification_after.rules},
            "notes": list(self.notes),
            "unreachable": dict(self.unreachable),
            "candidates_unmeasured": self.candidates_unmeasured,
            "candidates_evaluated": self.candidates_evaluated,
            "summary": self.summary(),
        }

    def district_yaml(self) -> str:
        """The upgraded district as YAML (to inspect or simulate further)."""
        return dump_district(self.district_after)


# -- gap: how far a classification is from the target ------------------------------------
def _capacity_shortfall(v: RuleVerdict) -> float:
    th = v.threshold
    vals = []
    for name, limit in th.items():
        arr = "unserved_fraction" if "unserved" in name else "throttled_share"
        got = next((x for k, x in v.details.items() if k.startswith(arr)), None)
        if got is not None and isinstance(limit, int | float):
            vals.append(max(0.0, float(got) - float(limit)))
    return min(1.0, sum(vals) / len(vals)) if vals else 1.0


def _target_shortfall(v: RuleVerdict, target: int) -> float:
    th = v.threshold
    kbps = v.measured_value if isinstance(v.measured_value, int | float) else 0.0
    need = th["min_internet_kbps_per_student_stage4"] if target >= 4 \
        else th["min_internet_kbps_per_student_stage2"]
    parts = [max(0.0, 1.0 - float(kbps) / need) if need > 0 else 0.0]
    if target >= 4:
        wan = v.details.get("school_wan_gbps_per_1000") or {}
        tw = float(th["min_wan_gbps_per_1000_students"])
        if wan and tw > 0:
            parts.append(float(np.mean([max(0.0, 1.0 - x / tw) for x in wan.values()])))
    return min(1.0, sum(parts) / len(parts))


def _generic_shortfall(v: RuleVerdict, target: int) -> float:
    checks = [c for c in v.checks if c.stage <= target]
    bad_checks = sum(1 for c in checks if c.passed is not True)
    bad_inputs = sum(1 for i in v.inputs if i.value is None or i.value is False)
    a = bad_checks / len(checks) if checks else 0.0
    b = bad_inputs / len(v.inputs) if v.inputs else 0.0
    return 0.5 * a + 0.5 * b


def _ha_structure(d: District, rubric: Rubric) -> tuple[float, bool, Any]:
    """(shortfall in [0, 1], structure passes, redundancy report) without N-1 simulation."""
    from netstage.simulator.redundancy import analyse_redundancy

    th = rubric.rules["R-HA"].thresholds
    need_c = float(th["min_internet_circuits"].value)
    need_p = float(th["min_edge_disjoint_paths_per_school"].value)
    rep = analyse_redundancy(d)
    schools = [s for s in rep.sites if s.kind == SiteKind.SCHOOL.value and s.students]
    short_c = max(0.0, 1.0 - len(d.circuits) / need_c)
    short_p = (float(np.mean([max(0.0, 1.0 - s.edge_disjoint_paths / need_p) for s in schools]))
               if schools else 0.0)
    n_spof = len(rep.counted_spofs)
    short_s = n_spof / (n_spof + 2.0)
    ok = short_c == 0 and short_p == 0
    return (short_c + short_p + short_s) / 3.0, ok, rep


@dataclass
class _State:
    district: District
    verdicts: dict[str, RuleVerdict]
    gaps: dict[str, float]
    redundancy: Any = None
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def gap(self) -> float:
        return sum(self.gaps.values())

    def failing(self, target: int) -> list[str]:
        return [r for r, v in self.verdicts.items() if v.allows_stage < target]

    def merged(self, new: _State) -> _State:
        """This state with the rules ``new`` evaluated replaced by ``new``'s verdicts."""
        return _State(district=new.district, verdicts={**self.verdicts, **new.verdicts},
                      gaps={**self.gaps, **new.gaps},
                      redundancy=new.redundancy if "R-HA" in new.verdicts else self.redundancy,
                      evidence={**self.evidence, **new.evidence})


_Cache = dict[tuple[str, tuple[str, ...], bool], _State]
DECLARED_RULES = ("R-SECURITY", "R-MANAGE", "R-STANDARD")
SIMULATED_RULES = ("R-LAB", "R-NOW", "R-FUTURE", "R-TARGET", "R-HA")
# what the simulated and structural rules never read: the declared facts, the SNMP
# audit, and the devices' names, vendors, models and firmware
_NOT_SIMULATED = {"declared": True, "measured": True,
                  "nodes": {"__all__": {"name", "vendor", "model", "firmware", "mgmt_address"}}}


def _content_key(d: District, rules: list[str]) -> str:
    """The part of ``d`` that ``rules`` read (the whole district when a declared rule is
    among them), so a declared fix does not re-simulate every capacity candidate."""
    if any(r in DECLARED_RULES for r in rules):
        return d.model_dump_json()
    return d.model_dump_json(exclude=_NOT_SIMULATED)  # type: ignore[arg-type]


def _evaluate(d: District, rules: list[str], target: int, rubric: Rubric, n: int, seed: int,
              ha_full: bool = False, cache: _Cache | None = None) -> _State:
    """Verdicts of ``rules`` on ``d`` and each rule's gap to ``target`` (memoised in
    ``cache`` by the district's content).

    R-HA is judged structurally (circuits, disjoint paths, single points of failure)
    until the structure passes; only then is the N-1 contingency simulated.
    """
    key = (_content_key(d, rules), tuple(sorted(rules)), ha_full)
    if cache is not None and key in cache:
        hit = cache[key]
        return hit if hit.district is d else _State(
            district=d, verdicts=hit.verdicts, gaps=hit.gaps, redundancy=hit.redundancy,
            evidence=hit.evidence)
    verdicts: dict[str, RuleVerdict] = {}
    gaps: dict[str, float] = {}
    rep = None
    others = [r for r in rules if r != "R-HA"]
    evidence: dict[str, Any] = {}
    if others:
        c = classify(d, n_scenarios=n, seed=seed, overrides=rubric, rules=tuple(others))
        evidence = c.evidence
        for v in c.rules:
            verdicts[v.rule_id] = v
    if "R-HA" in rules:
        short, ok, rep = _ha_structure(d, rubric)
        if ok or ha_full:
            c = classify(d, n_scenarios=n, seed=seed, overrides=rubric, rules=("R-HA",))
            v = c.rules[0]
            verdicts["R-HA"] = v
            evidence.update(c.evidence)
            gaps["R-HA"] = 0.0
            if v.allows_stage < target:
                gaps["R-HA"] = (target - v.allows_stage) + 0.9 * (
                    short + _n1_shortfall(v, c.evidence.get("contingency"), rubric)) / 2.0
        else:
            # structure fails: the rule allows at most stage 3 (fail_allows)
            fa = rubric.rules["R-HA"].fail_allows
            verdicts["R-HA"] = _placeholder_ha(fa, short)
            # same form as above with the N-1 shortfall at its worst (not yet simulated)
            gaps["R-HA"] = max(0, target - fa) + 0.9 * (short + 1.0) / 2.0
    for r, v in verdicts.items():
        if r == "R-HA":
            continue
        if v.allows_stage >= target:
            gaps[r] = 0.0
            continue
        if r in CAPACITY_RULES:
            cont = _capacity_shortfall(v)
        elif r == "R-TARGET":
            cont = _target_shortfall(v, target)
        else:
            cont = _generic_shortfall(v, target)
        gaps[r] = (target - v.allows_stage) + 0.9 * cont
    st = _State(district=d, verdicts=verdicts, gaps=gaps, redundancy=rep, evidence=evidence)
    if cache is not None:
        cache[key] = st
    return st


def _n1_shortfall(v: RuleVerdict, cont: Any, rubric: Rubric) -> float:
    """N-1 shortfall in [0, 1): the excess over the limit summed over *every* single
    failure above it, not only the worst. With the worst alone, fixing one of several
    failures above the limit (two schools of similar size behind single distribution
    switches, two equal circuits) changed nothing, no step had a gain and R-HA stayed
    binding although the catalogue could reach the target."""
    lim = float(rubric.value("R-HA", "max_n1_unserved_p95"))
    rows = list(getattr(cont, "contingencies", None) or [])
    if rows:
        excess = sum(max(0.0, float(r.unserved_p95) - lim) for r in rows)
    else:
        worst = v.inputs[2].value if len(v.inputs) > 2 else None
        excess = max(0.0, float(worst) - lim) if isinstance(worst, int | float) else 1.0
    return excess / (excess + 0.05) if excess > 0 else 0.0


def _placeholder_ha(allows: int, short: float) -> RuleVerdict:
    return RuleVerdict(rule_id="R-HA", title="High availability", status="fail",
                       allows_stage=allows, measured_value=None, unit="",
                       threshold={}, inputs=[], explanation=f"structure short by {short:.2f}")


# -- candidate generation ----------------------------------------------------------------
def _next_tier(tiers: tuple[float, ...], current: float, factor: float = 1.0) -> float | None:
    want = current * factor
    for t in tiers:
        if t > current and t >= want:
            return t
    return None


class _Candidates:
    def __init__(self, d: District, cat: Catalog, rubric: Rubric, target: int) -> None:
        self.d = d
        self.cat = cat
        self.rubric = rubric
        self.target = target
        self.out: list[UpgradeAction] = []
        self.seen: set[tuple[str, str, str]] = set()
        self.site_of = {n.id: n.site for n in d.nodes}
        self.kind_of = {n.id: n.kind for n in d.nodes}
        self.srlg_ids = {g for lk in d.links for g in lk.srlg} | \
            {g for c in d.circuits for g in c.srlg}

    def add(self, action: str, target: str, description: str, units: float, rules: list[str],
            params: dict[str, Any], *, cost: Cost | None = None, what: str | None = None) -> None:
        if not self.cat.has(action):
            return  # a user catalogue without this action: not offered
        key = (action, target, repr(sorted(params.items())))
        if key in self.seen:
            return
        self.seen.add(key)
        if cost is None:
            cost = self.cat.price(action, units)
        what = what or _units(units, str(self.cat.spec(action).get("unit", "unit")))
        self.out.append(UpgradeAction.from_cost(self.cat, action, target, description, cost,
                                                what, rules, params))

    def new_srlg(self, base: str) -> str:
        g = _unique(self.srlg_ids, base)
        self.srlg_ids.add(g)
        return g

    # capacity -----------------------------------------------------------------------
    def internet(self, rules: list[str], need_total_mbps: float | None = None,
                 survivors_of: str | None = None) -> None:
        """More Internet capacity: the largest circuit stepped up, every circuit stepped
        up together (load shares over active circuits) and, for N-1, the circuits that
        remain when ``survivors_of`` (a circuit or the node it ends on) fails."""
        d = self.d
        if not d.circuits:
            return
        caps = {c.id: c.capacity_mbps for c in d.circuits}
        total = sum(caps.values())
        c = max(d.circuits, key=lambda x: x.capacity_mbps)
        options: list[dict[str, float]] = []
        for f in (1.0, 2.0, 4.0):
            t = _next_tier(self.cat.internet_tiers, c.capacity_mbps, f)
            if t:
                options.append({c.id: t})
        if need_total_mbps is not None:
            t = _next_tier(self.cat.internet_tiers, c.capacity_mbps,
                           max(1.0, (need_total_mbps - (total - c.capacity_mbps))
                               / c.capacity_mbps))
            if t:
                options.append({c.id: t})
        if len(caps) > 1:
            for f in (1.0, 2.0, 4.0):
                every = {k: _next_tier(self.cat.internet_tiers, v, f) for k, v in caps.items()}
                if all(every.values()):
                    options.append({k: float(v) for k, v in every.items() if v})
            if need_total_mbps is not None and total > 0:
                f = need_total_mbps / total
                every = {k: _next_tier(self.cat.internet_tiers, v, max(f, 1.0))
                         for k, v in caps.items()}
                if all(every.values()):
                    options.append({k: float(v) for k, v in every.items() if v})
        if survivors_of is not None:
            lost = {x.id for x in d.circuits if survivors_of in (x.id, x.attach)}
            rest = {k: v for k, v in caps.items() if k not in lost}
            if lost and rest:
                for f in (1.0, 2.0):
                    # the survivors alone carry what all circuits carried, times f
                    want = total * f / sum(rest.values())
                    up = {k: _next_tier(self.cat.internet_tiers, v, max(want, 1.0))
                          for k, v in rest.items()}
                    if all(up.values()):
                        options.append({k: float(v) for k, v in up.items() if v})
        for new in options:
            self._internet_option(new, caps, rules)

    def _internet_option(self, new: dict[str, float], caps: dict[str, float],
                         rules: list[str]) -> None:
        added = sum(v - caps[k] for k, v in new.items())
        if added <= 0:
            return
        names = _circuits_change(self.d, new, caps)
        target = next(iter(new)) if len(new) == 1 else "circuits"
        base = self.cat.price("internet_capacity", added)
        params: dict[str, Any] = {"circuits": dict(new)}
        if len(new) == 1:
            params = {"capacity_mbps": next(iter(new.values()))}
        self.add("internet_capacity", target, names, added, rules, params,
                 cost=base, what=f"{added:g} Mbps added")
        # the same with the trunk (edge/firewall/core links slower than the new Internet
        # capacity) upgraded too: neither helps alone when both are short
        total_new = sum({**caps, **new}.values())
        trunk = self.trunk_below(total_new)
        if trunk:
            keys = [k for k, _ in trunk]
            lcaps = [c2 for _, c2 in trunk]
            by_key = {lk.key: lk for lk in self.d.links}
            cost = base
            for k, c2 in trunk:
                cost = cost + self.link_cost(by_key[k].medium.value, by_key[k].capacity_mbps, c2)
            self.add("internet_capacity", target, names + _trunk_words(self.d, keys),
                     added, rules, {**params, "links": keys, "link_caps": lcaps}, cost=cost,
                     what=f"{added:g} Mbps added + {plural(len(keys), 'link')}")

    def trunk_below(self, mbps: float) -> list[tuple[str, float]]:
        """Links between edge, firewall and core nodes slower than ``mbps``, each with
        the tier that carries it."""
        kinds = {NodeKind.EDGE, NodeKind.FIREWALL, NodeKind.CORE}
        kind = self.kind_of
        out = []
        for lk in self.d.links:
            if kind[lk.a] in kinds and kind[lk.b] in kinds and lk.capacity_mbps < mbps:
                t = _next_tier(self.cat.link_tiers, lk.capacity_mbps, mbps / lk.capacity_mbps)
                if t:
                    out.append((lk.key, t))
        return out

    def link_cost(self, lk_medium: str, old: float, new: float) -> Cost:
        """Optics/ports for tier ``new``; a leased link also pays for the added Mbps."""
        c = self.cat.price("link_upgrade", 1.0, sub="tiers", key=int(new))
        if lk_medium == "leased" and self.cat.spec("link_upgrade").get("per_mbps"):
            c = c + self.cat.price("link_upgrade", max(new - old, 0.0), sub="per_mbps")
        return c

    def links(self, keys: list[str], rules: list[str], label: str, factor: float = 1.0,
              need: dict[str, float] | None = None) -> None:
        """Upgrade each link in ``keys`` to its next tier (or the tier in ``need``)."""
        if not self.cat.has("link_upgrade"):
            return
        by_key = {lk.key: lk for lk in self.d.links}
        chosen, caps, cost = [], [], Cost()
        for k in keys:
            lk = by_key.get(k)
            if lk is None:
                continue
            want = need.get(k) if need else None
            t = _next_tier(self.cat.link_tiers, lk.capacity_mbps,
                           max(factor, (want or 0) / lk.capacity_mbps))
            if t is None:
                continue
            cost = cost + self.link_cost(lk.medium.value, lk.capacity_mbps, t)
            chosen.append(k)
            caps.append(t)
        if not chosen:
            return
        if len(chosen) == 1:
            lk = by_key[chosen[0]]
            desc = (f"{element_name(chosen[0], self.d)}: {_mbps(lk.capacity_mbps)} -> "
                    f"{_mbps(caps[0])}")
        else:
            desc = (f"{label}: {len(chosen)} links upgraded "
                    f"({_links_words(self.d, chosen, 4)})")
        self.add("link_upgrade", chosen[0] if len(chosen) == 1 else label, desc,
                 float(len(chosen)), rules, {"links": chosen, "capacity_mbps": caps},
                 cost=cost)

    def hot_elements(self, evidence: dict[str, Any], rules: list[str]) -> None:
        """Candidates from the simulations: the links most often at their limit."""
        circuit_ids = {c.id for c in self.d.circuits}
        link_keys = {lk.key for lk in self.d.links}
        hot_links: list[str] = []
        for r in rules:
            scen = self.rubric.rules[r].scenario or r
            res = evidence.get(f"sim:{scen}")
            if res is None:
                continue
            ids = list(getattr(res, "link_ids", []) or [])
            util = np.asarray(getattr(res, "link_util_p95", np.zeros(len(ids))), dtype=float)
            bf = np.asarray(getattr(res, "bottleneck_frequency", np.zeros(len(ids))),
                            dtype=float)
            if len(ids) == 0 or util.shape[0] != len(ids):
                continue
            score = np.where(bf.shape == util.shape, bf, 0.0) + util
            for i in np.argsort(-score)[:10]:
                if util[i] < 0.8 and (bf.shape != util.shape or bf[i] <= 0.0):
                    continue
                lid = ids[int(i)].split("#")[0]
                if lid in circuit_ids:
                    self.internet(rules)
                elif lid.startswith("air:"):
                    site = self.site_of.get(lid[4:])
                    if site is not None:
                        self.wifi_site(site, rules)
                elif lid in link_keys:
                    hot_links.append(lid)
                    self.links([lid], rules, lid)
        hot = list(dict.fromkeys(hot_links))
        if len(hot) > 1:
            self.links(hot, rules, "busiest links")
            # the same links grouped by role: school uplinks, AP uplinks
            ap_ids = {n.id for n in self.d.nodes if n.kind == NodeKind.AP}
            ap_links = [k for k in hot if any(k.startswith(a + "--") or k.endswith("--" + a)
                                              for a in ap_ids)]
            if ap_links and len(ap_links) < len(hot):
                self.links(ap_links, rules, "access-point uplinks")

    def design_aps(self, site_id: str) -> tuple[int | None, str]:
        """APs the site needs at the catalogue's design density (None: no classrooms)."""
        site = self.d.site(site_id)
        dd = (self.cat.spec("add_aps").get("design_density") or {}) \
            if self.cat.has("add_aps") else {}
        per = dd.get("aps_per_classroom")
        if not site.classrooms or not per:
            return None, ""
        need = math.ceil(site.classrooms * float(per) - 1e-9)
        return need, (f"design density {float(per):g} AP per classroom x {site.classrooms} "
                      f"classrooms = {need} ({dd.get('source', 'assumption')})")

    def wifi_site(self, site_id: str, rules: list[str]) -> None:
        """Wi-Fi at a school: APs added up to the design density (then 50 % beyond it),
        and a refresh to Wi-Fi 6E that also brings the AP count to the design density."""
        aps = [n for n in self.d.nodes if n.kind == NodeKind.AP and n.site == site_id]
        if not aps:
            return
        have = sum(n.count for n in aps)
        need, why = self.design_aps(site_id)
        totals = []
        if need is not None and need > have:
            totals.append(need)
        base = max(have, need or 0)
        totals.append(math.ceil(base * 1.5))   # beyond the density: air time still short
        for total in dict.fromkeys(totals):
            if total <= have:
                continue
            counts = _spread(aps, total)
            note = f"; {why}" if why and total == need else (
                "; 50 % beyond the design density (air time still short)"
                if need is not None else "; no classrooms given: 50 % more (assumption)")
            self.add("add_aps", site_id, f"{plural(total - have, 'more access point')} at "
                     f"{element_name(site_id, self.d)} ({have} -> {total}{note})",
                     total - have, rules, {"counts": counts})
        old = [n for n in aps if (n.wifi.generation if n.wifi else "wifi5")
               in ("wifi4", "wifi5", "wifi6")]
        if old and self.cat.has("wifi_refresh"):
            n_old = sum(n.count for n in old)
            cost = self.cat.price("wifi_refresh", n_old)
            params: dict[str, Any] = {"refresh": [n.id for n in old]}
            desc = (f"replace the {plural(n_old, 'older access point')} at "
                    f"{element_name(site_id, self.d)} with Wi-Fi 6E at 80 MHz")
            what = f"{_aps_words(n_old)} replaced"
            if need is not None and need > have and self.cat.has("add_aps"):
                params["counts"] = _spread(aps, need)
                cost = cost + self.cat.price("add_aps", need - have)
                desc += f" and add {need - have} to reach the design density ({have} -> {need})"
                what += f" + {need - have} added"
            self.add("wifi_refresh", site_id, desc, n_old, rules, params, cost=cost, what=what)

    def school_wan(self, rules: list[str], wan: dict[str, float]) -> None:
        tw = float(self.rubric.value("R-TARGET", "min_wan_gbps_per_1000_students"))
        site_of = self.site_of
        short = {s: v for s, v in wan.items() if v < tw}
        all_keys: list[str] = []
        all_need: dict[str, float] = {}
        for sid in short:
            site = self.d.site(sid)
            leaving = [lk for lk in self.d.links
                       if (site_of.get(lk.a) == sid) != (site_of.get(lk.b) == sid)]
            if not leaving:
                continue
            need_each = tw * site.students / len(leaving)  # Mbps: Gbps/1000 * students
            need = {lk.key: need_each for lk in leaving}
            self.links(list(need), rules, f"WAN links of {sid}", need=need)
            all_keys += list(need)
            all_need.update(need)
        if len(short) > 1:
            self.links(all_keys, rules, "school WAN links", need=all_need)

    # availability ---------------------------------------------------------------------
    def path_km(self, a: str, b: str) -> tuple[float, str]:
        """Route length of a new link between nodes ``a`` and ``b``, and where it came
        from: a link between the same two sites, a site's ``distance_km``, or the
        catalogue's labelled default."""
        sa, sb = self.site_of.get(a), self.site_of.get(b)
        known = [lk.distance_km for lk in self.d.links if lk.distance_km is not None
                 and {self.site_of.get(lk.a), self.site_of.get(lk.b)} == {sa, sb}]
        if known:
            return max(known), "the length of an existing link between the same sites"
        for s in (sa, sb):
            site = next((x for x in self.d.sites if x.id == s), None)
            if site is not None and site.distance_km is not None:
                return site.distance_km, f"sites[{s}].distance_km"
        return self.cat.default_path_km, (f"{self.cat.default_path_km_source}: the district "
                                          "gives no distance, so the catalogue's default")

    def path_options(self, a: str, b: str, cap: float) -> list[tuple[str, Cost, dict[str, Any],
                                                                     str]]:
        """Ways to build a new, physically diverse link a--b: (catalogue action, cost,
        link fields, description). Inside one site: a patch link with optics (the
        link_upgrade tier); between sites: a lease or a fiber build priced by distance."""
        if self.site_of.get(a) is not None and self.site_of.get(a) == self.site_of.get(b):
            if not self.cat.has("building_link"):
                return []
            return [("building_link", self.cat.price("building_link", 1.0),
                     {"medium": "fiber", "distance_km": 0.0},
                     "in-building link on its own cable route")]
        km, src = self.path_km(a, b)
        out = []
        for action, medium in (("leased_path", "leased"), ("fiber_build", "fiber")):
            if not self.cat.has(action):
                continue
            c = self.cat.price(action, 1.0)
            if self.cat.spec(action).get("per_km"):
                c = c + self.cat.price(action, km, sub="per_km")
            how = "leased from another carrier" if medium == "leased" else "district fiber build"
            out.append((action, c, {"medium": medium, "distance_km": km},
                        f"{how}, {km:g} km ({src})"))
        return out

    def availability(self, rep: Any, rules: list[str]) -> None:
        d = self.d
        node_ids = {n.id for n in d.nodes}
        need_c = int(self.rubric.value("R-HA", "min_internet_circuits"))
        spofs = list(rep.counted_spofs) if rep is not None else []
        spof_edge = any(s.kind == "node" and s.node_kind == NodeKind.EDGE.value for s in spofs)
        spof_circuit = any(s.kind == "circuit" for s in spofs)
        if d.circuits and (len(d.circuits) < need_c or spof_edge or spof_circuit) \
                and self.cat.has("second_circuit"):
            c0 = max(d.circuits, key=lambda x: x.capacity_mbps)
            new_edge = _unique(node_ids, f"{c0.attach}-2")
            cid = _unique({c.id for c in d.circuits}, f"{c0.id}-2")
            group = self.new_srlg(f"{cid}-entrance")
            for frac in (1.0, 0.5):
                cap = _next_tier(self.cat.internet_tiers, c0.capacity_mbps * frac - 1e-9) \
                    or c0.capacity_mbps
                cost = self.cat.price("second_circuit", 1.0)
                if self.cat.spec("second_circuit").get("per_mbps"):
                    cost = cost + self.cat.price("second_circuit", cap, sub="per_mbps")
                self.add("second_circuit", c0.attach,
                         f"second Internet circuit {cid} ({_mbps(cap)}, other provider, own "
                         f"building entrance, a shared-risk group of its own) on a new edge router "
                         f"{new_edge}, connected the same way as "
                         f"{element_name(c0.attach, self.d)}", 1, rules,
                         {"new_edge": new_edge, "circuit_id": cid, "capacity_mbps": cap,
                          "srlg": [group]}, cost=cost, what="1 circuit")
        for s in spofs:
            if s.kind == "node" and s.element in node_ids and s.node_kind != NodeKind.EDGE.value:
                self.ha_pair(s.element, s.node_kind or "other", s.students, rules)
            elif s.kind == "link":
                self.redundant_link_for(s.element, rules, s.students)
        for srow in (rep.sites if rep is not None else []):
            if srow.kind == SiteKind.SCHOOL.value and srow.students and \
                    srow.edge_disjoint_paths < int(self.rubric.value(
                        "R-HA", "min_edge_disjoint_paths_per_school")):
                self.redundant_site_link(srow.site, rules)

    def ha_pair(self, node_id: str, node_kind: str, students: int, rules: list[str]) -> None:
        """A second device with a copy of each link; a copied link that leaves the site is
        a new, diverse path with its own route cost and shared-risk group."""
        if not self.cat.has("ha_pair"):
            return
        node_ids = {n.id for n in self.d.nodes}
        new_id = _unique(node_ids, f"{node_id}-b")
        cost = self.cat.price("ha_pair", 1.0, sub="by_kind", key=node_kind)
        paths: dict[str, dict[str, Any]] = {}
        extra: list[tuple[str, str]] = []
        for lk in self.d.links:
            if node_id not in (lk.a, lk.b):
                continue
            other = lk.b if lk.a == node_id else lk.a
            if self.kind_of.get(other) == NodeKind.AP:
                continue
            if self.site_of.get(other) == self.site_of.get(node_id):
                continue   # in-building copy: cabling counted in the device's price
            opts = self.path_options(node_id, other, lk.capacity_mbps)
            if not opts:
                return     # no way to price the new path: not offered
            _act, c, fields, how = min(opts, key=lambda o: o[1].total(self.cat.cost_years))
            group = self.new_srlg(f"{new_id}--{other}-route")
            paths[lk.key] = {**fields, "srlg": [group]}
            cost = cost + c
            extra.append((element_name(other, self.d), how))
        name = element_name(node_id, self.d)
        desc = (f"second {node_kind} ({new_id}) next to {name}, with the same links ({name} "
                f"alone cuts off {plural(students, 'student')})")
        if len(extra) == 1:
            desc += (f"; a new diverse path to {extra[0][0]} ({extra[0][1]}, a shared-risk "
                     "group of its own)")
        elif extra and len({h for _, h in extra}) == 1:
            desc += (f"; new diverse paths to {join_and(o for o, _ in extra)} (each "
                     f"{extra[0][1]}, each a shared-risk group of its own)")
        elif extra:
            desc += "; new diverse paths to " + "; ".join(
                f"{o} ({h}, a shared-risk group of its own)" for o, h in extra)
        self.add("ha_pair", node_id, desc, 1, rules, {"new_id": new_id, "paths": paths},
                 cost=cost, what=f"1 {node_kind}" + (f" + {plural(len(extra), 'path')}"
                                                     if extra else ""))

    def equalise(self, rules: list[str]) -> None:
        """Backup paths as strong as primary ones: links between nodes of the same two
        kinds (e.g. access-core, core-edge) raised to the fastest of their group."""
        kind = {k: v.value for k, v in self.kind_of.items()}
        groups: dict[tuple[str, ...], list[Any]] = {}
        for lk in self.d.links:
            if NodeKind.AP.value in (kind[lk.a], kind[lk.b]):
                continue
            groups.setdefault(tuple(sorted((kind[lk.a], kind[lk.b]))), []).append(lk)
        every: dict[str, float] = {}
        for g, lks in groups.items():
            top = max(x.capacity_mbps for x in lks)
            need = {x.key: top for x in lks if x.capacity_mbps < top}
            if need:
                self.links(list(need), rules, f"{'-'.join(g)} links matched to {_mbps(top)}",
                           need=need)
                every.update(need)
        if len(every) > 1:
            self.links(list(every), rules, "redundant links matched to their primaries",
                       need=every)

    def redundant_link_for(self, link_key: str, rules: list[str], students: int) -> None:
        lk = next((x for x in self.d.links if x.key == link_key), None)
        if lk is None:
            return
        self._add_redundant(lk.a, lk.b, lk.capacity_mbps, rules,
                            f"second, diverse link alongside {element_name(link_key, self.d)} "
                            f"(it alone cuts off {plural(students, 'student')})")

    def redundant_site_link(self, site_id: str, rules: list[str]) -> None:
        site_of = self.site_of
        leaving = [lk for lk in self.d.links
                   if (site_of.get(lk.a) == site_id) != (site_of.get(lk.b) == site_id)]
        if not leaving:
            return
        lk = max(leaving, key=lambda x: x.capacity_mbps)
        inside, outside = (lk.a, lk.b) if site_of.get(lk.a) == site_id else (lk.b, lk.a)
        out_site = site_of.get(outside)
        alts = [n.id for n in self.d.nodes if n.site == out_site and n.id != outside
                and self.kind_of[n.id] == self.kind_of.get(outside)]
        other = alts[0] if alts else outside
        self._add_redundant(inside, other, lk.capacity_mbps, rules,
                            f"second link from {element_name(site_id, self.d)} "
                            f"({element_name(inside, self.d)}) to "
                            f"{element_name(other, self.d)}")

    def _add_redundant(self, a: str, b: str, cap: float, rules: list[str], desc: str) -> None:
        """A new link a--b of its own route: each way to build it (lease, fiber build,
        or an in-building link) is a candidate, in a new shared-risk group."""
        existing = {lk.key for lk in self.d.links}
        lid = _unique(existing, f"{a}--{b}-r")
        opts = self.path_options(a, b, cap)
        group = self.new_srlg(f"{lid}-route") if opts else ""
        for action, cost, fields, how in opts:
            self.add(action, f"{a}--{b}", f"{desc}: {how}, a shared-risk group of its own", 1,
                     rules, {"a": a, "b": b, "capacity_mbps": cap, "id": lid,
                             "srlg": [group], **fields}, cost=cost, what="1 link")



    # declared facts ---------------------------------------------------------------------
    def security(self, v: RuleVerdict) -> None:
        n_infra = sum(1 for n in self.d.nodes if n.kind in INFRASTRUCTURE_KINDS)
        th = self.rubric.rules["R-SECURITY"].thresholds
        needed = [f for t in th.values() if t.stage <= self.target for f in t.value]
        have = {i.name: i.value for i in v.inputs}
        for fact in dict.fromkeys(needed):
            if have.get(fact) is True or not self.cat.has(fact):
                continue
            sp = self.cat.spec(fact)
            unit = sp.get("unit", "district")
            units = {"student": float(self.d.total_students),
                     "infrastructure device": float(max(n_infra, 1))}.get(unit, 1.0)
            verb = "confirm or put in place" if have.get(fact) is None else "put in place"
            self.add(fact, "district", f"{verb}: {sp.get('title', fact)}", units,
                     ["R-SECURITY"], {})

    def manage(self, v: RuleVerdict) -> None:
        d = self.d
        have = {i.name: i.value for i in v.inputs}
        n_infra = sum(1 for n in d.nodes if n.kind in INFRASTRUCTURE_KINDS)
        th = self.rubric.rules["R-MANAGE"].thresholds
        if have.get("mdm") is not True:
            devices = d.total_students * d.district.devices_per_student + d.total_staff
            self.add("mdm", "district", "mobile device management for every student and staff "
                     "device", max(devices, 1.0), ["R-MANAGE"], {})
        if self.target >= 4 and have.get("config_backup") is not True:
            self.add("config_backup", "district", "automated configuration backups", 1,
                     ["R-MANAGE"], {})
        share = have.get("answer_share")
        hist = have.get("history_days")
        need_share = float(th["min_answer_share_stage4" if self.target >= 4
                              else "min_answer_share_stage3"].value)
        need_hist = float(th["min_history_days"].value) if self.target >= 4 else 0.0
        if share is None or share < need_share or (self.target >= 4 and (hist or 0) < need_hist):
            self.add("snmp_monitoring", "district",
                     f"SNMP on every infrastructure device ({n_infra}), polled regularly"
                     + (f" and kept for at least {plural(need_hist, 'day')}"
                        if need_hist else ""),
                     max(n_infra, 1), ["R-MANAGE"],
                     {"history_days": max(need_hist, float(hist or 0))})

    def standard(self, v: RuleVerdict) -> None:
        d = self.d
        have = {i.name: i.value for i in v.inputs}
        th = self.rubric.rules["R-STANDARD"].thresholds
        if have.get("standardisation_plan") is not True:
            self.add("standardisation_plan", "district", "write a hardware standardisation plan",
                     1, ["R-STANDARD"], {})
        if self.target < 4:
            return
        infra = [n for n in d.nodes if n.kind in INFRASTRUCTURE_KINDS]
        fams: dict[str, list[Any]] = {}
        for n in infra:
            if n.vendor and n.model:
                fams.setdefault(model_family(n.vendor, n.model), []).append(n)
        top = sorted(fams, key=lambda f: -len(fams[f]))[:2]
        share = sum(len(fams[f]) for f in top) / len(infra) if infra else 1.0
        need = float(th["min_top2_family_share_stage4"].value)
        if infra and share < need and top:
            keep = {n.id for f in top for n in fams[f]}
            prices = self.cat.spec("replace_nonstandard").get("by_kind", {}) \
                if self.cat.has("replace_nonstandard") else {}
            others = sorted((n for n in infra if n.id not in keep),
                            key=lambda n: float((prices.get(n.kind.value) or prices.get(
                                "other") or {}).get("capex_usd", 0.0)))
            k = math.ceil(need * len(infra) - len(keep) - 1e-9)
            repl = others[:max(k, 0)]
            if repl:
                std = max(fams[top[0]], key=lambda n: sum(1 for m in fams[top[0]]
                                                          if m.model == n.model))
                cost = Cost()
                for n in repl:
                    cost = cost + self.cat.price("replace_nonstandard", 1.0, sub="by_kind",
                                                 key=n.kind.value)
                self.add("replace_nonstandard", "district",
                         f"replace {plural(len(repl), 'device')} outside the two main model "
                         f"families ({_links_words(d, [n.id for n in repl], 5)}) with "
                         f"{std.vendor} {std.model}", len(repl), ["R-STANDARD"],
                         {"nodes": [n.id for n in repl], "vendor": std.vendor,
                          "model": std.model, "firmware": std.firmware}, cost=cost)
        limit = int(th["max_firmware_versions_per_model"].value)
        fw_by_model: dict[str, list[Any]] = {}
        for n in infra:
            fw_by_model.setdefault(f"{n.vendor} {n.model}", []).append(n)
        missing = any(not n.firmware for n in infra)
        spread = any(len({n.firmware for n in ns}) > limit for ns in fw_by_model.values())
        if missing or spread:
            target_fw: dict[str, str] = {}
            for ns in fw_by_model.values():
                fws = [n.firmware for n in ns if n.firmware]
                best = max(set(fws), key=fws.count) if fws else "current-standard"
                for n in ns:
                    if n.firmware != best:
                        target_fw[n.id] = best
            self.add("firmware_alignment", "district",
                     f"bring {plural(len(target_fw), 'device')} to one firmware version per "
                     "model (and record it)", max(len(target_fw), 1), ["R-STANDARD"],
                     {"firmware": target_fw})


def _mbps(x: float) -> str:
    return f"{x / 1000:g} Gbps" if x >= 1000 else f"{x:g} Mbps"


# -- descriptions: names, not ids (the ids stay in each action's target and params) ------
def _circuit_words(d: District, cid: str) -> str:
    """``Internet circuit isp (State Education Network)``."""
    c = next((x for x in d.circuits if x.id == cid), None)
    return f"Internet circuit {cid}" + (f" ({c.provider})" if c is not None and c.provider
                                        else "")


def _circuits_change(d: District, new: dict[str, float], old: dict[str, float]) -> str:
    """``Internet circuit isp: 300 Mbps -> 1 Gbps`` for each circuit changed."""
    return join_and(f"{_circuit_words(d, k)}: {_mbps(old[k])} -> {_mbps(v)}"
                    for k, v in new.items())


def _links_words(d: District, keys: list[str], limit: int) -> str:
    """Links by the names of their ends, the first ``limit`` of them."""
    words = [element_name(k, d) for k in keys[:limit]]
    if len(keys) > limit:
        words.append(f"{len(keys) - limit:,} more")
    return join_and(words)


def _trunk_words(d: District, keys: list[str]) -> str:
    return f" (with {plural(len(keys), 'trunk link')} upgraded: {_links_words(d, keys, 3)})"


def _units(n: float, unit: str) -> str:
    """``13 infrastructure devices``, ``1 district``, ``700 Mbps added``."""
    if unit.endswith("ed") or unit.split(" ")[0] in ("Mbps", "Gbps", "km"):
        return f"{n:,g} {unit}"
    return plural(n, unit)


def _aps_words(n: float) -> str:
    return plural(n, "access point")


def _spread(aps: list[Any], total: int) -> dict[str, int]:
    """New counts of the AP entries ``aps`` adding up to ``total``: each keeps its APs and
    the added ones go in proportion to the entries' counts (largest remainder)."""
    have = sum(n.count for n in aps)
    add = max(total - have, 0)
    shares = [add * n.count / have for n in aps]
    counts = {n.id: n.count + math.floor(s) for n, s in zip(aps, shares, strict=True)}
    left = total - sum(counts.values())
    order = sorted(range(len(aps)), key=lambda i: -(shares[i] - math.floor(shares[i])))
    for i in order[:max(left, 0)]:
        counts[aps[i].id] += 1
    return counts



def _candidates(st: _State, cat: Catalog, rubric: Rubric, target: int,
                only: tuple[str, ...] | None = None) -> list[UpgradeAction]:
    d = st.district
    cands = _Candidates(d, cat, rubric, target)
    failing = [r for r in st.failing(target) if only is None or r in only]
    cap_rules = [r for r in failing if r in CAPACITY_RULES]
    if cap_rules:
        cands.hot_elements(st.evidence, cap_rules)
        cands.internet(cap_rules)
        # Wi-Fi coverage: schools below the design density (catalogue add_aps
        # design_density, from the vendor K-12 design guides) or whose devices could not
        # associate (AP client bound)
        unassoc = any(float(np.percentile(getattr(r, "unassociated_share", [0.0]), 95)) > 0
                      for k, r in st.evidence.items() if k.startswith("sim:") and r is not None)
        for site in d.sites:
            aps = [x for x in d.nodes if x.kind == NodeKind.AP and x.site == site.id]
            need, _ = cands.design_aps(site.id) if cat.has("add_aps") else (None, "")
            if aps and (unassoc or (need is not None and sum(x.count for x in aps) < need)):
                cands.wifi_site(site.id, cap_rules)
    if "R-TARGET" in failing:
        v = st.verdicts["R-TARGET"]
        need_kbps = float(rubric.value("R-TARGET", "min_internet_kbps_per_student_stage4"
                                       if target >= 4 else "min_internet_kbps_per_student_stage2"))
        cands.internet(["R-TARGET"], need_total_mbps=need_kbps * d.total_students / 1000.0)
        if target >= 4:
            cands.school_wan(["R-TARGET"], v.details.get("school_wan_gbps_per_1000") or {})
    if "R-HA" in failing:
        rep = st.redundancy
        if rep is None:
            from netstage.simulator.redundancy import analyse_redundancy

            rep = analyse_redundancy(d)
        ha = st.verdicts.get("R-HA")
        cont = st.evidence.get("contingency")
        lim = float(rubric.value("R-HA", "max_n1_unserved_p95"))
        over = [r for r in (getattr(cont, "contingencies", None) or [])
                if float(r.unserved_p95) > lim] if ha is not None and ha.inputs else []
        if over:
            # The structure passes and N-1 does not: candidates aimed at the single
            # failures above the limit (worst first), not at every single point of
            # failure of the graph (one N-1 simulation per candidate).
            circuit_ends = {c.id for c in d.circuits} | {c.attach for c in d.circuits}
            for row in over[:6]:
                el = str(row.element)
                if el in circuit_ends:
                    cands.internet(["R-HA"], survivors_of=el)
                elif row.element_type == "node":
                    cands.ha_pair(el, row.node_kind or "other", int(row.disconnected_students),
                                  ["R-HA"])
                elif row.element_type == "link":
                    cands.redundant_link_for(el, ["R-HA"], int(row.disconnected_students))
            # more capacity where the remaining paths are short
            cands.internet(["R-HA"])
            cands.equalise(["R-HA"])
        else:
            cands.availability(rep, ["R-HA"])
    if "R-SECURITY" in failing:
        cands.security(st.verdicts["R-SECURITY"])
    if "R-MANAGE" in failing:
        cands.manage(st.verdicts["R-MANAGE"])
    if "R-STANDARD" in failing:
        cands.standard(st.verdicts["R-STANDARD"])
    return cands.out


# -- the search ------------------------------------------------------------------------
def plan_upgrades(
    d: District,
    *,
    target_stage: int | None = None,
    budget_usd: float | None = None,
    n_scenarios: int = DEFAULT_N_SCENARIOS,
    seed: int = 0,
    overrides: Rubric | str | Path | dict[str, Any] | None = None,
    catalog: Catalog | str | Path | None = None,
    classification: Classification | None = None,
    search_scenarios: int | None = None,
    max_steps: int = 40,
    progress: Callable[[str], None] | None = None,
    reuse_demand: bool = True,
) -> UpgradePlan:
    """The cheapest set of catalog upgrades found that lifts ``d`` to ``target_stage``
    (default: the next stage; 4 stays 4), verified by re-classification.

    ``budget_usd`` does not change the search: the plan reports whether it fits, and
    the prefix of its actions that fits is re-classified (``stage_within_budget``).
    ``classification`` reuses an existing classification of ``d`` (same settings).
    ``reuse_demand`` shares Monte Carlo demand batches between the many candidate
    districts with the same devices (:func:`~netstage.simulator.simulate.demand_cache`):
    the same plan, faster; False draws afresh for every simulation.
    """
    args = (d, target_stage, budget_usd, n_scenarios, seed, overrides, catalog,
            classification, search_scenarios, max_steps, progress)
    try:
        from netstage.simulator.simulate import demand_cache
    except ImportError:  # no simulation engine: the capacity rules say so themselves
        reuse_demand = False
    if not reuse_demand:
        return _plan_upgrades(*args)
    with demand_cache():
        return _plan_upgrades(*args)


def best_plan_within(
    d: District,
    budget_usd: float,
    *,
    plan: UpgradePlan | None = None,
    target_stage: int | None = None,
    n_scenarios: int = DEFAULT_N_SCENARIOS,
    seed: int = 0,
    overrides: Rubric | str | Path | dict[str, Any] | None = None,
    catalog: Catalog | str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> UpgradePlan | None:
    """The best verified plan that costs at most ``budget_usd``, or None if none lifts
    ``d`` at all within it.

    ``plan`` is the plan to ``target_stage`` (planned here when not given). If it reaches
    its stage within the budget it is the answer; otherwise the answer is the cheapest
    plan to the highest lower stage (above the district's own) whose cost fits, each
    planned and verified like the first, with the same settings.
    """
    if plan is None:
        plan = plan_upgrades(d, target_stage=target_stage, budget_usd=budget_usd,
                             n_scenarios=n_scenarios, seed=seed, overrides=overrides,
                             catalog=catalog, progress=progress)
    if plan.reached and plan.cost_usd <= budget_usd:
        return plan
    for t in range(plan.target_stage - 1, plan.stage_before, -1):
        if progress is not None:
            progress(f"planning to stage {t} within the budget")
        q = plan_upgrades(d, target_stage=t, n_scenarios=n_scenarios, seed=seed,
                          overrides=overrides, catalog=catalog,
                          classification=plan.classification_before)
        if q.reached and q.cost_usd <= budget_usd:
            return q
    return None


def _plan_upgrades(
    d: District,
    target_stage: int | None,
    budget_usd: float | None,
    n_scenarios: int,
    seed: int,
    overrides: Rubric | str | Path | dict[str, Any] | None,
    catalog: Catalog | str | Path | None,
    classification: Classification | None,
    search_scenarios: int | None,
    max_steps: int,
    progress: Callable[[str], None] | None,
) -> UpgradePlan:
    """:func:`plan_upgrades` (arguments as there)."""
    t0 = time.perf_counter()
    rubric = resolve_rubric(overrides)
    cat = catalog if isinstance(catalog, Catalog) else load_catalog(catalog)
    if target_stage is not None and target_stage not in (1, 2, 3, 4):
        raise ConfigError(f"target stage must be 1-4, got {target_stage}")
    if budget_usd is not None and not (budget_usd >= 0 and math.isfinite(budget_usd)):
        raise ConfigError(f"budget must be a finite number >= 0, got {budget_usd}")
    before = classification or classify(d, n_scenarios=n_scenarios, seed=seed, overrides=rubric)
    target = target_stage if target_stage is not None else min(before.stage + 1, 4)
    search_n = search_scenarios or min(n_scenarios, SEARCH_SCENARIOS)
    say = progress or (lambda _msg: None)
    notes: list[str] = []

    all_rules = [r for r in RULE_ORDER]
    actions: list[UpgradeAction] = []
    cur = d
    if before.stage >= target:
        return _finish(d, d, before, before, [], target, budget_usd, cat, rubric, n_scenarios,
                       seed, notes, t0)

    n = search_n
    after: Classification | None = None
    cache: _Cache = {}
    st0 = _evaluate(d, [r for r in all_rules if _allows(before, r, target, d, rubric, n, seed)],
                    target, rubric, n, seed, cache=cache)
    unreachable = _unreachable(st0, cat, rubric, target)
    if unreachable:
        # out of the catalogue's reach: say so now, before any candidate is simulated
        for r, why in unreachable.items():
            notes.append(f"stage {target} is out of the catalogue's reach: {r}: {why}")
            say(f"{r} cannot reach stage {target}: {why}")
        plan = _finish(d, d, before, before, [], target, budget_usd, cat, rubric,
                       n_scenarios, seed, notes, t0)
        plan.unreachable = unreachable
        return plan
    counter = {"unmeasured": 0, "evaluated": 0}
    considered: list[UpgradeAction] = []
    for _round in range(2):
        st = st0 if cur is d else _evaluate(cur, all_rules, target, rubric, n, seed,
                                            cache=cache)
        steps = 0
        # Simulated rules first, declared facts after: the two never change each other's
        # inputs (except the device list, which the declared fixes then price right), and
        # a declared fix then never re-simulates every capacity candidate.
        for phase in (SIMULATED_RULES, DECLARED_RULES):
            while steps < max_steps:
                rules = [r for r in st.failing(target) if r in phase]
                if not rules:
                    break
                steps += 1
                cands = _candidates(st, cat, rubric, target, only=phase)
                if not cands:
                    notes.append("no catalog action addresses: " + ", ".join(rules))
                    break
                considered.extend(cands)
                say(f"step {steps}: {len(cands)} candidate actions for {', '.join(rules)}")
                best = _best_step(st, cur, d, cands, rules, cat, rubric, target, n, seed,
                                  cache, notes, counter)
                if best is None:
                    notes.append("no catalog action improves: " + ", ".join(rules))
                    break
                _, a, ns, nd = best
                actions.append(a)
                cur = nd
                say(f"  + {a.description} (${a.cost_usd:,.0f})")
                st = st.merged(ns)
        if steps >= max_steps and st.failing(target):
            notes.append(f"stopped after {max_steps} steps with "
                         f"{', '.join(st.failing(target))} still short")
        actions = _recost(d, _prune(d, actions, target, rubric, n, seed, say), cat)
        cur = apply_actions(d, actions) if actions else d
        after = classify(cur, n_scenarios=n_scenarios, seed=seed, overrides=rubric)
        if after.stage >= target or n >= n_scenarios:
            break
        n = n_scenarios  # verification missed (noise near a threshold): search at full precision
        say(f"verification gave stage {after.stage}; searching again at {n} scenarios")
    assert after is not None
    plan = _finish(d, cur, before, after, actions, target, budget_usd, cat, rubric,
                   n_scenarios, seed, notes, t0)
    plan.candidates_unmeasured = counter["unmeasured"]
    plan.candidates_evaluated = counter["evaluated"]
    plan.considered = considered
    return plan


def _resources(a: UpgradeAction) -> set[str]:
    """What an action sets (circuits, links, AP entries, new elements, facts): two actions
    that set the same thing are alternatives, never both in one plan."""
    p = a.params
    out = {f"{a.action}:{a.target}"}
    if a.action == "internet_capacity":
        out |= {f"circuit:{c}" for c in (p.get("circuits") or {a.target: 0})}
        out |= {f"link:{k}" for k in p.get("links", [])}
    elif a.action == "link_upgrade":
        out |= {f"link:{k}" for k in p.get("links", [a.target])}
    elif a.action in ("add_aps", "wifi_refresh"):
        out |= {f"ap:{k}" for k in [*(p.get("counts") or {}), *p.get("refresh", [])]}
    elif a.action in ("leased_path", "fiber_build", "building_link"):
        out.add(f"newlink:{p.get('id')}")
    elif a.action == "ha_pair":
        out.add(f"node:{p.get('new_id')}")
    elif a.action == "second_circuit":
        out.add(f"circuit:{p.get('circuit_id')}")
    return out


def exhaustive_plan(d: District, pool: list[UpgradeAction], target: int, *,
                    n_scenarios: int = DEFAULT_N_SCENARIOS, seed: int = 0,
                    overrides: Rubric | str | Path | dict[str, Any] | None = None,
                    catalog: Catalog | str | Path | None = None, below_usd: float | None = None,
                    max_subsets: int = 500_000) -> tuple[float, list[UpgradeAction]] | None:
    """The cheapest subset of ``pool`` whose upgraded district classifies at ``target``
    or above (with ``n_scenarios``/``seed``), by exhaustive search; None when no subset
    below ``below_usd`` verifies.

    A check of the greedy planner on small districts, not a planner. The failing rules
    split into the simulated group (R-LAB, R-NOW, R-FUTURE, R-TARGET, R-HA) and the
    declared group (R-SECURITY, R-MANAGE, R-STANDARD), whose actions never change each
    other's inputs; each group is searched on its own over the pool's actions for it:
    every subset of mutually compatible actions (no two set the same circuit, link, AP
    entry or fact), in increasing cost (each action priced from ``d`` alone), is verified
    on the group's failing rules (cheap rules and the R-HA structure first) until one
    passes. The union of the two cheapest is verified once more on every rule.
    ``max_subsets`` bounds the enumeration (ConfigError when exceeded).
    """
    import heapq

    rubric = resolve_rubric(overrides)
    cat = catalog if isinstance(catalog, Catalog) else load_catalog(catalog)
    before = classify(d, n_scenarios=n_scenarios, seed=seed, overrides=rubric)
    failing = [r.rule_id for r in before.rules if r.allows_stage < target]
    if not failing:
        return 0.0, []
    uniq: dict[str, UpgradeAction] = {}
    for a in pool:
        uniq.setdefault(repr((a.action, a.target, sorted(a.params.items()))), a)
    limit = math.inf if below_usd is None else below_usd
    chosen_all: list[UpgradeAction] = []
    spent = 0.0
    for group in (SIMULATED_RULES, DECLARED_RULES):
        need = [r for r in failing if r in group]
        if not need:
            continue
        items = []
        for a in uniq.values():
            rr = set(cat.spec(a.action).get("rules", [])) | set(a.rules)
            if not rr & set(need):
                continue
            alone = _recost(d, [a], cat)
            if alone:
                items.append((alone[0].cost_usd, a, _resources(a), rr))
        items.sort(key=lambda x: x[0])
        cheap = [r for r in need if r not in ("R-LAB", "R-NOW", "R-FUTURE", "R-HA")]
        heap: list[tuple[float, int, tuple[int, ...]]] = []
        if items:
            heap.append((items[0][0], 0, (0,)))
        found: list[UpgradeAction] | None = None
        seen = 0
        while heap:
            cost, last, idx = heapq.heappop(heap)
            if spent + cost >= limit:
                break
            seen += 1
            if seen > max_subsets:
                raise ConfigError(f"exhaustive_plan: more than {max_subsets} subsets below "
                                  f"${limit:,.0f}; use a smaller district or pool")
            if last + 1 < len(items):
                nxt = items[last + 1][0]
                heapq.heappush(heap, (cost + nxt, last + 1, (*idx, last + 1)))
                heapq.heappush(heap, (cost - items[last][0] + nxt, last + 1,
                                      (*idx[:-1], last + 1)))
            used: set[str] = set()
            rules: set[str] = set()
            ok = True
            for j in idx:
                if items[j][2] & used:
                    ok = False
                    break
                used |= items[j][2]
                rules |= items[j][3]
            if not ok or not set(need) <= rules:
                continue
            acts = [items[j][1] for j in idx]
            try:
                nd = apply_actions(d, acts)
            except (NetstageError, KeyError, StopIteration):
                continue
            if cheap and any(v.allows_stage < target for v in classify(
                    nd, n_scenarios=n_scenarios, seed=seed, overrides=rubric,
                    rules=tuple(cheap)).rules):
                continue
            if "R-HA" in need and not _ha_structure(nd, rubric)[1]:
                continue
            rest = [r for r in need if r not in cheap]
            if rest and any(v.allows_stage < target for v in classify(
                    nd, n_scenarios=n_scenarios, seed=seed, overrides=rubric,
                    rules=tuple(rest)).rules):
                continue
            found = acts
            break
        if found is None:
            return None
        chosen_all += found
        spent += sum(a.cost_usd for a in _recost(d, found, cat))
    final = _recost(d, chosen_all, cat)
    nd = apply_actions(d, chosen_all)
    if classify(nd, n_scenarios=n_scenarios, seed=seed, overrides=rubric).stage < target:
        return None
    return sum(a.cost_usd for a in final), final


def _signature(v: RuleVerdict) -> str:
    """What a rule measured: its inputs, measured value and details (not its verdict)."""
    def norm(x: Any) -> Any:
        if isinstance(x, dict):
            return {str(k): norm(y) for k, y in sorted(x.items(), key=lambda kv: str(kv[0]))}
        if isinstance(x, list | tuple):
            return [norm(y) for y in x]
        if isinstance(x, np.ndarray):
            return norm(x.tolist())
        if isinstance(x, float | np.floating):
            return round(float(x), 9)
        return x if isinstance(x, int | str | bool) or x is None else repr(x)

    return repr(norm({"value": v.measured_value, "details": v.details, "explanation":
                      v.explanation if not v.inputs else "",
                      "inputs": [(i.name, i.value) for i in v.inputs]}))


def _changes_measured(st: _State, ns: _State, rules: list[str]) -> bool:
    """Whether the candidate state ``ns`` changes at least one input that one of ``rules``
    measures (a candidate that changes none is never proposed)."""
    for r in rules:
        old, new = st.verdicts.get(r), ns.verdicts.get(r)
        if old is None or new is None:
            return True
        if _signature(old) != _signature(new) or st.gaps.get(r) != ns.gaps.get(r):
            return True
    return False


def _unreachable(st: _State, cat: Catalog, rubric: Rubric, target: int) -> dict[str, str]:
    """Failing rules that no combination of catalogue actions can lift to ``target``, each
    with the reason (checked from the catalogue and the district, before simulating)."""
    d = st.district
    out: dict[str, str] = {}
    failing = st.failing(target)
    has = cat.has
    cap_actions = [a for a in ("internet_capacity", "link_upgrade", "add_aps", "wifi_refresh",
                               "second_circuit") if has(a)]
    for r in failing:
        v = st.verdicts[r]
        have = {i.name: i.value for i in v.inputs}
        if r in CAPACITY_RULES and not cap_actions:
            out[r] = "the catalogue has no capacity action (internet_capacity, link_upgrade, " \
                     "add_aps, wifi_refresh)"
        elif r == "R-TARGET":
            kbps = float(rubric.value("R-TARGET", "min_internet_kbps_per_student_stage4"
                                      if target >= 4 else "min_internet_kbps_per_student_stage2"))
            need = kbps * d.total_students / 1000.0
            n_circ = len(d.circuits) + (1 if has("second_circuit") else 0)
            top = max(cat.internet_tiers) if has("internet_capacity") else 0.0
            most = max(n_circ * top, d.internet_capacity_mbps)
            if need > most + 1e-9:
                out[r] = (f"{kbps:g} kbps per student for {d.total_students:,} students needs "
                          f"{_mbps(need)} of Internet; the catalogue reaches at most "
                          f"{_mbps(most)} ({plural(n_circ, 'circuit')} of at most "
                          f"{_mbps(top)})")
            elif target >= 4:
                tw = float(rubric.value("R-TARGET", "min_wan_gbps_per_1000_students"))
                top_l = max(cat.link_tiers) if has("link_upgrade") else 0.0
                site_of = {n.id: n.site for n in d.nodes}
                for s in d.sites:
                    if s.kind != SiteKind.SCHOOL or not s.students:
                        continue
                    leaving = [lk for lk in d.links
                               if (site_of.get(lk.a) == s.id) != (site_of.get(lk.b) == s.id)]
                    extra = 1 if any(has(a) for a in ("leased_path", "fiber_build")) else 0
                    most_w = max(top_l, max((lk.capacity_mbps for lk in leaving), default=0.0))
                    reach = most_w * (len(leaving) + extra)
                    if tw * s.students > reach + 1e-9:
                        out[r] = (f"{element_name(s.id, d)} needs {tw:g} Gbps per 1,000 "
                                  "students = "
                                  f"{_mbps(tw * s.students)} of WAN; the catalogue reaches "
                                  f"{_mbps(reach)}")
                        break
        elif r == "R-HA":
            need_c = int(rubric.value("R-HA", "min_internet_circuits"))
            if len(d.circuits) < need_c and not has("second_circuit"):
                out[r] = (f"{need_c} Internet circuits are needed, the district has "
                          f"{len(d.circuits)} and the catalogue has no second_circuit action")
            elif not any(has(a) for a in ("ha_pair", "leased_path", "fiber_build",
                                          "building_link")):
                out[r] = "the catalogue has no action that adds a path or a device " \
                         "(ha_pair, leased_path, fiber_build, building_link)"
        elif r == "R-SECURITY":
            th = rubric.rules["R-SECURITY"].thresholds
            needed = [f for t in th.values() if t.stage <= target for f in t.value]
            lack = [f for f in dict.fromkeys(needed) if have.get(f) is not True and not has(f)]
            if lack:
                out[r] = f"{', '.join(lack)} must hold for stage {target} and the catalogue " \
                         "has no action for it"
        elif r == "R-MANAGE":
            lack = []
            if have.get("mdm") is not True and not has("mdm"):
                lack.append("mdm")
            if target >= 4 and have.get("config_backup") is not True and not has("config_backup"):
                lack.append("config_backup")
            th = rubric.rules["R-MANAGE"].thresholds
            need_share = float(th["min_answer_share_stage4" if target >= 4
                                  else "min_answer_share_stage3"].value)
            share = have.get("answer_share")
            if (share is None or share < need_share) and not has("snmp_monitoring"):
                lack.append("snmp_monitoring (inventory answer share)")
            if lack:
                out[r] = f"the catalogue has no action for {', '.join(lack)}"
        elif r == "R-STANDARD":
            if have.get("standardisation_plan") is not True and not has("standardisation_plan") \
                    and not has("replace_nonstandard") and target <= 3:
                out[r] = "no standardisation plan declared and the catalogue has no " \
                         "standardisation_plan action"
            elif target >= 4 and not (has("replace_nonstandard") or has("firmware_alignment")):
                out[r] = "stage 4 needs standard hardware and firmware and the catalogue has " \
                         "neither replace_nonstandard nor firmware_alignment"
    return out


def _best_step(st: _State, cur: District, d: District, cands: list[UpgradeAction],
               rules: list[str], cat: Catalog, rubric: Rubric, target: int, n: int, seed: int,
               cache: _Cache, notes: list[str], counter: dict[str, int]
               ) -> tuple[float, UpgradeAction, _State, District] | None:
    """The candidate with the largest gap reduction per dollar over ``rules``.

    Bound before simulating: an action can at most close the gaps of the failing rules
    it can change, so candidates are tried by that bound per dollar and the search stops
    once no remaining bound beats the best ratio found. A candidate that changes nothing
    (the district is the same) or nothing any rule measures is dropped and counted.
    """
    best: tuple[float, UpgradeAction, _State, District] | None = None
    base_dump = _dump(cur)
    ranked = []
    for a in cands:
        can = set(cat.spec(a.action).get("rules", [])) | set(a.rules)
        affected = [r for r in rules if r in can] or rules
        bound = sum(st.gaps.get(r, 0.0) for r in affected) / max(a.cost_usd, 100.0)
        ranked.append((bound, a, affected))
    ranked.sort(key=lambda x: -x[0])
    for bound, a, affected in ranked:
        if best is not None and bound <= best[0]:
            break
        try:
            data = _dump(cur)
            apply_action(data, a)
            if data == base_dump:
                counter["unmeasured"] += 1   # changes nothing at all
                continue
            nd = district_from_dict(data, source=f"{d.district.name} (planned)")
        except (NetstageError, KeyError, StopIteration) as exc:
            notes.append(f"skipped {a.action} on {a.target}: {exc}")
            continue
        counter["evaluated"] += 1
        ns = _evaluate(nd, affected, target, rubric, n, seed, cache=cache)
        if not _changes_measured(st, ns, affected):
            counter["unmeasured"] += 1    # never proposed, never charged
            continue
        gain = sum(st.gaps.get(r, 0.0) - ns.gaps.get(r, 0.0) for r in affected)
        if gain <= 1e-9:
            continue
        ratio = gain / max(a.cost_usd, 100.0)
        if best is None or ratio > best[0]:
            best = (ratio, a, ns, nd)
    return best


def _allows(before: Classification | None, rule: str, target: int, d: District,
            rubric: Rubric, n: int, seed: int) -> bool:
    """Whether ``rule`` must be evaluated (it fails the target in ``before``)."""
    if before is None:
        return True
    try:
        return before.rule(rule).allows_stage < target
    except KeyError:
        return False


def _prune(d: District, actions: list[UpgradeAction], target: int, rubric: Rubric, n: int,
           seed: int, say: Callable[[str], None]) -> list[UpgradeAction]:
    """Drop actions (most expensive first) the target does not need."""
    if len(actions) < 2:
        return actions
    kept = list(actions)
    for a in sorted(actions, key=lambda x: -x.cost_usd):
        trial = [x for x in kept if x is not a]
        try:
            nd = apply_actions(d, trial)
        except (NetstageError, KeyError, StopIteration):
            continue
        rules = sorted({r for x in kept for r in x.rules} | {"R-HA"} if any(
            "R-HA" in x.rules for x in kept) else {r for x in kept for r in x.rules})
        st = _evaluate(nd, list(rules), target, rubric, n, seed, ha_full=True)
        if not st.failing(target):
            kept = trial
            say(f"  - dropped {a.description}: not needed")
    return kept


def _recost(d: District, actions: list[UpgradeAction], cat: Catalog) -> list[UpgradeAction]:
    """Price each change from the state the plan actually starts from (after pruning an
    upgrade may start lower than searched): a circuit, link or AP entry changed by several
    steps is charged once, on the last step that sets it; a step left with nothing of its
    own is dropped (applying it changes nothing the later steps do not)."""
    circuit_cap = {c.id: c.capacity_mbps for c in d.circuits}
    links = {lk.key: lk for lk in d.links}
    ap_nodes = {n.id: n for n in d.nodes if n.kind == NodeKind.AP}
    last_circuit: dict[str, int] = {}
    last_link: dict[str, int] = {}
    last_count: dict[str, int] = {}
    first_refresh: dict[str, int] = {}
    for i, a in enumerate(actions):
        p = a.params
        if a.action == "internet_capacity":
            for cid in p.get("circuits") or {a.target: None}:
                last_circuit[cid] = i
        if a.action in ("internet_capacity", "link_upgrade"):
            for k in p.get("links", []):
                last_link[k] = i
        if a.action in ("add_aps", "wifi_refresh"):
            for nid in (p.get("counts") or {}):
                last_count[nid] = i
            if "count" in p:
                last_count[a.target] = i
            for nid in p.get("refresh", []) or ([a.target] if a.action == "wifi_refresh"
                                                  and "counts" not in p else []):
                first_refresh.setdefault(nid, i)
    helper = _Candidates(d, cat, resolve_rubric(None), 4)
    out: list[UpgradeAction] = []
    for i, a in enumerate(actions):
        p = a.params
        if a.action == "internet_capacity":
            new = p.get("circuits") or {a.target: p["capacity_mbps"]}
            own = {k: float(v) for k, v in new.items()
                   if last_circuit.get(k) == i and k in circuit_cap and v > circuit_cap[k]}
            added = sum(v - circuit_cap[k] for k, v in own.items())
            cost = cat.price("internet_capacity", added) if added else Cost()
            lk_new = dict(zip(p.get("links", []), p.get("link_caps", []), strict=True))
            own_links = {k: c for k, c in lk_new.items()
                         if last_link.get(k) == i and k in links and c > links[k].capacity_mbps}
            for k, c in own_links.items():
                cost = cost + helper.link_cost(links[k].medium.value, links[k].capacity_mbps, c)
            if not own and not own_links:
                continue
            if own:
                desc = _circuits_change(d, own, circuit_cap)
                if own_links:
                    desc += _trunk_words(d, list(own_links))
            else:   # the circuits were raised by a later step: only the trunk is left
                desc = (f"Internet trunk: {plural(len(own_links), 'link')} upgraded "
                        f"({_links_words(d, list(own_links), 3)})")
            params = dict(p)
            if "circuits" in p:
                params["circuits"] = {k: v for k, v in new.items() if k in own} or p["circuits"]
            out.append(UpgradeAction.from_cost(cat, a.action, a.target, desc, cost,
                               " + ".join(x for x in (
                                   f"{added:g} Mbps added" if added else "",
                                   plural(len(own_links), "link") if own_links else "") if x),
                               a.rules, params))
        elif a.action == "link_upgrade":
            keys_in = p.get("links", [a.target])
            caps_in = p["capacity_mbps"]
            pairs = [(k, caps_in[keys_in.index(k)] if isinstance(caps_in, list) else caps_in)
                     for k in keys_in if last_link.get(k) == i]
            if not pairs:
                continue
            cost = Cost()
            for k, c in pairs:
                if k in links:
                    cost = cost + helper.link_cost(links[k].medium.value,
                                                   links[k].capacity_mbps, c)
            keys = [k for k, _ in pairs]
            caps = [c for _, c in pairs]
            if len(keys) == 1 and keys[0] in links:
                desc = (f"{element_name(keys[0], d)}: "
                        f"{_mbps(links[keys[0]].capacity_mbps)} -> {_mbps(caps[0])}")
            else:
                label = a.description.split(":")[0]
                desc = f"{label}: {len(keys)} links upgraded ({_links_words(d, keys, 4)})"
            out.append(UpgradeAction.from_cost(
                cat, a.action, keys[0] if len(keys) == 1 else a.target, desc, cost,
                plural(len(keys), "link"), a.rules, {"links": keys, "capacity_mbps": caps}))
        elif a.action in ("add_aps", "wifi_refresh") and ("counts" in p or "refresh" in p):
            counts = {k: int(v) for k, v in (p.get("counts") or {}).items()}
            own = {k: v for k, v in counts.items() if last_count.get(k) == i
                   and k in ap_nodes and v > ap_nodes[k].count}
            added = sum(v - ap_nodes[k].count for k, v in own.items())
            fresh = [k for k in p.get("refresh", []) if first_refresh.get(k) == i
                     and k in ap_nodes]
            n_fresh = sum(ap_nodes[k].count for k in fresh)
            if not added and not n_fresh:
                continue
            cost = Cost()
            what = []
            if n_fresh:
                cost = cost + cat.price("wifi_refresh", n_fresh)
                what.append(f"{_aps_words(n_fresh)} replaced")
            if added:
                cost = cost + cat.price("add_aps", added)
                what.append(f"{_aps_words(added)} added")
            old = sum(ap_nodes[k].count for k in own)
            desc = a.description if a.action == "wifi_refresh" else (
                f"{plural(added, 'more access point')} at {element_name(a.target, d)} ("
                f"{old} -> {old + added} in the access-point entries it changes"
                + ("; " + a.description.split("; ", 1)[1] if "; " in a.description else ")"))
            out.append(UpgradeAction.from_cost(cat, a.action, a.target, desc, cost,
                                               " + ".join(what), a.rules, p))
        else:
            out.append(a)
    return out


def _finish(d: District, cur: District, before: Classification, after: Classification,
            actions: list[UpgradeAction], target: int, budget: float | None, cat: Catalog,
            rubric: Rubric, n: int, seed: int, notes: list[str], t0: float) -> UpgradePlan:
    cost = sum(a.cost_usd for a in actions)
    plan = UpgradePlan(
        district_name=d.district.name, target_stage=target, stage_before=before.stage,
        stage_after=after.stage, actions=actions, cost_usd=cost,
        capex_usd=sum(a.capex_usd for a in actions),
        recurring_usd_per_year=sum(a.recurring_usd_per_year for a in actions),
        cost_years=cat.cost_years,
        cost_low_usd=sum(a.cost_low_usd for a in actions),
        cost_high_usd=sum(a.cost_high_usd for a in actions),
        budget_usd=budget, classification_before=before, classification_after=after,
        district_after=cur, catalog_version=cat.version, notes=list(dict.fromkeys(notes)),
    )
    if after.stage < target:
        plan.notes.append(
            f"re-classification gives stage {after.stage}; still binding: "
            + ", ".join(after.binding))
    if budget is not None:
        fit: list[UpgradeAction] = []
        spent = 0.0
        for a in actions:
            if spent + a.cost_usd <= budget:
                fit.append(a)
                spent += a.cost_usd
        plan.actions_within_budget = fit
        if len(fit) == len(actions):
            plan.stage_within_budget = after.stage
        elif fit:
            plan.stage_within_budget = classify(apply_actions(d, fit), n_scenarios=n, seed=seed,
                                                overrides=rubric).stage
        else:
            plan.stage_within_budget = before.stage
    plan.elapsed_s = time.perf_counter() - t0
    return plan
