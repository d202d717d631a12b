"""The pruning's R-HA (``_evaluate(stop_early=True)``). On a trial whose one firewall cuts
off every device, the N-1 run of that failure alone settles that R-HA fails, with the
row the whole N-1 run computes for it, and the whole run (every failure re-routed) is
not made. On a trial whose N-1 is already in the pool, R-HA is judged before the
simulated rules, which run only if it passes."""

from __future__ import annotations

from typing import Any

import pytest

import netstage.simulator.contingency as contingency_pkg
from netstage.simulator.contingency import run_contingency
from netstage.simulator.generate import generate_district
from netstage.simulator.io import load_district
from netstage.simulator.model import District
from netstage.simulator.plan.gap import EvidencePool, _evaluate, _ha_structure
from netstage.simulator.rules import default_rubric

from .support import TOPOLOGIES

N1 = 24
SEED = 3


@pytest.fixture(scope="module")
def district() -> District:
    """Two circuits and two WAN links per school (the structure passes) behind one
    firewall (the worst single point of failure)."""
    return generate_district(schools=4, students=2000, circuits=2, dual_homed=1.0)


@pytest.fixture
def n1_elements(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The ``elements`` argument of every N-1 run (None: every element)."""
    runs: list[Any] = []
    real = contingency_pkg.run_contingency

    def counting(*args: Any, **kw: Any) -> Any:
        runs.append(kw.get("elements"))
        return real(*args, **kw)

    monkeypatch.setattr(contingency_pkg, "run_contingency", counting)
    return runs


def test_the_structure_passes_and_the_firewall_cuts_off_everything(district: District) -> None:
    _, ok, rep = _ha_structure(district, default_rubric())
    assert ok
    assert rep.counted_spofs[0].element == "fw"


def test_one_element_run_equals_its_row_of_the_whole_run(district: District) -> None:
    whole = {c.element: c for c in run_contingency(district, n_scenarios=N1, seed=SEED)
             .contingencies}
    for el in ("fw", "s001-dist", "core1"):
        one = run_contingency(district, n_scenarios=N1, seed=SEED, elements=[el])
        assert [c.element for c in one.contingencies] == [el]
        assert one.contingencies[0] == whole[el]


def test_pruning_fails_r_ha_on_the_worst_cut_alone(district: District,
                                                   n1_elements: list[Any]) -> None:
    rubric = default_rubric()
    full = _evaluate(district, ["R-HA"], 4, rubric, 8, SEED, ha_full=True,
                     pool=EvidencePool(n1_scenarios=N1))
    assert n1_elements == [None]
    assert full.failing(4) == ["R-HA"]
    pruned = _evaluate(district, ["R-HA"], 4, rubric, 8, SEED, ha_full=True,
                       stop_early=True, pool=EvidencePool(n1_scenarios=N1))
    assert n1_elements == [None, ["fw"]]
    assert pruned.failing(4) == ["R-HA"]
    assert pruned.verdicts["R-HA"].allows_stage == full.verdicts["R-HA"].allows_stage
    # below stage 4 the N-1 check does not decide R-HA: the rule runs as it did
    _evaluate(district, ["R-HA"], 3, rubric, 8, SEED, ha_full=True, stop_early=True,
              pool=EvidencePool(n1_scenarios=N1))
    assert n1_elements[2:] == [None]


def test_pruning_judges_an_r_ha_already_in_the_pool_first(
        district: District, monkeypatch: pytest.MonkeyPatch) -> None:
    """A trial the search already evaluated (its N-1 in the pool) and R-HA fails runs no
    simulation; where R-HA passes the other rules are judged as before."""
    import netstage.simulator.simulate as sim_mod

    sims: list[str] = []
    real = sim_mod.simulate

    def counting(*args: Any, **kw: Any) -> Any:
        sims.append(kw["scenario"])
        return real(*args, **kw)

    monkeypatch.setattr(sim_mod, "simulate", counting)
    rubric = default_rubric()
    four = load_district(TOPOLOGIES / "stage4-transformational.yaml")
    for d, fails in ((district, ["R-HA"]), (four, [])):
        pool = EvidencePool(n1_scenarios=N1)
        _evaluate(d, ["R-HA"], 4, rubric, 8, SEED, ha_full=True, pool=pool)
        sims.clear()
        st = _evaluate(d, ["R-NOW", "R-HA"], 4, rubric, 8, SEED, ha_full=True,
                       stop_early=True, pool=pool)
        assert st.failing(4) == fails
        assert sims == ([] if fails else ["now"])
