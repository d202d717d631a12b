"""Incremental routes after a failure (:class:`route_delta.RouteDelta`) against the
from-scratch :func:`routing.node_routes` on the failed network: the same ``start``,
``links``, ``length`` and ``prob`` arrays, bit for bit, for every link, node and circuit
of the shipped examples and of generated districts with load spread over two or three
circuits (one of them standby), dual-homed schools, rings, mixed capacities (so the
"fastest next hops" filter and the capacity tie-breaks matter) and small ``max_routes``
(so the per-circuit cut matters); also for random double failures."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netstage.simulator.arrays import LINK_CIRCUIT, DistrictArrays, to_arrays
from netstage.simulator.contingency import contingency_elements
from netstage.simulator.examples import example_names, resolve_district
from netstage.simulator.generate import generate_district
from netstage.simulator.io import district_from_dict, load_district
from netstage.simulator.model import District
from netstage.simulator.rerouting import _spread_base, _spread_inputs, _spread_paths_for
from netstage.simulator.route_delta import RouteDelta
from netstage.simulator.routing import NodeRoutes, node_routes, spread_paths


def _district(seed: int, schools: int, dual: float, circuits: int, standby: bool,
              ring: bool, mixed: bool) -> District:
    d = generate_district(schools=schools, students=300 * schools, seed=seed,
                          dual_homed=dual, circuits=circuits)
    data = d.model_dump(mode="json", exclude_none=True)
    if ring:  # as benchmarks/bench_classify_cli.py builds the 15.2 district
        for i in range(1, schools + 1):
            data["links"].append({"a": f"s{i:03d}-dist", "b": f"s{i % schools + 1:03d}-dist",
                                  "capacity_mbps": 10000.0, "medium": "fiber"})
    if mixed:
        rng = np.random.default_rng(seed)
        for lk in data["links"]:
            lk["capacity_mbps"] = float(rng.choice([1000.0, 10000.0, 10000.0]))
    if standby and len(data["circuits"]) > 1:
        data["circuits"][-1]["role"] = "standby"
    return district_from_dict(data, source=f"routes(seed={seed})")


def _delta(d: District, arr: DistrictArrays, max_routes: int, max_share: float = 0.5
           ) -> RouteDelta:
    from netstage.simulator.routing import route_usable

    weight = np.zeros(arr.n_links)
    standby = np.zeros(arr.n_links, dtype=bool)
    for li, c in zip(np.flatnonzero(arr.link_role == LINK_CIRCUIT).tolist(), d.circuits,
                     strict=True):
        weight[li] = c.load_weight
        standby[li] = c.role == "standby"
    usable = route_usable(arr.link_role, arr.meta.get("member_links", {}), arr.link_a,
                          arr.link_b)
    return RouteDelta(len(arr.node_ids), arr.link_a, arr.link_b, arr.link_capacity_mbps,
                      usable, weight, standby, max_routes, max_share)


def _scratch(delta: RouteDelta, usable: np.ndarray) -> NodeRoutes:
    return node_routes(delta.n_nodes, delta.link_a, delta.link_b, delta.link_cap, usable,
                       delta.weight, delta.standby_flag, delta.max_routes)


def _same(a: NodeRoutes, b: NodeRoutes, what: str) -> None:
    for name in ("start", "links", "length", "prob"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, (what, name)
        np.testing.assert_array_equal(x, y, err_msg=f"{what}: {name}")


def _check(delta: RouteDelta, links: tuple[int, ...], node: int, what: str,
           stats: dict[str, int]) -> None:
    usable = delta.usable_after(links, node)
    routes, affected = delta.routes_after(usable)
    want = _scratch(delta, usable)
    _same(routes, want, what)
    if affected is None:
        stats["full"] += 1
        return
    stats["incremental" if affected.any() else "unaffected"] += 1
    if affected.mean() > 0.5:
        stats["large"] = stats.get("large", 0) + 1
    # the nodes outside `affected` keep their base routes (what N-1 relies on to place
    # only the affected nodes' sub-points again)
    base = delta.routes
    keep = np.flatnonzero(~affected)
    count = np.diff(base.start)[keep]
    np.testing.assert_array_equal(count, np.diff(want.start)[keep], err_msg=what)
    off = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    rows_b = np.repeat(base.start[keep], count) + off
    rows_w = np.repeat(want.start[keep], count) + off
    np.testing.assert_array_equal(base.prob[rows_b], want.prob[rows_w], err_msg=what)
    np.testing.assert_array_equal(base.length[rows_b], want.length[rows_w], err_msg=what)


def _base_state(delta: RouteDelta) -> dict[str, np.ndarray]:
    """Copies of every array the failures start from: the base routes and trees, and
    the delta's per-circuit depths and route sums."""
    p = delta.parts
    out: dict[str, np.ndarray] = {"depth": delta.depth.copy(), "pc_sum": delta.pc_sum.copy(),
                                  "par_a": p.par_a.copy(), "dep_a": p.dep_a.copy()}
    for i in range(len(p.per)):
        out[f"parent {i}"] = p.per_parent[i].copy()
        out[f"depth {i}"] = p.per_depth[i].copy()
        for name in ("start", "links", "length", "prob"):
            out[f"per {i} {name}"] = getattr(p.per[i], name).copy()
    for name in ("start", "links", "length", "prob"):
        out[f"routes {name}"] = getattr(p.routes, name).copy()
    return out


def _every_element(d: District, arr: DistrictArrays, max_routes: int = 16,
                   max_share: float = 0.5) -> dict[str, int]:
    """Each link (circuits included), each node, and each pair of a school's two
    uplinks, failed alone; afterwards the base every failure starts from is unchanged
    (a failure that wrote into it would give the next failures a wrong start, or none
    that this district shows)."""
    delta = _delta(d, arr, max_routes, max_share)
    _same(delta.routes, _scratch(delta, delta.usable), "base")
    before = _base_state(delta)
    stats = {"full": 0, "incremental": 0, "unaffected": 0}
    for lk in range(arr.n_links):
        _check(delta, (lk,), -1, f"link {arr.link_ids[lk]}", stats)
    for v in range(len(arr.node_ids)):
        _check(delta, (), v, f"node {arr.node_ids[v]}", stats)
    after = _base_state(delta)
    for name, value in before.items():
        np.testing.assert_array_equal(after[name], value, err_msg=f"base {name} changed")
    return stats


@pytest.mark.parametrize("name", example_names())
def test_examples_every_element(name: str) -> None:
    d = load_district(resolve_district(f"example:{name}"))
    arr = to_arrays(d)
    stats = _every_element(d, arr)
    assert stats["incremental"] + stats["unaffected"] > 0, stats


@pytest.mark.parametrize(("seed", "schools", "dual", "circuits", "standby", "ring", "mixed",
                          "max_routes"), [
    (1, 8, 1.0, 2, False, True, False, 16),   # the shape of the 15.2 district, smaller
    (2, 9, 0.5, 2, False, True, False, 16),
    (3, 7, 0.5, 2, False, True, True, 4),
    (4, 6, 1.0, 3, True, True, True, 16),
    (5, 8, 0.5, 3, True, False, True, 3),
    (6, 6, 1.0, 2, False, True, True, 1),
])
def test_generated_every_element(seed: int, schools: int, dual: float, circuits: int,
                                 standby: bool, ring: bool, mixed: bool,
                                 max_routes: int) -> None:
    d = _district(seed, schools, dual, circuits, standby, ring, mixed)
    arr = to_arrays(d)
    stats = _every_element(d, arr, max_routes)
    # the comparison is not vacuous: most failures take the incremental path
    assert stats["incremental"] > stats["full"], stats


def test_large_failures_on_the_incremental_path() -> None:
    """A failure affecting more than half the nodes (a core) is routed in full, for
    speed only: with that fallback off, the incremental path gives the same routes for
    them too (else a bug that shows only on large failures would hide behind it)."""
    d = _district(1, 8, 1.0, 2, False, True, False)
    stats = _every_element(d, to_arrays(d), 16, max_share=1.0)
    assert stats.get("large", 0) > 0, stats


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), schools=st.integers(2, 8), dual=st.floats(0.0, 1.0),
       circuits=st.integers(1, 3), standby=st.booleans(), ring=st.booleans(),
       mixed=st.booleans(), max_routes=st.sampled_from([1, 2, 3, 5, 16]),
       data=st.data())
def test_random_double_failures(seed: int, schools: int, dual: float, circuits: int,
                                standby: bool, ring: bool, mixed: bool, max_routes: int,
                                data: Any) -> None:
    """Two links, or a link and a node, fail at once (SRLGs, N-2)."""
    d = _district(seed, schools, dual, circuits, standby, ring, mixed)
    arr = to_arrays(d)
    delta = _delta(d, arr, max_routes)
    stats = {"full": 0, "incremental": 0, "unaffected": 0}
    n_l, n_n = arr.n_links, len(arr.node_ids)
    for trial in range(12):
        a = data.draw(st.integers(0, n_l - 1), label=f"link {trial}")
        if trial % 2:
            b = data.draw(st.integers(0, n_l - 1), label=f"link2 {trial}")
            _check(delta, (a, b), -1, f"links {a}, {b}", stats)
        else:
            v = data.draw(st.integers(0, n_n - 1), label=f"node {trial}")
            _check(delta, (a,), v, f"link {a}, node {v}", stats)


def test_n1_paths_of_the_benchmark_shape_equal_spread_paths() -> None:
    """N-1 places again only the (node, slot) pairs of the affected nodes: for every
    contingency element (access ones included) of a district shaped like the 15.2
    benchmark (two circuits, every school dual-homed, a ring), the paths equal
    :func:`routing.spread_paths`, which routes the whole failed network from scratch."""
    d = _district(7, 10, 1.0, 2, False, True, False)
    arr = to_arrays(d)
    spread = arr.meta["spread"]
    assert spread.multipath
    base = _spread_base(arr, spread)
    elems, _ = contingency_elements(d, arr, include_access=True)
    moved = 0
    for el in elems:
        pl, plen, _cand = _spread_paths_for(arr, spread, el.links, el.node, base)
        want_pl, want_len = spread_paths(spread, **_spread_inputs(arr, el.links, el.node))
        np.testing.assert_array_equal(pl, want_pl, err_msg=el.label)
        np.testing.assert_array_equal(plen, want_len, err_msg=el.label)
        moved += int(np.any(plen != arr.path_len))
    assert moved > 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), n=st.integers(3, 24), max_routes=st.sampled_from([1, 2, 3, 4, 16]))
def test_random_graphs_every_element(data: Any, n: int, max_routes: int) -> None:
    """Random graphs (not district-shaped): random links with mixed capacities, one to
    three circuits with unequal weights (some standby); every link and node fails in
    turn. Here a node's tree route is often not its most probable one and the
    ``max_routes`` cuts bite, which the regular generated districts rarely show."""
    m = data.draw(st.integers(n, 3 * n), label="links")
    ends = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)),
                              min_size=m, max_size=m), label="ends")
    ends = [(a, b) for a, b in ends if a != b]
    n_c = data.draw(st.integers(1, 3), label="circuits")
    attach = data.draw(st.lists(st.integers(0, n - 1), min_size=n_c, max_size=n_c),
                       label="attach")
    caps = data.draw(st.lists(st.sampled_from([1.0, 10.0, 10.0, 100.0]),
                              min_size=len(ends) + n_c, max_size=len(ends) + n_c), label="caps")
    link_a = np.array([a for a, _ in ends] + attach, dtype=np.int32)
    link_b = np.array([b for _, b in ends] + [n] * n_c, dtype=np.int32)
    n_l = link_a.shape[0]
    weight = np.zeros(n_l)
    weight[len(ends):] = data.draw(st.lists(st.sampled_from([1.0, 2.0, 5.0]), min_size=n_c,
                                            max_size=n_c), label="weights")
    standby = np.zeros(n_l, dtype=bool)
    standby[len(ends):] = data.draw(st.lists(st.booleans(), min_size=n_c, max_size=n_c),
                                    label="standby")
    usable = np.ones(n_l, dtype=bool)
    delta = RouteDelta(n, link_a, link_b, np.array(caps), usable, weight, standby, max_routes)
    _same(delta.routes, _scratch(delta, usable), "base")
    stats = {"full": 0, "incremental": 0, "unaffected": 0}
    for lk in range(n_l):
        _check(delta, (lk,), -1, f"link {lk}", stats)
    for v in range(n):
        _check(delta, (), v, f"node {v}", stats)


def test_tree_route_first_although_less_probable() -> None:
    """Node 6's tree parent (3, the lowest link of its equal hops) has two routes, its
    other hops (4, 5) one each: its tree route has probability 1/6, the routes over 4
    and 5 have 1/3, and with ``max_routes=2`` the tree route must still come first (the
    routing rule), also when 6 is re-routed after losing its fourth hop (to 8)."""
    pairs = [(1, 0), (2, 0), (3, 1), (3, 2), (4, 1), (5, 2), (6, 3), (6, 4), (6, 5), (8, 2),
             (6, 8), (0, 9)]
    link_a = np.array([a for a, _ in pairs], dtype=np.int32)
    link_b = np.array([b for _, b in pairs], dtype=np.int32)
    weight = np.zeros(len(pairs))
    weight[-1] = 1.0
    delta = RouteDelta(9, link_a, link_b, np.full(len(pairs), 10.0), np.ones(len(pairs), bool),
                       weight, np.zeros(len(pairs), bool), max_routes=2)
    stats = {"full": 0, "incremental": 0, "unaffected": 0}
    for lk in range(len(pairs)):
        _check(delta, (lk,), -1, f"link {pairs[lk]}", stats)
    routes, affected = delta.routes_after(delta.usable_after((10,), -1))
    assert affected is not None and affected[6]
    rows = list(routes.rows(6))
    assert routes.links[rows[0], :4].tolist() == [6, 2, 0, 11]  # 6-3, 3-1, 1-0, circuit
    assert routes.prob[rows[0]] < routes.prob[rows[1]]


def test_lost_circuit_changes_the_share_of_nodes_it_never_served() -> None:
    """A satellite campus (edge 4 with two circuits, cores 5 and 6, school 7 dual-homed)
    not linked to the main campus (core 0 with one circuit, distribution 1 and 2, school
    3 dual-homed). With three circuits and ``max_routes=4`` each circuit keeps 4 // 3 = 1
    route per node; losing a satellite circuit (or the edge) leaves 4 // 2 = 2, so school
    3 gains its second route although the failure affects none of its paths, and no more
    than ``max_share`` of the nodes: the failure of a circuit must be routed in full."""
    pairs = [(1, 0), (2, 0), (3, 1), (3, 2), (5, 4), (6, 4), (7, 5), (7, 6), (0, 8), (4, 8),
             (4, 8)]
    link_a = np.array([a for a, _ in pairs], dtype=np.int32)
    link_b = np.array([b for _, b in pairs], dtype=np.int32)
    weight = np.zeros(len(pairs))
    weight[-3:] = 1.0
    delta = RouteDelta(8, link_a, link_b, np.full(len(pairs), 10.0), np.ones(len(pairs), bool),
                       weight, np.zeros(len(pairs), bool), max_routes=4)
    stats = {"full": 0, "incremental": 0, "unaffected": 0}
    for lk in range(len(pairs)):
        _check(delta, (lk,), -1, f"link {pairs[lk]}", stats)
    for v in range(8):
        _check(delta, (), v, f"node {v}", stats)
    assert stats["incremental"] > 0, stats
    routes, _ = delta.routes_after(delta.usable_after((9,), -1))
    assert len(delta.routes.rows(3)) == 1 and len(routes.rows(3)) == 2
