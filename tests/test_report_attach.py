"""`netstage report --audit/--capture/--history` (issue 18): the report attaches what was
measured, as `netstage demo` does, from the files a user already has. A missing or
corrupt file fails in seconds, names the file and what to give instead."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netstage.auditor.twin import export_twin, inventory_for_twin
from netstage.simulator.examples import bundled_capture
from netstage.simulator.io import dump_district, load_district

from .support import TOPOLOGIES, CliRunner

FAST = ("--format", "html", "--format", "json", "--no-plans", "--scenarios", "10")


@pytest.fixture
def measured(run_cli: CliRunner, tmp_path: Path) -> dict[str, Path]:
    """A declared district saying core is HPE, an audit of its twin (which says Netgear),
    and two poll rounds of that twin."""
    d = load_district(TOPOLOGIES / "stage1-lab-era.yaml")
    declared = d.model_copy(deep=True)
    declared.node("core").vendor = "HPE"
    (tmp_path / "declared.yaml").write_text(dump_district(declared))
    twin = d.model_copy(deep=True)
    twin.node("core").vendor = "Netgear"
    paths = export_twin(twin, tmp_path / "twin", counters="static")
    text, env = inventory_for_twin("127.0.0.1", 161, [p.stem for p in paths])
    (tmp_path / "inv.yaml").write_text(text)
    r = run_cli("audit", "inv.yaml", "--replay", "twin", "--json", env=env)
    assert r.returncode == 0, r.stderr
    (tmp_path / "audit.json").write_text(r.stdout)  # as `netstage audit --json` writes it
    r = run_cli("poll", "inv.yaml", "--db", "h.db", "--replay", "twin", "--rounds", "2",
                "--every", "0.05", env=env)
    assert r.returncode == 0, r.stderr
    return {"declared": tmp_path / "declared.yaml", "audit": tmp_path / "audit.json",
            "history": tmp_path / "h.db"}


def test_report_attaches_audit_capture_and_history(run_cli: CliRunner, tmp_path: Path,
                                                   measured: dict[str, Path]) -> None:
    r = run_cli("report", str(measured["declared"]), "--out", "rep", *FAST,
                "--audit", str(measured["audit"]), "--capture", str(bundled_capture()),
                "--history", str(measured["history"]), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert [(x["element"], x["field"], x["declared"], x["measured"])
            for x in out["differences"]] == [("core", "vendor", "HPE", "Netgear")]
    html = (tmp_path / out["html"]).read_text(encoding="utf-8")
    for title in ("SNMP audit", "Capture", "Poll history"):
        assert f">{title}</h2>" in html, title
    assert "declared values the audit replaced" in html and "HPE" in html
    data = json.loads((tmp_path / out["json"]).read_text(encoding="utf-8"))
    assert data["extra"]["capture"]["packets"] > 0
    assert data["extra"]["poll_history"]["history"].startswith("2 poll rounds")
    assert (tmp_path / "rep" / "capture.json").exists()
    # the text run prints the difference
    r = run_cli("report", str(measured["declared"]), "--out", "rep2", *FAST,
                "--audit", str(measured["audit"]))
    assert r.returncode == 0, r.stderr
    assert "differs from declared: node core: vendor declared HPE, measured Netgear" in r.stdout


def test_report_names_a_missing_or_corrupt_attachment(run_cli: CliRunner,
                                                      tmp_path: Path) -> None:
    src = str(TOPOLOGIES / "stage1-lab-era.yaml")
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "bad.pcap").write_text("garbage")
    (tmp_path / "bad.db").write_text("garbage")
    cases = [
        (("--audit", "nope.json"), "nope.json: no such file; give --audit"),
        (("--audit", "bad.json"), "bad.json: "),
        (("--capture", "nope.pcap"), "nope.pcap: no such file; give --capture"),
        (("--capture", "bad.pcap"), "bad.pcap: unknown magic bytes"),
        (("--history", "nope.db"), "nope.db: no such file; give --history"),
        (("--history", "bad.db"), "bad.db: not a netstage history database"),
    ]
    for args, expected in cases:
        r = run_cli("report", src, "--out", "rep", *FAST, *args)
        assert r.returncode == 1, (args, r.stderr)
        assert expected in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr
        assert not (tmp_path / "rep" / "report.html").exists()
