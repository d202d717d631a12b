"""Graph redundancy: hand-checked small districts, max-flow and brute-force oracles."""

from __future__ import annotations

from typing import Any

import networkx as nx
import numpy as np
import pytest

from netstage.simulator.arrays import DEVICE_CLASSES, to_arrays
from netstage.simulator.generate import generate_district
from netstage.simulator.graph import INTERNET, to_networkx
from netstage.simulator.io import district_from_dict, load_district
from netstage.simulator.model import District
from netstage.simulator.redundancy import analyse_redundancy

from .support import example_districts

# -- small hand-built districts ------------------------------------------------------------


def school(sid: str, students: int) -> dict[str, Any]:
    return {"id": sid, "students": students, "wired_lab_pcs": 0}


def make(sites: list[dict[str, Any]], nodes: list[tuple[str, str, str | None]],
         links: list[tuple[str, str]], circuits: list[tuple[str, str]]) -> District:
    """A district from (id, kind, site) nodes, (a, b) links and (id, attach) circuits."""
    return district_from_dict({
        "district": {"name": "hand"},
        "sites": sites,
        "nodes": [{"id": i, "kind": k, **({"site": s} if s else {})} for i, k, s in nodes],
        "links": [{"a": a, "b": b, "capacity_mbps": 1000} for a, b in links],
        "circuits": [{"id": c, "attach": at, "capacity_mbps": 1000} for c, at in circuits],
    })


def paths(rep: Any) -> dict[str, tuple[int, int]]:
    return {s.site: (s.edge_disjoint_paths, s.node_disjoint_paths) for s in rep.sites}


def spof_devices(rep: Any) -> dict[str, int]:
    return {s.element: s.devices for s in rep.single_points_of_failure}


def test_ring() -> None:
    # rtr -- a -- b -- c -- rtr, one circuit: every school has two disjoint ways to rtr
    d = make([school("A", 100), school("B", 200), school("C", 300)],
             [("rtr", "edge", None), ("a", "distribution", "A"), ("b", "distribution", "B"),
              ("c", "distribution", "C")],
             [("rtr", "a"), ("a", "b"), ("b", "c"), ("c", "rtr")], [("isp", "rtr")])
    rep = analyse_redundancy(d)
    # the single circuit bounds every count at 1
    assert paths(rep) == {"A": (1, 1), "B": (1, 1), "C": (1, 1)}
    assert rep.bridges == ["isp"]
    assert rep.articulation_points == ["rtr"]
    # only rtr and the circuit cut anyone off; each school switch cuts only its own devices
    counted = {s.element: s.devices for s in rep.counted_spofs}
    assert counted == {"isp": 600, "rtr": 600}
    assert spof_devices(rep)["b"] == 200  # excluded: it is those devices' own switch


def test_ring_with_two_circuits_on_two_routers() -> None:
    d = make([school("A", 100), school("B", 200)],
             [("r1", "edge", None), ("r2", "edge", None), ("a", "distribution", "A"),
              ("b", "distribution", "B")],
             [("r1", "a"), ("a", "b"), ("b", "r2"), ("r1", "r2")],
             [("isp1", "r1"), ("isp2", "r2")])
    rep = analyse_redundancy(d)
    assert paths(rep) == {"A": (2, 2), "B": (2, 2)}
    assert rep.bridges == [] and rep.articulation_points == []
    assert rep.counted_spofs == []
    assert rep.min_edge_disjoint_paths == 2


def test_star() -> None:
    d = make([school("A", 10), school("B", 20), school("C", 30)],
             [("core", "core", None), ("a", "distribution", "A"), ("b", "distribution", "B"),
              ("c", "distribution", "C")],
             [("a", "core"), ("b", "core"), ("c", "core")], [("isp1", "core"), ("isp2", "core")])
    rep = analyse_redundancy(d)
    assert paths(rep) == {"A": (1, 1), "B": (1, 1), "C": (1, 1)}
    assert sorted(rep.bridges) == ["a--core", "b--core", "c--core"]
    assert rep.articulation_points == ["core"]
    counted = {s.element: s.devices for s in rep.counted_spofs}
    assert counted == {"core": 60, "a--core": 10, "b--core": 20, "c--core": 30}
    # worst first
    assert [s.element for s in rep.counted_spofs][:2] == ["core", "c--core"]
    assert rep.counted_spofs[0].sites == ["A", "B", "C"]


def test_dual_homed_star() -> None:
    d = make([school("A", 10), school("B", 20)],
             [("r1", "edge", None), ("r2", "edge", None), ("c1", "core", None),
              ("c2", "core", None), ("a", "distribution", "A"), ("b", "distribution", "B")],
             [("r1", "c1"), ("r2", "c2"), ("c1", "c2"), ("a", "c1"), ("a", "c2"),
              ("b", "c1"), ("b", "c2")],
             [("isp1", "r1"), ("isp2", "r2")])
    rep = analyse_redundancy(d)
    assert paths(rep) == {"A": (2, 2), "B": (2, 2)}
    assert rep.bridges == [] and rep.articulation_points == []
    assert rep.counted_spofs == []
    # the school switches remain (excluded) single points for their own devices
    assert spof_devices(rep) == {"a": 10, "b": 20}
    assert all(s.r_ha_excluded for s in rep.single_points_of_failure)


def test_two_circuits_on_one_router_are_edge_but_not_node_disjoint() -> None:
    d = make([school("A", 10)],
             [("r", "edge", None), ("c1", "core", None), ("c2", "core", None),
              ("a", "distribution", "A")],
             [("r", "c1"), ("r", "c2"), ("a", "c1"), ("a", "c2")],
             [("isp1", "r"), ("isp2", "r")])
    rep = analyse_redundancy(d)
    assert paths(rep) == {"A": (2, 1)}
    assert rep.articulation_points == ["r"]
    assert {s.element for s in rep.counted_spofs} == {"r"}


def test_daisy_chain() -> None:
    # rtr -- a -- b -- c: c's traffic crosses a and b
    d = make([school("A", 1), school("B", 2), school("C", 4)],
             [("rtr", "edge", None), ("a", "distribution", "A"), ("b", "distribution", "B"),
              ("c", "distribution", "C")],
             [("rtr", "a"), ("a", "b"), ("b", "c")], [("isp", "rtr")])
    rep = analyse_redundancy(d)
    assert paths(rep) == {"A": (1, 1), "B": (1, 1), "C": (1, 1)}
    assert rep.bridges == ["rtr--a", "a--b", "b--c", "isp"]
    assert rep.articulation_points == ["rtr", "a", "b"]
    assert spof_devices(rep) == {"isp": 7, "rtr": 7, "rtr--a": 7, "a": 7, "a--b": 6, "b": 6,
                                 "b--c": 4, "c": 4}
    excluded = {s.element for s in rep.single_points_of_failure if s.r_ha_excluded}
    assert excluded == {"c"}  # it only cuts off its own devices
    b = next(s for s in rep.single_points_of_failure if s.element == "a--b")
    assert b.sites == ["B", "C"] and b.students == 6
    c = next(s for s in rep.sites if s.site == "C")
    assert c.single_homed_nodes == ["c"]


def test_site_with_two_nodes_counts_exits_of_the_whole_site() -> None:
    # site A has two switches, each with its own uplink to a different core
    d = make([school("A", 10)],
             [("r1", "edge", None), ("r2", "edge", None), ("a1", "distribution", "A"),
              ("a2", "access", "A")],
             [("a1", "r1"), ("a2", "r2"), ("a1", "a2")], [("isp1", "r1"), ("isp2", "r2")])
    assert paths(analyse_redundancy(d)) == {"A": (2, 2)}


# -- oracles ---------------------------------------------------------------------------------


def _nx_edge_disjoint(d: District, site: str) -> int:
    g = nx.DiGraph()
    def add(u: str, v: str) -> None:
        for x, y in ((u, v), (v, u)):
            c = g.get_edge_data(x, y, {"capacity": 0})["capacity"]
            g.add_edge(x, y, capacity=c + 1)
    for lk in d.links:
        add(lk.a, lk.b)
    for c in d.circuits:
        add(c.attach, INTERNET)
    members = [n.id for n in d.nodes if n.site == site]
    for m in members:
        g.add_edge("__src__", m)  # no capacity attribute = unbounded
    if INTERNET not in g or not members:
        return 0
    return int(nx.maximum_flow_value(g, "__src__", INTERNET))


def _nx_node_disjoint(d: District, site: str) -> int:
    members = {n.id for n in d.nodes if n.site == site}
    g = nx.DiGraph()
    for n in d.nodes:
        if n.id not in members:
            g.add_edge(("in", n.id), ("out", n.id), capacity=1)
    def add(u: str, v: str) -> None:
        for x, y in ((u, v), (v, u)):
            tail = "__src__" if x in members else ("out", x)
            head = "__src__" if y in members else ("in", y) if y != INTERNET else INTERNET
            if tail in (head, INTERNET) or head == "__src__":
                continue
            c = g.get_edge_data(tail, head, {"capacity": 0})["capacity"]
            g.add_edge(tail, head, capacity=c + 1)
    for lk in d.links:
        add(lk.a, lk.b)
    for c in d.circuits:
        add(c.attach, INTERNET)
    if "__src__" not in g or INTERNET not in g:
        return 0
    # parallel arcs into Internet from one outside router still cross that router once
    return int(nx.maximum_flow_value(g, "__src__", INTERNET))


def random_district(seed: int, n: int = 30, extra: int = 15, with_people: bool = False
                    ) -> District:
    rng = np.random.default_rng(seed)
    kinds = ["core", "distribution", "access"]
    n_sites = 5
    nodes = [(f"n{i}", kinds[int(rng.integers(3))],
              f"S{int(rng.integers(n_sites))}" if rng.random() < 0.7 else None)
             for i in range(n)]
    links: set[tuple[str, str]] = set()
    ordered: list[tuple[str, str]] = []
    # a random tree keeps it connected when people need a path; extras add cycles
    for i in range(1, n):
        if with_people or rng.random() < 0.8:
            j = int(rng.integers(i))
            ordered.append((f"n{j}", f"n{i}"))
    for _ in range(extra):
        a, b = rng.choice(n, 2, replace=False)
        ordered.append((f"n{a}", f"n{b}"))
    rows = []
    for k, (a, b) in enumerate(ordered):
        key = (min(a, b), max(a, b))
        rows.append({"a": a, "b": b, "capacity_mbps": 1000,
                     **({"id": f"L{k}"} if key in links else {})})  # parallel edges
        links.add(key)
    n_circ = int(rng.integers(1, 4))
    circuits = [{"id": f"isp{k}", "attach": f"n{int(rng.integers(n))}", "capacity_mbps": 1000}
                for k in range(n_circ)]
    sites = [{"id": f"S{k}", "students": int(rng.integers(1, 50)) if with_people else 0,
              "wired_lab_pcs": 0} for k in range(n_sites)]
    used = {s for _, _, s in nodes if s}
    sites = [s for s in sites if s["id"] in used or not with_people]
    return district_from_dict({
        "district": {"name": f"random {seed}"}, "sites": sites,
        "nodes": [{"id": i, "kind": k, **({"site": s} if s else {})} for i, k, s in nodes],
        "links": rows, "circuits": circuits,
    })


@pytest.mark.parametrize("seed", range(25))
def test_disjoint_paths_match_networkx_max_flow(seed: int) -> None:
    d = random_district(seed, n=12 + seed, extra=seed % 9)
    rep = analyse_redundancy(d)
    for s in rep.sites:
        assert s.edge_disjoint_paths == _nx_edge_disjoint(d, s.site), s.site
        assert s.node_disjoint_paths == _nx_node_disjoint(d, s.site), s.site


def _brute_force_cuts(d: District) -> dict[str, tuple[int, int, list[str]]]:
    """Remove every element in turn; count devices and students no longer reaching the
    Internet (networkx connected components)."""
    arr = to_arrays(d)
    dev_node = arr.attach_node[arr.device_attach]
    student = arr.device_class == DEVICE_CLASSES.index("student")
    g = to_networkx(d)
    out: dict[str, tuple[int, int, list[str]]] = {}

    def cut(h: nx.MultiGraph, label: str) -> None:
        alive = nx.node_connected_component(h, INTERNET) if INTERNET in h else set()
        lost = np.array([arr.node_ids[v] not in alive for v in dev_node.tolist()], dtype=bool)
        if lost.any():
            sites = sorted({arr.site_ids[s] for s in arr.device_site[lost].tolist()},
                           key=[s.id for s in d.sites].index)
            out[label] = (int(lost.sum()), int((lost & student).sum()), sites)

    for u, v, k in list(g.edges(keys=True)):
        h = g.copy()
        h.remove_edge(u, v, key=k)
        cut(h, k)
    for n in d.nodes:
        h = g.copy()
        h.remove_node(n.id)
        cut(h, n.id)
    return out


@pytest.mark.parametrize("seed", range(12))
def test_single_points_of_failure_match_brute_force(seed: int) -> None:
    d = random_district(100 + seed, n=15 + seed, extra=seed % 5, with_people=True)
    rep = analyse_redundancy(d)
    got = {s.element: (s.devices, s.students, s.sites) for s in rep.single_points_of_failure}
    assert got == _brute_force_cuts(d)


@pytest.mark.parametrize("path", example_districts(), ids=lambda p: p.name)
def test_examples_match_brute_force(path: Any) -> None:
    d = load_district(path)
    rep = analyse_redundancy(d)
    got = {s.element: (s.devices, s.students, s.sites) for s in rep.single_points_of_failure}
    assert got == _brute_force_cuts(d)
    # bridges and articulation points agree with networkx on the district graph
    g = nx.Graph(to_networkx(d))  # parallel edges are never bridges: check they are absent
    multi = to_networkx(d)
    nx_bridges = {multi.get_edge_data(u, v) and next(iter(multi.get_edge_data(u, v)))
                  for u, v in nx.bridges(g) if multi.number_of_edges(u, v) == 1}
    assert set(rep.bridges) == nx_bridges
    assert set(rep.articulation_points) == set(nx.articulation_points(g)) - {INTERNET}


def test_stage_examples_redundancy_as_documented() -> None:
    by_name = {p.name: analyse_redundancy(load_district(p)) for p in example_districts()}
    assert by_name["stage4-transformational.yaml"].min_edge_disjoint_paths >= 2
    assert by_name["stage4-transformational.yaml"].counted_spofs == []
    for name in ("stage1-lab-era.yaml", "stage2-organic.yaml", "stage3-emerging.yaml"):
        assert by_name[name].min_edge_disjoint_paths == 1
        assert by_name[name].counted_spofs


def test_json_and_contract_fields() -> None:
    d = generate_district(schools=6, students=1500, seed=3, dual_homed=0.5, circuits=2)
    rep = analyse_redundancy(d)
    j = rep.to_json()
    assert {s["site"] for s in j["sites"]} == {s.id for s in d.sites}
    assert j["counted_single_points_of_failure"] == len(rep.counted_spofs)
    assert rep.spofs is rep.single_points_of_failure
    for s in rep.sites:
        assert s.node_disjoint_paths <= s.edge_disjoint_paths
    homed = {s.site for s in rep.sites if s.edge_disjoint_paths == 2 and s.kind == "school"}
    dual = {lk.a.split("-")[0] for lk in d.links if lk.b == "core2" and lk.a.endswith("-dist")}
    assert homed == dual


def test_passing_arrays_gives_same_result() -> None:
    d = generate_district(schools=5, students=900, seed=9)
    a = analyse_redundancy(d).to_json()
    b = analyse_redundancy(d, to_arrays(d)).to_json()
    assert a == b
