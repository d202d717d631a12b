"""N-1 contingency: equal to a from-scratch simulation of the reduced network."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from netstage.simulator.arrays import DEVICE_CLASSES, to_arrays
from netstage.simulator.contingency import contingency_elements, run_contingency, subset_batch
from netstage.simulator.demand import draw_demand
from netstage.simulator.errors import SimulationError
from netstage.simulator.generate import generate_district
from netstage.simulator.io import load_district
from netstage.simulator.maxmin import allocate
from netstage.simulator.model import District
from netstage.simulator.profiles import scenario_params
from netstage.simulator.rerouting import _pad, _Router, _spread_paths_for
from netstage.simulator.routing import attachment_paths

from .support import TOPOLOGIES, example_districts, shared_path

N = 40  # scenarios: enough for a p95, fast enough for every element of every example
SEED = 11


def scratch_metrics(d: District, scenario: str = "now") -> tuple[float, float, int]:
    """p95 unserved, p95 throttled and disconnected student devices of ``d``, simulated
    from scratch (its own arrays, routing, demand batch and allocation)."""
    arr = to_arrays(d)
    g = d.district.growth
    params = scenario_params(scenario, district_growth=(g.horizon_years, g.growth_per_year))
    batch = draw_demand(arr, params, N, SEED)
    alloc = allocate(batch, arr)
    starts = batch.group_start[:, 0]
    dem = np.add.reduceat(batch.demand_mbps.astype(np.float64), starts)
    rate = np.add.reduceat(alloc.rate_mbps.astype(np.float64), starts)
    mins = batch.app_min_mbps[batch.app]
    floor = mins > 0
    low = floor & (alloc.rate_mbps < np.minimum(mins, batch.demand_mbps) * (1 - 1e-6))
    n_low = np.add.reduceat(low.astype(float), starts)
    n_floor = np.add.reduceat(floor.astype(float), starts)
    uns, thr = 1 - rate / dem, n_low / n_floor
    student = arr.device_class == DEVICE_CLASSES.index("student")
    cut = int((student & (arr.device_path_len == 0)).sum())
    return float(np.percentile(uns, 95)), float(np.percentile(thr, 95)), cut


def without(d: District, element: str) -> District:
    """``d`` with one link, circuit or node (and its links) removed, not re-validated
    (the reduced network may leave sites cut off, which is the point)."""
    data = d.model_dump(mode="json")
    data["links"] = [lk for lk in data["links"]
                     if element not in (lk.get("id") or f"{lk['a']}--{lk['b']}", lk["a"], lk["b"])]
    data["circuits"] = [c for c in data["circuits"] if element not in (c["id"], c["attach"])]
    data["nodes"] = [n for n in data["nodes"] if n["id"] != element]
    return District.model_validate(data)


def nodes_with_devices(d: District) -> set[str]:
    arr = to_arrays(d)
    return {arr.node_ids[i] for i in np.unique(arr.attach_node[arr.device_attach]).tolist()}


def undersized() -> District:
    """A dual-homed district whose circuit and WAN links are too small, so that many
    scenarios take the full re-allocation path."""
    return generate_district(schools=5, students=1500, seed=4, dual_homed=0.6, circuits=2,
                             internet_kbps_per_student=150, wan_mbps=200)


def mixed(seed: int) -> District:
    """Small random districts: some schools dual-homed, WAN and circuits near capacity,
    so that fast and full paths mix within one run."""
    rng = np.random.default_rng(seed)
    return generate_district(schools=4, students=int(rng.integers(600, 1400)), seed=seed,
                             dual_homed=float(rng.uniform(0.3, 0.9)),
                             circuits=int(rng.integers(1, 4)),
                             internet_kbps_per_student=float(rng.uniform(200, 900)),
                             wan_mbps=float(rng.choice([300, 1000])))


CASES = [*example_districts(), "undersized", "mixed-21", "mixed-22", "zoo-Karen"]


def load(case: Any) -> District:
    if case == "undersized":
        return undersized()
    if isinstance(case, str) and case.startswith("mixed-"):
        return mixed(int(case.split("-")[1]))
    if isinstance(case, str) and case.startswith("zoo-"):
        # a real topology with two exits on different nodes: several circuit subtrees
        from netstage.simulator.importers.graphml import import_graphml

        return import_graphml(shared_path("topologies", case[4:] + ".graphml"),
                              students_per_site=60, internet_mbps=700)
    return load_district(case)


@pytest.mark.parametrize("case", CASES, ids=lambda c: getattr(c, "name", str(c)))
def test_every_contingency_equals_a_from_scratch_simulation(case: Any) -> None:
    d = load(case)
    rep = run_contingency(d, n_scenarios=N, seed=SEED)
    assert rep.contingencies, "every example has elements to fail"
    checked = 0
    with_devices = nodes_with_devices(d)
    for c in rep.contingencies:
        if c.kind == "node" and c.element in with_devices:
            continue  # removing it would also remove its devices from the denominator
        uns, thr, _cut = scratch_metrics(without(d, c.element))
        assert c.unserved_p95 == pytest.approx(uns, abs=1e-6), c.element
        assert c.throttled_p95 == pytest.approx(thr, abs=1e-6), c.element
        checked += 1
    assert checked >= len(rep.contingencies) // 2
    uns, thr, _ = scratch_metrics(d)
    assert rep.base.unserved_p95 == pytest.approx(uns, abs=1e-6)
    assert rep.base.throttled_p95 == pytest.approx(thr, abs=1e-6)


@pytest.mark.parametrize("case", CASES, ids=lambda c: getattr(c, "name", str(c)))
def test_fast_path_equals_full_reallocation(case: Any) -> None:
    d = load(case)
    fast = run_contingency(d, n_scenarios=N, seed=SEED)
    full = run_contingency(d, n_scenarios=N, seed=SEED, exact=True)
    assert full.stats["unchanged"] == 0 and full.stats["slow_scenarios"] > 0
    by = {c.element: c for c in full.contingencies}
    assert set(by) == {c.element for c in fast.contingencies}
    for c in fast.contingencies:
        assert c.unserved_p95 == pytest.approx(by[c.element].unserved_p95, abs=1e-6)
        assert c.unserved_mean == pytest.approx(by[c.element].unserved_mean, abs=1e-6)
        assert c.throttled_p95 == pytest.approx(by[c.element].throttled_p95, abs=1e-6)
        assert c.disconnected_students == by[c.element].disconnected_students


def test_both_paths_are_exercised() -> None:
    rep = run_contingency(undersized(), n_scenarios=N, seed=SEED)
    assert rep.stats["slow_scenarios"] > 0
    assert rep.stats["fast_scenarios"] > 0
    four = run_contingency(load_district(TOPOLOGIES / "stage4-transformational.yaml"),
                           n_scenarios=N, seed=SEED)
    assert four.stats["unchanged"] > 0  # standby links carry no path: answered by the base


@pytest.mark.parametrize("case", CASES, ids=lambda c: getattr(c, "name", str(c)))
def test_router_equals_routing_attachment_paths(case: Any) -> None:
    d = load(case)
    arr = to_arrays(d)
    if arr.meta["spread"].multipath:
        check_spread_reroute(d, arr)  # the tree router is not used for spread load
        return
    router = _Router(arr)
    elems, _ = contingency_elements(d, arr, include_access=True)
    for el in elems:
        link_up = np.ones(arr.n_links, dtype=bool)
        link_up[list(el.links)] = False
        node_up = None
        if el.node >= 0:
            node_up = np.ones(len(arr.node_ids), dtype=bool)
            node_up[el.node] = False
        want = attachment_paths(
            n_nodes=len(arr.node_ids), link_a=arr.link_a, link_b=arr.link_b,
            link_capacity_mbps=arr.link_capacity_mbps, link_role=arr.link_role,
            attach_node=arr.attach_node, attach_member=arr.attach_member,
            attach_air_link=arr.attach_air_link, member_link_of=arr.meta["member_links"],
            link_up=link_up, node_up=node_up)
        got = router.paths(link_up, node_up)
        np.testing.assert_array_equal(got[0], want[0], err_msg=el.label)
        np.testing.assert_array_equal(got[1], want[1], err_msg=el.label)
        # the incremental router (only the subtree below the failure) agrees too
        inc, inc_len, cand = router.paths_for(el.links, el.node)
        width = max(inc.shape[1], want[0].shape[1])
        np.testing.assert_array_equal(_pad(inc, width), _pad(want[0], width), err_msg=el.label)
        np.testing.assert_array_equal(inc_len, want[1], err_msg=el.label)
        moved = np.flatnonzero((want[1] != arr.path_len) | np.any(
            _pad(want[0], width) != _pad(arr.path_links, width), axis=1))
        assert set(moved.tolist()) <= set(cand.tolist()), el.label


def check_spread_reroute(d: District, arr: Any) -> None:
    """With load spread over several routes, a contingency's paths avoid the failed
    element and reach the Internet exactly where the tree routing does."""
    elems, _ = contingency_elements(d, arr, include_access=True)
    for el in elems:
        pl, plen, _cand = _spread_paths_for(arr, arr.meta["spread"], el.links, el.node)
        link_up = np.ones(arr.n_links, dtype=bool)
        link_up[list(el.links)] = False
        node_up = None
        if el.node >= 0:
            node_up = np.ones(len(arr.node_ids), dtype=bool)
            node_up[el.node] = False
        tree_len = attachment_paths(
            n_nodes=len(arr.node_ids), link_a=arr.link_a, link_b=arr.link_b,
            link_capacity_mbps=arr.link_capacity_mbps, link_role=arr.link_role,
            attach_node=arr.attach_node, attach_member=arr.attach_member,
            attach_air_link=arr.attach_air_link, member_link_of=arr.meta["member_links"],
            link_up=link_up, node_up=node_up)[1]
        np.testing.assert_array_equal(plen > 0, tree_len > 0, err_msg=el.label)
        used = pl[pl >= 0]
        assert not np.isin(used, list(el.links)).any(), el.label
        if el.node >= 0:
            assert not ((arr.link_a[used] == el.node) | (arr.link_b[used] == el.node)).any()


def test_disconnected_students_match_reachability() -> None:
    d = load_district(TOPOLOGIES / "stage3-emerging.yaml")
    rep = run_contingency(d, n_scenarios=20, seed=SEED)
    with_devices = nodes_with_devices(d)
    for c in rep.contingencies:
        if not (c.kind == "node" and c.element in with_devices):
            _, _, cut = scratch_metrics(without(d, c.element))
            assert c.disconnected_students == cut, c.element
    # the edge router cuts off every student of the district
    edge = next(c for c in rep.contingencies if c.element == "edge")
    assert edge.disconnected_students == d.total_students
    assert edge.unserved_p95 == pytest.approx(1.0)


def test_worst_first_and_contract_fields() -> None:
    d = load_district(TOPOLOGIES / "stage4-transformational.yaml")
    rep = run_contingency(d, n_scenarios=N, seed=SEED)
    keys = [(-c.unserved_p95, -c.throttled_p95, -c.disconnected_students)
            for c in rep.contingencies]
    assert keys == sorted(keys)
    assert rep.contingencies[0].element == rep.worst.element
    assert rep.worst_unserved_p95 == max(c.unserved_p95 for c in rep.contingencies)
    assert {c.kind for c in rep.contingencies} <= {"link", "node"}
    # school access switches, APs and AP uplinks are not failed (R-HA, the issue)
    failed = {c.element for c in rep.contingencies}
    for n in d.nodes:
        if n.kind in ("ap", "server") or (n.kind == "access" and n.site != "do"):
            assert n.id not in failed
    j = rep.to_json()
    assert j["contingencies"][0]["element"] == rep.contingencies[0].element
    assert j["base"]["element"] == "none"
    assert len(j["contingencies"]) == rep.stats["elements"]
    # stage 4: no single failure leaves more than 5 % unserved (its stated R-HA)
    assert rep.worst_unserved_p95 <= 0.05


def test_common_random_numbers() -> None:
    """A failure that changes no path gives exactly the base row (same demand draws)."""
    d = load_district(TOPOLOGIES / "stage4-transformational.yaml")
    rep = run_contingency(d, n_scenarios=N, seed=SEED, exact=True)
    same = [c for c in rep.contingencies if c.rerouted_points == 0
            and c.disconnected_devices == rep.base.disconnected_devices]
    assert same
    for c in same:
        assert c.unserved_p95 == pytest.approx(rep.base.unserved_p95, abs=1e-9)
        assert c.throttled_p95 == pytest.approx(rep.base.throttled_p95, abs=1e-9)


def test_subset_batch_matches_full_draws() -> None:
    d = undersized()
    arr = to_arrays(d)
    batch = draw_demand(arr, scenario_params("now"), 12, 5)
    idx = np.array([0, 3, 4, 11])
    sub = subset_batch(batch, idx)
    for k, s in enumerate(idx.tolist()):
        a, b = batch.scenario_slice(s), sub.scenario_slice(k)
        np.testing.assert_array_equal(batch.demand_mbps[a], sub.demand_mbps[b])
        np.testing.assert_array_equal(batch.device[a], sub.device[b])
        np.testing.assert_array_equal(np.diff(batch.group_start[s]), np.diff(sub.group_start[k]))


def test_unknown_element_and_bad_scenarios() -> None:
    d = undersized()
    with pytest.raises(SimulationError, match="unknown contingency element"):
        run_contingency(d, n_scenarios=5, elements=["nope"])
    with pytest.raises(SimulationError, match="n_scenarios"):
        run_contingency(d, n_scenarios=0)
    rep = run_contingency(d, n_scenarios=5, elements=["core1"])
    assert [c.element for c in rep.contingencies] == ["core1"]


def test_progress_is_reported() -> None:
    seen: list[tuple[int, int]] = []
    run_contingency(undersized(), n_scenarios=5, progress=lambda k, n: seen.append((k, n)))
    assert seen[0][0] == 0 and seen[-1][0] == seen[-1][1] > 0


def test_base_row_equals_simulate() -> None:
    """The no-failure row is the simulator's own answer (same seed, same definitions)."""
    from netstage.simulator.simulate import simulate_district

    for path in example_districts():
        d = load_district(path)
        rep = run_contingency(d, n_scenarios=N, seed=SEED, elements=[])
        sim = simulate_district(d, n_scenarios=N, seed=SEED)
        assert rep.base.unserved_p95 == pytest.approx(
            sim.percentiles("unserved_fraction")["p95"], abs=1e-6), path.name
        assert rep.base.throttled_p95 == pytest.approx(
            sim.percentiles("throttled_share")["p95"], abs=1e-6), path.name


def test_chunking_does_not_change_the_result() -> None:
    d = mixed(21)
    whole = run_contingency(d, n_scenarios=21, seed=SEED)
    parts = run_contingency(d, n_scenarios=21, seed=SEED, chunk_scenarios=8)
    assert parts.stats["chunks"] == 3 and whole.stats["chunks"] == 1
    assert parts.stats["slow_scenarios"] > 0
    for a, b in zip(parts.contingencies, whole.contingencies, strict=True):
        assert a.element == b.element
        assert a.unserved_p95 == pytest.approx(b.unserved_p95, abs=1e-9)
        assert a.throttled_p95 == pytest.approx(b.throttled_p95, abs=1e-9)
        assert a.disconnected_students == b.disconnected_students
    assert parts.base.unserved_p95 == pytest.approx(whole.base.unserved_p95, abs=1e-12)


def test_access_elements_fast_path_equals_full_reallocation() -> None:
    """With --include-access (APs with member copies, school access switches) too."""
    d = load_district(TOPOLOGIES / "stage3-emerging.yaml")
    fast = run_contingency(d, n_scenarios=20, seed=SEED, include_access=True)
    full = run_contingency(d, n_scenarios=20, seed=SEED, include_access=True, exact=True)
    assert not fast.excluded and len(fast.contingencies) == len(full.contingencies)
    by = {c.element: c for c in full.contingencies}
    for c in fast.contingencies:
        assert c.unserved_p95 == pytest.approx(by[c.element].unserved_p95, abs=1e-6)
        assert c.throttled_p95 == pytest.approx(by[c.element].throttled_p95, abs=1e-6)
        assert c.disconnected_students == by[c.element].disconnected_students
    ap = next(c for c in fast.contingencies if c.node_kind == "ap")
    assert ap.disconnected_devices > 0 and ap.rerouted_points == 0
