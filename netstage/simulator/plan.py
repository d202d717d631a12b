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
from netstage.simulator.rules.rubric import SECURITY_FACTS
from netstage.simulator.stage import DEFAULT_N_SCENARIOS, Classification, classify, resolve_rubric

__all__ = ["Catalog", "UpgradeAction", "UpgradePlan", "load_catalog", "plan_upgrades"]

CAPACITY_RULES = ("R-LAB", "R-NOW", "R-FUTURE")
SEARCH_SCENARIOS = 40  # scenarios per candidate while searching (verification uses the caller's)
Data = dict[str, Any]


# -- catalog ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Catalog:
    """The upgrade catalog (``simulator/data/upgrades.yaml`` or a user file)."""

    version: str
    cost_years: float
    link_tiers: tuple[float, ...]
    internet_tiers: tuple[float, ...]
    actions: dict[str, dict[str, Any]]
    source: str = "simulator/data/upgrades.yaml"

    def spec(self, name: str) -> dict[str, Any]:
        try:
            return self.actions[name]
        except KeyError:
            raise ConfigError(f"upgrade catalog {self.source} has no action '{name}'; "
                              f"known: {', '.join(self.actions)}") from None

    def cost(self, name: str, units: float = 1.0, *, capex: float | None = None,
             annual: float | None = None) -> tuple[float, float, float, str]:
        """(total, capex, annual, note) of ``units`` of action ``name``."""
        sp = self.spec(name)
        cx = float(sp.get("capex_usd", 0.0) if capex is None else capex) * units
        an = float(sp.get("annual_usd", 0.0) if annual is None else annual) * units
        total = cx + an * self.cost_years
        note = f"{units:g} {sp.get('unit', 'unit')}"
        parts = []
        if cx:
            parts.append(f"${cx:,.0f} one-time")
        if an:
            parts.append(f"${an:,.0f}/yr x {self.cost_years:g} yr")
        return total, cx, an, note + (": " + " + ".join(parts) if parts else "")


_REQUIRED = ("version", "cost_years", "link_tiers_mbps", "internet_tiers_mbps", "actions")
_TOP_KEYS = (*_REQUIRED, "currency")
_ACTION_KEYS = ("title", "rules", "unit", "capex_usd", "annual_usd", "per_mbps", "tiers",
                "by_kind", "leased_annual_per_mbps", "fact", "source")


def load_catalog(path: str | Path | None = None) -> Catalog:
    """The shipped catalog, or a user catalog in the same format (located errors)."""
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
    if not isinstance(raw["actions"], dict):
        raise fail(("actions",), "expected a mapping of action names")
    known = set(_default_action_names())
    unknown = [str(a) for a in raw["actions"] if a not in known]
    if unknown:
        raise fail(("actions", unknown[0]), f"unknown action(s) {', '.join(unknown)}; known: "
                                            f"{', '.join(sorted(known))}")
    for name, sp in raw["actions"].items():
        if not isinstance(sp, dict):
            raise fail(("actions", name), "expected a mapping (title, capex_usd, ...)")
        for k, v in sp.items():
            if k not in _ACTION_KEYS:
                raise fail(("actions", name, k), f"unknown key; allowed: "
                                                 f"{', '.join(_ACTION_KEYS)}")
            if k in ("capex_usd", "annual_usd", "leased_annual_per_mbps"):
                number(("actions", name, k), v)
        for sub in ("by_kind", "tiers"):
            if not isinstance(sp.get(sub) or {}, dict):
                raise fail(("actions", name, sub), "expected a mapping (name: numbers)")
        for k, v in (sp.get("by_kind") or {}).items():
            number(("actions", name, "by_kind", k), v)
        for tier, row in (sp.get("tiers") or {}).items():
            if not isinstance(row, dict):
                raise fail(("actions", name, "tiers", tier), "expected {capex_usd, annual_usd}")
            for k in ("capex_usd", "annual_usd"):
                number(("actions", name, "tiers", tier, k), row.get(k, 0))
    return Catalog(version=str(raw["version"]), cost_years=cost_years,
                   link_tiers=tiers["link_tiers_mbps"],
                   internet_tiers=tiers["internet_tiers_mbps"],
                   actions=dict(raw["actions"]), source=source)


def _default_action_names() -> list[str]:
    return list(load_data_yaml("upgrades.yaml")["actions"])


# -- actions ---------------------------------------------------------------------------
@dataclass
class UpgradeAction:
    """One planned change: catalog action ``action`` applied to ``target``."""

    action: str
    target: str
    description: str
    cost_usd: float
    capex_usd: float
    annual_usd: float
    cost_note: str
    rules: list[str]
    params: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "target": self.target, "description": self.description,
                "cost_usd": round(self.cost_usd, 2), "capex_usd": round(self.capex_usd, 2),
                "annual_usd": round(self.annual_usd, 2), "cost_note": self.cost_note,
                "rules": list(self.rules), "params": self.params}


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


def _mirror_node(data: Data, node_id: str, new_id: str) -> None:
    """Add ``new_id``, a copy of ``node_id`` with a copy of each of its links (not to APs)."""
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
        for c in data["circuits"]:
            if c["id"] == a.target:
                c["capacity_mbps"] = p["capacity_mbps"]
                break
        else:
            raise KeyError(a.target)
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
        for n in data["nodes"]:
            if n["id"] == a.target:
                if kind == "add_aps":
                    n["count"] = int(p["count"])
                else:
                    n["wifi"] = {**(n.get("wifi") or {}), "generation": "wifi6e",
                                 "channel_width_mhz": 80}
                    n["wifi"].pop("air_capacity_mbps", None)
                return
        raise KeyError(a.target)
    if kind == "ha_pair":
        _mirror_node(data, a.target, p["new_id"])
        return
    if kind == "second_circuit":
        _mirror_node(data, a.target, p["new_edge"])
        data["circuits"].append({"id": p["circuit_id"], "attach": p["new_edge"],
                                 "capacity_mbps": p["capacity_mbps"],
                                 "provider": "second provider (planned)"})
        return
    if kind == "redundant_link":
        data.setdefault("links", []).append({"a": p["a"], "b": p["b"],
                                             "capacity_mbps": p["capacity_mbps"],
                                             "medium": "fiber", "id": p["id"]})
        return
    if kind in SECURITY_FACTS:
        sec = ("declared", "security")
        if kind == "no_default_write_community":
            _set_in(data, (*sec, "default_snmp_write_community"), False)
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
    annual_usd: float
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
                f"action(s) for about ${self.cost_usd:,.0f} over {self.cost_years:g} years")
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
            "annual_usd": round(self.annual_usd, 2),
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


def _evaluate(d: District, rules: list[str], target: int, rubric: Rubric, n: int, seed: int,
              ha_full: bool = False, cache: _Cache | None = None) -> _State:
    """Verdicts of ``rules`` on ``d`` and each rule's gap to ``target`` (memoised in
    ``cache`` by the district's content).

    R-HA is judged structurally (circuits, disjoint paths, single points of failure)
    until the structure passes; only then is the N-1 contingency simulated.
    """
    key = (d.model_dump_json(), tuple(sorted(rules)), ha_full)
    if cache is not None and key in cache:
        return cache[key]
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
                worst = v.inputs[2].value if len(v.inputs) > 2 else None
                lim = float(rubric.value("R-HA", "max_n1_unserved_p95"))
                n1 = max(0.0, float(worst) - lim) if isinstance(worst, int | float) else 1.0
                gaps["R-HA"] = (target - v.allows_stage) + 0.9 * (short + min(n1, 1.0)) / 2.0
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

    def add(self, action: str, target: str, description: str, units: float, rules: list[str],
            params: dict[str, Any], *, capex: float | None = None,
            annual: float | None = None) -> None:
        key = (action, target, repr(sorted(params.items())))
        if key in self.seen:
            return
        self.seen.add(key)
        total, cx, an, note = self.cat.cost(action, units, capex=capex, annual=annual)
        self.out.append(UpgradeAction(action, target, description, total, cx, an, note, rules,
                                      params))

    # capacity -----------------------------------------------------------------------
    def internet(self, rules: list[str], need_total_mbps: float | None = None) -> None:
        d = self.d
        if not d.circuits:
            return
        c = max(d.circuits, key=lambda x: x.capacity_mbps)
        rest = d.internet_capacity_mbps - c.capacity_mbps
        opts: list[float] = []
        for f in (1.0, 2.0, 4.0):
            t = _next_tier(self.cat.internet_tiers, c.capacity_mbps, f)
            if t:
                opts.append(t)
        if need_total_mbps is not None:
            t = _next_tier(self.cat.internet_tiers, c.capacity_mbps,
                           max(1.0, (need_total_mbps - rest) / c.capacity_mbps))
            if t:
                opts.append(t)
        for t in dict.fromkeys(opts):
            added = t - c.capacity_mbps
            self.add("internet_capacity", c.id,
                     f"Internet circuit {c.id}: {_mbps(c.capacity_mbps)} -> {_mbps(t)}",
                     added, rules, {"capacity_mbps": t})
            # the same with the trunk (edge/firewall/core links slower than the new
            # Internet capacity) upgraded too: neither helps alone when both are short
            trunk = self.trunk_below(t + rest)
            if trunk:
                keys = [k for k, _ in trunk]
                caps = [c2 for _, c2 in trunk]
                capex = annual = 0.0
                by_key = {lk.key: lk for lk in self.d.links}
                for k, c2 in trunk:
                    cx, an = self.link_cost(by_key[k].medium.value, by_key[k].capacity_mbps, c2)
                    capex, annual = capex + cx, annual + an
                sp = self.cat.spec("internet_capacity")
                cx0 = float(sp.get("capex_usd", 0.0)) * added
                an0 = float(sp.get("annual_usd", 0.0)) * added
                total = cx0 + capex + (an0 + annual) * self.cat.cost_years
                key = ("internet_capacity", c.id, repr((t, keys)))
                if key not in self.seen:
                    self.seen.add(key)
                    self.out.append(UpgradeAction(
                        "internet_capacity", c.id,
                        f"Internet circuit {c.id}: {_mbps(c.capacity_mbps)} -> {_mbps(t)} "
                        f"(with {len(keys)} trunk link(s) upgraded: {', '.join(keys[:3])}"
                        + (", ..." if len(keys) > 3 else "") + ")",
                        total, cx0 + capex, an0 + annual,
                        f"{added:g} Mbps added + {len(keys)} link(s): ${cx0 + capex:,.0f} "
                        f"one-time + ${an0 + annual:,.0f}/yr x {self.cat.cost_years:g} yr",
                        rules, {"capacity_mbps": t, "links": keys, "link_caps": caps,
                                "link_capex": capex, "link_annual": annual}))

    def trunk_below(self, mbps: float) -> list[tuple[str, float]]:
        """Links between edge, firewall and core nodes slower than ``mbps``, each with
        the tier that carries it."""
        kinds = {NodeKind.EDGE, NodeKind.FIREWALL, NodeKind.CORE}
        kind = {n.id: n.kind for n in self.d.nodes}
        out = []
        for lk in self.d.links:
            if kind[lk.a] in kinds and kind[lk.b] in kinds and lk.capacity_mbps < mbps:
                t = _next_tier(self.cat.link_tiers, lk.capacity_mbps, mbps / lk.capacity_mbps)
                if t:
                    out.append((lk.key, t))
        return out

    def link_cost(self, lk_medium: str, old: float, new: float) -> tuple[float, float]:
        sp = self.cat.spec("link_upgrade")
        tiers = sp.get("tiers", {})
        row = tiers.get(int(new)) or tiers.get(str(int(new))) or {}
        capex = float(row.get("capex_usd", sp.get("capex_usd", 0.0)))
        annual = float(row.get("annual_usd", 0.0))
        if lk_medium == "leased":
            annual += float(sp.get("leased_annual_per_mbps", 0.0)) * (new - old)
        return capex, annual

    def links(self, keys: list[str], rules: list[str], label: str, factor: float = 1.0,
              need: dict[str, float] | None = None) -> None:
        """Upgrade each link in ``keys`` to its next tier (or the tier in ``need``)."""
        by_key = {lk.key: lk for lk in self.d.links}
        chosen, caps, capex, annual = [], [], 0.0, 0.0
        for k in keys:
            lk = by_key.get(k)
            if lk is None:
                continue
            want = need.get(k) if need else None
            t = _next_tier(self.cat.link_tiers, lk.capacity_mbps,
                           max(factor, (want or 0) / lk.capacity_mbps))
            if t is None:
                continue
            cx, an = self.link_cost(lk.medium.value, lk.capacity_mbps, t)
            chosen.append(k)
            caps.append(t)
            capex += cx
            annual += an
        if not chosen:
            return
        if len(chosen) == 1:
            lk = by_key[chosen[0]]
            desc = f"link {chosen[0]}: {_mbps(lk.capacity_mbps)} -> {_mbps(caps[0])}"
        else:
            desc = f"{label}: {len(chosen)} links upgraded ({', '.join(chosen[:4])}" + \
                   (", ..." if len(chosen) > 4 else "") + ")"
        nk = float(len(chosen))
        self.add("link_upgrade", chosen[0] if len(chosen) == 1 else label, desc, nk, rules,
                 {"links": chosen, "capacity_mbps": caps}, capex=capex / nk,
                 annual=annual / nk)

    def hot_elements(self, evidence: dict[str, Any], rules: list[str]) -> None:
        """Candidates from the simulations: the links most often at their limit."""
        node_by_id = {n.id: n for n in self.d.nodes}
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
                    self.wifi(lid[4:], rules, node_by_id)
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

    def wifi(self, node_id: str, rules: list[str], nodes: dict[str, Any]) -> None:
        n = nodes.get(node_id)
        if n is None:
            return
        site = next((s for s in self.d.sites if s.id == n.site), None)
        aps_at_site = sum(m.count for m in self.d.nodes if m.kind == NodeKind.AP
                          and m.site == n.site)
        extra = max(1, math.ceil(n.count * 0.5))
        if site is not None and site.classrooms:
            share = n.count / max(aps_at_site, 1)
            per_room = max(1, math.ceil(site.classrooms * 1.25 * share)) - n.count
            if per_room > 0:
                extra = per_room
        self.add("add_aps", node_id, f"{extra} more access point(s) at {node_id} "
                 f"({n.count} -> {n.count + extra})", extra, rules,
                 {"count": n.count + extra})
        gen = n.wifi.generation if n.wifi else "wifi5"
        if gen in ("wifi4", "wifi5", "wifi6"):
            self.add("wifi_refresh", node_id, f"replace the {n.count} {gen} AP(s) of "
                     f"{node_id} with Wi-Fi 6E at 80 MHz", n.count, rules, {})

    def school_wan(self, rules: list[str], wan: dict[str, float]) -> None:
        tw = float(self.rubric.value("R-TARGET", "min_wan_gbps_per_1000_students"))
        site_of = {n.id: n.site for n in self.d.nodes}
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
    def availability(self, rep: Any, rules: list[str]) -> None:
        d = self.d
        node_ids = {n.id for n in d.nodes}
        need_c = int(self.rubric.value("R-HA", "min_internet_circuits"))
        spofs = list(rep.counted_spofs) if rep is not None else []
        spof_edge = any(s.kind == "node" and s.node_kind == NodeKind.EDGE.value for s in spofs)
        spof_circuit = any(s.kind == "circuit" for s in spofs)
        if d.circuits and (len(d.circuits) < need_c or spof_edge or spof_circuit):
            c0 = max(d.circuits, key=lambda x: x.capacity_mbps)
            new_edge = _unique(node_ids, f"{c0.attach}-2")
            cid = _unique({c.id for c in d.circuits}, f"{c0.id}-2")
            per = float(self.cat.spec("second_circuit").get("annual_usd", 0.0))
            for frac in (1.0, 0.5):
                cap = _next_tier(self.cat.internet_tiers, c0.capacity_mbps * frac - 1e-9) \
                    or c0.capacity_mbps
                self.add("second_circuit", c0.attach,
                         f"second Internet circuit {cid} ({_mbps(cap)}, other provider) on a "
                         f"new edge router {new_edge} wired like {c0.attach}", 1, rules,
                         {"new_edge": new_edge, "circuit_id": cid, "capacity_mbps": cap},
                         annual=per * cap)
        kinds = self.cat.spec("ha_pair").get("by_kind", {})
        for s in spofs:
            if s.kind == "node" and s.element in node_ids and s.node_kind != NodeKind.EDGE.value:
                price = float(kinds.get(s.node_kind or "other", kinds.get("other", 0.0)))
                new_id = _unique(node_ids, f"{s.element}-b")
                self.add("ha_pair", s.element,
                         f"second {s.node_kind} {new_id} next to {s.element} with the same "
                         f"links (it alone cuts off {s.students:,} students)", 1, rules,
                         {"new_id": new_id}, capex=price)
            elif s.kind == "link":
                self.redundant_link_for(s.element, rules, s.students)
        for srow in (rep.sites if rep is not None else []):
            if srow.kind == SiteKind.SCHOOL.value and srow.students and \
                    srow.edge_disjoint_paths < int(self.rubric.value(
                        "R-HA", "min_edge_disjoint_paths_per_school")):
                self.redundant_site_link(srow.site, rules)

    def equalise(self, rules: list[str]) -> None:
        """Backup paths as strong as primary ones: links between nodes of the same two
        kinds (e.g. access-core, core-edge) raised to the fastest of their group."""
        kind = {n.id: n.kind.value for n in self.d.nodes}
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
                            f"second, diverse link alongside {link_key} "
                            f"(it alone cuts off {students:,} students)")

    def redundant_site_link(self, site_id: str, rules: list[str]) -> None:
        site_of = {n.id: n.site for n in self.d.nodes}
        leaving = [lk for lk in self.d.links
                   if (site_of.get(lk.a) == site_id) != (site_of.get(lk.b) == site_id)]
        if not leaving:
            return
        lk = max(leaving, key=lambda x: x.capacity_mbps)
        inside, outside = (lk.a, lk.b) if site_of.get(lk.a) == site_id else (lk.b, lk.a)
        out_site = site_of.get(outside)
        kind_of = {n.id: n.kind for n in self.d.nodes}
        alts = [n.id for n in self.d.nodes if n.site == out_site and n.id != outside
                and kind_of[n.id] == kind_of.get(outside)]
        other = alts[0] if alts else outside
        self._add_redundant(inside, other, lk.capacity_mbps, rules,
                            f"second link from {site_id} ({inside}) to {other}")

    def _add_redundant(self, a: str, b: str, cap: float, rules: list[str], desc: str) -> None:
        existing = {lk.key for lk in self.d.links}
        lid = _unique(existing, f"{a}--{b}-r")
        self.add("redundant_link", f"{a}--{b}", desc, 1, rules,
                 {"a": a, "b": b, "capacity_mbps": cap, "id": lid})

    # declared facts ---------------------------------------------------------------------
    def security(self, v: RuleVerdict) -> None:
        n_infra = sum(1 for n in self.d.nodes if n.kind in INFRASTRUCTURE_KINDS)
        th = self.rubric.rules["R-SECURITY"].thresholds
        needed = [f for t in th.values() if t.stage <= self.target for f in t.value]
        have = {i.name: i.value for i in v.inputs}
        for fact in dict.fromkeys(needed):
            if have.get(fact) is True:
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
                     f"SNMP on all {n_infra} infrastructure devices, polled by `netstage poll`"
                     + (f" for >= {need_hist:g} days" if need_hist else ""),
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
            prices = self.cat.spec("replace_nonstandard").get("by_kind", {})
            others = sorted((n for n in infra if n.id not in keep),
                            key=lambda n: float(prices.get(n.kind.value, prices.get("other", 0))))
            k = math.ceil(need * len(infra) - len(keep) - 1e-9)
            repl = others[:max(k, 0)]
            if repl:
                std = max(fams[top[0]], key=lambda n: sum(1 for m in fams[top[0]]
                                                          if m.model == n.model))
                cost = sum(float(prices.get(n.kind.value, prices.get("other", 0)))
                           for n in repl)
                self.add("replace_nonstandard", "district",
                         f"replace {len(repl)} device(s) outside the two main model families "
                         f"({', '.join(n.id for n in repl[:5])}{', ...' if len(repl) > 5 else ''})"
                         f" with {std.vendor} {std.model}", len(repl), ["R-STANDARD"],
                         {"nodes": [n.id for n in repl], "vendor": std.vendor,
                          "model": std.model, "firmware": std.firmware}, capex=cost / len(repl))
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
                     f"bring {len(target_fw)} device(s) to one firmware version per model "
                     "(and record it)", max(len(target_fw), 1), ["R-STANDARD"],
                     {"firmware": target_fw})


def _mbps(x: float) -> str:
    return f"{x / 1000:g} Gbps" if x >= 1000 else f"{x:g} Mbps"


def _candidates(st: _State, cat: Catalog, rubric: Rubric, target: int) -> list[UpgradeAction]:
    d = st.district
    cands = _Candidates(d, cat, rubric, target)
    failing = st.failing(target)
    cap_rules = [r for r in failing if r in CAPACITY_RULES]
    if cap_rules:
        cands.hot_elements(st.evidence, cap_rules)
        cands.internet(cap_rules)
        # Wi-Fi coverage: schools below the design guides' AP density (1-1.3 AP per
        # classroom, STAGES.md) or whose devices could not associate (AP client bound)
        unassoc = any(float(np.percentile(getattr(r, "unassociated_share", [0.0]), 95)) > 0
                      for k, r in st.evidence.items() if k.startswith("sim:") and r is not None)
        nodes = {x.id: x for x in d.nodes}
        for site in d.sites:
            aps = [x for x in d.nodes if x.kind == NodeKind.AP and x.site == site.id]
            n_aps = sum(x.count for x in aps)
            if aps and (unassoc or (site.classrooms and n_aps < site.classrooms)):
                for x in aps:
                    cands.wifi(x.id, cap_rules, nodes)
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
        cands.availability(rep, ["R-HA"])
        ha = st.verdicts.get("R-HA")
        if ha is not None and ha.inputs and not cands.out:
            # structure passes, N-1 capacity does not: more capacity where it is short
            cands.internet(["R-HA"])
            cands.equalise(["R-HA"])
            cont = st.evidence.get("contingency")
            rows = list(getattr(cont, "contingencies", []) or [])[:3]
            for row in rows:
                el = str(getattr(row, "element", ""))
                if el in {c.id for c in d.circuits}:
                    for c in d.circuits:
                        if c.id != el:
                            t = _next_tier(cat.internet_tiers, c.capacity_mbps, 2.0)
                            if t:
                                cands.add("internet_capacity", c.id,
                                          f"Internet circuit {c.id}: {_mbps(c.capacity_mbps)}"
                                          f" -> {_mbps(t)} (carries the load when {el} fails)",
                                          t - c.capacity_mbps, ["R-HA"], {"capacity_mbps": t})
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
    for _round in range(2):
        st = _evaluate(cur, [r for r in all_rules
                             if _allows(before if cur is d else None, r, target, cur, rubric,
                                        n, seed)], target, rubric, n, seed, cache=cache)
        steps = 0
        while st.failing(target) and steps < max_steps:
            steps += 1
            cands = _candidates(st, cat, rubric, target)
            if not cands:
                notes.append("no catalog action addresses: " + ", ".join(st.failing(target)))
                break
            say(f"step {steps}: {len(cands)} candidate actions for "
                f"{', '.join(st.failing(target))}")
            best: tuple[float, UpgradeAction, _State] | None = None
            rules = st.failing(target)
            for a in cands:
                # only the failing rules the action can change (catalog `rules`) are re-run
                can = set(cat.spec(a.action).get("rules", [])) | set(a.rules)
                affected = [r for r in rules if r in can] or rules
                try:
                    nd = apply_actions(cur, [a])
                except (NetstageError, KeyError, StopIteration) as exc:
                    notes.append(f"skipped {a.action} on {a.target}: {exc}")
                    continue
                ns = _evaluate(nd, affected, target, rubric, n, seed, cache=cache)
                gain = sum(st.gaps.get(r, 0.0) - ns.gaps.get(r, 0.0) for r in affected)
                if gain <= 1e-9:
                    continue
                ratio = gain / max(a.cost_usd, 100.0)
                if best is None or ratio > best[0]:
                    best = (ratio, a, ns)
            if best is None:
                notes.append("no catalog action improves: " + ", ".join(rules))
                break
            _, a, ns = best
            actions.append(a)
            cur = ns.district
            say(f"  + {a.description} (${a.cost_usd:,.0f})")
            st = st.merged(ns)
        actions = _recost(d, _prune(d, actions, target, rubric, n, seed, say), cat)
        cur = apply_actions(d, actions) if actions else d
        after = classify(cur, n_scenarios=n_scenarios, seed=seed, overrides=rubric)
        if after.stage >= target or n >= n_scenarios:
            break
        n = n_scenarios  # verification missed (noise near a threshold): search at full precision
        say(f"verification gave stage {after.stage}; searching again at {n} scenarios")
    assert after is not None
    return _finish(d, cur, before, after, actions, target, budget_usd, cat, rubric,
                   n_scenarios, seed, notes, t0)


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
    """Merge steps on the same circuit or link and price each change from the state the
    plan actually starts from (after pruning, an upgrade may start lower than searched)."""
    circuit_cap = {c.id: c.capacity_mbps for c in d.circuits}
    links = {lk.key: lk for lk in d.links}
    last_internet: dict[str, int] = {}
    last_link: dict[str, int] = {}
    ap_count = {n.id: n.count for n in d.nodes}
    last_aps: dict[str, int] = {}
    for i, a in enumerate(actions):
        if a.action == "add_aps":
            last_aps[a.target] = i
        if a.action == "internet_capacity":
            last_internet[a.target] = i
        elif a.action == "link_upgrade":
            for k in a.params.get("links", []):
                last_link[k] = i
    out: list[UpgradeAction] = []
    helper = _Candidates(d, cat, resolve_rubric(None), 4)
    for i, a in enumerate(actions):
        if a.action == "add_aps" and a.target in ap_count:
            if last_aps[a.target] != i:
                continue
            old_n, new_n = ap_count[a.target], int(a.params["count"])
            total, cx, an, note = cat.cost("add_aps", new_n - old_n)
            out.append(UpgradeAction(a.action, a.target, f"{new_n - old_n} more access "
                                     f"point(s) at {a.target} ({old_n} -> {new_n})", total, cx,
                                     an, note, a.rules, a.params))
        elif a.action == "internet_capacity":
            if last_internet[a.target] != i or a.target not in circuit_cap:
                if a.target in circuit_cap:
                    continue
                out.append(a)
                continue
            old, new = circuit_cap[a.target], float(a.params["capacity_mbps"])
            total, cx, an, note = cat.cost("internet_capacity", new - old)
            lcx = float(a.params.get("link_capex", 0.0))
            lan = float(a.params.get("link_annual", 0.0))
            if lcx or lan:
                cx, an = cx + lcx, an + lan
                total = cx + an * cat.cost_years
                note = (f"{new - old:g} Mbps added + trunk links: ${cx:,.0f} one-time + "
                        f"${an:,.0f}/yr x {cat.cost_years:g} yr")
            desc = a.description.split(":")[0] + f": {_mbps(old)} -> {_mbps(new)}" + (
                " (" + a.description.split("(", 1)[1] if "(" in a.description else "")
            out.append(UpgradeAction(a.action, a.target, desc, total, cx, an, note, a.rules,
                                     a.params))
        elif a.action == "link_upgrade":
            keys = [k for k in a.params.get("links", []) if last_link.get(k) == i]
            caps_in = a.params["capacity_mbps"]
            caps = [caps_in[a.params["links"].index(k)] if isinstance(caps_in, list) else caps_in
                    for k in keys]
            keys2 = [k for k in keys if k in links]
            if not keys2:
                if keys:
                    out.append(a)
                continue
            capex = annual = 0.0
            for k, c in zip(keys, caps, strict=True):
                if k in links:
                    cx, an = helper.link_cost(links[k].medium.value, links[k].capacity_mbps, c)
                    capex, annual = capex + cx, annual + an
            nk = float(len(keys))
            total, cx, an, note = cat.cost("link_upgrade", nk, capex=capex / nk,
                                           annual=annual / nk)
            if len(keys) == 1:
                desc = f"link {keys[0]}: {_mbps(links[keys[0]].capacity_mbps)} -> {_mbps(caps[0])}"
            else:
                label = a.description.split(":")[0]
                desc = f"{label}: {len(keys)} links upgraded ({', '.join(keys[:4])}" + \
                    (", ..." if len(keys) > 4 else "") + ")"
            out.append(UpgradeAction(a.action, keys[0] if len(keys) == 1 else a.target, desc,
                                     total, cx, an, note, a.rules,
                                     {"links": keys, "capacity_mbps": caps}))
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
        annual_usd=sum(a.annual_usd for a in actions), cost_years=cat.cost_years,
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
