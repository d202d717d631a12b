"""Max-min fair allocation (simulator/maxmin.py) against an exact oracle and by hand.

The oracle below is the textbook water-filling loop, one flow at a time in plain
Python: raise every unfrozen flow's rate by the same amount until a flow reaches its
demand or a link fills, freeze those, repeat. It shares no code with the engine.
Random networks are NOT trees: each attachment point crosses an arbitrary set of
links, so the engine is checked beyond tree routing (multi-path / failure re-routes
reuse it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netstage.simulator.arrays import DistrictArrays
from netstage.simulator.demand import DemandBatch
from netstage.simulator.errors import SimulationError
from netstage.simulator.maxmin import allocate

# ---------------------------------------------------------------- construction helpers


def make_arrays(paths: list[list[int]], capacity: list[float],
                background: list[float] | None = None,
                max_clients: list[int] | None = None) -> DistrictArrays:
    """Minimal arrays: one attachment point per entry of ``paths`` (link index lists)."""
    n_p, n_l = len(paths), len(capacity)
    width = max([len(p) for p in paths] + [1])
    path_links = np.full((n_p, width), -1, dtype=np.int32)
    for i, p in enumerate(paths):
        path_links[i, : len(p)] = p
    i32 = np.zeros(0, dtype=np.int32)
    return DistrictArrays(
        name="test", node_ids=("n",), node_kind=np.zeros(1, np.int8),
        node_site=np.zeros(1, np.int32), site_ids=("s",),
        link_ids=tuple(f"l{i}" for i in range(n_l)), link_a=np.zeros(n_l, np.int32),
        link_b=np.ones(n_l, np.int32), link_capacity_mbps=np.asarray(capacity, dtype=np.float64),
        link_background_mbps=np.asarray(background or [0.0] * n_l, dtype=np.float64),
        link_role=np.zeros(n_l, np.int8), attach_ids=tuple(f"p{i}" for i in range(n_p)),
        attach_node=np.zeros(n_p, np.int32), attach_member=np.zeros(n_p, np.int32),
        attach_site=np.zeros(n_p, np.int32), attach_air_link=np.full(n_p, -1, np.int32),
        attach_max_clients=np.asarray(max_clients or [0] * n_p, dtype=np.int32),
        path_links=path_links, path_len=np.asarray([len(p) for p in paths], dtype=np.int32),
        device_attach=i32, device_class=np.zeros(0, np.int8), device_site=i32,
    )


def make_batch(demands: list[list[list[float]]], assoc: list[list[int]] | None = None
               ) -> DemandBatch:
    """``demands[s][p]`` = demands at attachment point p in scenario s (any order).

    ``assoc[s][p]`` associated count (default all). Associated entries are sorted by
    demand as draw_demand leaves them; unassociated entries follow.
    """
    n_s, n_p = len(demands), len(demands[0])
    starts = np.zeros((n_s, n_p + 1), dtype=np.int64)
    assoc_arr = np.zeros((n_s, n_p), dtype=np.int32)
    flat: list[float] = []
    pos = 0
    for s in range(n_s):
        for p in range(n_p):
            starts[s, p] = pos
            k = len(demands[s][p]) if assoc is None else assoc[s][p]
            vals = sorted(demands[s][p][:k]) + list(demands[s][p][k:])
            flat.extend(vals)
            assoc_arr[s, p] = k
            pos += len(vals)
        starts[s, n_p] = pos
    n = len(flat)
    return DemandBatch(
        scenario="test", seed=0, first_scenario=0, n_scenarios=n_s, group_start=starts,
        group_assoc=assoc_arr, device=np.arange(n, dtype=np.int32),
        app=np.zeros(n, dtype=np.int8), demand_mbps=np.asarray(flat, dtype=np.float32),
        app_min_mbps=np.zeros(1), app_names=("x",),
    )


# --------------------------------------------------------------------------- the oracle


def oracle(paths: list[list[int]], capacity: list[float], flows: list[tuple[int, float]]
           ) -> list[float]:
    """Water-filling: ``flows`` = (attachment point, demand); returns each flow's rate."""
    rate = [0.0] * len(flows)
    frozen = [d <= 0 or len(paths[p]) == 0 for p, d in flows]  # no path: rate 0
    for _ in range(10 * len(flows) + 10):
        live = [i for i in range(len(flows)) if not frozen[i]]
        if not live:
            break
        used = [0.0] * len(capacity)
        count = [0] * len(capacity)
        for i, (p, _d) in enumerate(flows):
            for lk in paths[p]:
                used[lk] += rate[i]
                if not frozen[i]:
                    count[lk] += 1
        step = min(flows[i][1] - rate[i] for i in live)
        for lk in range(len(capacity)):
            if count[lk]:
                step = min(step, (capacity[lk] - used[lk]) / count[lk])
        step = max(step, 0.0)
        for i in live:
            rate[i] += step
        for lk in range(len(capacity)):
            used[lk] = sum(rate[i] for i, (p, _d) in enumerate(flows) if lk in paths[p])
        for i in live:
            p, d = flows[i]
            full = any(used[lk] >= capacity[lk] * (1 - 1e-9) for lk in paths[p])
            if rate[i] >= d * (1 - 1e-12) or full:
                frozen[i] = True
    return rate


# ------------------------------------------------------------------------ hand examples


def _rates(batch: DemandBatch, arrays: DistrictArrays) -> list[float]:
    return [float(x) for x in allocate(batch, arrays).rate_mbps]


def test_three_devices_on_a_10_mbps_uplink() -> None:
    # demands 2, 5, 8 on one 10 Mbps link: the 2 Mbps device is satisfied; the other
    # two split the remaining 8 Mbps equally: 2, 4, 4 (sum 10 = capacity).
    arrays = make_arrays([[0]], [10.0])
    batch = make_batch([[[8.0, 2.0, 5.0]]])
    assert _rates(batch, arrays) == pytest.approx([2.0, 4.0, 4.0])
    alloc = allocate(batch, arrays)
    assert alloc.link_used_mbps[0, 0] == pytest.approx(10.0)
    assert alloc.link_bottleneck_devices[0, 0] == 2  # the two 4 Mbps devices


def test_wifi_air_link_is_the_first_bottleneck() -> None:
    # link 0: an AP's air (6 Mbps), link 1: the school uplink (10 Mbps).
    # Two Wi-Fi devices want 5 each: the air link gives 3 + 3. A wired device on the
    # uplink only wants 10: it gets what the Wi-Fi devices leave, 10 - 6 = 4.
    arrays = make_arrays([[0, 1], [1]], [6.0, 10.0])
    batch = make_batch([[[5.0, 5.0], [10.0]]])
    assert _rates(batch, arrays) == pytest.approx([3.0, 3.0, 4.0])
    alloc = allocate(batch, arrays)
    assert alloc.link_bottleneck_devices[0].tolist() == [2, 1]


def test_background_load_reduces_capacity_and_undemanding_devices_keep_demand() -> None:
    # 10 Mbps link with 4 Mbps background: 6 left; demands 1, 10: 1 and 5.
    arrays = make_arrays([[0]], [10.0], background=[4.0])
    assert _rates(make_batch([[[1.0, 10.0]]]), arrays) == pytest.approx([1.0, 5.0])


def test_disconnected_and_unassociated_devices_get_nothing() -> None:
    # point 0 has no path; point 1 lets 1 client associate of 2.
    arrays = make_arrays([[], [0]], [10.0], max_clients=[0, 1])
    batch = make_batch([[[3.0], [2.0, 4.0]]], assoc=[[1, 1]])
    assert _rates(batch, arrays) == pytest.approx([0.0, 2.0, 0.0])


def test_zero_capacity_link_on_a_path_is_an_error() -> None:
    arrays = make_arrays([[0, 1]], [10.0, 0.0])
    with pytest.raises(SimulationError, match="l1"):
        allocate(make_batch([[[1.0]]]), arrays)
    with pytest.raises(SimulationError, match="finite"):
        allocate(make_batch([[[1.0]]]), make_arrays([[0]], [float("nan")]))


def test_zero_capacity_link_on_no_path_is_fine() -> None:
    arrays = make_arrays([[0]], [10.0, 0.0])
    assert _rates(make_batch([[[12.0]]]), arrays) == pytest.approx([10.0])


# --------------------------------------------------------------- random vs the oracle


@dataclass
class Case:
    paths: list[list[int]]
    capacity: list[float]
    demands: list[list[list[float]]]


@st.composite
def cases(draw: st.DrawFn) -> Case:
    n_l = draw(st.integers(1, 6))
    n_p = draw(st.integers(1, 5))
    n_s = draw(st.integers(1, 3))
    capacity = [draw(st.sampled_from([1.0, 2.5, 5.0, 10.0, 40.0, 100.0])) *
                draw(st.floats(0.5, 2.0)) for _ in range(n_l)]
    paths = [draw(st.lists(st.integers(0, n_l - 1), min_size=0 if n_p > 1 else 1,
                           max_size=n_l, unique=True)) for _ in range(n_p)]
    demand = st.one_of(st.floats(0.01, 50.0), st.sampled_from([1.0, 2.0, 5.0]))
    demands = [[draw(st.lists(demand, max_size=6)) for _ in range(n_p)] for _ in range(n_s)]
    return Case(paths, capacity, demands)


def _check_against_oracle(case: Case) -> None:
    arrays = make_arrays(case.paths, case.capacity)
    batch = make_batch(case.demands)
    alloc = allocate(batch, arrays)
    got = alloc.rate_mbps.astype(np.float64)
    dem = batch.demand_mbps.astype(np.float64)
    for s in range(batch.n_scenarios):
        sl = batch.scenario_slice(s)
        flows = []
        for p in range(len(case.paths)):
            a, b = int(batch.group_start[s, p]), int(batch.group_start[s, p + 1])
            flows += [(p, float(dem[k])) for k in range(a, b)]
        want = oracle(case.paths, case.capacity, flows)
        np.testing.assert_allclose(got[sl], want, rtol=2e-5, atol=1e-5)
        # invariants: no device above demand, no link above capacity, max-min certificate
        assert np.all(got[sl] <= dem[sl] * (1 + 1e-6))
        pidx = np.array([p for p, _ in flows], dtype=int)
        load = np.zeros(len(case.capacity))
        for i, p in enumerate(pidx):
            load[case.paths[p]] += got[sl][i]
        cap = np.asarray(case.capacity)
        assert np.all(load <= cap * (1 + 1e-5) + 1e-6)
        np.testing.assert_allclose(alloc.link_used_mbps[s], load, rtol=1e-4, atol=1e-4)
        for i, p in enumerate(pidx):
            if got[sl][i] >= dem[sl][i] * (1 - 1e-5) or not case.paths[p]:
                continue
            # unsatisfied: some saturated link on its path where nobody gets more
            ok = False
            for lk in case.paths[p]:
                on = [j for j, q in enumerate(pidx) if lk in case.paths[q]]
                if load[lk] >= cap[lk] * (1 - 1e-5) and \
                        max(got[sl][j] for j in on) <= got[sl][i] * (1 + 1e-5) + 1e-6:
                    ok = True
            assert ok, f"device {i} not max-min optimal"
        assert int(alloc.link_bottleneck_devices[s].sum()) == int(
            sum(1 for i in range(len(pidx)) if case.paths[pidx[i]]
                and got[sl][i] < dem[sl][i] * (1 - 1e-6)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_engine_matches_exact_oracle_on_random_networks(case: Case) -> None:
    _check_against_oracle(case)


def test_oracle_agrees_with_hand_example() -> None:
    # guards the oracle itself with the documented 3-device example
    assert oracle([[0]], [10.0], [(0, 2.0), (0, 5.0), (0, 8.0)]) == pytest.approx([2, 4, 4])


def test_many_equal_devices_on_nested_links() -> None:
    # 100 devices at 10 APs (air 20 each), 5 APs per 50 Mbps switch uplink, 80 Mbps
    # Internet; all want 3. Air share 2 per device (10 per AP), switch share 50/50 = 1,
    # Internet 80/100 = 0.8: everyone gets 0.8 (Internet is the only bottleneck).
    paths = [[i, 10 + i // 5, 12] for i in range(10)]
    cap = [20.0] * 10 + [50.0, 50.0, 80.0]
    arrays = make_arrays(paths, cap)
    batch = make_batch([[[3.0] * 10 for _ in range(10)]])
    alloc = allocate(batch, arrays)
    np.testing.assert_allclose(alloc.rate_mbps, 0.8, rtol=1e-6)
    assert alloc.link_bottleneck_devices[0, 12] == 100
