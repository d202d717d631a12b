"""R-LAB, R-NOW, R-FUTURE: simulated peak load against the rubric's thresholds.

Each rule runs the scenario type of the same name in ``simulator/data/scenarios.yaml``
through :func:`netstage.simulator.simulate.simulate` (Monte Carlo over application
profiles, max-min fair allocation) and compares the 95th percentile over scenarios of
the unserved fraction (and, for R-NOW, of the throttled-device share) with the rubric.
Results are kept in ``ctx.evidence.simulations[<scenario>]`` for the charts
(:class:`~netstage.simulator.evidence.Evidence`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from netstage.simulator.model import SiteKind
from netstage.simulator.rules.base import (
    Check,
    Provenance,
    RuleContext,
    RuleDetails,
    RuleInput,
    RuleVerdict,
    Status,
    at_most,
    register,
    verdict_from_checks,
)

if TYPE_CHECKING:
    from netstage.simulator.simulate import SimulationResult

__all__ = ["CapacityDetails", "percentile_of", "rule_future", "rule_lab", "rule_now",
           "simulation", "wifi_density"]


@dataclass(frozen=True, eq=False)
class CapacityDetails(RuleDetails):
    """What R-LAB, R-NOW and R-FUTURE measured. ``at_percentile`` maps each
    :class:`~netstage.simulator.simulate.SimulationResult` array the rule limits
    (``unserved_fraction``; for R-NOW also ``throttled_share``) to its ``percentile``-th
    percentile over the simulated scenarios (None: nothing was measured). JSON keys as
    before: ``unserved_fraction_p95`` and so on."""

    scenario: str
    n_scenarios: int
    seed: int
    percentile: float
    at_percentile: dict[str, float | None]
    #: R-NOW: AP density per school from the Wi-Fi radio model ([] without APs)
    wifi_density: list[dict[str, Any]] = field(default_factory=list)

    @property
    def unserved(self) -> float | None:
        """The percentile of the unserved fraction of demand (None: not measured)."""
        return self.at_percentile.get("unserved_fraction")

    @property
    def throttled(self) -> float | None:
        """The percentile of the throttled-device share (R-NOW; None otherwise)."""
        return self.at_percentile.get("throttled_share")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"scenario": self.scenario, "n_scenarios": self.n_scenarios,
                               "seed": self.seed,
                               **{f"{a}_p{self.percentile:g}": v
                                  for a, v in self.at_percentile.items()}}
        if self.wifi_density:
            out["wifi_density"] = self.wifi_density
        return out


def simulation(ctx: RuleContext, scenario: str) -> SimulationResult:
    """The (cached) simulation result of ``scenario``."""
    return ctx.evidence.simulation(scenario)


def percentile_of(res: Any, name: str, q: float) -> float:
    """The ``q``-th percentile over scenarios of the per-scenario array ``name``."""
    import numpy as np

    return float(np.percentile(np.asarray(getattr(res, name), dtype=float), q))


def _sim_inputs(ctx: RuleContext) -> list[RuleInput]:
    d = ctx.district
    schools = [s for s in d.sites if s.kind == SiteKind.SCHOOL]
    lab_declared = any(s.wired_lab_pcs is not None for s in schools)
    return [
        RuleInput("topology_links", len(d.links) + len(d.circuits), "declared", "links"),
        RuleInput("students", d.total_students, "declared", "students"),
        RuleInput("devices_per_student", d.district.devices_per_student,
                  "declared" if "devices_per_student" in d.district.model_fields_set
                  else "default", "devices"),
        RuleInput("wired_lab_pcs_per_school",
                  d.district.default_wired_lab_pcs,
                  "declared" if lab_declared
                  or "default_wired_lab_pcs" in d.district.model_fields_set else "default",
                  "PCs"),
    ]


def _capacity_rule(ctx: RuleContext, rule_id: str, limits: dict[str, str],
                   extra_inputs: list[RuleInput] | None = None,
                   needs_students: bool = False,
                   wifi: list[dict[str, Any]] | None = None) -> RuleVerdict:
    """Shared body: ``limits`` maps threshold names to SimulationResult array names."""
    spec = ctx.rubric.rules[rule_id]
    scenario = spec.scenario or rule_id
    res = simulation(ctx, scenario)
    q = ctx.rubric.percentile
    # a busy hour in which no device is ever active measured nothing: unknown, not a pass
    # (R-NOW / R-FUTURE judge 1:1, which means nothing without students)
    idle = _never_active(res) or (needs_students and ctx.district.total_students <= 0)
    values: dict[str, float | None] = {
        th: (percentile_of(res, arr, q) if not idle else None)
        for th, arr in limits.items()
    }
    checks = [
        Check(th, spec.thresholds[th].stage, at_most(values[th], spec.thresholds[th].value),
              f"p{q:g} {arr.replace('_', ' ')} <= {spec.thresholds[th].value:.0%}")
        for th, arr in limits.items()
    ]
    inputs = _sim_inputs(ctx) + (extra_inputs or [])
    head = next(iter(limits))
    measured = values[head]
    details = CapacityDetails(scenario, ctx.n_scenarios, ctx.seed, q,
                              {limits[k]: v for k, v in values.items()}, wifi or [])

    def explain(stage: int, status: Status) -> str:
        if idle:
            who = "no students" if needs_students else "no students, staff or lab PCs"
            return (f"The '{scenario}' busy hour has {who} to simulate, so nothing was "
                    f"measured: counted at stage {stage}.")
        parts = [f"p{q:g} {limits[k].replace('_', ' ')} {v:.1%} (limit "
                 f"{spec.thresholds[k].value:.0%})" for k, v in values.items() if v is not None]
        return (f"In the '{scenario}' busy hour over {ctx.n_scenarios} simulated scenarios, "
                + " and ".join(parts) + f": allows stage {stage}.")

    return verdict_from_checks(
        ctx, rule_id, checks, inputs, measured_value=None if measured is None
        else round(measured, 5), unit="fraction unserved" if "unserved" in head else "fraction",
        to_resolve=[_NO_DEVICES] if idle else [],
        explain=explain, details=details)


_NO_DEVICES = ("give the students and staff of each site (sites[].students, sites[].staff) "
               "or its device populations, so the busy hour has devices to simulate")


def _never_active(res: Any) -> bool:
    import numpy as np

    active = getattr(res, "active_devices", None)
    if active is None:
        return False
    a = np.asarray(active)
    return bool(a.size == 0 or int(a.max()) == 0)


@register("R-LAB")
def rule_lab(ctx: RuleContext) -> RuleVerdict:
    """Wired labs + staff devices on web/office work: p95 unserved within the limit."""
    return _capacity_rule(ctx, "R-LAB", {"max_unserved_p95": "unserved_fraction"})


def wifi_density(ctx: RuleContext) -> list[dict[str, Any]]:
    """AP density per school (APs per classroom, busy-hour active clients per radio,
    radio capacity) from the Wi-Fi radio model; [] without access points."""
    from netstage.simulator.wifi import density_by_site

    return density_by_site(ctx.district, ctx.evidence.district_arrays())


@register("R-NOW")
def rule_now(ctx: RuleContext) -> RuleVerdict:
    """1:1 busy hour today: p95 unserved and p95 throttled devices within limits."""
    density = wifi_density(ctx)
    return _capacity_rule(ctx, "R-NOW", {"max_unserved_p95": "unserved_fraction",
                                         "max_throttled_p95": "throttled_share"},
                          needs_students=True,
                          wifi=density)


@register("R-FUTURE")
def rule_future(ctx: RuleContext) -> RuleVerdict:
    """The R-NOW busy hour grown over the horizon: p95 unserved within the limit."""
    g = ctx.district.district.growth
    given = "growth" in ctx.district.district.model_fields_set
    prov: Provenance = "declared" if given else "default"
    return _capacity_rule(ctx, "R-FUTURE", {"max_unserved_p95": "unserved_fraction"}, [
        RuleInput("horizon_years", g.horizon_years, prov, "years"),
        RuleInput("growth_per_year", g.growth_per_year, prov, "fraction/year"),
    ], needs_students=True)
