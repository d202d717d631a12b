"""The rubric file and user overrides: sources present, located errors, overrides reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from netstage.simulator.errors import ConfigError
from netstage.simulator.rules import RULE_ORDER, RULES, default_rubric, load_overrides
from netstage.simulator.stage import classify

from .stage_support import build, small_district


def test_rubric_has_every_rule_with_sourced_thresholds() -> None:
    r = default_rubric()
    assert r.version
    assert set(r.rules) == set(RULE_ORDER) == set(RULES)
    for spec in r.rules.values():
        assert spec.thresholds
        for t in spec.thresholds.values():
            assert len(t.source) > 10, f"{spec.rule_id}.{t.name} has no source"
            assert 2 <= t.stage <= 4


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "over.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(("text", "line", "words"), [
    ("rules:\n  R-NOW:\n    max_unserved_p95: 0.03\n  R-NOPE:\n    x: 1\n", 4,
     ["unknown rule id", "R-NOPE"]),
    ("rules:\n  R-NOW:\n    max_unserved: 0.03\n", 3, ["unknown threshold", "max_unserved_p95"]),
    ("rules:\n  R-NOW:\n    max_unserved_p95: lots\n", 3, ["expected a number"]),
    ("rules:\n  R-NOW:\n    max_unserved_p95: 1.5\n", 3, ["out of range"]),
    ("rules:\n  R-HA:\n    min_internet_circuits: 2.5\n", 3, ["whole number"]),
    ("rules:\n  R-SECURITY:\n    stage3_requires: [edge_firewall, moat]\n", 3, ["moat"]),
    ("note: x\nrulez: {}\n", 2, ["unknown key"]),
    ("rules:\n  R-NOW: [1, 2\n", 3, ["malformed YAML"]),
])
def test_bad_overrides_give_located_errors(tmp_path: Path, text: str, line: int,
                                           words: list[str]) -> None:
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_overrides(p)
    msg = str(exc.value)
    assert f"{p}:{line}" in msg, msg
    for w in words:
        assert w in msg


def test_overrides_are_applied_and_reported(tmp_path: Path) -> None:
    p = write(tmp_path, "rules:\n  R-MANAGE:\n    min_history_days: 7\n")
    data = small_district(declared={"management": {"mdm": True, "config_backup": True}},
                          measured={"snmp": {"infrastructure_devices": 3, "answered": 3,
                                             "history_days": 12}})
    base = classify(build(data), rules=("R-MANAGE",))
    over = classify(build(data), rules=("R-MANAGE",), overrides=p)
    assert base.rule("R-MANAGE").allows_stage == 3
    assert over.rule("R-MANAGE").allows_stage == 4
    js = over.to_json()
    assert js["overrides"] == [{"rule": "R-MANAGE", "threshold": "min_history_days", "value": 7,
                                "default": 30, "where": f"{p}:3"}]
    assert js["rubric_version"] == default_rubric().version
