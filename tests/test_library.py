"""The public API: the documented five-line use works (docs/library.md's example runs in
tests/test_docs_run.py with every other doc block)."""

from __future__ import annotations

from pathlib import Path

import pytest

import netstage as ns


def test_load_classify_plan_cached(tmp_path: Path) -> None:
    s = ns.load("example:stage2", n_scenarios=40)
    c = s.classify()
    assert s.classify() is c, "a second classify is the cached result"
    assert s.stage == c.stage == 2
    p = s.plan(target=3)
    assert s.plan(target=3) is p
    assert p.stage_before == 2 and p.stage_after >= 3
    assert ns.load("example:stage2", n_scenarios=40).classify().to_json()["rules"] == \
        c.to_json()["rules"], "same seed, same answer"


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        _ = ns.does_not_exist  # type: ignore[attr-defined]



def test_study_owns_the_evidence_and_plans_reuse_it() -> None:
    """The classification fills the study's typed evidence (the arrays converted once);
    the plan starts from it without changing it, and plans exactly as from scratch."""
    from netstage.simulator.io import load_district
    from netstage.simulator.plan import plan_upgrades

    s = ns.load("example:stage2", n_scenarios=40)
    c = s.classify()
    ev = s.evidence
    assert c.evidence is ev and ev.arrays is not None and ev.simulated
    kept = (dict(ev.simulations), ev.redundancy, ev.contingency, ev.arrays)
    p = s.plan(target=3)
    assert (dict(ev.simulations), ev.redundancy, ev.contingency, ev.arrays) == kept
    fresh = plan_upgrades(load_district("example:stage2"), target_stage=3, n_scenarios=40)
    assert p.to_json() == fresh.to_json()


def test_study_analyses_are_the_rules_own_and_computed_once() -> None:
    """s.simulate/redundancy/contingency are the objects the classification used (no
    second computation); availability is cached per reliability file and equals the
    analysis run on its own."""
    from netstage.simulator.availability import estimate_availability
    from netstage.simulator.io import load_district

    s = ns.load("example:stage4", n_scenarios=40)
    c = s.classify()
    assert s.simulate("now") is c.evidence.simulations["now"]
    assert s.redundancy() is c.evidence.redundancy is not None
    n1 = s.contingency()
    assert n1 is not None and s.contingency() is n1 is c.evidence.contingency
    a = s.availability()
    assert s.availability() is a
    alone = estimate_availability(load_district("example:stage4"))
    assert a.to_json() == alone.to_json()
