"""Rule verdicts, the rule registry and the three-valued logic rules are built from.

A rule is one function ``rule(ctx) -> RuleVerdict`` registered under its id
(``@register("R-LAB")``). It reads its thresholds from ``ctx.rubric`` (never from
literals) and the district from ``ctx.district``. Each input it uses is recorded as a
:class:`RuleInput` with its provenance (``measured`` / ``declared`` / ``inferred`` /
``default``), or as missing. An ``inferred`` input names the facts it follows from
(``inferred_from``; the inference table is :mod:`.inference`).

Checks are three-valued: ``True`` (passes), ``False`` (fails), ``None`` (an input is
missing). :func:`verdict_from_checks` turns the checks of a rule into the highest stage
it allows: evaluated with every unknown at its worst (pessimistic) and at its best
(optimistic) value; when the two differ the rule is ``unknown`` and the pessimistic
stage counts (docs/stages.md: "never silently passes"). The pessimistic stage is never
below the rule's own ``fail_allows``: a missing input counts at the lowest stage *that
rule* can give for any value of it, the same stage as admitting the worst value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import InitVar, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from netstage.simulator.evidence import Evidence
from netstage.simulator.model import District

if TYPE_CHECKING:
    from netstage.simulator.rules.rubric import Rubric

__all__ = [
    "RULES",
    "Check",
    "NoDetails",
    "Provenance",
    "RuleContext",
    "RuleDetails",
    "RuleFn",
    "RuleInput",
    "RuleVerdict",
    "Status",
    "all3",
    "any3",
    "at_least",
    "at_most",
    "register",
    "verdict_from_checks",
    "would_change",
    "would_change_text",
]

Provenance = Literal["measured", "declared", "inferred", "default"]
Status = Literal["pass", "fail", "unknown"]


@dataclass(frozen=True)
class RuleInput:
    """One input of a rule: its value (``None`` = missing) and where it came from."""

    name: str
    value: Any
    provenance: Provenance | None
    unit: str = ""
    inferred_from: tuple[str, ...] = ()
    note: str = ""  # for an inferred input: the inference's reason and citation

    @property
    def missing(self) -> bool:
        return self.value is None

    @property
    def shown_provenance(self) -> str:
        """The provenance to print: ``missing`` when there is no value."""
        return (self.provenance or "missing") if self.value is not None else "missing"

    @property
    def provenance_text(self) -> str:
        """``measured`` / ``declared`` / ``default`` / ``missing``, or
        ``inferred from a, b`` for an inferred input."""
        if self.inferred_from and self.value is not None:
            return f"inferred from {', '.join(self.inferred_from)}"
        return self.shown_provenance

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "value": self.value,
                               "provenance": self.shown_provenance, "unit": self.unit}
        if self.inferred_from:
            out["inferred_from"] = list(self.inferred_from)
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class Check:
    """One threshold test: ``passed`` is True/False, or None when an input is missing."""

    name: str
    stage: int
    passed: bool | None
    text: str
    inputs: tuple[str, ...] = ()  # names of the RuleInputs this check reads

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "stage_needed_for": self.stage, "passed": self.passed,
                "text": self.text, "inputs": list(self.inputs)}


class RuleDetails(Mapping[str, Any]):
    """Base of a rule's typed details (one dataclass per rule, beside the rule).

    Code in netstage reads the typed attributes; :meth:`to_json` is the ``details`` of the
    rule's JSON, and read as a mapping the details are that JSON (the plain dict every
    rule's details were before), so a library user's ``v.details["worst_site"]`` keeps
    working.
    """

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError

    def __getitem__(self, key: str) -> Any:
        return self.to_json()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_json())

    def __len__(self) -> int:
        return len(self.to_json())


class NoDetails(RuleDetails):
    """The details of a rule that has none beyond its inputs and checks (``{}``)."""

    def to_json(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        return "NoDetails()"


@dataclass
class RuleVerdict:
    """What one rule says about a district (see the module docstring)."""

    rule_id: str
    title: str
    status: Status
    allows_stage: int
    measured_value: float | str | None
    unit: str
    threshold: dict[str, Any]
    inputs: list[RuleInput]
    explanation: str
    to_resolve: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    optimistic_stage: int = 4
    #: the rule's typed details (its :class:`RuleDetails` dataclass, :class:`NoDetails`
    #: for a rule with none); they read as a mapping of the JSON ``details`` too
    details: RuleDetails = field(default_factory=NoDetails)
    would_change: list[dict[str, Any]] = field(default_factory=list)
    #: the explanation in words (:func:`netstage.simulator.wording.rule_sentence`, with
    #: the district's names), set by :func:`~netstage.simulator.stage.classify`; the
    #: JSON's ``explanation`` is this sentence, the same the CLI and the report print
    sentence: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.rule_id,
            "title": self.title,
            "status": self.status,
            "allows_stage": self.allows_stage,
            "optimistic_stage": self.optimistic_stage,
            "measured_value": self.measured_value,
            "unit": self.unit,
            "threshold": self.threshold,
            "inputs": [i.to_json() for i in self.inputs],
            "explanation": self.sentence or self.explanation,
            "to_resolve": list(self.to_resolve),
            "checks": [c.to_json() for c in self.checks],
            "would_change": list(self.would_change),
            "details": self.details.to_json(),
        }


@dataclass
class RuleContext:
    """What a rule may read: the district, the rubric, simulation settings, the evidence.

    ``evidence`` (:class:`~netstage.simulator.evidence.Evidence`) computes the heavy
    results once (arrays, simulations, redundancy and contingency reports) and keeps them
    for the other rules, the charts and the report. ``reuse`` hands in the evidence of
    an earlier run (same district object and settings) to share; by default the context
    makes its own.
    """

    district: District
    rubric: Rubric
    n_scenarios: int = 200
    seed: int = 0
    reuse: InitVar[Evidence | None] = field(default=None, kw_only=True)
    evidence: Evidence = field(init=False)

    def __post_init__(self, reuse: Evidence | None) -> None:
        if reuse is None:
            reuse = Evidence(self.district, n_scenarios=self.n_scenarios, seed=self.seed)
        elif (reuse.district is not self.district
              or (reuse.n_scenarios, reuse.seed) != (self.n_scenarios, self.seed)):
            raise ValueError("the evidence to reuse is of another district or other settings")
        self.evidence = reuse

    def threshold(self, rule_id: str, name: str) -> Any:
        return self.rubric.value(rule_id, name)


RuleFn = Callable[[RuleContext], RuleVerdict]
RULES: dict[str, RuleFn] = {}


def register(rule_id: str) -> Callable[[RuleFn], RuleFn]:
    """Register ``fn`` as the rule ``rule_id`` (one function plus one entry per rule)."""

    def deco(fn: RuleFn) -> RuleFn:
        if rule_id in RULES:
            raise ValueError(f"rule {rule_id} registered twice")
        RULES[rule_id] = fn
        return fn

    return deco


# -- three-valued logic ------------------------------------------------------------------
def all3(values: Iterable[bool | None]) -> bool | None:
    """AND where None means unknown: False wins, then None."""
    vals = list(values)
    if any(v is False for v in vals):
        return False
    if any(v is None for v in vals):
        return None
    return True


def any3(values: Iterable[bool | None]) -> bool | None:
    """OR where None means unknown: True wins, then None."""
    vals = list(values)
    if any(v is True for v in vals):
        return True
    if any(v is None for v in vals):
        return None
    return False


def at_least(value: float | None, threshold: float) -> bool | None:
    return None if value is None else bool(value >= threshold)


def at_most(value: float | None, threshold: float) -> bool | None:
    return None if value is None else bool(value <= threshold)


def _allowed(checks: list[Check], unknown_as: bool) -> int:
    failing = [c.stage for c in checks
               if c.passed is False or (c.passed is None and not unknown_as)]
    return min(failing) - 1 if failing else 4


def verdict_from_checks(
    ctx: RuleContext,
    rule_id: str,
    checks: list[Check],
    inputs: list[RuleInput],
    *,
    measured_value: float | str | None,
    unit: str,
    to_resolve: list[str],
    explain: Callable[[int, Status], str],
    details: RuleDetails | None = None,
) -> RuleVerdict:
    """Build a verdict: pessimistic/optimistic stage, status, explanation.

    ``explain(stage, status)`` returns the one-sentence explanation.
    """
    spec = ctx.rubric.rules[rule_id]
    # An unknown check counts as failed (pessimistic) and as passed (optimistic); both
    # are floored at the rule's fail_allows, so a missing input never scores below the
    # worst value that input could have (docs/stages.md; no "nothing known -> stage 1").
    pess = max(_allowed(checks, unknown_as=False), spec.fail_allows)
    opt = max(_allowed(checks, unknown_as=True), spec.fail_allows)
    status: Status = "unknown" if pess != opt else "pass" if pess == 4 else "fail"
    return RuleVerdict(
        rule_id=rule_id,
        title=spec.title,
        status=status,
        allows_stage=pess,
        optimistic_stage=opt,
        measured_value=measured_value,
        unit=unit,
        threshold={k: t.value for k, t in spec.thresholds.items()},
        inputs=inputs,
        explanation=explain(pess, status),
        to_resolve=to_resolve if status == "unknown" else [],
        checks=checks,
        details=details if details is not None else NoDetails(),
        would_change=would_change(checks, inputs, pess),
    )


def would_change_text(entry: dict[str, Any]) -> str:
    """One :func:`would_change` entry as a sentence."""
    s = (f"to reach stage {entry['to_reach_stage']}: {entry['needs']} "
         f"(now {entry['currently']})")
    ins = [f"{i['name']}={'unknown' if i['value'] is None else i['value']} "
           f"({i['provenance']})"
           for i in entry["inputs"]]
    return s + (f"; inputs: {', '.join(ins)}" if ins else "")


def would_change(checks: list[Check], inputs: list[RuleInput],
                 stage: int) -> list[dict[str, Any]]:
    """What would lift the rule above ``stage``: every check that fails or is unknown,
    lowest stage first. ``binds`` marks the checks needed for the very next stage; each
    entry names the threshold to reach (``needs``) and the inputs it reads that are
    missing or not yet good enough, with their provenance."""
    by_name = {i.name: i for i in inputs}
    out: list[dict[str, Any]] = []
    for c in sorted(checks, key=lambda c: c.stage):
        if c.passed is True or c.stage <= stage:
            continue
        ins = [by_name[n] for n in c.inputs if n in by_name]
        # a boolean input that is already True cannot be what holds the check back
        ins = [i for i in ins if i.value is not True]
        out.append({
            "to_reach_stage": c.stage, "check": c.name, "needs": c.text,
            "currently": "unknown" if c.passed is None else "fails",
            "binds": c.stage == stage + 1,
            "inputs": [{"name": i.name, "value": i.value,
                        "provenance": i.shown_provenance} for i in ins],
        })
    return out
