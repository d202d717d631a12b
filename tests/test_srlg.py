"""Shared-risk groups and redundant stacks: R-HA counts physical diversity, N-1 fails a
group as one element, a redundant stack is no single point of failure, and the
SRLG-disjoint count equals a brute-force minimum label cut on random small graphs."""

from __future__ import annotations

import itertools
import random
from typing import Any

import numpy as np
import pytest

from netstage.simulator.contingency import run_contingency
from netstage.simulator.disjoint_paths import disjoint_path_counts
from netstage.simulator.errors import TopologyError
from netstage.simulator.io import district_from_dict, load_district
from netstage.simulator.model import District, problems
from netstage.simulator.redundancy import analyse_redundancy
from netstage.simulator.srlg import circuit_count, srlg_disjoint_counts
from netstage.simulator.stage import classify

from .support import TOPOLOGIES
from .test_contingency import scratch_metrics

STAGE4 = TOPOLOGIES / "stage4-transformational.yaml"


def stage4(link_groups: dict[tuple[str, str], list[str]] | None = None,
           circuit_groups: dict[str, list[str]] | None = None,
           stacks: dict[str, dict[str, Any]] | None = None) -> District:
    """The stage-4 example with shared-risk groups on some links/circuits and stacks."""
    data = load_district(STAGE4).model_dump(mode="json", exclude_defaults=True)
    for lk in data["links"]:
        for ends, groups in (link_groups or {}).items():
            if {lk["a"], lk["b"]} == set(ends):
                lk["srlg"] = groups
    for c in data["circuits"]:
        if c["id"] in (circuit_groups or {}):
            c["srlg"] = (circuit_groups or {})[c["id"]]
    for n in data["nodes"]:
        if n["id"] in (stacks or {}):
            n["stack"] = (stacks or {})[n["id"]]
    return district_from_dict(data)


ES1_UPLINKS = (("es1-dist1", "core1"), ("es1-dist2", "core2"))


def r_ha(d: District) -> Any:
    return classify(d, n_scenarios=60, seed=0).rule("R-HA")


# -- R-HA: paths -----------------------------------------------------------------------------


def test_two_uplinks_in_one_conduit_count_as_one_path() -> None:
    shared = stage4({ES1_UPLINKS[0]: ["conduit-es1"], ES1_UPLINKS[1]: ["conduit-es1"]})
    rep = analyse_redundancy(shared)
    es1 = next(s for s in rep.sites if s.site == "es1")
    assert (es1.edge_disjoint_paths, es1.srlg_disjoint_paths) == (2, 1)
    assert es1.srlg_binding == ["conduit-es1"] and es1.srlg_exact
    rule = r_ha(shared)
    assert rule.allows_stage == 3, rule.explanation
    assert "conduit-es1" in rule.explanation
    assert rule.details["binding"] == {"es1": ["conduit-es1"]}
    assert rule.details["srlg_disjoint_paths"]["es1"] == {
        "paths": 1, "edge_disjoint": 2, "exact": True}


def test_two_uplinks_in_diverse_conduits_still_pass() -> None:
    diverse = stage4({ES1_UPLINKS[0]: ["conduit-north"], ES1_UPLINKS[1]: ["conduit-south"]})
    es1 = next(s for s in analyse_redundancy(diverse).sites if s.site == "es1")
    assert (es1.edge_disjoint_paths, es1.srlg_disjoint_paths) == (2, 2)
    assert es1.srlg_binding == []
    rule = r_ha(diverse)
    assert rule.allows_stage == 4, rule.explanation
    assert rule.details["binding"] == {}


# -- R-HA: circuits --------------------------------------------------------------------------


def test_two_circuits_through_one_entrance_count_as_one() -> None:
    one = stage4(circuit_groups={"isp-a": ["do-entrance"], "isp-b": ["do-entrance"]})
    assert circuit_count(one) == (1, [["do-entrance", "isp-a", "isp-b"]])
    rule = r_ha(one)
    assert rule.allows_stage == 3, rule.explanation
    assert "share group do-entrance" in rule.explanation
    # the paths count sees it too: every school's exits end in one group
    assert analyse_redundancy(one).min_srlg_disjoint_paths == 1


def test_two_circuits_in_two_groups_count_as_two() -> None:
    two = stage4(circuit_groups={"isp-a": ["entrance-east"], "isp-b": ["entrance-west"]})
    assert circuit_count(two) == (2, [])
    assert r_ha(two).allows_stage == 4


@pytest.mark.parametrize(("groups", "want"), [
    ([[], [], []], 3),
    ([["a"], ["a"], []], 2),
    ([["a"], ["a", "b"], ["b"]], 2),  # no one group takes all three down
    ([["a", "b"], ["b"], ["b", "c"]], 1),  # group b does
])
def test_circuit_count_is_a_minimum_cover(groups: list[list[str]], want: int) -> None:
    d = district_from_dict({
        "district": {"name": "c"}, "sites": [{"id": "s", "students": 10}],
        "nodes": [{"id": "r", "kind": "edge", "site": "s"}],
        "circuits": [{"id": f"c{i}", "attach": "r", "capacity_mbps": 100, "srlg": g}
                     for i, g in enumerate(groups)]})
    assert circuit_count(d)[0] == want


# -- N-1 ---------------------------------------------------------------------------------


def test_n1_fails_a_group_as_one_element() -> None:
    shared = stage4({ES1_UPLINKS[0]: ["conduit-es1"], ES1_UPLINKS[1]: ["conduit-es1"]})
    rep = run_contingency(shared, n_scenarios=40, seed=11)
    rows = {c.element: c for c in rep.contingencies}
    grp = rows["srlg:conduit-es1"]
    assert grp.element_type == "srlg"
    assert grp.members == ["es1-dist1--core1", "es1-dist2--core2"]
    es1_students = next(s.students for s in shared.sites if s.id == "es1")
    assert grp.disconnected_students == es1_students
    assert grp.sites_affected == ["es1"]
    # each link alone leaves es1 connected
    assert rows["es1-dist1--core1"].disconnected_students == 0
    assert rows["es1-dist2--core2"].disconnected_students == 0
    # the group row equals a from-scratch simulation without both links
    data = shared.model_dump(mode="json")
    data["links"] = [lk for lk in data["links"] if not lk.get("srlg")]
    uns, thr, _ = scratch_metrics(District.model_validate(data))
    assert grp.unserved_p95 == pytest.approx(uns, abs=1e-6)
    assert grp.throttled_p95 == pytest.approx(thr, abs=1e-6)
    assert rep.worst.element == "srlg:conduit-es1"
    assert rep.to_json()["contingencies"][0]["element"] == "srlg:conduit-es1"


# -- stacks ----------------------------------------------------------------------------------


def chain(stack: dict[str, Any] | None) -> District:
    """isp -- rtr -- core -- {sw-a, sw-b}: core is the cut vertex for both schools."""
    core: dict[str, Any] = {"id": "core", "kind": "core"}
    if stack is not None:
        core["stack"] = stack
    return district_from_dict({
        "district": {"name": "stack"},
        "sites": [{"id": "A", "students": 100, "wired_lab_pcs": 0},
                  {"id": "B", "students": 100, "wired_lab_pcs": 0}],
        "nodes": [{"id": "rtr", "kind": "edge"}, core,
                  {"id": "dist-a", "kind": "distribution", "site": "A"},
                  {"id": "dist-b", "kind": "distribution", "site": "B"}],
        "links": [{"a": "rtr", "b": "core", "capacity_mbps": 10000},
                  {"a": "core", "b": "dist-a", "capacity_mbps": 10000},
                  {"a": "core", "b": "dist-a", "capacity_mbps": 10000, "id": "a2"},
                  {"a": "core", "b": "dist-b", "capacity_mbps": 10000},
                  {"a": "core", "b": "dist-b", "capacity_mbps": 10000, "id": "b2"}],
        "circuits": [{"id": "isp", "attach": "rtr", "capacity_mbps": 10000}]})


def test_redundant_stack_is_not_a_single_point_of_failure() -> None:
    plain = analyse_redundancy(chain(None))
    assert "core" in plain.articulation_points
    assert "core" in {s.element for s in plain.counted_spofs}
    stacked_d = chain({"members": 2, "kind": "chassis"})
    stacked = analyse_redundancy(stacked_d)
    assert "core" not in stacked.articulation_points
    assert "core" not in {s.element for s in stacked.single_points_of_failure}
    assert stacked.redundant_stacks == ["core"]
    # the other single points of failure stay
    assert {"rtr", "isp"} <= {s.element for s in stacked.counted_spofs}
    # N-1 does not fail it, and says so
    n1 = run_contingency(stacked_d, n_scenarios=20, seed=1)
    assert "core" not in {c.element for c in n1.contingencies}
    assert "core" in n1.excluded and n1.redundant_stacks == ["core"]
    assert "core" in {c.element for c in run_contingency(chain(None), n_scenarios=20,
                                                          seed=1).contingencies}


def test_non_redundant_stack_stays_a_cut_vertex() -> None:
    rep = analyse_redundancy(chain({"members": 3, "redundant": False}))
    assert "core" in rep.articulation_points and rep.redundant_stacks == []


def test_stack_members_carry_node_disjoint_paths() -> None:
    # both school uplinks meet at core: one node-disjoint path unless core is a stack
    plain = {s.site: s.node_disjoint_paths for s in analyse_redundancy(chain(None)).sites}
    d = chain({"members": 2})
    data = d.model_dump(mode="json")
    data["links"].append({"a": "rtr", "b": "core", "capacity_mbps": 10000, "id": "r2"})
    data["circuits"].append({"id": "isp2", "attach": "rtr", "capacity_mbps": 10000})
    data["nodes"][0]["stack"] = {"members": 2}
    two = {s.site: s.node_disjoint_paths
           for s in analyse_redundancy(District.model_validate(data)).sites}
    assert plain == {"A": 1, "B": 1} and two == {"A": 2, "B": 2}


# -- model ---------------------------------------------------------------------------------


def test_stack_and_srlg_validation() -> None:
    with pytest.raises(TopologyError, match="members"):
        chain({"members": 1})
    with pytest.raises(TopologyError, match="kind"):
        chain({"members": 2, "kind": "blade"})
    with pytest.raises(TopologyError, match="named twice on one link"):
        stage4({ES1_UPLINKS[0]: ["c1", "c1"]})
    data = stage4().model_dump(mode="json")
    data["links"][0]["srlg"] = ["c1", "c1"]
    assert [p.message for p in problems(District.model_validate(data))] == [
        "shared-risk group 'c1' is named twice on one link; name each group once"]
    with pytest.raises(TopologyError, match="srlg"):
        stage4({ES1_UPLINKS[0]: ["bad group"]})
    with pytest.raises(TopologyError, match="stack is not allowed on access points"):
        stage4(stacks={"es1-ap1": {"members": 2}})


# -- brute force -----------------------------------------------------------------------------


FIXED = "__fixed"


def brute_label_cut(n: int, eu: list[int], ev: list[int], sink: int, src: int,
                    gofe: list[tuple[str, ...]]) -> int:
    """Fewest elements (ungrouped edges, whole groups) whose removal separates src from
    sink, by trying every set of elements by increasing size. Edges of the group
    ``FIXED`` are never cut."""
    names = sorted({g for gs in gofe for g in gs} - {FIXED})
    elems = [("g", x) for x in names] + [("e", e) for e in range(len(eu)) if not gofe[e]]

    def cut(sel: tuple[tuple[str, Any], ...]) -> bool:
        dead = {x for k, x in sel if k == "e"}
        dead |= {e for k, x in sel if k == "g" for e in range(len(eu)) if x in gofe[e]}
        adj: dict[int, list[int]] = {i: [] for i in range(n)}
        for e in range(len(eu)):
            if e not in dead:
                adj[eu[e]].append(ev[e])
                adj[ev[e]].append(eu[e])
        seen, todo = {src}, [src]
        while todo:
            for v in adj[todo.pop()]:
                if v not in seen:
                    seen.add(v)
                    todo.append(v)
        return sink not in seen

    for k in range(len(elems) + 1):
        if any(cut(sel) for sel in itertools.combinations(elems, k)):
            return k
    return len(elems)


@pytest.mark.parametrize("seed", range(6))
def test_srlg_count_equals_brute_force_on_random_graphs(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(40):
        n = rng.randint(3, 7)
        sink = n - 1
        m = rng.randint(n - 1, 2 * n + 2)
        ends = [rng.sample(range(n), 2) for _ in range(m)]
        eu, ev = [a for a, _ in ends], [b for _, b in ends]
        pool = [f"g{i}" for i in range(rng.randint(1, 3))]
        gofe = [tuple(sorted(set(rng.sample(pool, rng.randint(1, min(2, len(pool)))))))
                if rng.random() < 0.6 else () for _ in range(m)]
        srcs = [np.array([s], dtype=np.int64) for s in range(n - 1)]
        u64, v64 = np.array(eu, dtype=np.int64), np.array(ev, dtype=np.int64)
        upper = disjoint_path_counts(n, u64, v64, sink, srcs)
        got = srlg_disjoint_counts(n, u64, v64, sink, srcs, gofe, upper)
        want = [brute_label_cut(n, eu, ev, sink, s, gofe) for s in range(n - 1)]
        assert got.paths.tolist() == want, (eu, ev, gofe)
        assert bool(got.exact.all())


def test_budget_keeps_the_answer_exact_up_to_the_sets_searched() -> None:
    # four parallel edges, each in its own group: the count is 4, found only by the sets
    # of size 4; with a budget of 3 sets the result is an upper bound, marked inexact
    eu = np.zeros(4, dtype=np.int64)
    ev = np.ones(4, dtype=np.int64)
    gofe = [("a",), ("b",), ("c",), ("d",)]
    srcs = [np.array([0], dtype=np.int64)]
    full = srlg_disjoint_counts(2, eu, ev, 1, srcs, gofe, np.array([4]))
    assert full.paths.tolist() == [4] and full.exact.all()
    short = srlg_disjoint_counts(2, eu, ev, 1, srcs, gofe, np.array([4]), budget=3)
    assert short.paths.tolist() == [4] and not short.exact.any()


def test_srlg_through_the_district_on_random_generated_districts() -> None:
    # whole-district path: random groups on a generated district; every school's count
    # is at most its edge-disjoint count, and equals brute force on the district graph
    from netstage.simulator.redundancy import district_graph
    from netstage.simulator.srlg import edge_groups

    rng = random.Random(3)
    d = stage4()
    data = d.model_dump(mode="json")
    wan = [lk for lk in data["links"] if "ap" not in lk["a"] and "ap" not in lk["b"]]
    for lk in rng.sample(wan, 8):
        lk["srlg"] = [rng.choice(["x", "y", "z"])]
    d = District.model_validate(data)
    rep = analyse_redundancy(d)
    g = district_graph(d)
    gofe = edge_groups(d)
    idx = {nid: i for i, nid in enumerate(g.node_ids)}
    for s in rep.sites:
        assert s.srlg_disjoint_paths <= s.edge_disjoint_paths
        src = next(idx[n.id] for n in d.nodes if n.site == s.site)
        # merge the site's nodes into one source: join them by edges never cut
        members = [idx[n.id] for n in d.nodes if n.site == s.site]
        eu = g.edge_u.tolist() + [src] * (len(members) - 1)
        ev = g.edge_v.tolist() + [x for x in members if x != src]
        extra = [(FIXED,)] * (len(eu) - len(g.edge_u))
        got = brute_label_cut(g.n_nodes + 1, eu, ev, g.internet, src, gofe + extra)
        assert s.srlg_disjoint_paths == got, s.site


def test_availability_counts_a_redundant_stack_as_parallel_members() -> None:
    from netstage.simulator.availability import estimate_availability

    from .test_availability import HPY, reliability

    def u_site(d: District) -> float:
        rep = estimate_availability(d, reliability=reliability(1e-3))
        return next(s for s in rep.sites if s.site == "A").expected_outage_h_per_year / HPY

    u = 1e-3
    # chain: isp, rtr, rtr--core, core, two parallel core--dist-a links, dist-a
    plain, stacked = u_site(chain(None)), u_site(chain({"members": 2}))
    assert plain == pytest.approx(5 * u + u * u, rel=1e-9)
    assert stacked == pytest.approx(4 * u + u ** 2 + u * u, rel=1e-9)
    assert u_site(chain({"members": 2, "redundant": False})) == pytest.approx(plain)


def test_groups_and_stacks_survive_yaml_and_graphml_round_trips(tmp_path: Any) -> None:
    import yaml

    from netstage.simulator.graph import from_graphml, to_graphml
    from netstage.simulator.io import dump_district

    d = stage4({ES1_UPLINKS[0]: ["conduit-es1", "bridge-x"], ES1_UPLINKS[1]: ["conduit-es1"]},
               {"isp-a": ["do-entrance"]}, {"core1": {"members": 3, "kind": "chassis"}})
    to_graphml(d, tmp_path / "d.graphml")
    assert from_graphml(tmp_path / "d.graphml").model_dump() == d.model_dump()
    assert District.model_validate(yaml.safe_load(dump_district(d))).model_dump() == \
        d.model_dump()


def test_stack_survives_the_digital_twin_round_trip(tmp_path: Any) -> None:
    from netstage.auditor.normalise import facts_to_district
    from netstage.auditor.snmp.collector import ReplayCollector
    from netstage.auditor.twin import export_twin

    from .test_twin_roundtrip import _audit

    d = stage4(stacks={"core1": {"members": 3}, "core2": {"members": 2, "kind": "chassis"}})
    paths = export_twin(d, tmp_path)
    audit = _audit(ReplayCollector(tmp_path), "127.0.0.1", 161, [p.stem for p in paths])
    got = facts_to_district(audit).district
    core1 = got.node("core1")
    assert core1.stack is not None and (core1.stack.members, core1.stack.kind) == (3, "stack")
    assert (core1.model, core1.firmware) == (d.node("core1").model, d.node("core1").firmware)
    # a redundant chassis cannot be told from modules in ENTITY-MIB: not read back
    assert got.node("core2").stack is None
    assert all(n.stack is None for n in got.nodes if n.id not in ("core1",))


def test_a_group_that_alone_cuts_a_school_off_is_a_single_point_of_failure() -> None:
    shared = stage4({ES1_UPLINKS[0]: ["conduit-es1"], ES1_UPLINKS[1]: ["conduit-es1"]})
    rep = analyse_redundancy(shared)
    row = next(s for s in rep.single_points_of_failure if s.element == "srlg:conduit-es1")
    plain = analyse_redundancy(stage4())
    assert (row.kind, row.sites, row.r_ha_excluded) == ("srlg", ["es1"], False)
    # it cuts off every device of es1, as the N-1 row of the group does
    es1 = next(s for s in plain.sites if s.site == "es1")
    assert row.devices == es1.devices > 0 and row.students > 0
    n1 = {c.element: c for c in run_contingency(shared, n_scenarios=10, seed=1).contingencies}
    assert n1["srlg:conduit-es1"].disconnected_devices == row.devices
    # diverse groups cut nobody off alone, and nothing else changes
    diverse = analyse_redundancy(stage4({ES1_UPLINKS[0]: ["n"], ES1_UPLINKS[1]: ["s"]}))
    assert [x.element for x in diverse.single_points_of_failure] == [
        x.element for x in plain.single_points_of_failure]


def test_single_groups_are_tried_whatever_the_budget() -> None:
    # three parallel edges in groups a, b and both: count 2 (fail a and b). A zero budget
    # still tries every single group, so no single group cuts: "at least 2" is settled;
    # the pair is not tried, so 3 is only an upper bound, marked inexact
    eu = np.zeros(3, dtype=np.int64)
    ev = np.ones(3, dtype=np.int64)
    srcs = [np.array([0], dtype=np.int64)]
    gofe = [("a",), ("b",), ("a", "b")]
    assert brute_label_cut(2, [0, 0, 0], [1, 1, 1], 1, 0, gofe) == 2
    got = srlg_disjoint_counts(2, eu, ev, 1, srcs, gofe, np.array([3]), budget=0)
    assert got.paths.tolist() == [3] and not got.exact.any()
    full = srlg_disjoint_counts(2, eu, ev, 1, srcs, gofe, np.array([3]))
    assert full.paths.tolist() == [2] and full.exact.all() and full.binding == [["a", "b"]]
    one = srlg_disjoint_counts(2, eu, ev, 1, srcs, [("a",), ("a",), ("a",)],
                               np.array([3]), budget=0)
    assert one.paths.tolist() == [1] and one.binding == [["a"]]
