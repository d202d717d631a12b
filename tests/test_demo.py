"""The README's first command, end to end, as a user runs it (a subprocess).

``netstage demo`` starts real snmpsim agents on 127.0.0.1 serving the bundled district's
digital twin, audits them, analyses the bundled capture, classifies and writes the
report. The expectations come from elsewhere in the project, not from the demo: the
district file's own comment block states its stage, and the audit must reach every
infrastructure device the district declares.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from netstage.simulator.io import load_district
from netstage.simulator.model import INFRASTRUCTURE_KINDS

from .support import TOPOLOGIES, CliRunner

DISTRICT = TOPOLOGIES / "stage3-emerging.yaml"


def _expected_stage(path: Path) -> int:
    m = re.search(r"expected stage:\s*(\d)", path.read_text(encoding="utf-8"), re.I)
    assert m, f"{path} has no 'expected stage: N' comment"
    return int(m.group(1))


def test_demo_end_to_end(run_cli: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = run_cli("demo", "--out", str(out), "--scenarios", "60", "--json", timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    res = json.loads(proc.stdout)
    assert res["ok"] is True
    names = [s["step"] for s in res["steps"]]
    assert len(names) == 6, names  # load, audit, merge, capture, classify, report
    assert all(s["ok"] for s in res["steps"]), res["steps"]

    district = load_district(DISTRICT)
    infra = [n for n in district.nodes if n.kind in INFRASTRUCTURE_KINDS]
    audit = json.loads((out / "audit.json").read_text(encoding="utf-8"))
    assert audit["summary"]["n_targets"] == len(infra)
    assert audit["summary"]["n_ok"] == len(infra)
    measured = load_district(out / "district-measured.yaml")
    assert measured.measured is not None and measured.measured.snmp is not None
    assert measured.measured.snmp.answered == len(infra)

    cap = json.loads((out / "capture.json").read_text(encoding="utf-8"))
    assert cap["packets"] > 0 and cap["bytes"] > 0
    assert cap["quic_client_hellos"] > 0  # the bundled capture streams video over QUIC

    assert res["stage"] == _expected_stage(DISTRICT)
    html = Path(res["report_html"])
    assert html.is_file()
    text = html.read_text(encoding="utf-8")
    assert f"Stage {res['stage']}" in text
    # the audit and the capture are summarised for a reader, the full facts stay in JSON
    assert "<h2 id='extra-SNMP_audit'>SNMP audit</h2>" in text
    assert "<h2 id='extra-capture'>Capture</h2>" in text
    assert f"{len(infra)} of {len(infra)} (100%)" in text
    named = sum(cap["tls_sni_names"].values())
    assert f"{named} ({cap['quic_client_hellos']})" in text
    assert text.count("<tr>") < 300, "the report should not dump every collected fact"
    # self-contained: no external requests
    assert not re.search(r"""(src|href)=["']https?://""", text)


def test_demo_reports_a_missing_district_clearly(run_cli: CliRunner, tmp_path: Path) -> None:
    proc = run_cli("demo", "--out", str(tmp_path / "d"), "--district",
                   str(tmp_path / "nope.yaml"), "--no-snmp", "--no-capture-analysis")
    assert proc.returncode == 1
    assert "nope.yaml" in proc.stderr + proc.stdout
