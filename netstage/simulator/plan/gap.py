"""Gap scoring: how far a district is from the target stage, rule by rule (stages missing plus
a continuous shortfall), memoised by content.

Part of :mod:`netstage.simulator.plan` (split along its seams, issue 13)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from netstage.simulator.errors import SimulationError
from netstage.simulator.evidence import Evidence
from netstage.simulator.model import District, SiteKind
from netstage.simulator.rules import Rubric, RuleVerdict
from netstage.simulator.rules.base import at_most
from netstage.simulator.rules.capacity import CapacityDetails
from netstage.simulator.rules.target import TargetDetails
from netstage.simulator.stage import classify

CAPACITY_RULES = ("R-LAB", "R-NOW", "R-FUTURE")


# -- gap: how far a classification is from the target ------------------------------------
def _capacity_shortfall(v: RuleVerdict) -> float:
    th = v.threshold
    measured = v.details.at_percentile if isinstance(v.details, CapacityDetails) else {}
    vals = []
    for name, limit in th.items():
        arr = "unserved_fraction" if "unserved" in name else "throttled_share"
        got = measured.get(arr)
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
        wan = (v.details.school_wan_gbps_per_1000 if isinstance(v.details, TargetDetails)
               else {})
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


def _ha_structure(d: District, rubric: Rubric, evidence: Evidence | None = None
                  ) -> tuple[float, bool, Any]:
    """(shortfall in [0, 1], structure passes, redundancy report) without N-1 simulation.
    The report is ``evidence``'s (computed there once, for R-HA to reuse) when given."""
    from netstage.simulator.redundancy import analyse_redundancy

    th = rubric.rules["R-HA"].thresholds
    need_c = float(th["min_internet_circuits"].value)
    need_p = float(th["min_edge_disjoint_paths_per_school"].value)
    rep = evidence.redundancy_report() if evidence is not None else None
    if rep is None:
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
    evidence: Evidence
    redundancy: Any = None

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
                      evidence=self.evidence.merged(new.evidence))


_Cache = dict[tuple[str, tuple[str, ...], bool, bool], _State]
DECLARED_RULES = ("R-SECURITY", "R-MANAGE", "R-STANDARD")
SIMULATED_RULES = ("R-LAB", "R-NOW", "R-FUTURE", "R-TARGET", "R-HA")
# what the simulated and structural rules never read: the declared facts, the SNMP
# audit, and the devices' names, vendors, models and firmware
_NOT_SIMULATED = {"declared": True, "measured": True,
                  "nodes": {"__all__": {"name", "vendor", "model", "firmware", "mgmt_address"}}}


def _reads_declared(rules: list[str]) -> bool:
    return any(r in DECLARED_RULES for r in rules)


def _content_key(d: District, rules: list[str]) -> str:
    """The part of ``d`` that ``rules`` read (the whole district when a declared rule is
    among them), so a declared fix does not re-simulate every capacity candidate."""
    if _reads_declared(rules):
        return d.model_dump_json()
    return d.model_dump_json(exclude=_NOT_SIMULATED)  # type: ignore[arg-type]


@dataclass
class _Pooled:
    """What the planning run computed on one network (:class:`EvidencePool`)."""

    simulations: dict[int, dict[str, Any]]  # scenario count -> scenario type -> result
    contingency: dict[int, Any]  # N-1 scenario count -> report (None: the analysis failed)
    redundancy: list[Any]  # [] not computed, [report] computed (None: it failed)


class EvidencePool:
    """The simulations, redundancy and N-1 reports of the districts one planning run has
    evaluated, by the content the simulated rules read (:func:`_content_key`) and the
    seed: the search, the pruning and the verification build the same district again
    and again (in a 40-school plan 15 N-1 runs were on 9 distinct networks), and an
    equal district gets the same results. Bounded (least recently used out); arrays are
    not kept. ``n1_scenarios``: the scenarios of every N-1 run of the planning (the
    verification's count, whatever the search's; see
    :class:`~netstage.simulator.evidence.Evidence`)."""

    def __init__(self, n1_scenarios: int | None = None, max_entries: int = 32) -> None:
        self.n1_scenarios = n1_scenarios
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, int], _Pooled] = OrderedDict()
        self.hits = 0

    @staticmethod
    def content(d: District) -> str:
        """What the pool keys a district by (:func:`_content_key` of the simulated rules)."""
        return _content_key(d, list(SIMULATED_RULES))

    def evidence(self, d: District, n: int, seed: int, content: str | None = None
                 ) -> Evidence:
        """An evidence of ``d`` holding what an equal district already computed
        (``content``: :meth:`content` of ``d`` when the caller has it)."""
        ev = Evidence(d, n_scenarios=n, seed=seed, n1_scenarios=self.n1_scenarios)
        key = (content if content is not None else self.content(d), seed)
        got = self._entries.get(key)
        if got is None:
            return ev
        self._entries.move_to_end(key)
        self.hits += 1
        ev.simulations = dict(got.simulations.get(n, {}))
        if ev.n1_count in got.contingency:
            ev.adopt_contingency(got.contingency[ev.n1_count])
        if got.redundancy:
            ev.adopt_redundancy(got.redundancy[0])
        return ev

    def keep(self, ev: Evidence, content: str | None = None) -> None:
        """Remember what ``ev`` computed (added to what its network already had;
        ``content`` as for :meth:`evidence`)."""
        key = (content if content is not None else self.content(ev.district), ev.seed)
        got = self._entries.setdefault(key, _Pooled({}, {}, []))
        got.simulations.setdefault(ev.n_scenarios, {}).update(ev.simulations)
        if ev.computed("contingency"):
            got.contingency[ev.n1_count] = ev.contingency
        if ev.computed("redundancy") and not got.redundancy:
            got.redundancy.append(ev.redundancy)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


def _evaluate(d: District, rules: list[str], target: int, rubric: Rubric, n: int, seed: int,
              ha_full: bool = False, cache: _Cache | None = None,
              known: Evidence | None = None, stop_early: bool = False,
              pool: EvidencePool | None = None) -> _State:
    """Verdicts of ``rules`` on ``d`` and each rule's gap to ``target`` (memoised in
    ``cache`` by the district's content). ``known`` is evidence already computed on
    ``d`` (the classification before planning): what it holds is not computed again.

    R-HA is judged structurally (circuits, disjoint paths, single points of failure)
    until the structure passes; only then is the N-1 contingency simulated.
    ``stop_early``: the caller only asks whether some rule fails ``target`` (pruning),
    so when another rule already fails it, R-HA (and its N-1 run) is not evaluated
    and the state holds no R-HA verdict; ``failing(target)`` is not empty either way.
    With the N-1 report already in hand (the pool), R-HA is judged first, so that a
    trial it fails runs no simulation. Nor is the whole N-1 run when the failure of
    the element that cuts off the most devices already exceeds its limit
    (:func:`_n1_fails_on_worst_cut`): R-HA's verdict is then a failing placeholder.
    """
    content = _content_key(d, rules)
    key = (content, tuple(sorted(rules)), ha_full, stop_early)
    if cache is not None and key in cache:
        hit = cache[key]
        return hit if hit.district is d else _State(
            district=d, verdicts=hit.verdicts, gaps=hit.gaps, redundancy=hit.redundancy,
            evidence=hit.evidence)
    verdicts: dict[str, RuleVerdict] = {}
    gaps: dict[str, float] = {}
    rep = None
    others = [r for r in rules if r != "R-HA"]
    # one evidence for both runs below: the district is converted to arrays once, and
    # R-HA reuses the redundancy report of the structural check
    # the pool's key is this content unless a declared rule made it the whole district
    pool_content = (None if pool is None else
                    pool.content(d) if _reads_declared(rules) else content)
    evidence = (known.reused(n, seed, pool.n1_scenarios if pool is not None else None)
                if known is not None and known.district is d
                else pool.evidence(d, n, seed, pool_content) if pool is not None
                else Evidence(d, n_scenarios=n, seed=seed))

    def judge_others() -> None:
        if others:
            c = classify(d, n_scenarios=n, seed=seed, overrides=rubric, rules=tuple(others),
                         evidence=evidence)
            for v in c.rules:
                verdicts[v.rule_id] = v

    # stop_early with the N-1 of an equal network in hand (the pruning's trials that the
    # search evaluated): R-HA first, and the others' simulations only if it passes
    ha_first = stop_early and "R-HA" in rules and evidence.computed("contingency")
    if not ha_first:
        judge_others()
    stopped = stop_early and any(v.allows_stage < target for v in verdicts.values())
    if "R-HA" in rules and not stopped:
        short, ok, rep = _ha_structure(d, rubric, evidence)
        if stop_early and ok and _n1_fails_on_worst_cut(d, rep, rubric, target, evidence):
            allows = _n1_fail_allows(rubric)
            verdicts["R-HA"] = _placeholder_ha(
                allows, short, "N-1 exceeds its limit on the worst single point of failure")
            # only whether it fails counts here (stop_early); the N-1 shortfall at its worst
            gaps["R-HA"] = max(0, target - allows) + 0.9 * (short + 1.0) / 2.0
        elif ok or ha_full:
            c = classify(d, n_scenarios=n, seed=seed, overrides=rubric, rules=("R-HA",),
                         evidence=evidence)
            v = c.rules[0]
            verdicts["R-HA"] = v
            gaps["R-HA"] = 0.0
            if v.allows_stage < target:
                gaps["R-HA"] = (target - v.allows_stage) + 0.9 * (
                    short + _n1_shortfall(v, evidence.contingency, rubric)) / 2.0
        else:
            # structure fails: the rule allows at most stage 3 (fail_allows)
            fa = rubric.rules["R-HA"].fail_allows
            verdicts["R-HA"] = _placeholder_ha(fa, short)
            # same form as above with the N-1 shortfall at its worst (not yet simulated)
            gaps["R-HA"] = max(0, target - fa) + 0.9 * (short + 1.0) / 2.0
    if ha_first and verdicts["R-HA"].allows_stage >= target:
        judge_others()
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
    if pool is not None:
        pool.keep(evidence, pool_content)
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


def _placeholder_ha(allows: int, short: float, why: str = "") -> RuleVerdict:
    return RuleVerdict(rule_id="R-HA", title="High availability", status="fail",
                       allows_stage=allows, measured_value=None, unit="",
                       threshold={}, inputs=[],
                       explanation=why or f"structure short by {short:.2f}")


def _n1_fail_allows(rubric: Rubric) -> int:
    """The highest stage R-HA can allow when its N-1 check fails (the check's stage
    minus one, floored at the rule's ``fail_allows``, as ``verdict_from_checks``
    scores a failed check)."""
    spec = rubric.rules["R-HA"]
    return max(spec.thresholds["max_n1_unserved_p95"].stage - 1, spec.fail_allows)


def _n1_fails_on_worst_cut(d: District, rep: Any, rubric: Rubric, target: int,
                           evidence: Evidence) -> bool:
    """Whether R-HA fails ``target`` on N-1, told from one contingency: the counted
    single point of failure that cuts off the most devices, when it cuts off more than
    the limit's share of them. R-HA reads the worst row over every element, and a run
    restricted to one element computes that element's row as the whole run does
    (same batch, chunks and base case), so one row above the limit settles the check.

    For the pruning, which only asks whether a trial fails: a trial that drops the pair
    of the district's one firewall leaves every device behind one box, and its whole
    N-1 (some 300 failures re-routed) was the pruning's one N-1 run on a 40-school
    district. False whenever this cannot tell: the rule then runs the whole N-1."""
    if target <= _n1_fail_allows(rubric) or rep is None or evidence.computed("contingency"):
        return False
    limit = float(rubric.value("R-HA", "max_n1_unserved_p95"))
    spofs = rep.counted_spofs
    arr = evidence.district_arrays()
    # a failure that cuts off few devices rarely leaves more than the limit unserved:
    # not worth a run of its own
    if not spofs or spofs[0].devices <= limit * arr.n_devices:
        return False
    from netstage.simulator.contingency import run_contingency

    try:
        one = run_contingency(d, n_scenarios=evidence.n1_count, seed=evidence.seed,
                              arrays=arr, elements=[spofs[0].element])
    except SimulationError:
        return False
    return at_most(one.worst_unserved_p95, limit) is False
