"""`netstage import graphml` on every Topology Zoo file in ../shared/data/topologies/.

Expected values are independent of the importer: node and edge counts come from the
table in ../shared/data/topologies/README.md, link capacities from reading the GraphML
with xml.etree (LinkSpeedRaw in bit/s, else LinkSpeed x LinkSpeedUnits, else the
documented default of 1000 Mbps).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner as TyperRunner

from netstage.cli import app
from netstage.simulator.io import load_district

from .support import CliRunner, shared_path

NS = {"g": "http://graphml.graphdrawing.org/xmlns"}
UNITS = {"K": 1e-3, "M": 1.0, "G": 1e3, "T": 1e6}


def _readme_table() -> dict[str, dict[str, int]]:
    readme = shared_path("topologies", "README.md").read_text(encoding="utf-8")
    out: dict[str, dict[str, int]] = {}
    for line in readme.splitlines():
        m = re.match(r"\| (\w+\.graphml) \| [^|]+\| [^|]+\| (\d+) \| (\d+) \| (\d+) \| "
                     r"(\d+) \| (\d+) \| (\d+) \| (\d+) \|", line)
        if m:
            out[m.group(1)] = {"nodes": int(m.group(2)), "edges": int(m.group(3)),
                               "hyperedges": int(m.group(6)), "external": int(m.group(7)),
                               "with_raw": int(m.group(8))}
    return out


def _expected_capacities(path: Path, default: float) -> tuple[list[float], int]:
    """Capacities (Mbps) of the non-loop edges, and how many fell back to ``default``."""
    root = ET.parse(path).getroot()
    keys = {k.get("id"): k.get("attr.name") for k in root.findall("g:key", NS)}
    caps: list[float] = []
    defaulted = 0
    for e in root.iterfind(".//g:edge", NS):
        if e.get("source") == e.get("target"):
            continue
        data = {keys.get(d.get("key")): (d.text or "").strip() for d in e.findall("g:data", NS)}
        if data.get("LinkSpeedRaw"):
            caps.append(float(data["LinkSpeedRaw"]) / 1e6)
        elif data.get("LinkSpeed") and data.get("LinkSpeedUnits") in UNITS:
            caps.append(float(data["LinkSpeed"]) * UNITS[data["LinkSpeedUnits"]])
        else:
            caps.append(default)
            defaulted += 1
    return sorted(caps), defaulted


def _zoo_files() -> list[Path]:
    return sorted(shared_path("topologies").glob("*.graphml"))


@pytest.mark.shared
def test_every_zoo_file_imports(tmp_path: Path) -> None:
    table = _readme_table()
    files = _zoo_files()
    assert len(files) == 20 and {f.name for f in files} == set(table)
    runner = TyperRunner()
    for f in files:
        out = tmp_path / f"{f.stem}.yaml"
        r = runner.invoke(app, ["import", "graphml", str(f), "--out", str(out)])
        assert r.exit_code == 0, (f.name, r.output, r.exception)
        d = load_district(out)
        expect = table[f.name]
        caps, defaulted = _expected_capacities(f, 1000.0)
        assert len(d.nodes) == expect["nodes"], f.name
        assert len(d.links) == len(caps) <= expect["edges"], f.name
        assert sorted(lk.capacity_mbps for lk in d.links) == pytest.approx(caps), f.name
        # every link without a speed is reported, with the documented default
        if defaulted:
            assert f"{defaulted} of {expect['edges']} links have no LinkSpeed; assumed 1000 Mbps" \
                in r.output, f.name
        else:
            assert "no LinkSpeed" not in r.output, f.name
        if expect["with_raw"] == expect["edges"]:
            assert defaulted == 0
        # exits: the external nodes, else one at the highest-degree node
        assert len(d.circuits) == (expect["external"] or 1), f.name
        kinds: dict[str, int] = {}
        for n in d.nodes:
            kinds[n.kind.value] = kinds.get(n.kind.value, 0) + 1
        assert kinds.get("core", 0) >= expect["hyperedges"], f.name
        assert d.total_students == 0  # topology only unless --students-per-site


@pytest.mark.shared
def test_options_and_errors(run_cli: CliRunner, tmp_path: Path) -> None:
    kent = shared_path("topologies", "KentmanJan2011.graphml")
    r = run_cli("import", "graphml", str(kent), "--students-per-site", "100",
                "--internet-mbps", "5000", "--out", "kent.yaml")
    assert r.returncode == 0, r.stderr
    d = load_district(tmp_path / "kent.yaml")
    caps, defaulted = _expected_capacities(kent, 1000.0)
    assert defaulted == 0 and sorted(lk.capacity_mbps for lk in d.links) == pytest.approx(caps)
    assert {c.capacity_mbps for c in d.circuits} == {5000.0}
    schools = [s for s in d.sites if s.students]
    assert schools and all(s.students == 100 for s in schools)
    info = run_cli("info", "kent.yaml", "--json")
    assert info.returncode == 0, info.stderr

    fat = shared_path("topologies", "Fatman.graphml")
    r = run_cli("import", "graphml", str(fat), "--default-link-mbps", "250")  # YAML on stdout
    assert r.returncode == 0, r.stderr
    assert "21 of 21 links have no LinkSpeed; assumed 250 Mbps" in r.stderr
    doc: dict[str, Any] = yaml.safe_load(r.stdout)
    assert {lk["capacity_mbps"] for lk in doc["links"]} == {250.0}

    missing = run_cli("import", "graphml", "nowhere.graphml")
    assert missing.returncode == 1 and "nowhere.graphml: no such GraphML file" in missing.stderr
    (tmp_path / "bad.graphml").write_text("<graphml><oops></graphml>")
    bad = run_cli("import", "graphml", "bad.graphml")
    assert bad.returncode == 1 and "bad.graphml" in bad.stderr
    assert "Traceback" not in bad.stderr
    noexit = run_cli("import", "graphml", str(kent), "--exit", "No Such Place")
    assert noexit.returncode == 1 and "No Such Place" in noexit.stderr
