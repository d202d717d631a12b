"""Every example district in netstage/topologies/ gets exactly the stage its comment block derives
by hand (the simulator and the N-1 analysis run for real, with few scenarios)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netstage.simulator.io import load_district
from netstage.simulator.stage import classify

from .stage_support import expected_stage
from .support import CliRunner, example_districts

EXAMPLES = example_districts()


def test_there_are_four_examples_one_per_stage() -> None:
    assert sorted(expected_stage(p) for p in EXAMPLES) == [1, 2, 3, 4]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_gets_its_expected_stage(path: Path) -> None:
    c = classify(load_district(path), n_scenarios=100, seed=0)
    want = expected_stage(path)
    assert c.stage == want, (c.binding, [(r.rule_id, r.allows_stage, r.explanation)
                                         for r in c.rules])
    # the stage is the minimum over rules, and the binding rules are exactly those at it
    assert c.stage == min(r.allows_stage for r in c.rules)
    assert set(c.binding) == {r.rule_id for r in c.rules if r.allows_stage == want}
    # the capacity and HA rules really ran (not 'unknown' because an engine is missing)
    for rid in ("R-LAB", "R-NOW", "R-FUTURE"):
        assert c.rule(rid).status != "unknown", c.rule(rid).explanation


@pytest.mark.parametrize("path", [p for p in EXAMPLES if expected_stage(p) in (3, 4)],
                         ids=lambda p: p.stem)
def test_stage_is_stable_across_seeds(path: Path) -> None:
    """The stage 3/4 examples sit near thresholds (N-1, throttling): another seed agrees."""
    assert classify(load_district(path), n_scenarios=100, seed=11).stage == expected_stage(path)


def test_classify_cli_json(run_cli: CliRunner) -> None:
    path = next(p for p in EXAMPLES if expected_stage(p) == 2)
    r = run_cli("classify", str(path), "--json", "--scenarios", "20")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["stage"] == 2
    assert [x["id"] for x in data["rules"]][:3] == ["R-LAB", "R-NOW", "R-FUTURE"]
    assert all({"status", "allows_stage", "inputs", "threshold", "explanation"} <= set(x)
               for x in data["rules"])
    human = run_cli("classify", str(path), "--scenarios", "20")
    assert human.returncode == 0 and "Stage 2" in human.stdout and "R-NOW" in human.stdout
