"""Classify a district into Scott Smith's Stage 1-4 (rubric in ``data/rubric.yaml``).

>>> from netstage.simulator.io import load_district
>>> c = classify(load_district("netstage/topologies/stage3-emerging.yaml"))   # doctest: +SKIP
>>> c.stage, c.binding                                                # doctest: +SKIP
(3, ['R-FUTURE', 'R-HA', 'R-SECURITY', 'R-MANAGE'])

District stage = the minimum over rules of the highest stage each rule allows; the
binding rules are those that allow exactly that stage. A rule with missing inputs is
``unknown`` and counts at its pessimistic stage; what to measure or declare is listed
in :attr:`Classification.to_measure`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netstage.simulator.evidence import Evidence
from netstage.simulator.model import District
from netstage.simulator.rules import (
    RULE_ORDER,
    RULES,
    Override,
    Rubric,
    RuleContext,
    RuleVerdict,
    apply_overrides,
    default_rubric,
    load_overrides,
    parse_overrides,
)

__all__ = ["DEFAULT_N_SCENARIOS", "Classification", "classify", "resolve_rubric"]

# Enough scenarios for a stable p95 on the examples (p95 moves by < 0.5 % point between
# seeds at 200) while keeping one classification around a second.
DEFAULT_N_SCENARIOS = 200
#: memory the demand cache of one classification may keep (draws and rates of the
#: simulations, least recently used dropped first)
_CLASSIFY_CACHE_BYTES = 128 * 1024 * 1024

STAGE_NAMES = {
    1: "Stage 1 - just considering a rollout",
    2: "Stage 2 - basic or beginning phase",
    3: "Stage 3 - emerging phase of implementation",
    4: "Stage 4 - transformational",
}


@dataclass
class Classification:
    """The stage of one district with every rule's verdict."""

    district_name: str
    stage: int
    rules: list[RuleVerdict]
    binding: list[str]
    rubric: Rubric
    n_scenarios: int
    seed: int
    elapsed_s: float = 0.0
    #: arrays, simulations, redundancy and N-1 reports the rules computed (typed; the
    #: charts, the report and the planner read them)
    evidence: Evidence = field(kw_only=True, repr=False)
    #: the stage and what holds it there, in words (wording.stage_sentence)
    sentence: str = ""

    @property
    def stage_name(self) -> str:
        return STAGE_NAMES[self.stage]

    def rule(self, rule_id: str) -> RuleVerdict:
        for r in self.rules:
            if r.rule_id == rule_id:
                return r
        raise KeyError(rule_id)

    @property
    def unknown(self) -> list[str]:
        return [r.rule_id for r in self.rules if r.status == "unknown"]

    @property
    def to_measure(self) -> list[str]:
        """What to measure or declare to resolve every unknown rule (deduplicated)."""
        out: dict[str, None] = {}
        for r in self.rules:
            for item in r.to_resolve:
                out[f"{r.rule_id}: {item}"] = None
        return list(out)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": "netstage.classification/1",
            "district": self.district_name,
            "stage": self.stage,
            "stage_name": self.stage_name,
            "binding": list(self.binding),
            "summary": self.sentence,
            "unknown": self.unknown,
            "to_measure": self.to_measure,
            "rubric_version": self.rubric.version,
            "overrides": [o.to_json() for o in self.rubric.overrides],
            "n_scenarios": self.n_scenarios,
            "seed": self.seed,
            "rules": [r.to_json() for r in self.rules],
        }


def resolve_rubric(overrides: Rubric | str | Path | dict[str, Any] | list[Override] | None
                   ) -> Rubric:
    """The rubric to use: the default, with overrides from a file, dict or list applied."""
    if isinstance(overrides, Rubric):
        return overrides
    base = default_rubric()
    if overrides is None:
        return base
    if isinstance(overrides, str | Path):
        return apply_overrides(base, load_overrides(overrides))
    if isinstance(overrides, dict):
        return apply_overrides(base, parse_overrides(overrides, base=base))
    return apply_overrides(base, list(overrides))


def classify(
    district: District,
    *,
    n_scenarios: int = DEFAULT_N_SCENARIOS,
    seed: int = 0,
    overrides: Rubric | str | Path | dict[str, Any] | list[Override] | None = None,
    rules: tuple[str, ...] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    evidence: Evidence | None = None,
) -> Classification:
    """Run every registered rule on ``district`` and take the minimum stage.

    ``n_scenarios``/``seed`` drive the Monte Carlo rules (same seed, same answer).
    ``overrides`` is a rubric overrides file, a dict in the same format, a list of
    :class:`Override` or a ready :class:`Rubric`. ``rules`` restricts the run to some
    rule ids (the planner uses this to re-check only what an action can change);
    the stage is then the minimum over those rules only. ``progress(done, total, rule_id)``
    is called before each rule runs and once at the end (rule_id "").
    ``evidence`` reuses what an earlier run on the same district object with the same
    ``n_scenarios``/``seed`` computed (arrays, simulations, reports); the rules add to it.
    """
    t0 = time.perf_counter()
    rubric = resolve_rubric(overrides)
    ctx = RuleContext(district=district, rubric=rubric, n_scenarios=n_scenarios, seed=seed,
                      reuse=evidence)
    ids = [r for r in RULE_ORDER if r in RULES and (rules is None or r in rules)]
    ids += [r for r in RULES if r not in ids and (rules is None or r in rules)]
    from netstage.simulator.simulate import demand_cache

    verdicts = []
    # R-HA's N-1 base case is R-NOW's simulation again (same scenarios and seed): the
    # demand cache hands it that simulation's draws and rates; the other scenario
    # types are not reused here, so not kept (inside the planner's own cache, the
    # planner's settings apply)
    with demand_cache(_CLASSIFY_CACHE_BYTES, rates=True, scenarios=("now",)):
        for i, r in enumerate(ids):
            if progress is not None:
                progress(i, len(ids), r)
            verdicts.append(RULES[r](ctx))
    if progress is not None:
        progress(len(ids), len(ids), "")
    stage = min((v.allows_stage for v in verdicts), default=1)
    binding = [v.rule_id for v in verdicts if v.allows_stage == stage]
    # the same sentences the CLI and the report print, for the JSON and the library
    from netstage.simulator import wording

    for v in verdicts:
        v.sentence = wording.rule_sentence(v, district)
        for entry in v.would_change:
            entry["sentence"] = wording.need_sentence(v, entry)
    c = Classification(
        district_name=district.district.name, stage=stage, rules=verdicts, binding=binding,
        rubric=rubric, n_scenarios=n_scenarios, seed=seed,
        elapsed_s=time.perf_counter() - t0, evidence=ctx.evidence,
    )
    c.sentence = wording.stage_sentence(c, district)
    return c
