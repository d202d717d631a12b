"""The inference table: measured facts that imply another fact (provenance ``inferred``).

Each row fires exactly when its measured premises hold, never on declarations, never
over a measurement of the conclusion itself; the chain (``inferred_from``) shows in the
verdict JSON, the CLI and the report; the planner never proposes (or charges for) a fact
already true by inference.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from netstage.simulator.plan import plan_upgrades
from netstage.simulator.report import render_html
from netstage.simulator.rules.inference import INFERENCES
from netstage.simulator.rules.rubric import SECURITY_FACTS
from netstage.simulator.stage import classify
from netstage.simulator.study import Study

from .stage_support import build, small_district
from .support import CliRunner

FW = {"edge_firewall": True, "content_filter": True}


def snmp(**changes: Any) -> dict[str, Any]:
    base = {"infrastructure_devices": 3, "answered": 3, "v3_devices": 3, "v1v2c_devices": 0}
    return {**base, **changes}


def write_input(data: dict[str, Any]) -> Any:
    v = classify(build(data), rules=("R-SECURITY",)).rule("R-SECURITY")
    return next(i for i in v.inputs if i.name == "default_write_communities_removed"), v


def test_table_rows_are_complete() -> None:
    assert len({r.name for r in INFERENCES}) == len(INFERENCES) >= 2
    for r in INFERENCES:
        assert r.premises and r.reason and r.citation
        assert r.conclusion in SECURITY_FACTS


def test_v3_only_everywhere_infers_default_write_communities_removed() -> None:
    inp, v = write_input(small_district(declared={"security": FW},
                                        measured={"snmp": snmp()}))
    assert (inp.value, inp.provenance, inp.inferred_from) == (True, "inferred",
                                                              ("snmp_v3_only",))
    assert "SNMPv3" in inp.note
    assert v.allows_stage == 3  # stage-3 list holds; stage-4 list still unknown/declared
    js = v.to_json()["inputs"]
    row = next(i for i in js if i["name"] == "default_write_communities_removed")
    assert row["provenance"] == "inferred" and row["inferred_from"] == ["snmp_v3_only"]


def test_no_default_read_community_infers_no_write_community() -> None:
    s = snmp(v3_devices=0, v1v2c_devices=3, default_community_accepted=0)
    inp, _ = write_input(small_district(declared={"security": FW}, measured={"snmp": s}))
    assert inp.provenance == "inferred"
    assert inp.inferred_from == ("default_read_communities_removed",)
    assert "snmpd.conf(5)" in inp.note


@pytest.mark.parametrize("s", [
    snmp(answered=2),                                   # one device never answered
    snmp(v3_devices=2, v1v2c_devices=1),                # one device on v2c
    snmp(default_community_accepted=1),                 # a default read community works
    snmp(v3_devices=0, v1v2c_devices=3),                # v2c, read test not run
    snmp(answered=2, v3_devices=0, v1v2c_devices=2,     # read test, one device unaudited
         default_community_accepted=0),
])
def test_no_inference_when_a_premise_fails(s: dict[str, Any]) -> None:
    inp, v = write_input(small_district(declared={"security": FW}, measured={"snmp": s}))
    assert inp.missing and inp.provenance is None
    assert v.allows_stage == 2 and v.status == "unknown"
    wc = v.to_json()["would_change"]
    assert wc[0]["binds"] and wc[0]["to_reach_stage"] == 3
    assert {"name": "default_write_communities_removed", "value": None, "provenance": "missing"} \
        in wc[0]["inputs"]


def test_declared_premises_infer_nothing() -> None:
    inp, _ = write_input(small_district(declared={"security": {**FW, "snmp_v3_only": True}}))
    assert inp.missing


def test_measured_write_test_beats_inference() -> None:
    inp, v = write_input(small_district(declared={"security": FW}, measured={
        "snmp": snmp(default_write_community_accepted=1)}))
    assert (inp.value, inp.provenance) == (False, "measured")
    assert v.allows_stage == 2


def test_planner_never_proposes_a_fact_true_by_inference() -> None:
    data = small_district(declared={"security": {"edge_firewall": True,
                                                 "content_filter": False}},
                          measured={"snmp": snmp(history_days=40)})
    d = build(data)
    before = classify(d, rules=("R-SECURITY",)).rule("R-SECURITY")
    assert before.allows_stage == 2
    p = plan_upgrades(d, target_stage=3, n_scenarios=30)
    names = [a.action for a in p.actions]
    assert "content_filter" in names
    assert "default_write_communities_removed" not in names
    # the same district without the measurement has to confirm the fact: it is proposed
    del data["measured"]
    p2 = plan_upgrades(build(data), target_stage=3, n_scenarios=30)
    assert "default_write_communities_removed" in [a.action for a in p2.actions]


def test_cli_json_text_and_report_show_the_chain(run_cli: CliRunner, tmp_path: Path) -> None:
    import yaml

    data = small_district(declared={"security": FW}, measured={"snmp": snmp()})
    f = tmp_path / "d.yaml"
    f.write_text(yaml.safe_dump(data), encoding="utf-8")
    js = run_cli("classify", str(f), "--json", "--scenarios", "20")
    assert js.returncode == 0, js.stderr
    sec = next(r for r in json.loads(js.stdout)["rules"] if r["id"] == "R-SECURITY")
    row = next(i for i in sec["inputs"] if i["name"] == "default_write_communities_removed")
    assert row["provenance"] == "inferred" and row["inferred_from"] == ["snmp_v3_only"]
    assert sec["would_change"] and sec["would_change"][0]["to_reach_stage"] == 4
    text = run_cli("classify", str(f), "--scenarios", "20")
    assert text.returncode == 0, text.stderr
    # the text a person reads names the fact in words (wording.FACT_PHRASES), not its id
    from netstage.simulator.wording import FACT_PHRASES

    chain = f"inferred from {FACT_PHRASES['snmp_v3_only']}"
    assert chain in " ".join(text.stdout.split()), text.stdout
    d = build(data)
    html = render_html(Study(d, n_scenarios=20), [], {}, None)
    assert chain in " ".join(html.split()) and "would change" in html.lower()
