"""The typed evidence the rules hand on (netstage.simulator.evidence): computed once, shared
by the capacity rules and R-HA, "not computed" told apart from "not available", and
merged by the planner the way the old string-keyed dict was."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

import netstage.simulator.arrays as arrays_mod
from netstage.simulator.errors import TopologyError
from netstage.simulator.evidence import Evidence
from netstage.simulator.rules import RuleContext, default_rubric
from netstage.simulator.stage import classify

from .stage_support import build, small_district
from .test_rules_capacity import redundant

N = 40


def _count_conversions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = arrays_mod.to_arrays

    def counting(d: Any) -> Any:
        calls.append(1)
        return real(d)

    monkeypatch.setattr(arrays_mod, "to_arrays", counting)
    return calls


def test_classify_converts_the_district_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_conversions(monkeypatch)
    c = classify(build(redundant()), n_scenarios=N, seed=1)
    ev = c.evidence
    # every capacity rule simulated and R-HA ran N-1, all on the same arrays
    assert set(ev.simulations) == {"lab", "now", "future"}
    assert ev.computed("redundancy") and ev.computed("contingency")
    assert ev.contingency is not None and ev.redundancy is not None
    assert len(calls) == 1
    assert ev.arrays is ev.district_arrays()


def test_reused_evidence_is_not_recomputed(monkeypatch: pytest.MonkeyPatch) -> None:
    d = build(redundant())
    c1 = classify(d, n_scenarios=N, seed=1, rules=("R-NOW",))
    ev = c1.evidence
    res = ev.simulations["now"]
    calls = _count_conversions(monkeypatch)
    c2 = classify(d, n_scenarios=N, seed=1, rules=("R-NOW", "R-HA"), evidence=ev)
    assert c2.evidence is ev and ev.simulations["now"] is res   # not simulated again
    assert ev.computed("redundancy") and not calls               # arrays not converted again
    assert c2.rule("R-NOW").to_json() == c1.rule("R-NOW").to_json()


def test_evidence_of_other_settings_is_refused() -> None:
    d = build(small_district())
    ev = Evidence(d, n_scenarios=N, seed=1)
    with pytest.raises(ValueError):
        RuleContext(d, default_rubric(), n_scenarios=N, seed=2, reuse=ev)
    with pytest.raises(ValueError):
        RuleContext(build(small_district()), default_rubric(), n_scenarios=N, seed=1, reuse=ev)


def test_reports_are_computed_on_first_use_and_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import netstage.simulator.contingency as contingency_mod

    calls: list[int] = []
    real = contingency_mod.run_contingency

    def counting(*a: Any, **kw: Any) -> Any:
        calls.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(contingency_mod, "run_contingency", counting)
    ev = Evidence(build(redundant()), n_scenarios=N, seed=1)
    assert not ev.computed("contingency") and ev.contingency is None
    rep = ev.contingency_report()
    assert rep is not None and ev.computed("contingency") and ev.contingency is rep
    assert ev.contingency_report() is rep and len(calls) == 1


def test_a_failed_analysis_counts_as_computed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The error goes to the rule that asked first; later readers see None, not a rerun."""
    import netstage.simulator.redundancy as redundancy_mod

    def rejects(*a: Any, **kw: Any) -> Any:
        raise TopologyError("no path to the Internet")

    monkeypatch.setattr(redundancy_mod, "analyse_redundancy", rejects)
    ev = Evidence(build(small_district()), n_scenarios=N, seed=1)
    with pytest.raises(TopologyError):
        ev.redundancy_report()
    assert ev.computed("redundancy") and ev.redundancy_report() is None


def test_importing_the_evidence_loads_no_analysis() -> None:
    """The analyses are imported on first use (they are part of the package: no
    fallback), so modules that only name Evidence do not pay for numba's kernels."""
    heavy = ("netstage.simulator.simulate", "netstage.simulator.redundancy",
             "netstage.simulator.contingency", "numba")
    code = ("import sys, netstage.simulator.evidence; "
            f"print([m for m in {heavy!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_merged_takes_what_the_newer_evidence_computed() -> None:
    d0, d1 = build(redundant()), build(redundant(500.0))
    old = classify(d0, n_scenarios=N, seed=1, rules=("R-NOW", "R-HA")).evidence
    new = classify(d1, n_scenarios=N, seed=1, rules=("R-LAB",)).evidence
    m = old.merged(new)
    assert m.district is d1
    assert m.simulations["lab"] is new.simulations["lab"]
    assert m.simulations["now"] is old.simulations["now"]
    assert m.arrays is new.arrays
    # what the new run did not compute is kept from the old one
    assert m.contingency is old.contingency and m.computed("contingency")
    assert list(m.simulations) == ["now", "lab"]


def test_to_json_has_the_report_sections() -> None:
    c = classify(build(redundant()), n_scenarios=N, seed=1, rules=("R-NOW", "R-HA"))
    j = c.evidence.to_json()
    assert list(j) == ["simulations", "redundancy", "contingency"]
    assert list(j["simulations"]) == ["now"]


def test_reused_shares_only_what_the_settings_do_not_change() -> None:
    c = classify(build(redundant()), n_scenarios=N, seed=1)
    ev = c.evidence
    same = ev.reused(N, 1)
    assert same is not ev and same.simulations == ev.simulations
    assert same.contingency is ev.contingency and same.arrays is ev.arrays
    other = ev.reused(N + 1, 1)
    assert other.arrays is ev.arrays and other.redundancy is ev.redundancy
    assert not other.simulations and not other.computed("contingency")
    other.simulation("now")
    assert list(ev.simulations) == ["lab", "now", "future"]   # the original is untouched
