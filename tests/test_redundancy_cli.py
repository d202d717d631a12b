"""`netstage redundancy`, `contingency` and `availability` as real subprocesses."""

from __future__ import annotations

import json

from netstage.simulator.io import load_district

from .support import TOPOLOGIES, CliRunner

STAGE3 = TOPOLOGIES / "stage3-emerging.yaml"
STAGE4 = TOPOLOGIES / "stage4-transformational.yaml"


def test_redundancy_json_and_table(run_cli: CliRunner) -> None:
    r = run_cli("redundancy", str(STAGE3), "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    d = load_district(STAGE3)
    assert [s["site"] for s in j["sites"]] == [s.id for s in d.sites]
    assert j["min_edge_disjoint_paths"] == 1


def test_contingency_json(run_cli: CliRunner) -> None:
    r = run_cli("contingency", str(STAGE4), "--scenarios", "40", "--seed", "3", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["n_scenarios"] == 40 and j["seed"] == 3
    rows = j["contingencies"]
    assert rows and rows[0]["unserved_p95"] == max(x["unserved_p95"] for x in rows)
    assert j["worst_unserved_p95"] >= j["base"]["unserved_p95"]


def test_contingency_table(run_cli: CliRunner) -> None:
    t = run_cli("contingency", str(STAGE3), "--scenarios", "20", "--top", "3")
    assert t.returncode == 0, t.stderr
    assert "worst single failures" in t.stdout and "edge" in t.stdout


def test_availability_json(run_cli: CliRunner) -> None:
    r = run_cli("availability", str(STAGE4), "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["district_expected_outage_h_per_year"] > 0
    assert {s["site"] for s in j["sites"]} == {s.id for s in load_district(STAGE4).sites}


def test_errors_are_one_line(run_cli: CliRunner) -> None:
    r = run_cli("redundancy", "missing.yaml")
    assert r.returncode == 1
    assert "error:" in r.stderr and "Traceback" not in r.stderr
