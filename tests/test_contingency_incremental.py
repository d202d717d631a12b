"""Incremental max-min N-1 (issue 15 item 1) equals the full re-allocation.

Random small districts with tree routing (one circuit, single-homed schools, sometimes a
ring between the schools' distribution switches so that failures re-route) and an
overloaded circuit, WAN trunks, access uplinks or ring links. For every contingency and
every scenario, the served Mbps and throttled devices of the default run (incremental
max-min where it applies) must equal those of ``incremental=False`` (every scenario the
fast path cannot answer is re-allocated with :func:`maxmin.allocate`, the oracle):
throttled devices exactly, served Mbps to float32 precision. Rates are float32 (as the
allocator stores them) and a level computed in a different order can differ in its last
float64 bit and round to the neighbouring float32 for a few devices: about 1e-8 of a
scenario's total; RTOL allows 2**-23 (float32's half-ulp), not more.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netstage.simulator.arrays import to_arrays
from netstage.simulator.contingency import run_contingency
from netstage.simulator.generate import generate_district
from netstage.simulator.incremental import link_tree
from netstage.simulator.io import district_from_dict
from netstage.simulator.model import District

N = 16  # scenarios per district
RTOL = 2.0**-23


def ringed(schools: int, students: int, seed: int, kbps: float, wan: float, uplink: float,
           ring: float | None, ring_share: float) -> District:
    """A generated one-circuit district, optionally with ring links between consecutive
    schools' distribution switches (longer than the WAN path, so routing stays a tree)."""
    d = generate_district(schools=schools, students=students, seed=seed, circuits=1,
                          internet_kbps_per_student=kbps, wan_mbps=wan,
                          access_uplink_mbps=uplink)
    if ring is None:
        return d
    data = d.model_dump(mode="json", exclude_none=True)
    rng = np.random.default_rng(seed)
    for i in range(1, schools + 1 if schools > 2 else 2):
        if rng.random() < ring_share:
            data["links"].append({"a": f"s{i:03d}-dist", "b": f"s{i % schools + 1:03d}-dist",
                                  "capacity_mbps": ring, "medium": "fiber"})
    return district_from_dict(data, source=f"ringed(seed={seed})")


def compare(d: District, include_access: bool, **kw: Any) -> dict[str, Any]:
    """The default run (``kw`` added, e.g. ``chunk_scenarios``) against the full
    re-allocation; the default run's stats."""
    inc = run_contingency(d, n_scenarios=N, seed=5, include_access=include_access,
                          keep_sums=True, **kw)
    full = run_contingency(d, n_scenarios=N, seed=5, include_access=include_access,
                           keep_sums=True, incremental=False)
    assert inc.scenario_sums is not None and full.scenario_sums is not None
    assert inc.scenario_sums.keys() == full.scenario_sums.keys()
    for el, (served, thr) in inc.scenario_sums.items():
        f_served, f_thr = full.scenario_sums[el]
        assert np.all(np.isfinite(served)), el
        np.testing.assert_allclose(served, f_served, rtol=RTOL, atol=1e-9, err_msg=el)
        np.testing.assert_array_equal(thr, f_thr, err_msg=el)
    by = {c.element: c for c in full.contingencies}
    for c in inc.contingencies:
        o = by[c.element]
        assert c.unserved_p95 == pytest.approx(o.unserved_p95, rel=RTOL, abs=RTOL)
        assert c.unserved_mean == pytest.approx(o.unserved_mean, rel=RTOL, abs=RTOL)
        assert c.throttled_p95 == o.throttled_p95
        assert c.slow_scenarios == o.slow_scenarios
    assert full.stats["incremental_scenarios"] == 0
    return inc.stats


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schools=st.integers(2, 5), students=st.integers(300, 1400), seed=st.integers(0, 10**6),
       kbps=st.floats(80, 900), wan=st.sampled_from([150.0, 400.0, 1000.0, 10000.0]),
       uplink=st.sampled_from([300.0, 1000.0, 10000.0]),
       ring=st.sampled_from([None, 100.0, 400.0, 10000.0]), ring_share=st.floats(0.3, 1.0),
       include_access=st.booleans())
def test_incremental_equals_full_reallocation(schools: int, students: int, seed: int,
                                              kbps: float, wan: float, uplink: float,
                                              ring: float | None, ring_share: float,
                                              include_access: bool) -> None:
    d = ringed(schools, students, seed, kbps, wan, uplink, ring, ring_share)
    compare(d, include_access)


def test_incremental_path_is_exercised() -> None:
    """Fixed districts where the circuit is overloaded in most scenarios and failures
    re-route (ring) or cut schools off: the incremental max-min answers scenarios, and
    some still need the full re-allocation (a ring trunk overloaded after re-routing)."""
    over = ringed(4, 1200, 3, 150.0, 10000.0, 10000.0, 10000.0, 1.0)
    assert link_tree(*(lambda a: (a.path_links, a.path_len, a.n_links))(to_arrays(over)))
    st_over = compare(over, include_access=True)
    assert st_over["incremental_scenarios"] > 0.5 * st_over["slow_scenarios"] > 0
    trunks = ringed(5, 1400, 8, 300.0, 400.0, 1000.0, 100.0, 1.0)
    st_trunks = compare(trunks, include_access=False)
    assert st_trunks["incremental_scenarios"] > 0
    assert st_trunks["reallocated_scenarios"] > 0


def test_spread_load_is_incremental_too() -> None:
    """Dual-homed schools spread load over two cores (no tree): the levels on the paths
    reduced to the overloaded links (here the circuit) answer the slow scenarios
    (tests/test_contingency_spread_incremental.py covers spread load in depth)."""
    d = generate_district(schools=4, students=1200, seed=2, dual_homed=1.0, circuits=1,
                          internet_kbps_per_student=150)
    assert link_tree(*(lambda a: (a.path_links, a.path_len, a.n_links))(to_arrays(d))) is None
    stats = compare(d, include_access=False)
    assert stats["incremental_scenarios"] > 0.5 * stats["slow_scenarios"] > 0


def test_load_added_to_the_overloaded_circuit() -> None:
    """A school behind a small, overloaded WAN link re-routes over the ring to a large
    one when its link fails: its devices ask the circuit for more, so the circuit's
    level falls below the base level (the incremental path's scan below the level)."""
    d = ringed(4, 1200, 6, 200.0, 10000.0, 10000.0, 10000.0, 1.0)
    data = d.model_dump(mode="json", exclude_none=True)
    for lk in data["links"]:
        if {lk["a"], lk["b"]} == {"s001-dist", "core1"}:
            lk["capacity_mbps"] = 60.0
    small = district_from_dict(data, source="small WAN")
    stats = compare(small, include_access=False)
    assert stats["incremental_scenarios"] > 0
