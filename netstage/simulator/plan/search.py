"""The search: greedy steps by gap closed per dollar, pruning, verification by
re-classification; the result (:class:`UpgradePlan`).

Part of :mod:`netstage.simulator.plan` (split along its seams, issue 13)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from netstage.simulator.errors import ConfigError, NetstageError
from netstage.simulator.io import district_from_dict, dump_district
from netstage.simulator.model import District, NodeKind, SiteKind
from netstage.simulator.plan.actions import (
    CAPACITY_ACTIONS,
    UpgradeAction,
    _dump,
    apply_action,
    apply_actions,
    apply_capacity,
)
from netstage.simulator.plan.candidates import (
    _aps_words,
    _Candidates,
    _candidates,
    _circuits_change,
    _links_words,
    _mbps,
    _trunk_words,
)
from netstage.simulator.plan.catalogue import Catalog, Cost, load_catalog
from netstage.simulator.plan.gap import (
    CAPACITY_RULES,
    DECLARED_RULES,
    SIMULATED_RULES,
    EvidencePool,
    _Cache,
    _content_key,
    _evaluate,
    _ha_structure,
    _State,
)
from netstage.simulator.rules import RULE_ORDER, Rubric, RuleVerdict
from netstage.simulator.stage import DEFAULT_N_SCENARIOS, Classification, classify, resolve_rubric
from netstage.simulator.wording import element_name, plural

SEARCH_SCENARIOS = 40  # scenarios per candidate while searching (verification uses the caller's)


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
                f"(target {self.target_stage}, re-classified) with "
                f"{plural(len(self.actions), 'action')}: {self.cost_line()}")
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
    from netstage.simulator.simulate import demand_cache

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
    # N-1 always with the verification's scenarios: its cost is in the re-routing, and
    # judged on the search's few scenarios R-HA passed where the verification failed it
    # (a second search round)
    pool = EvidencePool(n1_scenarios=n_scenarios)
    st0 = _evaluate(d, [r for r in all_rules if _allows(before, r, target, d, rubric, n, seed)],
                    target, rubric, n, seed, cache=cache, known=before.evidence, pool=pool)
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
                                            cache=cache, pool=pool)
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
                                  cache, notes, counter, pool)
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
        actions = _recost(d, _prune(d, actions, target, rubric, n, seed, say, pool), cat)
        cur = apply_actions(d, actions) if actions else d
        # no action kept: the district as classified before (its results are reused)
        known = before.evidence.reused(n_scenarios, seed) if cur is d \
            and before.evidence.district is d else pool.evidence(cur, n_scenarios, seed)
        after = classify(cur, n_scenarios=n_scenarios, seed=seed, overrides=rubric,
                         evidence=known)
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

    return repr(norm({"value": v.measured_value, "details": v.details.to_json(),
                      "explanation":
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
               cache: _Cache, notes: list[str], counter: dict[str, int],
               pool: EvidencePool | None = None
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
            if a.action in CAPACITY_ACTIONS:   # typed: no dump and validation
                nd = apply_capacity(cur, a)
                if nd is cur:
                    counter["unmeasured"] += 1   # changes nothing at all
                    continue
            else:
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
        ns = _evaluate(nd, affected, target, rubric, n, seed, cache=cache, pool=pool)
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
           seed: int, say: Callable[[str], None], pool: EvidencePool | None = None
           ) -> list[UpgradeAction]:
    """Drop actions (most expensive first) the target does not need.

    Removing an action that changes nothing the simulated rules read (a declared fact:
    the content :func:`~netstage.simulator.plan.gap._content_key` compares is the same
    with and without it) cannot change their verdicts, so when they already pass with
    the kept actions only the declared rules are evaluated again: no N-1 run per
    declared action (the same premise as the planner's evaluation cache)."""
    if len(actions) < 2:
        return actions
    kept = list(actions)
    kept_d: District | None = None  # the district with the kept actions, once needed
    sim_ok: dict[tuple[str, tuple[str, ...]], bool] = {}
    for a in sorted(actions, key=lambda x: -x.cost_usd):
        trial = [x for x in kept if x is not a]
        try:
            nd = apply_actions(d, trial)
        except (NetstageError, KeyError, StopIteration):
            continue
        rules = sorted({r for x in kept for r in x.rules} | {"R-HA"} if any(
            "R-HA" in x.rules for x in kept) else {r for x in kept for r in x.rules})
        sim = tuple(r for r in rules if r not in DECLARED_RULES)
        check = rules
        if sim:
            key = _content_key(nd, list(sim))
            if kept_d is None:
                kept_d = apply_actions(d, kept)
            if key == _content_key(kept_d, list(sim)):
                if (key, sim) not in sim_ok:
                    sim_ok[(key, sim)] = not _evaluate(nd, list(sim), target, rubric, n, seed,
                                                       ha_full=True, stop_early=True,
                                                       pool=pool).failing(target)
                if sim_ok[(key, sim)]:
                    check = [r for r in rules if r in DECLARED_RULES]
        # whether a rule fails is all that counts: N-1 only when the others pass
        st = _evaluate(nd, list(check), target, rubric, n, seed, ha_full=True,
                       stop_early=True, pool=pool)
        if not st.failing(target):
            kept, kept_d = trial, nd
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
