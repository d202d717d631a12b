"""The N-1 fast path checked for all contingencies at once
(:mod:`netstage.simulator.contingency.fastcheck`) equals the per-contingency sums.

The oracle is written here from the definitions, contingency by contingency, with dense
arrays: set A is every link some changed point's path gains or loses; after the failure
a link of A carries its base demand plus the demand of the points that gain it minus
those that lose it; a scenario is slow when a link of A (with flows left) exceeds its
capacity before or after; the disconnected points' sums leave the totals. The batched
code groups points into classes and contingencies into groups of products, and its
class grouping uses a hash that is checked exactly: both are exercised here (tiny
groups; a hash that makes every row collide).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import netstage.simulator.contingency.driver as driver
import netstage.simulator.contingency.fastcheck as fastcheck
from netstage.simulator.contingency import run_contingency
from netstage.simulator.io import load_district
from netstage.simulator.model import District
from tests.support import TOPOLOGIES
from tests.test_contingency_spread_incremental import spread_district

N = 12


def cases() -> list[tuple[str, District]]:
    return [
        ("spread-ring", spread_district(4, 1600, 3, 120.0, 400.0, 1000.0, 0.8, 400.0)),
        ("spread-tight", spread_district(3, 900, 11, 500.0, 150.0, 300.0, 1.0, None)),
        ("stage3", load_district(TOPOLOGIES / "stage3-emerging.yaml")),
    ]


def captured(monkeypatch: pytest.MonkeyPatch, d: District, **kw: Any) -> dict[str, Any]:
    """Runs N-1 on ``d`` and keeps the plans, the deltas and every chunk's checks."""
    got: dict[str, Any] = {"checks": []}

    def spy_deltas(arr: Any, base_count: Any, plans: Any) -> Any:
        got["arr"], got["plans"] = arr, plans
        got["deltas"] = fastcheck.plan_deltas(arr, base_count, plans)
        return got["deltas"]

    def spy_checks(deltas: Any, base: Any, cap: Any) -> Any:
        out = list(fastcheck.fast_checks(deltas, base, cap))
        got["checks"].append((base, cap, out))
        return iter(out)

    monkeypatch.setattr(driver, "plan_deltas", spy_deltas)
    monkeypatch.setattr(driver, "fast_checks", spy_checks)
    got["report"] = run_contingency(d, n_scenarios=N, seed=4, keep_sums=True, **kw)
    return got


def oracle(arr: Any, plan: Any, base: Any, cap: Any) -> dict[str, Any]:
    """The fast path of one plan from the definitions (dense, per point)."""
    n_l = arr.n_links
    m = np.zeros((n_l, len(arr.attach_ids)))
    for i, p in enumerate(plan.changed.tolist()):
        old = set(arr.path_links[p, : arr.path_len[p]].tolist())
        new = set(plan.rows[i, : plan.lens[i]].tolist())
        for link in new - old:
            m[link, p] += 1.0
        for link in old - new:
            m[link, p] -= 1.0
    a = np.flatnonzero(np.any(m != 0, axis=1))
    counts = np.zeros(n_l, dtype=np.int64)
    for p in range(len(arr.attach_ids)):
        for link in arr.path_links[p, : arr.path_len[p]].tolist():
            counts[link] += 1
    new_count = counts[a] + (m[a] > 0).sum(axis=1) - (m[a] < 0).sum(axis=1)
    cut = plan.changed[plan.lens == 0]
    lost_cut = np.array([(m[link, cut] < 0).sum() for link in a], dtype=np.int64)
    old_dem = base.link_dem[a]
    new_dem = old_dem + m[a] @ base.dem
    c = cap[a][:, None]
    ok_new = (new_dem <= c) | (new_count <= 0)[:, None]
    ok_old = (old_dem <= c) | (lost_cut >= counts[a])[:, None]
    served = base.served_s - base.served[cut].sum(axis=0)
    thr = base.thr_s + (base.zthr[cut] - base.thr[cut]).sum(axis=0)
    return {"a_links": a, "new_dem": new_dem, "new_count": new_count,
            "slow": ~np.all(ok_new & ok_old, axis=0), "served": served, "thr": thr}


def assert_checks_equal_oracle(got: dict[str, Any]) -> int:
    slow = 0
    for base, cap, checks in got["checks"]:
        assert len(checks) == len(got["plans"])
        for plan, chk in zip(got["plans"], checks, strict=True):
            want = oracle(got["arr"], plan, base, cap)
            np.testing.assert_array_equal(chk.a_links, want["a_links"])
            np.testing.assert_array_equal(chk.new_count, want["new_count"])
            np.testing.assert_allclose(chk.new_dem, want["new_dem"], rtol=1e-12, atol=1e-9)
            np.testing.assert_array_equal(chk.slow, want["slow"])
            np.testing.assert_allclose(chk.served, want["served"], rtol=1e-12, atol=1e-9)
            np.testing.assert_allclose(chk.thr, want["thr"], rtol=1e-12, atol=1e-9)
            slow += int(chk.slow.sum())
    return slow


@pytest.mark.parametrize("name", [c[0] for c in cases()])
def test_batched_fast_path_equals_the_per_contingency_definition(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    d = dict(cases())[name]
    got = captured(monkeypatch, d)
    assert got["plans"], "the district has contingencies that move points"
    assert_checks_equal_oracle(got)
    deltas = got["deltas"]
    n_changed = sum(p.changed.shape[0] for p in got["plans"])
    assert deltas.agg.shape[0] <= n_changed
    if name.startswith("spread"):  # sub-points of a school move alike: real grouping
        assert deltas.agg.shape[0] < n_changed


def test_tight_district_has_slow_scenarios(monkeypatch: pytest.MonkeyPatch) -> None:
    """The oracle comparison above means something for the slow flag too."""
    got = captured(monkeypatch, dict(cases())["spread-tight"])
    assert assert_checks_equal_oracle(got) > 0


def test_groups_and_hash_collisions_change_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    d = dict(cases())["spread-ring"]
    ref = run_contingency(d, n_scenarios=N, seed=4, keep_sums=True)
    # one contingency per product group; chunks of 5 scenarios
    monkeypatch.setattr(fastcheck, "_GROUP_VALUES", 1)
    small = captured(monkeypatch, d, chunk_scenarios=5)
    assert len(small["checks"]) == 3
    assert_checks_equal_oracle(small)
    # every row hashes alike: the exact check must catch it and group by sorting
    monkeypatch.setattr(fastcheck, "_hash_multipliers",
                        lambda n: np.ones(n, dtype=np.uint64))
    collide = captured(monkeypatch, d)
    assert_checks_equal_oracle(collide)
    for got in (small, collide):
        sums = got["report"].scenario_sums
        assert sums.keys() == ref.scenario_sums.keys()
        for el, (served, thr) in sums.items():
            np.testing.assert_allclose(served, ref.scenario_sums[el][0], rtol=1e-12)
            np.testing.assert_array_equal(thr, ref.scenario_sums[el][1])
