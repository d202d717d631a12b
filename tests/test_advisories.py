"""`netstage validate` warns about what a valid district says but probably does not mean
(issue 18): students that disagree with the sites, a school without APs, populations that
drop the staff. Warnings keep exit code 0; the bundled examples have none."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from netstage.simulator.io import district_from_dict, load_district
from netstage.simulator.model import advisories

from .support import TOPOLOGIES, CliRunner

DISTRICT = """\
district: {name: T, students: 1500}
sites:
  - {id: es, students: 400, staff: 20,
     populations: [{device_class: student, per_student: 1.0, attach: [acc], connection: wired}]}
  - {id: ms, students: 300, staff: 20}
nodes:
  - {id: edge, kind: edge}
  - {id: acc, kind: access, site: es}
  - {id: msacc, kind: access, site: ms}
links:
  - {a: acc, b: edge, capacity_mbps: 1000}
  - {a: msacc, b: edge, capacity_mbps: 1000}
circuits:
  - {id: isp, attach: edge, capacity_mbps: 100}
"""


def test_validate_warns_and_exits_zero(tmp_path: Path, run_cli: CliRunner) -> None:
    f = tmp_path / "d.yaml"
    f.write_text(DISTRICT)
    r = run_cli("validate", str(f), "--json")
    assert r.returncode == 0, r.stderr
    notes = json.loads(r.stdout)[0]["warnings"]
    assert any("1,500 but the sites hold 700" in n for n in notes)
    assert any("school 'ms'" in n and "no access point" in n for n in notes)
    assert any("without a staff population" in n and "20 staff" in n for n in notes)
    assert any("without a lab population" in n and "30 wired lab PCs" in n for n in notes)
    text = run_cli("validate", str(f))
    assert text.returncode == 0 and text.stdout.count("warning") == 4


def test_populations_that_drop_derived_devices_are_named() -> None:
    """Adding populations replaces every derived one: staff 100 + 60 lab PCs derived, then
    a list with staff alone simulated 100 devices and said nothing (issue 18)."""
    d = district_from_dict(yaml.safe_load(
        "district: {name: T}\n"
        "sites:\n"
        "  - {id: hs, students: 500, staff: 100, wired_lab_pcs: 60,\n"
        "     populations: [{device_class: staff, per_staff: 1.0, attach: [ap]}]}\n"
        "nodes: [{id: edge, kind: edge}, {id: acc, kind: access, site: hs},\n"
        "        {id: ap, kind: ap, site: hs, count: 10}]\n"
        "links: [{a: acc, b: edge, capacity_mbps: 1000}, {a: ap, b: acc, capacity_mbps: 1000}]\n"
        "circuits: [{id: isp, attach: edge, capacity_mbps: 100}]\n"))
    notes = [a.message for a in advisories(d)]
    assert any("500 students' devices are not simulated" in n for n in notes), notes
    assert any("60 wired lab PCs (sites[0].wired_lab_pcs)" in n for n in notes), notes
    assert not any("staff" in n for n in notes)


def test_bundled_examples_have_no_advisories() -> None:
    for f in sorted(TOPOLOGIES.glob("*.yaml")):
        assert advisories(load_district(f)) == [], f.name
