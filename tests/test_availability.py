"""Availability: hand-computed series/parallel cases and exact state enumeration."""

from __future__ import annotations

import itertools
from typing import Any

import networkx as nx
import numpy as np
import pytest

from netstage.simulator.availability import (
    ReliabilityFile,
    estimate_availability,
    load_reliability,
)
from netstage.simulator.errors import ConfigError
from netstage.simulator.io import district_from_dict, load_district
from netstage.simulator.model import District

from .support import TOPOLOGIES, example_districts

HPY = 8766.0


def reliability(u: float) -> ReliabilityFile:
    """Every component with unavailability ``u`` (MTTR 1 h)."""
    comp = {"mtbf_h": 1.0 / u - 1.0, "mttr_h": 1.0, "source": "test"}
    return ReliabilityFile.model_validate({
        "version": 1, "hours_per_year": HPY,
        "nodes": {k: comp for k in ("edge", "firewall", "core", "distribution", "access", "ap",
                                    "wlc", "server")},
        "links": {k: comp for k in ("lan", "wan_fiber", "wan_copper", "wan_wireless",
                                    "wan_leased", "wan_unknown")},
        "circuits": {"default": comp},
    })


def make(nodes: list[tuple[str, str, str | None]], links: list[tuple[str, str]],
         circuits: list[tuple[str, str]], students: dict[str, int]) -> District:
    return district_from_dict({
        "district": {"name": "hand"},
        "sites": [{"id": s, "students": n, "wired_lab_pcs": 0} for s, n in students.items()],
        "nodes": [{"id": i, "kind": k, **({"site": s} if s else {})} for i, k, s in nodes],
        "links": [{"a": a, "b": b, "capacity_mbps": 1000} for a, b in links],
        "circuits": [{"id": c, "attach": at, "capacity_mbps": 1000} for c, at in circuits],
    })


def site_u(d: District, u: float, site: str) -> float:
    rep = estimate_availability(d, reliability=reliability(u))
    return next(s for s in rep.sites if s.site == site).expected_outage_h_per_year / HPY


def exact_u(d: District, u: float, node: str) -> float:
    """P(node cannot reach the Internet) by enumerating every up/down state."""
    elems: list[tuple[str, Any]] = [("n", n.id) for n in d.nodes]
    elems += [("l", (lk.a, lk.b, lk.key)) for lk in d.links]
    elems += [("c", (c.attach, c.id)) for c in d.circuits]
    total = 0.0
    for state in itertools.product((True, False), repeat=len(elems)):
        up = dict(zip(elems, state, strict=True))
        p = float(np.prod([1 - u if s else u for s in state]))
        g = nx.MultiGraph()
        g.add_node("INET")
        g.add_nodes_from(n.id for n in d.nodes if up[("n", n.id)])
        for lk in d.links:
            if up[("l", (lk.a, lk.b, lk.key))] and lk.a in g and lk.b in g:
                g.add_edge(lk.a, lk.b)
        for c in d.circuits:
            if up[("c", (c.attach, c.id))] and c.attach in g:
                g.add_edge(c.attach, "INET")
        if node not in g or not nx.has_path(g, node, "INET"):
            total += p
    return total


def test_series_chain() -> None:
    # circuit -> rtr -> link -> school switch: four elements in series
    d = make([("rtr", "edge", None), ("a", "distribution", "A")], [("rtr", "a")],
             [("isp", "rtr")], {"A": 100})
    u = 1e-3
    assert site_u(d, u, "A") == pytest.approx(4 * u, rel=1e-9)
    assert exact_u(d, u, "a") == pytest.approx(4 * u, rel=1e-2)


def test_parallel_paths() -> None:
    # school switch a dual-homed to two routers, each with its own circuit
    d = make([("r1", "edge", None), ("r2", "edge", None), ("a", "distribution", "A")],
             [("r1", "a"), ("r2", "a")], [("isp1", "r1"), ("isp2", "r2")], {"A": 100})
    u = 1e-3
    want = u + (3 * u) * (3 * u)  # a itself, then two branches of three elements in parallel
    assert site_u(d, u, "A") == pytest.approx(want, rel=1e-9)
    assert site_u(d, u, "A") == pytest.approx(exact_u(d, u, "a"), rel=1e-2)


def random_small(seed: int) -> District:
    rng = np.random.default_rng(seed)
    n = 4
    links = [(f"x{i}", f"x{int(rng.integers(i))}") for i in range(1, n)]
    for _ in range(2):
        a, b = rng.choice(n, 2, replace=False)
        links.append((f"x{a}", f"x{b}"))
    rows = [{"a": a, "b": b, "capacity_mbps": 100, "id": f"L{k}"} for k, (a, b) in enumerate(links)]
    circuits = [{"id": f"c{k}", "attach": f"x{int(rng.integers(n))}", "capacity_mbps": 100}
                for k in range(2)]
    return district_from_dict({
        "district": {"name": f"r{seed}"},
        "sites": [{"id": "S", "students": 10, "wired_lab_pcs": 0}],
        "nodes": [{"id": f"x{i}", "kind": "core", **({"site": "S"} if i == n - 1 else {})}
                  for i in range(n)],
        "links": rows, "circuits": circuits,
    })


@pytest.mark.parametrize("seed", range(6))
def test_matches_exact_enumeration(seed: int) -> None:
    d = random_small(seed)
    u = 2e-3
    got = site_u(d, u, "S")
    want = exact_u(d, u, "x3")
    # order-3 cut sets and the rare-event approximation are neglected: O(u) relative error
    assert got == pytest.approx(want, rel=2e-2)


def test_shipped_defaults_have_sources_and_examples_rank_by_redundancy() -> None:
    rel = load_reliability()
    for comp in [*rel.nodes.values(), *rel.links.values(), *rel.circuits.values()]:
        assert comp.source and 0 < comp.unavailability < 0.01
    hours = {p.name: estimate_availability(load_district(p)).district_expected_outage_h_per_year
             for p in example_districts()}
    assert hours["stage4-transformational.yaml"] < min(
        hours[n] for n in ("stage1-lab-era.yaml", "stage2-organic.yaml", "stage3-emerging.yaml"))
    assert all(h > 0 for h in hours.values())


def test_report_fields_and_contributors() -> None:
    d = load_district(TOPOLOGIES / "stage3-emerging.yaml")
    rep = estimate_availability(d)
    j = rep.to_json()
    assert {s["site"] for s in j["sites"]} == {s.id for s in d.sites}
    assert rep.worst_site in {s.id for s in d.sites}
    for s in rep.sites:
        if s.expected_outage_h_per_year > 0:
            assert 0 <= s.single_point_share <= 1.0 + 1e-9
            assert s.top_contributors
            # contributors never exceed the total
            assert sum(c.hours_per_year for c in s.top_contributors) <= \
                s.expected_outage_h_per_year * (1 + 1e-9)
    # a single-homed district: everything comes from single points of failure
    assert all(abs(s.single_point_share - 1.0) < 1e-9 for s in rep.sites
               if s.expected_outage_h_per_year > 0)


def test_bad_reliability_file_is_located(tmp_path: Any) -> None:
    p = tmp_path / "rel.yaml"
    p.write_text("version: 1\nnodes:\n  edge: {mtbf_h: -5, mttr_h: 4, source: x}\n"
                 "links: {}\ncircuits: {}\n")
    with pytest.raises(ConfigError, match=r"rel\.yaml:3"):
        load_reliability(p)
