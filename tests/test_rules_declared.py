"""R-SECURITY, R-MANAGE, R-STANDARD, R-TARGET: at, just below and just above thresholds."""

from __future__ import annotations

from typing import Any

import pytest

from netstage.simulator.stage import classify

from .stage_support import build, small_district

DECLARED_ONLY = ("R-TARGET", "R-SECURITY", "R-MANAGE", "R-STANDARD")


def verdict(data: dict[str, Any], rule: str, overrides: Any = None) -> Any:
    c = classify(build(data), rules=(rule,), overrides=overrides)
    return c.rule(rule)


# -- R-TARGET ------------------------------------------------------------------------------
@pytest.mark.parametrize(("circuit_mbps", "allows"), [
    (40.0, 3),      # exactly 100 kbps x 400 students: at the stage-2 threshold (< 1 Mbps: 3)
    (39.99, 1),     # just below
    (40.01, 3),     # just above
    (400.0, 4),     # exactly 1 Mbps per student; WAN 10 Gbps for 400 students passes
    (399.9, 3),
])
def test_target_internet_per_student(circuit_mbps: float, allows: int) -> None:
    data = small_district(circuits=[{"id": "isp", "attach": "edge",
                                     "capacity_mbps": circuit_mbps}])
    v = verdict(data, "R-TARGET")
    assert v.allows_stage == allows
    assert v.status == ("pass" if allows == 4 else "fail")


@pytest.mark.parametrize(("wan_mbps", "allows"), [(4000, 4), (3999, 3), (4001, 4)])
def test_target_wan_per_1000_students(wan_mbps: float, allows: int) -> None:
    data = small_district()
    data["links"][1]["capacity_mbps"] = wan_mbps   # 400 students: 10 Gbps/1,000 = 4,000 Mbps
    data["circuits"][0]["capacity_mbps"] = 1000
    assert verdict(data, "R-TARGET").allows_stage == allows


def test_target_override_moves_threshold() -> None:
    data = small_district()   # 1,000 Mbps / 400 = 2,500 kbps per student
    over = {"rules": {"R-TARGET": {"min_internet_kbps_per_student_stage4": 2500}}}
    assert verdict(data, "R-TARGET", over).allows_stage == 4
    over["rules"]["R-TARGET"]["min_internet_kbps_per_student_stage4"] = 2500.01
    v = verdict(data, "R-TARGET", over)
    assert v.allows_stage == 3 and v.threshold["min_internet_kbps_per_student_stage4"] == 2500.01


# -- R-SECURITY ----------------------------------------------------------------------------
ALL_SEC = {"edge_firewall": True, "content_filter": True, "segmentation": True, "dot1x": True,
           "snmp_v3_only": True, "default_write_communities_removed": True}


@pytest.mark.parametrize(("drop", "allows"), [
    (None, 4), ("edge_firewall", 2), ("content_filter", 2), ("segmentation", 3), ("dot1x", 3),
    ("snmp_v3_only", 3),
])
def test_security_levels(drop: str | None, allows: int) -> None:
    sec = dict(ALL_SEC)
    if drop:
        sec[drop] = False
    v = verdict(small_district(declared={"security": sec}), "R-SECURITY")
    assert (v.allows_stage, v.status) == (allows, "pass" if allows == 4 else "fail")


def test_security_default_write_community_measured_beats_declared() -> None:
    snmp = {"infrastructure_devices": 3, "answered": 3, "v3_devices": 3, "v1v2c_devices": 0,
            "default_community_accepted": 0, "default_write_community_accepted": 1}
    v = verdict(small_district(declared={"security": ALL_SEC}, measured={"snmp": snmp}),
                "R-SECURITY")
    assert v.allows_stage == 2
    inp = {i.name: i for i in v.inputs}
    assert inp["default_write_communities_removed"].provenance == "measured"


def test_security_unknown_is_pessimistic_and_says_what_to_declare() -> None:
    sec = dict(ALL_SEC)
    del sec["dot1x"]
    v = verdict(small_district(declared={"security": sec}), "R-SECURITY")
    assert v.status == "unknown" and v.allows_stage == 3 and v.optimistic_stage == 4
    assert any("dot1x" in t for t in v.to_resolve)


# -- R-MANAGE ------------------------------------------------------------------------------
def manage(answered: int, history: float, mdm: bool = True, backup: bool = True) -> Any:
    snmp = {"infrastructure_devices": 100, "answered": answered, "history_days": history}
    return verdict(small_district(declared={"management": {"mdm": mdm, "config_backup": backup}},
                                  measured={"snmp": snmp}), "R-MANAGE")


@pytest.mark.parametrize(("answered", "allows"), [(90, 3), (89, 2), (91, 3), (98, 4), (97, 3),
                                                   (99, 4)])
def test_manage_answer_share(answered: int, allows: int) -> None:
    assert manage(answered, 45).allows_stage == allows


@pytest.mark.parametrize(("days", "allows"), [(30, 4), (29.9, 3), (30.1, 4)])
def test_manage_history_days(days: float, allows: int) -> None:
    assert manage(100, days).allows_stage == allows


def test_manage_needs_mdm_and_backups() -> None:
    assert manage(100, 45, mdm=False).allows_stage == 2
    assert manage(100, 45, backup=False).allows_stage == 3


# -- R-STANDARD ----------------------------------------------------------------------------
def standard_district(n_a: int, n_b: int, n_other: int, firmwares: int = 1,
                      plan: bool | None = False) -> dict[str, Any]:
    """Access switches: n_a of family A, n_b of family B, n_other of distinct families."""
    data = small_district(declared={"standardisation": {"plan": plan}})
    fams = [("Aruba", "CX 6100")] * n_a + [("Juniper", "EX 2300")] * n_b + [
        (f"Vendor{i}", f"M{i}") for i in range(n_other)]
    # the three base nodes are Cisco ISR / Catalyst: take them out of the count
    data["nodes"] = [n for n in data["nodes"] if n["kind"] == "ap"]
    data["nodes"].insert(0, {"id": "edge", "kind": "edge", "site": "do", "vendor": fams[0][0],
                             "model": fams[0][1], "firmware": "1"})
    data["links"] = [{"a": "edge", "b": "es-sw0", "capacity_mbps": 10000},
                     {"a": "es-sw0", "b": "es-ap", "capacity_mbps": 1000}]
    for i, (vendor, model) in enumerate(fams[1:]):
        data["nodes"].append({"id": f"es-sw{i}", "kind": "access", "site": "es", "vendor": vendor,
                              "model": model, "firmware": str(1 + i % firmwares)})
        if i:
            data["links"].append({"a": "es-sw0", "b": f"es-sw{i}", "capacity_mbps": 1000})
    return data


@pytest.mark.parametrize(("top2", "allows"), [((4, 2, 4), 3), ((3, 2, 5), 2), ((5, 2, 3), 3),
                                               ((6, 2, 2), 4), ((5, 2, 3), 3), ((7, 2, 1), 4)])
def test_standard_family_share(top2: tuple[int, int, int], allows: int) -> None:
    # 10 infrastructure devices: share = (a + b) / 10; 60 % and 80 % thresholds
    v = verdict(standard_district(*top2), "R-STANDARD")
    assert v.allows_stage == allows, v.explanation


@pytest.mark.parametrize(("versions", "allows"), [(2, 4), (3, 3), (1, 4)])
def test_standard_firmware_versions(versions: int, allows: int) -> None:
    assert verdict(standard_district(9, 1, 0, firmwares=versions), "R-STANDARD").allows_stage \
        == allows


def test_standard_plan_lifts_to_3() -> None:
    assert verdict(standard_district(3, 2, 5, plan=True), "R-STANDARD").allows_stage == 3


def test_everything_unknown_counts_at_each_rules_worst_value_with_what_to_measure() -> None:
    # STAGES.md: a missing input counts at the lowest stage *that rule* can give, not at
    # stage 1. R-SECURITY, R-MANAGE and R-STANDARD can never give below 2 (fail_allows).
    data = small_district()
    for n in data["nodes"]:
        for k in ("vendor", "model", "firmware"):
            n.pop(k, None)
    c = classify(build(data), rules=DECLARED_ONLY[1:])
    assert c.stage == 2
    assert {r.status for r in c.rules} == {"unknown"}
    for r in c.rules:
        assert r.allows_stage == c.rubric.rules[r.rule_id].fail_allows
    text = "\n".join(c.to_measure)
    for word in ("edge_firewall", "mdm", "netstage audit", "vendor and model"):
        assert word in text
