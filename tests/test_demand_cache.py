"""The demand cache's ranges and rates: a range is assembled from consecutive cached
chunks, and an N-1 run's base case takes the rates a simulation of the same district
computed, with the same answers as drawing and allocating afresh."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from netstage.simulator import simulate as sim_mod
from netstage.simulator.arrays import to_arrays
from netstage.simulator.contingency import kernels
from netstage.simulator.demand import DemandBatch, concat_batches, draw_demand, slice_batch
from netstage.simulator.errors import SimulationError
from netstage.simulator.io import load_district
from netstage.simulator.maxmin import allocate
from netstage.simulator.profiles import scenario_params
from netstage.simulator.simulate import (
    cached_rates,
    demand_cache,
    draw_demand_cached,
    simulate,
)
from netstage.simulator.stage import classify

from .stage_support import expected_stage
from .support import example_districts

FIELDS = ("group_start", "group_assoc", "device", "app", "demand_mbps")


def _example(stage: int) -> Any:
    return load_district(next(p for p in example_districts() if expected_stage(p) == stage))


@pytest.fixture(scope="module")
def district() -> Any:
    return _example(3)


def _params(arr: Any) -> Any:
    return scenario_params("now", district_growth=arr.meta.get("growth"),
                           busy_hour=arr.meta.get("busy_hour"))


def _same_batch(a: DemandBatch, b: DemandBatch) -> None:
    assert (a.first_scenario, a.n_scenarios, a.seed) == (b.first_scenario, b.n_scenarios, b.seed)
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)


def test_concat_batches_equals_one_draw(district: Any) -> None:
    arr = to_arrays(district)
    p = _params(arr)
    whole = draw_demand(arr, p, 10, 5)
    parts = [draw_demand(arr, p, k, 5, first_scenario=f) for f, k in ((0, 3), (3, 1), (4, 6))]
    _same_batch(concat_batches(parts), whole)
    later = draw_demand(arr, p, 4, 5, first_scenario=6)
    _same_batch(concat_batches([draw_demand(arr, p, 2, 5, first_scenario=6),
                                draw_demand(arr, p, 2, 5, first_scenario=8)]), later)
    with pytest.raises(SimulationError, match="not consecutive"):
        concat_batches([parts[0], parts[2]])
    with pytest.raises(SimulationError, match="not consecutive"):
        concat_batches([parts[0], draw_demand(arr, p, 1, 6, first_scenario=3)])  # other seed


def test_a_range_is_assembled_from_cached_chunks(district: Any) -> None:
    arr = to_arrays(district)
    p = _params(arr)
    with demand_cache() as cache:
        for f, k in ((0, 3), (3, 4), (7, 3)):
            draw_demand_cached(arr, p, k, 9, f)
        assert (cache.hits, cache.misses) == (0, 3)
        got = draw_demand_cached(arr, p, 10, 9, 0)
        assert (cache.hits, cache.misses) == (1, 3)
        _same_batch(got, draw_demand(arr, p, 10, 9))
        _same_batch(draw_demand_cached(arr, p, 7, 9, 3), draw_demand(arr, p, 7, 9,
                                                                      first_scenario=3))
        assert cache.hits == 2
        # starts or ends inside a cached chunk: cut from the chunks that cover it
        _same_batch(draw_demand_cached(arr, p, 5, 9, 1), draw_demand(arr, p, 5, 9,
                                                                      first_scenario=1))
        _same_batch(draw_demand_cached(arr, p, 5, 9, 0), draw_demand(arr, p, 5, 9))
        _same_batch(draw_demand_cached(arr, p, 1, 9, 8), draw_demand(arr, p, 1, 9,
                                                                      first_scenario=8))
        assert (cache.hits, cache.misses) == (5, 3)
        # runs past the last chunk: drawn (and kept) whole
        draw_demand_cached(arr, p, 11, 9, 0)
        assert (cache.hits, cache.misses) == (5, 4)
        _same_batch(draw_demand_cached(arr, p, 4, 9, 7), draw_demand(arr, p, 4, 9,
                                                                      first_scenario=7))
        assert cache.hits == 6
    with demand_cache(max_bytes=1) as tiny:  # nothing kept, nothing indexed
        draw_demand_cached(arr, p, 3, 9, 0)
        assert not tiny.items and not tiny.spans


def test_slice_batch_equals_drawing_the_slice(district: Any) -> None:
    arr = to_arrays(district)
    p = _params(arr)
    whole = draw_demand(arr, p, 10, 5, first_scenario=20)
    for a, b in ((0, 10), (0, 3), (4, 5), (7, 10)):
        _same_batch(slice_batch(whole, a, b), draw_demand(arr, p, b - a, 5,
                                                          first_scenario=20 + a))
    for a, b in ((3, 3), (-1, 2), (8, 11)):
        with pytest.raises(SimulationError, match="not in a batch"):
            slice_batch(whole, a, b)


def test_rates_are_not_cut(district: Any) -> None:
    """Rates are kept per simulation chunk and served only when chunks tile the range."""
    arr = to_arrays(district)
    with demand_cache(rates=True):
        simulate(arr, n_scenarios=6, seed=4, chunk_scenarios=3)
        p = _params(arr)
        assert cached_rates(draw_demand_cached(arr, p, 6, 4, 0), arr) is not None
        assert cached_rates(draw_demand_cached(arr, p, 3, 4, 3), arr) is not None
        assert cached_rates(draw_demand_cached(arr, p, 4, 4, 1), arr) is None


def test_eviction_forgets_the_range(district: Any) -> None:
    arr = to_arrays(district)
    p = _params(arr)
    one = draw_demand(arr, p, 2, 9)
    with demand_cache(max_bytes=int(2.5 * sim_mod._DemandCache.nbytes(one))) as cache:
        for f in (0, 2, 4):   # the third evicts the first
            draw_demand_cached(arr, p, 2, 9, f)
        assert len(cache.items) == 2 and sum(map(len, cache.spans.values())) == 2
        assert cache.bytes <= cache.max_bytes
        draw_demand_cached(arr, p, 4, 9, 2)
        assert cache.hits == 1
        draw_demand_cached(arr, p, 4, 9, 0)   # scenarios 0-1 are gone
        assert cache.hits == 1


def test_simulation_rates_serve_the_same_batch(district: Any) -> None:
    arr = to_arrays(district)
    p = _params(arr)
    batch = draw_demand(arr, p, 12, 4)
    want = allocate(batch, arr).rate_mbps
    with demand_cache(rates=True):
        simulate(arr, n_scenarios=12, seed=4, chunk_scenarios=5)   # chunks 5, 5, 2
        got = draw_demand_cached(arr, p, 12, 4, 0)
        rates = cached_rates(got, arr)
        assert rates is not None
        np.testing.assert_array_equal(rates, want)
        # other capacities or paths: those rates do not apply
        assert cached_rates(got, arr.with_capacity(arr.link_capacity_mbps * 0.5)) is None
        pl = arr.path_links.copy()
        pl[0, 0] = pl[1, 0] if pl[1, 0] != pl[0, 0] else pl[0, 0] + 1
        assert cached_rates(got, arr.with_paths(pl, arr.path_len)) is None
        # devices on other (sub-)points: the batch's entries would be grouped otherwise
        moved = dataclasses.replace(arr, device_attach=np.roll(arr.device_attach, 1))
        assert cached_rates(got, moved) is None
        # a range the chunks do not tile
        assert cached_rates(draw_demand_cached(arr, p, 4, 4, 3), arr) is None
    with demand_cache() as plain:   # the planner's cache keeps no rates
        simulate(arr, n_scenarios=12, seed=4, chunk_scenarios=5)
        assert cached_rates(draw_demand_cached(arr, p, 12, 4, 0), arr) is None
        assert not any(isinstance(v, np.ndarray) for v in plain.items.values())
    assert cached_rates(batch, arr) is None   # no cache: nothing


def test_simulation_with_other_capacities_keeps_its_own_rates(district: Any) -> None:
    arr = to_arrays(district)
    p = _params(arr)
    cap = arr.link_capacity_mbps * 0.25
    with demand_cache(rates=True):
        simulate(arr, n_scenarios=6, seed=4, capacity_mbps=cap)
        assert cached_rates(draw_demand_cached(arr, p, 6, 4, 0), arr) is None
        simulate(arr, n_scenarios=6, seed=4)
        rates = cached_rates(draw_demand_cached(arr, p, 6, 4, 0), arr)
        assert rates is not None
        np.testing.assert_array_equal(rates, allocate(draw_demand(arr, p, 6, 4), arr).rate_mbps)


def test_classify_shares_the_simulation_with_n1(monkeypatch: pytest.MonkeyPatch) -> None:
    """Classify's N-1 base case takes R-NOW's rates; the classification (N-1 rows
    included) is the one computed without the cache."""
    d = _example(4)
    used: list[bool] = []

    def spy(batch: DemandBatch, arr: Any) -> Any:
        got = cached_rates(batch, arr)
        used.append(got is not None)
        return got

    monkeypatch.setattr(kernels, "cached_rates", spy)
    shared = classify(d, n_scenarios=30, seed=2)
    assert used == [True], "the N-1 run did not take the simulation's rates"
    monkeypatch.setattr("netstage.simulator.stage._CLASSIFY_CACHE_BYTES", 1)
    fresh = classify(d, n_scenarios=30, seed=2)
    assert used == [True, False]

    def answer(c: Any) -> Any:
        data = c.to_json()
        data.pop("elapsed_s", None)
        return data

    assert answer(shared) == answer(fresh)
    a, b = shared.evidence.contingency, fresh.evidence.contingency
    assert a is not None and b is not None
    assert [r.__dict__ for r in a.contingencies] == [r.__dict__ for r in b.contingencies]


def test_a_cache_for_some_scenario_types_keeps_only_those(district: Any) -> None:
    arr = to_arrays(district)
    with demand_cache(rates=True, scenarios=("now",)) as cache:
        simulate(arr, scenario="future", n_scenarios=4, seed=1)
        assert not cache.items and (cache.hits, cache.misses) == (0, 0)
        simulate(arr, scenario="now", n_scenarios=4, seed=1)
        assert {type(v).__name__ for v in cache.items.values()} == {"DemandBatch", "ndarray"}
