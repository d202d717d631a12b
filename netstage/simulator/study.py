"""A study of one district: the model, its classification, plans and report in one object.

The five-line library use (``docs/library.md``)::

    import netstage as ns
    s = ns.load("example:stage2")        # or a district YAML path
    print(s.classify().stage)            # Stage 1-4 with every rule's verdict
    print(s.plan(target=4).summary())    # the cheapest verified upgrades
    s.report("out/")                     # HTML, JSON, PDF and charts

The analyses behind the verdict are there too, computed once and shared with the rules:
``s.simulate("now")``, ``s.redundancy()``, ``s.contingency()`` (N-1) and
``s.availability()`` (outage hours per year).

A :class:`Study` owns the district and caches what it computed, keyed by the settings
that change the answer (scenarios, seed, rubric overrides), so asking twice costs
nothing and a report reuses the classification and plans already made. The heavy
results (the district's arrays, converted once, the simulations, the redundancy and N-1
reports) are :attr:`Study.evidence`, typed (:class:`~netstage.simulator.evidence.Evidence`):
the classification fills it, the plans start from it instead of converting and
analysing the district again, and the report's charts and evidence section read it.
The district is treated as read-only: change it and make a new study
(:meth:`Study.with_district`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netstage.simulator.evidence import Evidence
from netstage.simulator.io import load_district
from netstage.simulator.model import District
from netstage.simulator.plan import UpgradePlan, plan_upgrades
from netstage.simulator.rules import Rubric
from netstage.simulator.stage import DEFAULT_N_SCENARIOS, Classification, classify

if TYPE_CHECKING:
    from netstage.simulator.availability import AvailabilityReport
    from netstage.simulator.contingency import ContingencyReport
    from netstage.simulator.redundancy import RedundancyReport
    from netstage.simulator.simulate import SimulationResult

__all__ = ["Study", "load"]


@dataclass
class Study:
    """One district and the results computed on it (see the module docstring).

    ``n_scenarios`` and ``seed`` drive the Monte Carlo rules (same seed, same answer);
    ``overrides`` is a rubric overrides file or dict, as for ``netstage classify
    --rubric`` (or a ready :class:`~netstage.simulator.rules.Rubric`).
    """

    district: District
    n_scenarios: int = DEFAULT_N_SCENARIOS
    seed: int = 0
    overrides: Rubric | str | Path | dict[str, Any] | None = None
    source: str | None = None
    _classification: Classification | None = field(default=None, init=False, repr=False)
    _evidence: Evidence | None = field(default=None, init=False, repr=False)
    _plans: dict[int, UpgradePlan] = field(default_factory=dict, init=False, repr=False)
    _availability: dict[str, AvailabilityReport] = field(default_factory=dict, init=False,
                                                         repr=False)

    @property
    def name(self) -> str:
        return self.district.district.name

    @property
    def evidence(self) -> Evidence:
        """The district's arrays, simulations, redundancy and N-1 reports, each computed
        once (by the classification; the plans and the report reuse them)."""
        ev = self._evidence
        if ev is None or ev.district is not self.district \
                or (ev.n_scenarios, ev.seed) != (self.n_scenarios, self.seed):
            ev = self._evidence = Evidence(self.district, n_scenarios=self.n_scenarios,
                                           seed=self.seed)
        return ev

    def classify(self) -> Classification:
        """The district's stage with every rule's verdict (computed once, then cached)."""
        if self._classification is None:
            self._classification = classify(self.district, n_scenarios=self.n_scenarios,
                                            seed=self.seed, overrides=self.overrides,
                                            evidence=self.evidence)
        return self._classification

    @property
    def stage(self) -> int:
        """Stage 1-4 (classifies on first use)."""
        return self.classify().stage

    def plan(self, target: int | None = None, *, budget_usd: float | None = None
             ) -> UpgradePlan:
        """The cheapest verified upgrades to ``target`` (default: the next stage).

        Plans without a budget are cached per target; ``budget_usd`` only changes what
        the plan reports as fitting (see :func:`~netstage.simulator.plan.plan_upgrades`).
        """
        c = self.classify()
        goal = target if target is not None else min(c.stage + 1, 4)
        if budget_usd is None and goal in self._plans:
            return self._plans[goal]
        p = plan_upgrades(self.district, target_stage=goal, budget_usd=budget_usd,
                          n_scenarios=self.n_scenarios, seed=self.seed,
                          overrides=c.rubric, classification=c)
        if budget_usd is None:
            self._plans[goal] = p
        return p

    def report(self, out_dir: str | Path, *, formats: tuple[str, ...] | None = None,
               plans: bool = True, extra: dict[str, Any] | None = None,
               progress: Callable[[str], None] | None = None) -> dict[str, Path]:
        """Write the report (HTML/JSON/PDF and charts) into ``out_dir``, as
        ``netstage report`` does, with this study's classification and plans (to the
        next stage and to Stage 4, or none with ``plans=False``); ``extra`` adds
        sections (the auditor's audit and capture summaries). Returns
        ``{format: path}`` (see :func:`~netstage.simulator.report.write_report`)."""
        from netstage.simulator.report import FORMATS, write_report

        return write_report(self, out_dir, plans=None if plans else [], extra=extra,
                            formats=formats or FORMATS, progress=progress)

    # -- the analyses, each computed once and shared with the rules and the report -------
    def simulate(self, scenario: str = "now") -> SimulationResult:
        """The busy-hour simulation of ``scenario`` (a shipped scenario type: ``lab``,
        ``now``, ``future``...) with this study's scenarios and seed; the capacity rules
        read the same cached result."""
        return self.evidence.simulation(scenario)

    def redundancy(self) -> RedundancyReport | None:
        """Paths, cut points and single points of failure (R-HA's structure; cached).
        None only after the analysis raised on this district (the first call raised)."""
        return self.evidence.redundancy_report()

    def contingency(self) -> ContingencyReport | None:
        """The N-1 report: every single failure re-routed and re-simulated (cached; the
        one R-HA reads when the structure passes). None as for :meth:`redundancy`."""
        return self.evidence.contingency_report()

    def availability(self, reliability: str | Path | None = None) -> AvailabilityReport:
        """Expected outage hours per year per school and district-wide, from the
        shipped reliability figures or the ``reliability`` file (as ``netstage
        availability --reliability``); cached per file, on the study's arrays."""
        from netstage.simulator.availability import estimate_availability, load_reliability

        key = str(reliability) if reliability is not None else ""
        if key not in self._availability:
            self._availability[key] = estimate_availability(
                self.district, reliability=load_reliability(reliability),
                arrays=self.evidence.district_arrays())
        return self._availability[key]

    @classmethod
    def from_classification(cls, district: District, classification: Classification,
                            *, source: str | None = None) -> Study:
        """A study of ``district`` around a classification already made with
        :func:`~netstage.simulator.stage.classify` (e.g. of some rules only): its
        settings, rubric and evidence become the study's."""
        c = classification
        if c.evidence.district is not district:
            raise ValueError("the classification was made on another district object")
        s = cls(district, n_scenarios=c.n_scenarios, seed=c.seed, overrides=c.rubric,
                source=source)
        s._classification, s._evidence = c, c.evidence
        return s

    def with_capacity(self, *, circuits: dict[str, float] | None = None,
                      links: dict[str, float] | None = None) -> Study:
        """A new study (nothing cached) of this district with new capacities in Mbps,
        ``circuits`` by id and ``links`` by key: a typed edit
        (:meth:`District.with_capacity <netstage.simulator.model.District.with_capacity>`),
        not a copy of the whole district validated again."""
        return self.with_district(self.district.with_capacity(circuits=circuits, links=links))

    def with_district(self, district: District) -> Study:
        """A new study of ``district`` with the same settings (nothing cached)."""
        return Study(district, n_scenarios=self.n_scenarios, seed=self.seed,
                     overrides=self.overrides, source=self.source)


def load(path: str | Path, *, n_scenarios: int = DEFAULT_N_SCENARIOS, seed: int = 0,
         overrides: str | Path | dict[str, Any] | None = None) -> Study:
    """A :class:`Study` of the district file ``path`` (or ``example:NAME``)."""
    return Study(load_district(path), n_scenarios=n_scenarios, seed=seed,
                 overrides=overrides, source=str(path))
