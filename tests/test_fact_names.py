"""Fact names read positively (issue 18): ``true`` is always the good state.

``declared.security.default_snmp_write_community: false`` meant "good" (a double
negative); the key is now ``default_write_communities_removed: true``. A district file,
rubric override or upgrade catalogue using the old name still works, with its meaning
kept (the value inverted), and ``netstage validate`` says which key to use instead.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from netstage.cli import app
from netstage.simulator.errors import NetstageError
from netstage.simulator.io import dump_district, load_district
from netstage.simulator.model import Management, Security, Standardisation, advisories
from netstage.simulator.stage import classify

from .stage_support import build, small_district

ALL_SEC = {"edge_firewall": True, "content_filter": True, "segmentation": True, "dot1x": True,
           "snmp_v3_only": True}
NEW = "default_write_communities_removed"
OLD = "default_snmp_write_community"


def _fact(sec: dict[str, Any]) -> Any:
    v = classify(build(small_district(declared={"security": sec})), rules=("R-SECURITY",))
    return next(i for i in v.rule("R-SECURITY").inputs if i.name == NEW)


@pytest.mark.parametrize(("old", "new"), [(False, True), (True, False), (None, None)])
def test_old_key_loads_with_its_meaning_inverted(old: bool | None, new: bool | None) -> None:
    assert Security.model_validate({OLD: old}).default_write_communities_removed is new
    inp = _fact({**ALL_SEC, OLD: old})
    assert inp.value is new
    assert inp.provenance == (None if new is None else "declared")


def test_new_key_means_what_it_says() -> None:
    assert _fact({**ALL_SEC, NEW: True}).value is True
    assert _fact({**ALL_SEC, NEW: False}).value is False
    v = classify(build(small_district(declared={"security": {**ALL_SEC, NEW: True}})),
                 rules=("R-SECURITY",)).rule("R-SECURITY")
    assert v.allows_stage == 4


def test_old_and_new_key_agreeing_load_disagreeing_fail() -> None:
    assert Security.model_validate({OLD: False, NEW: True}).default_write_communities_removed
    with pytest.raises(ValueError, match=f"keep only '{NEW}'"):
        Security.model_validate({OLD: True, NEW: True})


def test_old_key_must_be_a_boolean() -> None:
    with pytest.raises(ValueError, match="must be true or false"):
        Security.model_validate({OLD: "no"})


def test_old_key_is_not_written_back(tmp_path: Path) -> None:
    d = build(small_district(declared={"security": {OLD: False}}))
    text = dump_district(d)
    assert OLD not in text and f"{NEW}: true" in text


def test_validate_warns_with_the_new_key(tmp_path: Path) -> None:
    data = small_district(declared={"security": {**ALL_SEC, OLD: False}})
    f = tmp_path / "old.yaml"
    import yaml

    f.write_text(yaml.safe_dump(data), encoding="utf-8")
    d = load_district(f)
    notes = [a.message for a in advisories(d)]
    assert any(OLD in n and NEW in n and "deprecated" in n for n in notes), notes
    r = CliRunner().invoke(app, ["validate", str(f), "--json"])
    assert r.exit_code == 0, r.output
    warnings = json.loads(r.output)[0]["warnings"]
    assert any(f"use '{NEW}'" in w for w in warnings), warnings
    # the new key: no warning
    f2 = tmp_path / "new.yaml"
    f2.write_text(yaml.safe_dump(small_district(declared={"security": {NEW: True}})),
                  encoding="utf-8")
    assert not [a for a in advisories(load_district(f2)) if NEW in a.message]


def test_disagreeing_keys_are_a_located_error(tmp_path: Path) -> None:
    import yaml

    f = tmp_path / "both.yaml"
    f.write_text(yaml.safe_dump(small_district(declared={"security": {OLD: True, NEW: True}})),
                 encoding="utf-8")
    with pytest.raises(NetstageError, match="disagree"):
        load_district(f)


def test_old_fact_name_in_a_rubric_override_still_works() -> None:
    over = {"rules": {"R-SECURITY": {"stage3_requires": [
        "edge_firewall", "content_filter", "no_default_write_community"]}}}
    d = build(small_district(declared={"security": {**ALL_SEC, NEW: True}}))
    v = classify(d, rules=("R-SECURITY",), overrides=over).rule("R-SECURITY")
    assert NEW in v.threshold["stage3_requires"]
    assert v.allows_stage == 4


def test_old_action_name_in_a_user_catalogue_still_loads(tmp_path: Path) -> None:
    import yaml

    from netstage.simulator.datafiles import load_data_yaml
    from netstage.simulator.plan import load_catalog

    raw = copy.deepcopy(load_data_yaml("upgrades.yaml"))
    raw["actions"] = {("no_default_write_community" if k == NEW else k): v
                      for k, v in raw["actions"].items()}
    f = tmp_path / "cat.yaml"
    f.write_text(yaml.safe_dump(raw), encoding="utf-8")
    assert load_catalog(f).has(NEW)


def _described(model: Any) -> list[str]:
    return [k for k, f in model.model_fields.items() if not f.description]


def test_every_declared_key_is_documented() -> None:
    """Each declared key has a description saying what ``true`` means, and
    docs/district-format.md lists it with what true and false mean."""
    doc = (Path(__file__).parents[1] / "docs" / "district-format.md").read_text()
    for section, model in (("security", Security), ("management", Management),
                           ("standardisation", Standardisation)):
        assert _described(model) == [], (section, _described(model))
        for key, field in model.model_fields.items():
            assert (field.description or "").startswith("true:"), (section, key)
            assert f"`{section}.{key}`" in doc, f"district-format.md lacks {section}.{key}"
    assert f"`security.{OLD}`" in doc   # the old name, and what it became
