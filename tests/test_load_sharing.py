"""Load sharing: several Internet circuits (active/standby, weighted) and equal-cost paths.

Issue 12 item 5: with two circuits the second one used to sit idle. Here load spreads
over the active circuits in proportion to their weight (capacity by default), standby
circuits carry traffic only when every active one has failed, equal-cost next hops
split devices by a flow hash, and districts without parallel paths route as before.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from netstage.simulator.arrays import to_arrays
from netstage.simulator.contingency import run_contingency
from netstage.simulator.model import District
from netstage.simulator.rerouting import _spread_paths_for
from netstage.simulator.routing import attachment_paths
from netstage.simulator.rules.target import rule_target
from netstage.simulator.simulate import simulate

from .support import TOPOLOGIES

N = 200
SEED = 5


def district(circuits: list[dict[str, Any]], *, students: int = 1000,
             uplinks: int = 1, uplink_mbps: float = 100_000) -> District:
    """One school (wired devices on one access switch) behind a core with two edge
    routers; the access switch has ``uplinks`` equal uplinks (to d1, d2)."""
    nodes = [{"id": "edge1", "kind": "edge", "site": "do"},
             {"id": "edge2", "kind": "edge", "site": "do"},
             {"id": "core", "kind": "core", "site": "do"},
             {"id": "d1", "kind": "distribution", "site": "hs"},
             {"id": "d2", "kind": "distribution", "site": "hs"},
             {"id": "sw", "kind": "access", "site": "hs"}]
    links = [{"a": "core", "b": "edge1", "capacity_mbps": 100_000},
             {"a": "core", "b": "edge2", "capacity_mbps": 100_000},
             {"a": "d1", "b": "core", "capacity_mbps": 100_000},
             {"a": "d2", "b": "core", "capacity_mbps": 100_000},
             {"a": "sw", "b": "d1", "capacity_mbps": uplink_mbps}]
    if uplinks == 2:
        links.append({"a": "sw", "b": "d2", "capacity_mbps": uplink_mbps})
    return District.model_validate({
        "district": {"name": "load sharing"},
        "sites": [{"id": "do", "name": "office", "kind": "office"},
                  {"id": "hs", "name": "school", "students": students, "staff": 0,
                   "wired_lab_pcs": 0}],
        "nodes": nodes, "links": links, "circuits": circuits})


def circuit_traffic(d: District) -> dict[str, float]:
    """Mean served Mbps per circuit over the scenarios."""
    arr = to_arrays(d)
    r = simulate(arr, n_scenarios=N, seed=SEED)
    return {lid: float(r.link_util_mean[i] * r.link_capacity_mbps[i])
            for i, lid in enumerate(r.link_ids) if r.link_roles[i] == "circuit"}


def devices_per_last_link(d: District) -> dict[str, int]:
    """Devices whose path ends at each circuit."""
    arr = to_arrays(d)
    plen = arr.path_len[arr.device_attach]
    last = arr.path_links[arr.device_attach, np.maximum(plen - 1, 0)]
    ids = np.asarray(arr.link_ids)
    out = {str(k): int(v) for k, v in zip(*np.unique(ids[last[plen > 0]], return_counts=True),
                                          strict=True)}
    return out


def test_two_equal_active_circuits_each_carry_half() -> None:
    d = district([{"id": "a", "attach": "edge1", "capacity_mbps": 5000},
                  {"id": "b", "attach": "edge2", "capacity_mbps": 5000}])
    dev = devices_per_last_link(d)
    assert abs(dev["a"] - dev["b"]) <= 2  # Fibonacci hashing: counts within a device
    t = circuit_traffic(d)
    total = t["a"] + t["b"]
    assert total > 100
    assert t["a"] / total == pytest.approx(0.5, abs=0.05)


def test_weighted_pair_spreads_one_to_ten() -> None:
    d = district([{"id": "small", "attach": "edge1", "capacity_mbps": 1000},
                  {"id": "big", "attach": "edge2", "capacity_mbps": 10_000}])
    dev = devices_per_last_link(d)
    assert dev["big"] / dev["small"] == pytest.approx(10.0, rel=0.03)
    t = circuit_traffic(d)
    assert t["big"] / t["small"] == pytest.approx(10.0, rel=0.15)
    # an explicit weight overrides the capacity
    even = district([{"id": "small", "attach": "edge1", "capacity_mbps": 1000, "weight": 1},
                     {"id": "big", "attach": "edge2", "capacity_mbps": 10_000, "weight": 1}])
    dev = devices_per_last_link(even)
    assert abs(dev["big"] - dev["small"]) <= 2


def test_weighted_circuits_on_one_router() -> None:
    d = district([{"id": "small", "attach": "edge1", "capacity_mbps": 1000},
                  {"id": "big", "attach": "edge1", "capacity_mbps": 3000}])
    dev = devices_per_last_link(d)
    assert dev["big"] / (dev["big"] + dev["small"]) == pytest.approx(0.75, abs=0.01)


def standby_district() -> District:
    return district([{"id": "main", "attach": "edge1", "capacity_mbps": 5000},
                     # nearer to the school than the active one: still idle while it is up
                     {"id": "backup", "attach": "sw", "capacity_mbps": 2000,
                      "role": "standby"}])


def test_standby_carries_nothing_until_the_active_one_fails() -> None:
    d = standby_district()
    t = circuit_traffic(d)
    assert t["backup"] == 0.0 and t["main"] > 100
    arr = to_arrays(d)
    main = arr.link_ids.index("main")
    backup = arr.link_ids.index("backup")
    pl, plen, _ = _spread_paths_for(arr, arr.meta["spread"], (main,), -1)
    last = pl[np.arange(pl.shape[0]), plen - 1]
    assert np.all(plen > 0) and np.all(last == backup)
    rep = run_contingency(d, n_scenarios=60, seed=SEED)
    by = {c.element: c for c in rep.contingencies}
    assert by["main"].disconnected_devices == 0
    assert by["main"].unserved_p95 < 0.05
    assert by["backup"].unserved_p95 == rep.base.unserved_p95  # idle: failing it is moot
    # without the standby, losing the active circuit cuts everyone off
    alone = district([{"id": "main", "attach": "edge1", "capacity_mbps": 5000}])
    rep1 = run_contingency(alone, n_scenarios=60, seed=SEED)
    assert {c.element: c for c in rep1.contingencies}["main"].unserved_p95 == 1.0


def test_n1_respreads_over_the_remaining_active_circuits() -> None:
    d = district([{"id": "a", "attach": "edge1", "capacity_mbps": 1000},
                  {"id": "b", "attach": "edge1", "capacity_mbps": 1000},
                  {"id": "c", "attach": "edge2", "capacity_mbps": 1000}])
    arr = to_arrays(d)
    dev = devices_per_last_link(d)
    assert max(dev.values()) - min(dev.values()) <= 3
    c = arr.link_ids.index("c")
    pl, plen, _ = _spread_paths_for(arr, arr.meta["spread"], (c,), -1)
    last = np.asarray(arr.link_ids)[pl[arr.device_attach, plen[arr.device_attach] - 1]]
    ids, counts = np.unique(last, return_counts=True)
    assert ids.tolist() == ["a", "b"]
    assert counts[0] / counts.sum() == pytest.approx(0.5, abs=0.02)
    # the devices of a and b keep their circuit (consistent re-spreading)
    before = np.asarray(arr.link_ids)[arr.path_links[arr.device_attach,
                                                     arr.path_len[arr.device_attach] - 1]]
    kept = before != "c"
    assert np.all(last[kept] == before[kept])


def test_ecmp_splits_devices_and_relieves_one_overloaded_uplink() -> None:
    cap = 400.0  # about 480 Mbps of busy-hour demand: one uplink alone is overloaded
    circuit = [{"id": "isp", "attach": "edge1", "capacity_mbps": 100_000}]
    one = simulate(to_arrays(district(circuit, uplinks=1, uplink_mbps=cap)),
                   n_scenarios=N, seed=SEED)
    assert one.percentiles()["p95"] > 0.05
    d = district(circuit, uplinks=2, uplink_mbps=cap)
    arr = to_arrays(d)
    r = simulate(arr, n_scenarios=N, seed=SEED)
    assert r.percentiles()["p95"] <= 0.05
    up1, up2 = arr.link_ids.index("sw--d1"), arr.link_ids.index("sw--d2")
    on = arr.path_links[arr.device_attach]
    n1 = int(np.any(on == up1, axis=1).sum())
    n2 = int(np.any(on == up2, axis=1).sum())
    assert n1 + n2 == arr.n_devices and abs(n1 - n2) <= 2
    assert r.link_util_mean[up1] == pytest.approx(r.link_util_mean[up2], rel=0.1)


def test_faster_equal_hop_link_still_wins() -> None:
    d = district([{"id": "isp", "attach": "edge1", "capacity_mbps": 10_000}], uplinks=2)
    data = d.model_dump(mode="json")
    data["links"][-1]["capacity_mbps"] = 1000  # sw--d2 slower: not an equal-cost path
    arr = to_arrays(District.model_validate(data))
    assert len(arr.attach_ids) == 1
    assert arr.link_ids.index("sw--d1") in arr.path_links[0].tolist()


def test_same_seed_same_result() -> None:
    d = district([{"id": "a", "attach": "edge1", "capacity_mbps": 300},
                  {"id": "b", "attach": "edge2", "capacity_mbps": 200}], uplinks=2,
                 uplink_mbps=300)
    r1 = simulate(to_arrays(d), n_scenarios=50, seed=3)
    r2 = simulate(to_arrays(d), n_scenarios=50, seed=3)
    np.testing.assert_array_equal(r1.unserved_fraction, r2.unserved_fraction)
    np.testing.assert_array_equal(r1.link_util_mean, r2.link_util_mean)


@pytest.mark.parametrize("name", ["stage1-lab-era.yaml", "stage2-organic.yaml",
                                  "stage3-emerging.yaml"])
def test_single_path_examples_route_as_the_tree(name: str) -> None:
    from netstage.simulator.io import load_district

    d = load_district(TOPOLOGIES / name)
    arr = to_arrays(d)
    assert not arr.meta["spread"].multipath
    pl, plen = attachment_paths(
        n_nodes=len(arr.node_ids), link_a=arr.link_a, link_b=arr.link_b,
        link_capacity_mbps=arr.link_capacity_mbps, link_role=arr.link_role,
        attach_node=arr.attach_node, attach_member=arr.attach_member,
        attach_air_link=arr.attach_air_link, member_link_of=arr.meta["member_links"])
    np.testing.assert_array_equal(arr.path_links, pl)
    np.testing.assert_array_equal(arr.path_len, plen)


def test_target_counts_active_capacity_only() -> None:
    from netstage.simulator.rules.base import RuleContext
    from netstage.simulator.rules.rubric import default_rubric

    d = standby_district()
    v = rule_target(RuleContext(district=d, rubric=default_rubric()))
    got = {i.name: i.value for i in v.inputs}
    assert got["internet_capacity_mbps"] == 5000
    assert "standby" in v.explanation


def test_all_standby_is_a_clear_error() -> None:
    from netstage.simulator.errors import TopologyError
    from netstage.simulator.model import problems as check_district

    d = district([{"id": "x", "attach": "edge1", "capacity_mbps": 100, "role": "standby"}])
    problems = check_district(d)
    assert any("every circuit is 'standby'" in p.message for p in problems)
    with pytest.raises((ValueError, TopologyError)):
        District.model_validate({**d.model_dump(mode="json"),
                                 "circuits": [{"id": "x", "attach": "edge1",
                                               "capacity_mbps": 100, "role": "backup"}]})


def test_split_points_draw_and_associate_per_physical_point() -> None:
    """Sub-points of one AP share its client bound and its devices' draws: the demand
    regrouped by sub-point has, per device, the draw of the unsplit district, and each
    AP associates its first ``max_clients`` active devices, whatever the split."""
    from netstage.simulator.demand import draw_demand
    from netstage.simulator.profiles import scenario_params

    def wifi(circuits: list[dict[str, Any]]) -> District:
        data = district(circuits).model_dump(mode="json")
        data["nodes"].append({"id": "ap", "kind": "ap", "site": "hs", "count": 4,
                              "wifi": {"generation": "wifi5", "channel_width_mhz": 40,
                                       "max_clients": 25}})
        data["links"].append({"a": "ap", "b": "sw", "capacity_mbps": 1000})
        return District.model_validate(data)

    one = to_arrays(wifi([{"id": "a", "attach": "edge1", "capacity_mbps": 5000}]))
    two = to_arrays(wifi([{"id": "a", "attach": "edge1", "capacity_mbps": 5000},
                          {"id": "b", "attach": "edge2", "capacity_mbps": 5000}]))
    assert len(two.attach_ids) == 2 * len(one.attach_ids)
    params = scenario_params("now")
    b1 = draw_demand(one, params, 20, seed=4)
    b2 = draw_demand(two, params, 20, seed=4)
    for s in range(20):
        sl1, sl2 = b1.scenario_slice(s), b2.scenario_slice(s)
        d1 = dict(zip(b1.device[sl1].tolist(), b1.demand_mbps[sl1].tolist(), strict=True))
        d2 = dict(zip(b2.device[sl2].tolist(), b2.demand_mbps[sl2].tolist(), strict=True))
        assert d1 == d2
        # associated devices per AP member: the same count, split over its sub-points
        par = two.meta["spread"].parent
        assoc2 = np.bincount(par, weights=b2.group_assoc[s], minlength=len(one.attach_ids))
        np.testing.assert_array_equal(assoc2, b1.group_assoc[s])
    assert (b1.group_assoc == 25).any()  # the bound binds in some scenario
    # associated entries of a group stay sorted by demand (the kernel relies on it)
    for s in range(20):
        for q in range(len(two.attach_ids)):
            a = int(b2.group_start[s, q])
            dem = b2.demand_mbps[a: a + int(b2.group_assoc[s, q])]
            assert np.all(np.diff(dem) >= 0)


def test_active_circuits_share_load_whatever_their_distance() -> None:
    """Active/active is district-wide: a circuit one hop further away still carries its
    weighted share (what R-TARGET counts is what carries load)."""
    d = district([{"id": "near", "attach": "core", "capacity_mbps": 2000},
                  {"id": "far", "attach": "edge1", "capacity_mbps": 2000}])
    dev = devices_per_last_link(d)
    assert abs(dev["near"] - dev["far"]) <= 2
    t = circuit_traffic(d)
    assert t["far"] / (t["near"] + t["far"]) == pytest.approx(0.5, abs=0.05)


def test_n1_of_one_equal_cost_uplink_moves_its_devices_to_the_other() -> None:
    circuit = [{"id": "isp", "attach": "edge1", "capacity_mbps": 100_000}]
    d = district(circuit, uplinks=2, uplink_mbps=400)
    arr = to_arrays(d)
    up1, up2 = arr.link_ids.index("sw--d1"), arr.link_ids.index("sw--d2")
    pl, _plen, _ = _spread_paths_for(arr, arr.meta["spread"], (up1,), -1)
    on = pl[arr.device_attach]
    assert np.all(np.any(on == up2, axis=1)) and not np.any(on == up1)
    rep = run_contingency(d, n_scenarios=60, seed=SEED)
    by = {c.element: c for c in rep.contingencies}
    # the survivor alone is overloaded (about 480 Mbps of demand on 400 Mbps)
    assert by["sw--d1"].unserved_p95 > 0.05 and by["sw--d2"].unserved_p95 > 0.05
    assert rep.base.unserved_p95 <= 0.05


def test_many_equal_cost_routes_keep_every_circuits_share() -> None:
    """Two firewalls between two edge routers and two cores, every school on two cores,
    every link doubled (in-building second links): dozens of equal-cost routes per access
    switch, more than 16 per circuit. The routes kept per node are split between the
    circuits; cutting the combined list at 16 once dropped the second circuit entirely
    (all devices out of isp1, isp2 idle, R-FUTURE failing at 38 % after the planner had
    doubled both circuits)."""
    from netstage.simulator.generate import generate_district
    from netstage.simulator.io import district_from_dict

    d = generate_district(schools=4, students=1600, seed=3, circuits=2, dual_homed=1.0)
    data = d.model_dump(mode="json")
    fw = next(n for n in data["nodes"] if n["kind"] == "firewall")
    data["nodes"].append({**fw, "id": fw["id"] + "-b"})
    for lk in list(data["links"]):
        if fw["id"] in (lk["a"], lk["b"]):
            twin = {k: v for k, v in lk.items() if k != "id"}
            twin["a"], twin["b"] = (fw["id"] + "-b" if lk[e] == fw["id"] else lk[e]
                                    for e in ("a", "b"))
            data["links"].append(twin)
    for i, lk in enumerate(list(data["links"])):
        if lk["b"] != fw["id"] + "-b" and "ap" not in lk["a"]:
            data["links"].append({**{k: v for k, v in lk.items() if k != "id"},
                                  "id": f"second-{i}"})
    d2 = district_from_dict(data)
    dev = devices_per_last_link(d2)
    circuits = [c.id for c in d2.circuits]
    assert set(dev) == set(circuits), dev
    a, b = (dev[c] for c in circuits)
    assert abs(a - b) <= 0.05 * (a + b), dev
