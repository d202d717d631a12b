"""GraphML (Topology Zoo) import, checked against the README's independent counts, and
redundancy on every real topology against networkx."""

from __future__ import annotations

import re
from pathlib import Path

import networkx as nx
import pytest

from netstage.simulator.errors import TopologyError
from netstage.simulator.graph import INTERNET, to_graphml, to_networkx
from netstage.simulator.importers.graphml import import_graphml, link_speed_mbps, read_graphml
from netstage.simulator.io import load_district
from netstage.simulator.redundancy import analyse_redundancy

from .support import SHARED, TOPOLOGIES, shared_path
from .test_redundancy import _nx_edge_disjoint

ZOO = SHARED / "data" / "topologies"
FILES = sorted(p.name for p in ZOO.glob("*.graphml")) if ZOO.is_dir() else ["Karen.graphml"]


def readme_table() -> dict[str, dict[str, int]]:
    """file -> nodes, edges, parallel, external, with_speed (the README's own counts)."""
    text = shared_path("topologies", "README.md").read_text()
    out: dict[str, dict[str, int]] = {}
    for line in text.splitlines():
        m = re.match(r"\|\s*(\w+\.graphml)\s*\|[^|]*\|[^|]*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)"
                     r"\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|", line)
        if m:
            n, e, par, _nocoord, hyper, ext, speed = (int(x) for x in m.groups()[1:])
            out[m.group(1)] = {"nodes": n, "edges": e, "parallel": par, "hyper": hyper,
                               "external": ext, "with_speed": speed}
    return out


@pytest.mark.shared
@pytest.mark.parametrize("name", FILES)
def test_import_matches_readme_counts(name: str) -> None:
    table = readme_table()
    assert name in table, "every GraphML file is described in the README"
    want = table[name]
    imp = read_graphml(shared_path("topologies", name), students_per_site=10)
    d = imp.district
    assert imp.source_nodes == want["nodes"] == len(d.nodes)
    assert imp.source_edges == want["edges"] == len(d.links)
    assert imp.defaulted_links == want["edges"] - want["with_speed"]
    pairs = {frozenset((lk.a, lk.b)) for lk in d.links}
    assert len(d.links) - len(pairs) == want["parallel"]
    if want["external"]:
        assert len(imp.exits) == want["external"]
    else:
        assert len(imp.exits) == 1
    assert len(d.circuits) == len(imp.exits)
    assert sum(n.kind == "core" for n in d.nodes) <= want["hyper"]


@pytest.mark.shared
@pytest.mark.parametrize("name", FILES)
def test_redundancy_on_real_topologies_matches_networkx(name: str) -> None:
    path = shared_path("topologies", name)
    d = import_graphml(path, circuits_per_exit=4)
    rep = analyse_redundancy(d)
    # disjoint paths per site: independent max-flow (a sample of sites keeps it fast)
    for s in rep.sites[:: max(1, len(rep.sites) // 12)]:
        assert s.edge_disjoint_paths == _nx_edge_disjoint(d, s.site), s.site
    # bridges and articulation points: networkx on the raw GraphML plus the exits
    raw = nx.read_graphml(str(path), force_multigraph=True)
    g = nx.MultiGraph()
    g.add_nodes_from(raw.nodes)
    g.add_edges_from((a, b) for a, b, _k in raw.edges(keys=True) if a != b)
    exits = {c.attach[1:] for c in d.circuits}
    for x in exits:
        for _ in range(4):
            g.add_edge(x, INTERNET)
    simple = nx.Graph(g)
    nx_bridges = {frozenset((a, b)) for a, b in nx.bridges(simple) if g.number_of_edges(a, b) == 1}
    ours = set()
    for lk in d.links:
        if lk.key in rep.bridges:
            ours.add(frozenset((lk.a[1:], lk.b[1:])))
    assert ours == nx_bridges
    assert {x[1:] for x in rep.articulation_points} == set(nx.articulation_points(simple)) - {
        INTERNET}


@pytest.mark.shared
def test_link_speeds_follow_the_readme() -> None:
    caps = {lk.capacity_mbps for lk in
            import_graphml(shared_path("topologies", "Renater2010.graphml")).links}
    assert caps == {155.0}  # README: every link 155 M
    karen = {lk.capacity_mbps for lk in
             import_graphml(shared_path("topologies", "Karen.graphml")).links}
    assert karen == {1000.0, 10000.0}  # README: 1 G / 10 G speeds
    kent = [lk.capacity_mbps for lk in
            import_graphml(shared_path("topologies", "KentmanJan2011.graphml")).links]
    assert min(kent) == 10.0 and max(kent) == 10000.0  # README: 10 M to 10 G


@pytest.mark.shared
@pytest.mark.parametrize("name", ["KentmanAug2005.graphml", "JanetExternal.graphml"])
def test_disconnected_graphs_import_and_show_cut_off_sites(name: str) -> None:
    path = shared_path("topologies", name)
    raw = nx.read_graphml(str(path))
    assert nx.number_connected_components(raw) == 2  # README: two components
    imp = read_graphml(path, students_per_site=50)
    rep = analyse_redundancy(imp.district)
    exits = {c.attach[1:] for c in imp.district.circuits}
    for s in rep.sites:
        with_exit = bool(nx.node_connected_component(raw, s.site[1:]) & exits)
        assert (s.edge_disjoint_paths > 0) == with_exit, s.site
        assert (s.students > 0) == with_exit
    assert any("without an exit" in w for w in imp.warnings) == (
        len(rep.sites) > sum(s.students > 0 for s in rep.sites))


def test_link_speed_parsing() -> None:
    assert link_speed_mbps({"LinkSpeedRaw": 1e10}) == 10000.0
    assert link_speed_mbps({"LinkSpeed": "2.5", "LinkSpeedUnits": "G"}) == 2500.0
    assert link_speed_mbps({"LinkSpeed": "34", "LinkSpeedUnits": "M"}) == 34.0
    assert link_speed_mbps({"LinkLabel": "10 Gbps"}) is None  # prose is never parsed
    assert link_speed_mbps({"LinkSpeedRaw": "", "LinkSpeed": "x", "LinkSpeedUnits": "G"}) is None


def test_exits_by_label_and_errors(tmp_path: Path) -> None:
    p = tmp_path / "tiny.graphml"
    g = nx.Graph(Network="Tiny")
    for i, lab in enumerate(["Hub", "A", "B", "A"]):
        g.add_node(str(i), label=lab, Internal=1)
    g.add_edge("0", "1", LinkSpeedRaw=1e9)
    g.add_edge("0", "2", LinkSpeed="100", LinkSpeedUnits="M")
    g.add_edge("1", "2")
    g.add_edge("2", "3", LinkSpeedRaw=1e8)
    nx.write_graphml(g, str(p))
    imp = read_graphml(p, exits=["Hub"], students_per_site=20, internet_mbps=500)
    assert imp.exits == ["n0"]
    assert imp.district.circuits[0].capacity_mbps == 500
    assert imp.defaulted_links == 1
    assert imp.district.district.name.startswith("Tiny")
    with pytest.raises(TopologyError, match="not unique"):
        read_graphml(p, exits=["A"])
    with pytest.raises(TopologyError, match="neither"):
        read_graphml(p, exits=["Nowhere"])
    with pytest.raises(TopologyError, match="no such"):
        read_graphml(tmp_path / "missing.graphml")
    bad = tmp_path / "bad.graphml"
    bad.write_text("<graphml><graph><node")
    with pytest.raises(TopologyError, match="not readable"):
        read_graphml(bad)


def test_netstage_export_round_trips_through_the_importer(tmp_path: Path) -> None:
    d = load_district(TOPOLOGIES / "stage2-organic.yaml")
    p = tmp_path / "d.graphml"
    to_graphml(d, p)
    back = import_graphml(p)
    assert back.model_dump() == d.model_dump()
    assert nx.is_isomorphic(to_networkx(back), to_networkx(d))


@pytest.mark.shared
def test_cli_redundancy_on_graphml() -> None:
    from typer.testing import CliRunner as TyperRunner

    from netstage.cli import app

    r = TyperRunner().invoke(app, ["redundancy", str(shared_path("topologies", "Karen.graphml")),
                                   "--json"])
    assert r.exit_code == 0, r.output
    assert '"edge_disjoint_paths"' in r.stdout
