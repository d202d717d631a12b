"""R-LAB, R-NOW, R-FUTURE and R-HA: at, just below and just above their thresholds.

The simulated value is taken from the simulation itself (its per-scenario arrays, an
independent percentile), then the rubric threshold is overridden to exactly that value,
a hair below and a hair above: the rule must pass, fail, pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from netstage.simulator.stage import classify

from .stage_support import build, small_district

N = 60


def run(data: dict[str, Any], rule: str, overrides: Any = None) -> Any:
    return classify(build(data), rules=(rule,), overrides=overrides, n_scenarios=N, seed=3)


def congested(circuit_mbps: float = 20.0) -> dict[str, Any]:
    return small_district(circuits=[{"id": "isp", "attach": "edge",
                                     "capacity_mbps": circuit_mbps}])


CASES = [  # rule, threshold name, per-scenario array, stage the threshold is needed for
    ("R-LAB", "max_unserved_p95", "unserved_fraction", 2),
    ("R-NOW", "max_unserved_p95", "unserved_fraction", 3),
    ("R-NOW", "max_throttled_p95", "throttled_share", 3),
    ("R-FUTURE", "max_unserved_p95", "unserved_fraction", 4),
]


@pytest.mark.parametrize(("rule", "name", "array", "stage"), CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_capacity_threshold_at_below_above(rule: str, name: str, array: str,
                                           stage: int) -> None:
    data = congested({"R-LAB": 20.0, "R-NOW": 60.0}.get(rule, 150.0))
    c = run(data, rule)
    scen = c.rubric.rules[rule].scenario
    res = c.evidence.simulations[scen]
    m = float(np.percentile(np.asarray(getattr(res, array), dtype=float), 95))
    assert 0.0 < m < 1.0, f"test district should be partly congested, p95 {array} = {m}"
    assert c.rule(rule).details[f"{array}_p95"] == pytest.approx(m)
    others = {k: 1.0 for k in c.rubric.rules[rule].thresholds if k != name}
    fail_allows = c.rubric.rules[rule].fail_allows
    for value, passes in ((m, True), (m - 1e-6, False), (m + 1e-6, True)):
        over = {"rules": {rule: {name: value, **others}}}
        v = run(data, rule, over).rule(rule)
        if passes:
            assert v.allows_stage == 4 and v.status == "pass", (value, m, v.explanation)
        else:
            assert v.allows_stage == min(stage - 1, 4) == max(fail_allows, stage - 1)
            assert v.status == "fail"


def test_unserved_is_at_least_the_capacity_bound() -> None:
    """With a 1 Mbps circuit, no scenario can be served more than 1 Mbps in total."""
    c = run(congested(1.0), "R-LAB")
    res = c.evidence.simulations["lab"]
    demand = np.asarray(res.demand_mbps, dtype=float)
    bound = np.percentile(np.clip(1.0 - 1.0 / demand, 0.0, 1.0), 95)
    v = c.rule("R-LAB")
    assert v.details["unserved_fraction_p95"] >= bound - 1e-9
    assert v.allows_stage == 1 and v.status == "fail"


def test_ample_capacity_passes_lab() -> None:
    data = small_district(circuits=[{"id": "isp", "attach": "edge", "capacity_mbps": 100000}])
    v = run(data, "R-LAB").rule("R-LAB")
    assert v.details["unserved_fraction_p95"] < 0.01
    assert v.allows_stage == 4


# -- R-HA ----------------------------------------------------------------------------------
def redundant(circuit_mbps: float = 1000.0) -> dict[str, Any]:
    """Two circuits on two edges, two cores, the school switch dual-homed."""
    d = small_district()
    d["nodes"] = [
        {"id": "e1", "kind": "edge", "site": "do"}, {"id": "e2", "kind": "edge", "site": "do"},
        {"id": "c1", "kind": "core", "site": "do"}, {"id": "c2", "kind": "core", "site": "do"},
        {"id": "es-sw", "kind": "access", "site": "es"},
        {"id": "es-ap", "kind": "ap", "site": "es", "count": 16,
         "wifi": {"generation": "wifi6", "channel_width_mhz": 80}},
    ]
    d["links"] = [
        {"a": "e1", "b": "c1", "capacity_mbps": 10000},
        {"a": "e2", "b": "c2", "capacity_mbps": 10000},
        {"a": "c1", "b": "c2", "capacity_mbps": 10000},
        {"a": "c1", "b": "es-sw", "capacity_mbps": 10000},
        {"a": "c2", "b": "es-sw", "capacity_mbps": 10000},
        {"a": "es-sw", "b": "es-ap", "capacity_mbps": 1000},
    ]
    d["circuits"] = [{"id": "isp-a", "attach": "e1", "capacity_mbps": circuit_mbps},
                     {"id": "isp-b", "attach": "e2", "capacity_mbps": circuit_mbps}]
    return d


def test_ha_one_circuit_fails_without_simulating() -> None:
    c = run(small_district(), "R-HA")
    v = c.rule("R-HA")
    assert v.allows_stage == 3 and v.status == "fail"
    assert not c.evidence.computed("contingency")   # settled by the cheap fact


def test_ha_circuit_threshold() -> None:
    over = {"rules": {"R-HA": {"min_internet_circuits": 1, "max_n1_unserved_p95": 1.0,
                               "min_edge_disjoint_paths_per_school": 1}}}
    assert run(small_district(), "R-HA", over).rule("R-HA").allows_stage == 4
    over["rules"]["R-HA"]["min_internet_circuits"] = 2
    assert run(small_district(), "R-HA", over).rule("R-HA").allows_stage == 3


def test_ha_paths_threshold() -> None:
    data = redundant()
    base = {"max_n1_unserved_p95": 1.0}
    assert run(data, "R-HA", {"rules": {"R-HA": {**base, "min_edge_disjoint_paths_per_school":
                                                 2}}}).rule("R-HA").allows_stage == 4
    v = run(data, "R-HA", {"rules": {"R-HA": {**base, "min_edge_disjoint_paths_per_school":
                                              3}}}).rule("R-HA")
    assert v.allows_stage == 3 and v.inputs[1].value == 2


def test_ha_n1_threshold_at_below_above() -> None:
    data = redundant(circuit_mbps=100.0)   # one 100 Mbps circuit left after a failure
    c = run(data, "R-HA")
    w = float(c.evidence.contingency.worst_unserved_p95)
    assert 0.0 < w < 1.0
    rows = c.evidence.contingency.contingencies
    assert w == pytest.approx(max(float(r.unserved_p95) for r in rows))
    for value, allows in ((w, 4), (w - 1e-6, 3), (w + 1e-6, 4)):
        v = run(data, "R-HA", {"rules": {"R-HA": {"max_n1_unserved_p95": value}}}).rule("R-HA")
        assert v.allows_stage == allows, (value, w, v.explanation)


def test_district_without_people_is_stage_1_and_says_what_to_measure() -> None:
    """Nothing known (no students, staff, facts, inventory): stage 1; the 1:1 rules are
    unknown rather than passing on an empty busy hour, and the list says what to give."""
    data = {"district": {"name": "Empty USD"}, "sites": [{"id": "s"}],
            "nodes": [{"id": "n", "kind": "edge", "site": "s"}],
            "circuits": [{"id": "isp", "attach": "n", "capacity_mbps": 100}]}
    c = classify(build(data), n_scenarios=20)
    assert c.stage == 1
    for rid in ("R-NOW", "R-FUTURE", "R-TARGET", "R-SECURITY", "R-MANAGE", "R-STANDARD"):
        assert c.rule(rid).status == "unknown", (rid, c.rule(rid).explanation)
    text = "\n".join(c.to_measure)
    assert "sites[].students" in text and "declared.security.edge_firewall" in text
