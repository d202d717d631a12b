"""Typed rule details (one dataclass per rule): netstage reads attributes, the JSON and the
mapping view stay the plain dict the details were before."""

from __future__ import annotations

from netstage.simulator.rules.capacity import CapacityDetails
from netstage.simulator.stage import classify

from .stage_support import build, small_district

N = 40


def test_capacity_details_typed_with_the_old_json() -> None:
    c = classify(build(small_district()), n_scenarios=N, seed=2,
                 rules=("R-LAB", "R-NOW", "R-FUTURE"))
    now = c.rule("R-NOW").details
    assert isinstance(now, CapacityDetails)
    assert now.scenario == "now" and now.n_scenarios == N and now.seed == 2
    assert now.unserved is not None and now.throttled is not None
    assert list(now.to_json()) == ["scenario", "n_scenarios", "seed", "unserved_fraction_p95",
                                   "throttled_share_p95", "wifi_density"]
    assert now["unserved_fraction_p95"] == now.unserved   # the old dict, as a mapping
    assert dict(now) == now.to_json() == c.rule("R-NOW").to_json()["details"]
    lab = c.rule("R-LAB").details
    assert isinstance(lab, CapacityDetails) and lab.throttled is None
    assert list(lab.to_json()) == ["scenario", "n_scenarios", "seed", "unserved_fraction_p95"]


def test_ha_details_typed_with_the_old_json() -> None:
    from netstage.simulator.rules.availability_rule import HADetails

    from .test_rules_capacity import redundant

    c = classify(build(redundant()), n_scenarios=N, seed=2, rules=("R-HA",))
    det = c.rule("R-HA").details
    assert isinstance(det, HADetails)
    assert det.worst_site == "es" and det.worst_contingency
    assert list(det.to_json()) == ["worst_site", "worst_contingency", "circuit_groups",
                                   "groups", "srlg_disjoint_paths", "binding",
                                   "redundant_stacks"]
    assert det["binding"] == det.binding == {}
    assert c.rule("R-HA").to_json()["details"] == det.to_json()


def test_target_and_standard_details_typed_with_the_old_json() -> None:
    from netstage.simulator.rules.declared_rules import StandardDetails
    from netstage.simulator.rules.target import TargetDetails

    c = classify(build(small_district()), n_scenarios=N, seed=2,
                 rules=("R-TARGET", "R-STANDARD"))
    t = c.rule("R-TARGET").details
    assert isinstance(t, TargetDetails) and t.worst_school == "es"
    assert t.to_json() == {"school_wan_gbps_per_1000": t.school_wan_gbps_per_1000} == dict(t)
    s = c.rule("R-STANDARD").details
    assert isinstance(s, StandardDetails) and sum(s.families.values()) == 3
    assert list(s.to_json()) == ["families", "firmware_by_model"]
    assert c.rule("R-STANDARD").to_json()["details"]["families"] == s.families


def test_rules_without_details_have_no_details() -> None:
    from netstage.simulator.rules import NoDetails

    c = classify(build(small_district()), n_scenarios=N, seed=2,
                 rules=("R-SECURITY", "R-MANAGE"))
    for v in c.rules:
        assert isinstance(v.details, NoDetails) and v.details == {}
        assert v.to_json()["details"] == {}
