"""A measured value corrects a declared one only with a reported difference (issue 18).

twin -> audit -> merge once replaced a declared vendor "HPE" with "net-snmp" silently:
the twin had no enterprise number for HPE and wrote Net-SNMP's, which the normaliser then
read back as the vendor. Now HPE has its number, Net-SNMP's number is no evidence of a
vendor, and every declared value a merge replaces is listed (library, CLI text, --json,
and the merged district's measured.extra.snmp.differences).
"""

from __future__ import annotations

import json
from pathlib import Path

from netstage.auditor.facts import AuditResult
from netstage.auditor.normalise import merge_measured, merge_with_differences
from netstage.auditor.twin import export_twin, inventory_for_twin
from netstage.simulator.io import dump_district, load_district
from netstage.simulator.model import District

from .support import TOPOLOGIES, CliRunner
from .test_twin_roundtrip import _audit


def _with_vendor(vendors: dict[str, tuple[str, str | None]]) -> District:
    d = load_district(TOPOLOGIES / "stage1-lab-era.yaml")
    data = d.model_dump(mode="json", exclude_unset=True)
    for n in data["nodes"]:
        if n["id"] in vendors:
            n["vendor"], model = vendors[n["id"]]
            if model is not None:
                n["model"] = model
    return District.model_validate(data)


def _twin_audit(d: District, tmp: Path) -> AuditResult:
    from netstage.auditor.snmp.collector import ReplayCollector

    paths = export_twin(d, tmp)
    return _audit(ReplayCollector(tmp), "127.0.0.1", 161, [p.stem for p in paths])


def test_declared_hpe_survives_its_own_twin(tmp_path: Path) -> None:
    base = _with_vendor({"core": ("HPE", None), "es-sw": ("Acme Networks", None)})
    res = merge_with_differences(base, _twin_audit(base, tmp_path))
    assert res.district.node("core").vendor == "HPE"
    assert res.district.node("es-sw").vendor == "Acme Networks"  # no number: kept
    assert res.differences == []
    assert res.district.measured is not None
    assert res.district.measured.extra["snmp"]["differences"] == []


def test_a_measured_vendor_that_differs_is_reported(tmp_path: Path) -> None:
    measured = _with_vendor({"core": ("Cisco", "C9300-48P")})
    base = _with_vendor({"core": ("HPE", "JL322A")})
    res = merge_with_differences(base, _twin_audit(measured, tmp_path))
    got = {(x.element, x.field): (x.declared, x.measured) for x in res.differences}
    assert got[("core", "vendor")] == ("HPE", "Cisco")
    assert got[("core", "model")] == ("JL322A", "C9300-48P")
    assert all(x.element_kind == "node" for x in res.differences)
    assert res.district.node("core").vendor == "Cisco"  # corrected, not silently
    assert res.district.measured is not None
    assert {"element": "core", "element_kind": "node", "field": "vendor",
            "declared": "HPE", "measured": "Cisco"} in \
        res.district.measured.extra["snmp"]["differences"]
    # merge_measured is the same merge
    assert merge_measured(base, _twin_audit(measured, tmp_path)).node("core").vendor == "Cisco"


def test_a_measured_capacity_that_differs_is_reported(tmp_path: Path) -> None:
    measured = load_district(TOPOLOGIES / "stage1-lab-era.yaml")
    base = measured.model_copy(deep=True)
    lk = base.links[0]
    lk.capacity_mbps = lk.capacity_mbps * 10
    res = merge_with_differences(base, _twin_audit(measured, tmp_path))
    assert ("link", lk.key, "capacity_mbps") in {
        (x.element_kind, x.element, x.field) for x in res.differences}


def test_normalise_cli_prints_and_lists_the_differences(run_cli: CliRunner,
                                                         tmp_path: Path) -> None:
    measured = _with_vendor({"core": ("Cisco", None)})
    (tmp_path / "declared.yaml").write_text(dump_district(_with_vendor({"core": ("HPE", None)})))
    paths = export_twin(measured, tmp_path / "twin", counters="static")
    text, env = inventory_for_twin("127.0.0.1", 161, [p.stem for p in paths])
    (tmp_path / "inv.yaml").write_text(text)
    r = run_cli("audit", "inv.yaml", "--replay", "twin", "--out", "audit.json", env=env)
    assert r.returncode == 0, r.stderr
    r = run_cli("normalise", "audit.json", "--base", "declared.yaml", "--out", "merged.yaml")
    assert r.returncode == 0, r.stderr
    assert "differs from declared: node core: vendor declared HPE, measured Cisco" in r.stdout
    assert "1 declared value differs" in r.stdout
    r = run_cli("normalise", "audit.json", "--base", "declared.yaml", "--json")
    assert r.returncode == 0, r.stderr
    diffs = json.loads(r.stdout)["differences"]
    assert [(x["element"], x["field"], x["declared"], x["measured"]) for x in diffs] == [
        ("core", "vendor", "HPE", "Cisco")]
    merged = load_district(tmp_path / "merged.yaml")
    assert merged.measured is not None
    assert merged.measured.extra["snmp"]["differences"] == diffs
