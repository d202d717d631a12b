"""The upgrade catalogue: prices, tiers and the actions a planner may offer
(``simulator/data/upgrades.yaml`` or a user's own).

Part of :mod:`netstage.simulator.plan` (split along its seams, issue 13)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netstage.simulator.datafiles import load_data_yaml
from netstage.simulator.errors import ConfigError
from netstage.simulator.rules.rubric import RENAMED_FACTS

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
