"""District model: loading, located errors, GraphML round trip, arrays, generator."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from netstage.simulator.arrays import DEVICE_CLASSES, LINK_AIR, LINK_CIRCUIT, to_arrays
from netstage.simulator.errors import ConfigError, TopologyError
from netstage.simulator.generate import generate_district
from netstage.simulator.graph import INTERNET, from_graphml, to_graphml, to_networkx
from netstage.simulator.io import dump_district, load_district
from netstage.simulator.model import District

from .support import TOPOLOGIES, CliRunner, example_districts

STAGE3 = TOPOLOGIES / "stage3-emerging.yaml"


@pytest.mark.parametrize("path", example_districts(), ids=lambda p: p.name)
def test_examples_load_and_state_expected_stage(path: Path) -> None:
    d = load_district(path)
    assert d.sites and d.nodes and d.circuits
    head = path.read_text().split("\n")[:40]
    stated = [ln for ln in head if re.match(r"#\s*expected stage:\s*[1-4]\b", ln)]
    assert len(stated) == 1, "each example states 'expected stage: N' once in its comment block"
    assert any("why" in ln for ln in head)


def test_example_per_stage() -> None:
    stages = set()
    for p in example_districts():
        m = re.search(r"expected stage:\s*([1-4])", p.read_text())
        assert m
        stages.add(int(m.group(1)))
    assert stages == {1, 2, 3, 4}


def _broken(tmp_path: Path, mutate: str) -> Path:
    """STAGE3 with one textual change applied."""
    text = STAGE3.read_text()
    old, new = mutate.split(" => ")
    assert old in text, old
    out = tmp_path / "broken.yaml"
    out.write_text(text.replace(old, new, 1))
    return out


def _line_of(path: Path, needle: str) -> int:
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(needle)


def test_unknown_field_is_located(tmp_path: Path) -> None:
    p = _broken(tmp_path, "{id: es-acc1, kind: access => {id: es-acc1, knd: x, kind: access")
    with pytest.raises(TopologyError) as ei:
        load_district(p)
    msg = str(ei.value)
    assert f"{p}:{_line_of(p, 'knd: x')}" in msg
    assert "nodes[4].knd" in msg and "unknown field" in msg


def test_link_to_missing_node(tmp_path: Path) -> None:
    p = _broken(tmp_path, "{a: ms-acc2, b: ms-dist => {a: ms-acc2, b: ms-dsit")
    with pytest.raises(TopologyError) as ei:
        load_district(p)
    msg = str(ei.value)
    assert "unknown node 'ms-dsit'" in msg
    assert f"{p}:{_line_of(p, 'ms-dsit')}" in msg


def test_negative_capacity(tmp_path: Path) -> None:
    p = _broken(
        tmp_path,
        "{a: es-ap2, b: es-acc2, capacity_mbps: 1000 => {a: es-ap2, b: es-acc2, capacity_mbps: -5",
    )
    with pytest.raises(TopologyError) as ei:
        load_district(p)
    assert f"{p}:{_line_of(p, 'capacity_mbps: -5')}" in str(ei.value)
    assert "capacity_mbps" in str(ei.value) and "greater than 0" in str(ei.value)


def test_site_without_path_to_internet(tmp_path: Path) -> None:
    p = _broken(tmp_path, "  - {a: hs-dist, b: core, capacity_mbps: 10000, medium: fiber, "
                          "background_mbps: 40}\n => ")
    with pytest.raises(TopologyError) as ei:
        load_district(p)
    msg = str(ei.value)
    assert "site 'hs' has no path to the Internet edge" in msg
    assert f"{p}:{_line_of(p, 'id: hs, name')}" in msg


def test_malformed_yaml(tmp_path: Path) -> None:
    p = _broken(tmp_path, "  - {id: ms, name: => [  - {id: ms, name:")
    with pytest.raises(ConfigError) as ei:
        load_district(p)
    assert "malformed YAML" in str(ei.value) and str(p) in str(ei.value)


def test_duplicate_key(tmp_path: Path) -> None:
    p = tmp_path / "dup.yaml"
    p.write_text("district:\n  name: A\n  name: B\n")
    with pytest.raises(ConfigError, match=r"dup.yaml:3: duplicate key 'name'"):
        load_district(p)


def test_duplicate_node_id(tmp_path: Path) -> None:
    p = _broken(tmp_path, "{id: ms-acc2, kind => {id: ms-acc1, kind")
    with pytest.raises(TopologyError, match="duplicate node id 'ms-acc1'"):
        load_district(p)


@pytest.mark.parametrize(
    "mutation,needle",
    [
        ("{id: es-acc1, kind: access => {id: es-acc1, knd: x, kind: access", "unknown field"),
        ("{a: ms-acc2, b: ms-dist => {a: ms-acc2, b: ms-dsit", "unknown node"),
        ("capacity_mbps: 1500 => capacity_mbps: -1500", "greater than 0"),
        ("  - {id: ms, name: => [  - {id: ms, name:", "malformed YAML"),
    ],
)
def test_cli_validate_rejects_with_exit_1(
    tmp_path: Path, run_cli: CliRunner, mutation: str, needle: str
) -> None:
    p = _broken(tmp_path, mutation)
    r = run_cli("validate", str(p))
    assert r.returncode == 1, r.stdout + r.stderr
    out = r.stdout + r.stderr
    assert needle in out and "broken.yaml:" in out
    assert "Traceback" not in out


def test_cli_validate_all_examples(run_cli: CliRunner) -> None:
    r = run_cli("validate", *map(str, example_districts()), "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert len(rows) == len(example_districts()) and all(x["ok"] for x in rows)


def test_cli_usage_error_exit_2(run_cli: CliRunner) -> None:
    r = run_cli("info")
    assert r.returncode == 2
    r = run_cli("no-such-command")
    assert r.returncode == 2


def test_cli_missing_file(run_cli: CliRunner, tmp_path: Path) -> None:
    r = run_cli("info", str(tmp_path / "nope.yaml"))
    assert r.returncode == 1 and "no such file" in r.stderr and "Traceback" not in r.stderr


def test_cli_info_json(run_cli: CliRunner) -> None:
    r = run_cli("info", str(STAGE3), "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["students"] == 1500
    assert s["devices"]["student"] == 1500 and s["devices"]["lab"] == 90
    assert s["internet_kbps_per_student"] == pytest.approx(1000.0)
    assert s["links_by_speed"] == {"10 Gbps": 12, "1 Gbps": 7}


def test_schema_is_generated(run_cli: CliRunner) -> None:
    r = run_cli("schema")
    assert r.returncode == 0
    schema = json.loads(r.stdout)
    assert schema == json.loads(json.dumps(District.model_json_schema()))
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize("path", example_districts(), ids=lambda p: p.name)
def test_graphml_round_trip(path: Path, tmp_path: Path) -> None:
    d = load_district(path)
    out = tmp_path / "d.graphml"
    to_graphml(d, out)
    back = from_graphml(out)
    assert back.model_dump() == d.model_dump()


@pytest.mark.parametrize("path", example_districts(), ids=lambda p: p.name)
def test_yaml_dump_round_trip(path: Path) -> None:
    d = load_district(path)
    again = District.model_validate(yaml.safe_load(dump_district(d)))
    assert again.model_dump() == d.model_dump()


def test_networkx_view() -> None:
    d = load_district(TOPOLOGIES / "stage4-transformational.yaml")
    g = to_networkx(d)
    assert g.number_of_edges(INTERNET, "edge1") == 1
    assert g.degree(INTERNET) == 2
    assert g.number_of_nodes() == len(d.nodes) + 1
    assert g.number_of_edges() == len(d.links) + len(d.circuits)


def test_arrays_layout_hand_checked() -> None:
    d = load_district(STAGE3)
    a = to_arrays(d)
    assert a.n_devices == 1500 + 125 + 90
    # one air link per AP radio: 62 dual-band APs (5 + 2.4 GHz), one circuit
    assert int((a.link_role == LINK_AIR).sum()) == 2 * 62
    assert int((a.link_role == LINK_CIRCUIT).sum()) == 1
    # a student at an es-ap1 member: air -> own AP uplink copy -> es-acc1->es-dist ->
    # es-dist->core -> core->fw -> fw->edge -> circuit
    p = a.attach_ids.index("es-ap1#3")
    names = [a.link_ids[i] for i in a.path_links[p, : a.path_len[p]]]
    assert names == [
        "air:es-ap1#3",
        "es-ap1--es-acc1#3",
        "es-acc1--es-dist",
        "es-dist--core",
        "fw--core",
        "edge--fw",
        "isp",
    ]
    assert (a.path_links[a.path_len == 0] == -1).all()
    assert (a.device_path_len > 0).all()
    # students spread evenly over the school's APs
    es_students = (a.device_class == DEVICE_CLASSES.index("student")) & (
        a.device_site == a.site_ids.index("es")
    )
    # (per AP member: its 5 GHz and 2.4 GHz radios together)
    member = np.asarray([x.split("#2.4")[0] for x in a.attach_ids])
    _, inv = np.unique(member, return_inverse=True)
    counts = np.bincount(inv[a.device_attach[es_students]])
    counts = counts[counts > 0]
    assert counts.max() - counts.min() <= 1 and counts.sum() == 500


def test_routing_prefers_fewer_hops_then_capacity() -> None:
    d = load_district(TOPOLOGIES / "stage4-transformational.yaml")
    a = to_arrays(d)
    # lab PCs are wired to access switches; equal hops via dist1/core1/fw1/edge1 and
    # dist2/core2/fw2/edge2 and two equal active circuits: the point is split into one
    # sub-point per route (load sharing), the first being the tree route (file order
    # breaks the tie)
    subs = [i for i, x in enumerate(a.attach_ids) if x.split("~")[0] == "hs-acc1"]
    assert len(subs) > 1
    p = subs[0]
    names = [a.link_ids[i] for i in a.path_links[p, : a.path_len[p]]]
    assert names == ["hs-acc1--hs-dist1", "hs-dist1--core1", "fw1--core1", "edge1--fw1", "isp-a"]
    last = {a.link_ids[a.path_links[q, a.path_len[q] - 1]] for q in subs}
    assert last == {"isp-a", "isp-b"}


def test_generator_reproducible_and_sized() -> None:
    a = generate_district(40, 30000, seed=7)
    b = generate_district(40, 30000, seed=7)
    c = generate_district(40, 30000, seed=8)
    assert a.model_dump() == b.model_dump()
    assert a.model_dump() != c.model_dump()
    assert a.total_students == 30000
    arr = to_arrays(a)
    assert arr.n_devices > 30000 and (arr.device_path_len > 0).all()


def test_generator_reaches_100k_devices() -> None:
    d = generate_district(60, 92000, seed=1, dual_homed=0.5, circuits=2)
    arr = to_arrays(d)
    assert arr.n_devices >= 100_000
    assert (arr.device_path_len > 0).all()


def test_cli_generate_stdout_and_file(run_cli: CliRunner, tmp_path: Path) -> None:
    r1 = run_cli("generate", "--schools", "5", "--students", "2000", "--seed", "3")
    out = tmp_path / "g.yaml"
    r2 = run_cli(
        "generate", "--schools", "5", "--students", "2000", "--seed", "3", "--out", str(out)
    )
    assert r1.returncode == 0 and r2.returncode == 0
    assert out.read_text() == r1.stdout
    assert run_cli("validate", str(out)).returncode == 0
