"""The heavy results a classification computes once and hands on, as one typed object.

The capacity rules, R-HA, the charts, the report, the planner and the web app all need
the same few results of one district: its arrays (:func:`~netstage.simulator.arrays.to_arrays`),
the simulation of each busy-hour scenario, the redundancy report and the N-1 contingency
report. :class:`Evidence` holds them with their real types. A rule asks through an
accessor (:meth:`Evidence.district_arrays`, :meth:`Evidence.simulation`,
:meth:`Evidence.redundancy_report`, :meth:`Evidence.contingency_report`), which computes
on first use and caches, so the district is converted once and every rule shares the
same arrays; charts, report, planner and web read the fields.

A report field that is ``None`` was either not computed (R-HA settled on structure and
never needed N-1) or its analysis failed on this district (the error went to the rule
that asked first); :meth:`Evidence.computed` tells the two apart. A simulation is keyed
by scenario type in :attr:`Evidence.simulations`.

The analyses are imported where they are first needed, not at the top: this module is
imported with the rules (``netstage --help``, ``validate``), which should not pay for
numba's kernels; they are part of the package, so a failing import is a broken install
and raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from netstage.simulator.model import District

if TYPE_CHECKING:
    from netstage.simulator.arrays import DistrictArrays
    from netstage.simulator.contingency import ContingencyReport
    from netstage.simulator.redundancy import RedundancyReport
    from netstage.simulator.simulate import SimulationResult

__all__ = ["Evidence"]

Analysis = Literal["arrays", "redundancy", "contingency"]


@dataclass(eq=False)
class Evidence:
    """Arrays, simulations, redundancy and contingency of one district (module docstring).

    ``n_scenarios`` and ``seed`` are the Monte Carlo settings the simulations and the
    N-1 analysis run with (the rules' settings); ``n1_scenarios``, when set, is the N-1
    analysis's own count (the planner searches with few simulated scenarios but judges
    N-1 with the verification's: its cost is in the re-routing, not the scenarios).
    """

    district: District = field(repr=False)
    n_scenarios: int = 200
    seed: int = 0
    arrays: DistrictArrays | None = field(default=None, repr=False)
    #: scenario type -> result, in the order the rules ran them
    simulations: dict[str, SimulationResult] = field(default_factory=dict, repr=False)
    redundancy: RedundancyReport | None = field(default=None, repr=False)
    contingency: ContingencyReport | None = field(default=None, repr=False)
    n1_scenarios: int | None = None
    _computed: set[str] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        # results handed in (the web app's own N-1 run) count as computed
        for name in ("arrays", "redundancy", "contingency"):
            if getattr(self, name) is not None:
                self._computed.add(name)

    def computed(self, what: Analysis) -> bool:
        """Whether ``what`` was computed (its field may still be None: the analysis
        failed on this district)."""
        return what in self._computed

    # -- accessors: compute once, then cache ----------------------------------------------
    def district_arrays(self) -> DistrictArrays:
        """The district's arrays, converted on first use (every analysis shares them)."""
        if self.arrays is None:
            from netstage.simulator.arrays import to_arrays

            self.arrays = to_arrays(self.district)
            self._computed.add("arrays")
        return self.arrays

    def simulation(self, scenario: str) -> SimulationResult:
        """The simulation of ``scenario`` (cached)."""
        if scenario not in self.simulations:
            from netstage.simulator.simulate import simulate

            self.simulations[scenario] = simulate(
                self.district_arrays(), scenario=scenario, n_scenarios=self.n_scenarios,
                seed=self.seed)
        return self.simulations[scenario]

    def redundancy_report(self) -> RedundancyReport | None:
        """The redundancy report (cached); None after the analysis raised on this
        district (the error went to the first caller)."""
        if "redundancy" not in self._computed:
            from netstage.simulator.redundancy import analyse_redundancy

            self._computed.add("redundancy")
            self.redundancy = analyse_redundancy(self.district, arrays=self.district_arrays())
        return self.redundancy

    def contingency_report(self) -> ContingencyReport | None:
        """The N-1 contingency report (cached); None after the analysis raised on this
        district (the error went to the first caller)."""
        if "contingency" not in self._computed:
            from netstage.simulator.contingency import run_contingency

            self._computed.add("contingency")
            self.contingency = run_contingency(self.district, n_scenarios=self.n1_count,
                                               seed=self.seed, arrays=self.district_arrays())
        return self.contingency

    @property
    def n1_count(self) -> int:
        """The scenarios the N-1 analysis runs with."""
        return self.n1_scenarios or self.n_scenarios

    def adopt_contingency(self, report: ContingencyReport | None) -> None:
        """Take an N-1 report computed elsewhere on this district with this evidence's
        settings (the what-if page keeps one per network across scenarios that change
        neither the devices nor the network); it then counts as computed."""
        self.contingency = report
        self._computed.add("contingency")

    def adopt_redundancy(self, report: RedundancyReport | None) -> None:
        """Take a redundancy report computed elsewhere on an equal network (the planner's
        :class:`~netstage.simulator.plan.gap.EvidencePool`); it then counts as computed."""
        self.redundancy = report
        self._computed.add("redundancy")

    # -- readers -------------------------------------------------------------------------
    @property
    def simulated(self) -> list[tuple[str, SimulationResult]]:
        """``(scenario, result)`` of every simulation that ran, in the order run."""
        return list(self.simulations.items())

    def reused(self, n_scenarios: int, seed: int, n1_scenarios: int | None = None
               ) -> Evidence:
        """A new evidence of the same district for ``n_scenarios``/``seed`` (and
        ``n1_scenarios``): it starts with what does not depend on them (arrays,
        redundancy) and, with the same settings, with the simulations and N-1 already
        made too. What it computes later is its own; this evidence is never changed
        through it."""
        out = Evidence(self.district, n_scenarios=n_scenarios, seed=seed,
                       n1_scenarios=n1_scenarios)
        shared = ["arrays", "redundancy"]
        if (n_scenarios, seed) == (self.n_scenarios, self.seed):
            out.simulations = dict(self.simulations)
        if (out.n1_count, seed) == (self.n1_count, self.seed):
            shared.append("contingency")
        for name in shared:
            if name in self._computed:
                setattr(out, name, getattr(self, name))
                out._computed.add(name)
        return out

    def merged(self, new: Evidence) -> Evidence:
        """This evidence with what ``new`` computed taken from ``new`` (the planner keeps
        the evidence of the rules a step did not re-evaluate); bound to ``new``'s district
        and settings."""
        out = Evidence(new.district, n_scenarios=new.n_scenarios, seed=new.seed,
                       n1_scenarios=new.n1_scenarios)
        out.simulations = {**self.simulations, **new.simulations}
        for name in ("arrays", "redundancy", "contingency"):
            src = new if name in new._computed else self
            setattr(out, name, getattr(src, name))
            if name in src._computed:
                out._computed.add(name)
        return out

    def to_json(self) -> dict[str, Any]:
        """The report's ``evidence`` section: each simulation's summary (the busiest links
        only) and the redundancy and contingency reports that were computed."""
        out: dict[str, Any] = {"simulations": {s: r.to_json(all_links=False)
                                               for s, r in self.simulated}}
        if self.redundancy is not None:
            out["redundancy"] = self.redundancy.to_json()
        if self.contingency is not None:
            out["contingency"] = self.contingency.to_json()
        return out
