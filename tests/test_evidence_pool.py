"""The planner's evidence pool (netstage.simulator.plan.gap.EvidencePool): a district built
again with the same network and devices gets the results already computed (no second
N-1 run, the same verdicts), one that differs in what the simulated rules read does not;
the N-1 report is shared only at the same N-1 scenario count; the pool is bounded. And
Evidence's own N-1 count (``n1_scenarios``) is the one N-1 runs with."""

from __future__ import annotations

from typing import Any

import pytest

import netstage.simulator.contingency as contingency_pkg
from netstage.simulator.evidence import Evidence
from netstage.simulator.io import district_from_dict, load_district
from netstage.simulator.model import District
from netstage.simulator.plan.gap import EvidencePool, _evaluate
from netstage.simulator.rules import default_rubric

from .support import TOPOLOGIES

RULES = ["R-NOW", "R-HA"]


def _four() -> District:
    return load_district(TOPOLOGIES / "stage4-transformational.yaml")


def _rebuilt(d: District, change: dict[str, Any] | None = None) -> District:
    """An equal district as a new object (``change``: top-level keys replaced)."""
    data = d.model_dump(mode="json", exclude_none=True)
    data.update(change or {})
    return district_from_dict(data, source="rebuilt")


@pytest.fixture
def n1_runs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The scenario count of every N-1 run."""
    runs: list[int] = []
    real = contingency_pkg.run_contingency

    def counting(*args: Any, **kw: Any) -> Any:
        runs.append(kw["n_scenarios"])
        return real(*args, **kw)

    monkeypatch.setattr(contingency_pkg, "run_contingency", counting)
    return runs


def test_an_equal_district_reuses_the_results(n1_runs: list[int]) -> None:
    d = _four()
    pool = EvidencePool(n1_scenarios=12)
    first = _evaluate(d, RULES, 4, default_rubric(), 8, 3, ha_full=True, pool=pool)
    assert n1_runs == [12]  # N-1 with the pool's count, not the search's 8
    again = _evaluate(_rebuilt(d), RULES, 4, default_rubric(), 8, 3, ha_full=True, pool=pool)
    assert n1_runs == [12] and pool.hits == 1
    assert again.evidence.contingency is first.evidence.contingency
    assert {r: v.allows_stage for r, v in again.verdicts.items()} == \
        {r: v.allows_stage for r, v in first.verdicts.items()}
    # a declared fact is not read by the simulated rules: still the same network
    declared = d.model_dump(mode="json", exclude_none=True)["declared"]
    declared["management"]["mdm"] = False
    _evaluate(_rebuilt(d, {"declared": declared}), RULES, 4, default_rubric(), 8, 3,
              ha_full=True, pool=pool)
    assert n1_runs == [12] and pool.hits == 2


def test_another_network_or_n1_count_computes_again(n1_runs: list[int]) -> None:
    d = _four()
    pool = EvidencePool(n1_scenarios=12)
    _evaluate(d, RULES, 4, default_rubric(), 8, 3, ha_full=True, pool=pool)
    data = d.model_dump(mode="json", exclude_none=True)
    data["circuits"][0]["capacity_mbps"] = data["circuits"][0]["capacity_mbps"] * 2
    _evaluate(district_from_dict(data, source="x"), RULES, 4, default_rubric(), 8, 3,
              ha_full=True, pool=pool)
    assert n1_runs == [12, 12] and pool.hits == 0
    other = EvidencePool(n1_scenarios=16)
    other._entries = pool._entries  # the same results, another N-1 count
    ev = other.evidence(_rebuilt(d), 8, 3)
    assert ev.simulations and not ev.computed("contingency")
    assert ev.computed("redundancy")


def test_the_pool_is_bounded() -> None:
    d = _four()
    pool = EvidencePool(n1_scenarios=4, max_entries=2)
    for seed in range(4):
        pool.keep(Evidence(d, n_scenarios=4, seed=seed))
    assert len(pool._entries) == 2
    assert pool.evidence(d, 4, 0).simulations == {}  # the oldest went out
    pool.evidence(d, 4, 3)
    assert pool.hits == 1


def test_evidence_runs_n1_with_its_own_count(n1_runs: list[int]) -> None:
    ev = Evidence(_four(), n_scenarios=8, seed=1, n1_scenarios=10)
    assert ev.n1_count == 10
    ev.contingency_report()
    assert n1_runs == [10]
    assert ev.reused(8, 1, 10).computed("contingency")
    assert not ev.reused(8, 1).computed("contingency")  # N-1 count 8
