"""`netstage redundancy`, `contingency` and `availability`: one real subprocess, the rest
in-process (interpreter start-up is most of a subprocess test)."""

from __future__ import annotations

import json
import sys

import pytest
from click.testing import Result
from typer.testing import CliRunner as TyperRunner

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


def test_contingency_json() -> None:
    r = invoke("contingency", str(STAGE4), "--scenarios", "40", "--seed", "3", "--json")
    assert r.exit_code == 0, r.output
    j = json.loads(r.stdout)
    assert j["n_scenarios"] == 40 and j["seed"] == 3
    rows = j["contingencies"]
    assert rows and rows[0]["unserved_p95"] == max(x["unserved_p95"] for x in rows)
    assert j["worst_unserved_p95"] >= j["base"]["unserved_p95"]


def invoke(*args: str) -> Result:
    """In-process run (no interpreter start-up) for the table outputs."""
    from netstage.cli import app

    return TyperRunner().invoke(app, list(args), env={"COLUMNS": "200", "NO_COLOR": "1"})


def test_tables_in_process() -> None:
    t = invoke("contingency", str(STAGE3), "--scenarios", "20", "--top", "3")
    assert t.exit_code == 0, t.output
    assert "worst single failures" in t.output and "edge" in t.output
    r = invoke("redundancy", str(STAGE3), "--top", "3")
    assert r.exit_code == 0, r.output
    assert "edge-disjoint" in r.output and "worst single points of failure" in r.output
    a = invoke("availability", str(STAGE3))
    assert a.exit_code == 0, a.output
    assert "outage h/yr" in a.output


def test_availability_json() -> None:
    r = invoke("availability", str(STAGE4), "--json")
    assert r.exit_code == 0, r.output
    j = json.loads(r.stdout)
    assert j["district_expected_outage_h_per_year"] > 0
    assert {s["site"] for s in j["sites"]} == {s.id for s in load_district(STAGE4).sites}


def test_errors_are_one_line(monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    from netstage.cli import main

    monkeypatch.setattr(sys, "argv", ["netstage", "redundancy", "missing.yaml"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert "error:" in err and "missing.yaml" in err and "Traceback" not in err
