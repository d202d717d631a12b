"""Incremental max-min N-1 with spread load (issue 15 item 1 (c)) equals the full
re-allocation.

Random small districts with load spread over two active circuits (dual-homed schools on
two cores, so every school's points are split over several routes and routing is no
tree), sometimes a ring between the schools' distribution switches, and capacities low
enough that the circuits and some WAN trunks or access uplinks are overloaded. For
every contingency and every scenario, the default run (incremental max-min on the paths
reduced to the overloaded links, :mod:`netstage.simulator.incremental_spread`) must give
the throttled devices of ``incremental=False`` (every slow scenario re-allocated with
:func:`maxmin.allocate`) exactly and the served Mbps to float32 precision (as
``tests/test_contingency_incremental.py``, whose ``compare`` this reuses).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import netstage.simulator.contingency.driver as driver
from netstage.simulator.arrays import to_arrays
from netstage.simulator.generate import generate_district
from netstage.simulator.incremental import solve_jobs
from netstage.simulator.incremental_spread import spread_tree
from netstage.simulator.io import district_from_dict
from netstage.simulator.model import District
from tests.test_contingency_incremental import compare


def spread_district(schools: int, students: int, seed: int, kbps: float, wan: float,
                    uplink: float, dual: float, ring: float | None, circuits: int = 2
                    ) -> District:
    """Two active circuits (same total capacity; or one), ``dual`` of the schools on
    both cores, optionally a ring through the distribution switches."""
    d = generate_district(schools=schools, students=students, seed=seed, circuits=circuits,
                          dual_homed=dual, internet_kbps_per_student=kbps, wan_mbps=wan,
                          access_uplink_mbps=uplink)
    if ring is None:
        return d
    data = d.model_dump(mode="json", exclude_none=True)
    for i in range(1, schools + 1 if schools > 2 else 2):
        data["links"].append({"a": f"s{i:03d}-dist", "b": f"s{i % schools + 1:03d}-dist",
                              "capacity_mbps": ring, "medium": "fiber"})
    return district_from_dict(data, source=f"spread(seed={seed})")


@pytest.fixture
def constrained_links(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Records the most constrained links any incremental scenario had."""
    seen: list[int] = []

    def spy(*args: Any, **kw: Any) -> Any:
        jobs = args[-1]
        seen.extend(int((j.r_links >= 0).sum(axis=1).max(initial=0)) for j in jobs)
        return solve_jobs(*args, **kw)

    monkeypatch.setattr(driver, "solve_jobs", spy)
    return seen


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schools=st.integers(2, 4), students=st.integers(300, 1400), seed=st.integers(0, 10**6),
       kbps=st.floats(40, 250), wan=st.sampled_from([100.0, 150.0, 200.0, 10000.0]),
       uplink=st.sampled_from([150.0, 10000.0]), dual=st.sampled_from([0.5, 1.0]),
       ring=st.sampled_from([None, 10000.0]), circuits=st.sampled_from([2, 2, 1]),
       include_access=st.booleans())
def test_spread_incremental_equals_full_reallocation(
        schools: int, students: int, seed: int, kbps: float, wan: float, uplink: float,
        dual: float, ring: float | None, circuits: int, include_access: bool) -> None:
    # one circuit spreads load only over the two cores: every school dual-homed
    d = spread_district(schools, students, seed, kbps, wan, uplink,
                        dual if circuits == 2 else 1.0, ring, circuits)
    assert to_arrays(d).meta["spread"].multipath
    compare(d, include_access)


def test_spread_incremental_path_is_exercised(constrained_links: list[int]) -> None:
    """Both circuits overloaded in every scenario (the benchmark's case (c) in small):
    the incremental max-min answers most slow scenarios, some with both circuits'
    levels moving at once (a failure moves sub-points from one circuit to the other)."""
    d = spread_district(4, 1200, 3, 150.0, 10000.0, 10000.0, 1.0, 10000.0)
    stats = compare(d, include_access=True)
    assert stats["incremental_scenarios"] > 0.5 * stats["slow_scenarios"] > 0
    assert max(constrained_links) >= 2


def test_spread_overloaded_trunks_fall_back() -> None:
    """A school's two WAN trunks overloaded in some scenarios (with both circuits): a
    trunk carries flows of both circuits, so those scenarios are no tree and are
    re-allocated; the others are incremental."""
    d = spread_district(4, 1400, 8, 80.0, 150.0, 10000.0, 1.0, None)
    stats = compare(d, include_access=False)
    assert stats["incremental_scenarios"] > 0
    assert stats["reallocated_scenarios"] > 0


def test_spread_nested_constrained_links_fall_back() -> None:
    """One circuit and dual-homed schools with small WAN trunks: a trunk and the circuit
    above it are both overloaded (a tree: the trunk's flows all go on to the circuit).
    When a trunk fails its school moves to the other trunk, so two nested links (that
    trunk and the circuit) are constrained: those scenarios are re-allocated (one
    equation per link would be wrong), the others stay incremental."""
    d = spread_district(4, 1400, 8, 80.0, 150.0, 10000.0, 1.0, None, circuits=1)
    stats = compare(d, include_access=False)
    assert stats["incremental_scenarios"] > 0
    assert stats["reallocated_scenarios"] > 0


def test_spread_reduced_paths() -> None:
    """The reduced paths of the spread tree keep only the overloaded links, in order."""
    from netstage.simulator.incremental_spread import reduce_rows

    rows = np.array([[3, 1, 4, -1], [2, 5, 1, 0], [-1, -1, -1, -1]], dtype=np.int32)
    lens = np.array([3, 4, 0], dtype=np.int32)
    keep = np.zeros(6, dtype=bool)
    keep[[1, 4, 0]] = True
    out, n = reduce_rows(rows, lens, keep)
    assert n.tolist() == [2, 2, 0]
    assert out.tolist() == [[1, 4, -1, -1], [1, 0, -1, -1], [-1, -1, -1, -1]]


def test_spread_job_frames_follow_the_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks whose overloaded links differ (a school's trunks overloaded in some
    scenarios only): the driver keeps each contingency's job frame only while a chunk
    has the same overloaded links, and every chunk still equals the full
    re-allocation."""
    o_sets: list[bytes] = []

    def spy(*args: Any, **kw: Any) -> Any:
        got = spread_tree(*args, **kw)
        if got is not None:
            o_sets.append(np.flatnonzero(got[0].o_index >= 0).tobytes())
        return got

    monkeypatch.setattr(driver, "spread_tree", spy)
    d = spread_district(4, 1400, 8, 80.0, 150.0, 10000.0, 1.0, None)
    stats = compare(d, include_access=False, chunk_scenarios=3)
    assert stats["chunks"] > 1 and stats["incremental_scenarios"] > 0
    assert len(set(o_sets)) > 1
