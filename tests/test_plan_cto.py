"""Plans a CTO would sign (issue 12 item 7): sourced prices with ranges and a three-year
total, second paths with their own priced and physically diverse link, Wi-Fi upgrades
to the design density, no action that changes nothing measured, the greedy plan within
10 % of an exhaustive search on small districts, and targets the catalogue can reach
are reached (or said early to be out of reach)."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from netstage.simulator import plan as planmod
from netstage.simulator.datafiles import data_path
from netstage.simulator.errors import ConfigError
from netstage.simulator.generate import generate_district
from netstage.simulator.io import load_district
from netstage.simulator.plan import (
    UpgradeAction,
    apply_actions,
    exhaustive_plan,
    load_catalog,
    plan_upgrades,
)
from netstage.simulator.redundancy import analyse_redundancy
from netstage.simulator.stage import classify, resolve_rubric

from .stage_support import build, expected_stage, small_district
from .support import example_districts

N = 40
RAW = yaml.safe_load(Path(data_path("upgrades.yaml")).read_text())
ACTIONS = RAW["actions"]


def example(stage: int) -> Path:
    return next(p for p in example_districts() if expected_stage(p) == stage)


def candidates(d: Any, target: int = 4) -> Any:
    return planmod.candidates._Candidates(d, load_catalog(), resolve_rubric(None), target)


# -- (a) prices: source, range, recurring, three-year total -------------------------------
def _rows() -> list[tuple[str, dict[str, Any], str | None]]:
    out = []
    for name, sp in ACTIONS.items():
        inherited = sp.get("price_source")
        if "capex_usd" in sp or "recurring_usd_per_year" in sp:
            out.append((name, sp, inherited))
        for sub in ("per_mbps", "per_km"):
            if sub in sp:
                out.append((f"{name}.{sub}", sp[sub], inherited))
        for sub in ("tiers", "by_kind"):
            for k, row in (sp.get(sub) or {}).items():
                out.append((f"{name}.{sub}.{k}", row, inherited))
    return out


def test_every_catalogue_price_has_a_source_and_a_range() -> None:
    rows = _rows()
    assert len(rows) > 30
    for where, row, inherited in rows:
        src = row.get("price_source", inherited)
        assert isinstance(src, str) and src.strip(), where
        # a citation names where the figure comes from; otherwise exactly 'assumption'
        assert src == "assumption" or len(src) > 20, (where, src)
        point = row.get("capex_usd", 0) + RAW["cost_years"] * row.get("recurring_usd_per_year", 0)
        assert row["cost_low_usd"] <= point <= row["cost_high_usd"], where
        assert "annual_usd" not in row and "source" not in row, where
    # recurring costs where they recur: circuits, leases, licences, subscriptions
    for name in ("internet_capacity", "leased_path", "content_filter", "mdm", "dot1x"):
        sp = ACTIONS[name]
        assert sp.get("recurring_usd_per_year", 0) > 0, name
    assert ACTIONS["second_circuit"]["per_mbps"]["recurring_usd_per_year"] > 0
    assert RAW["default_path_km"]["source"]
    load_catalog()  # the loader accepts the shipped file


@pytest.mark.parametrize(("row", "needle"), [
    ("{capex_usd: 5, cost_low_usd: 1, cost_high_usd: 9}", "price_source"),
    ("{capex_usd: 5, price_source: assumption}", "cost_low_usd"),
    ("{capex_usd: 5, cost_low_usd: 6, cost_high_usd: 9, price_source: assumption}",
     "does not contain"),
    ("{annual_usd: 5}", "renamed: use recurring_usd_per_year"),
])
def test_catalogue_price_without_source_or_range_is_a_located_error(
        tmp_path: Path, row: str, needle: str) -> None:
    f = tmp_path / "cat.yaml"
    f.write_text("version: x\ncost_years: 3\nlink_tiers_mbps: [1]\ninternet_tiers_mbps: [1]\n"
                 f"actions:\n  mdm: {row}\n")
    with pytest.raises(ConfigError) as e:
        load_catalog(f)
    assert needle in str(e.value) and f"{f}:6" in str(e.value)


@pytest.fixture(scope="module")
def stage2_plan() -> Any:
    return plan_upgrades(load_district(example(2)), n_scenarios=N, seed=1)


def test_plan_shows_capex_recurring_three_year_total_and_range(stage2_plan: Any) -> None:
    p = stage2_plan
    assert p.reached and p.actions
    years = p.cost_years
    assert years == 3
    assert p.capex_usd == pytest.approx(sum(a.capex_usd for a in p.actions))
    assert p.recurring_usd_per_year == pytest.approx(
        sum(a.recurring_usd_per_year for a in p.actions))
    assert p.three_year_total_usd == pytest.approx(p.capex_usd + 3 * p.recurring_usd_per_year)
    assert p.cost_low_usd <= p.three_year_total_usd <= p.cost_high_usd
    assert p.cost_low_usd < p.cost_high_usd
    for a in p.actions:
        assert a.cost_usd == pytest.approx(a.capex_usd + years * a.recurring_usd_per_year)
        assert a.cost_low_usd <= a.cost_usd <= a.cost_high_usd
        assert a.price_source
    data = p.to_json()
    for k in ("capex_usd", "recurring_usd_per_year", "three_year_total_usd", "cost_low_usd",
              "cost_high_usd"):
        assert k in data, k
    assert all({"price_source", "cost_low_usd", "cost_high_usd",
                "recurring_usd_per_year"} <= set(a) for a in data["actions"])
    assert "capital" in p.summary() and "range" in p.summary()


def test_content_filter_is_priced_per_student_per_year() -> None:
    d = build(small_district())
    c = candidates(d, 3)
    v = classify(d, n_scenarios=N, rules=("R-SECURITY",)).rule("R-SECURITY")
    c.security(v)
    cf = next(a for a in c.out if a.action == "content_filter")
    sp = ACTIONS["content_filter"]
    assert cf.recurring_usd_per_year == pytest.approx(sp["recurring_usd_per_year"] * 400)
    assert cf.cost_low_usd == pytest.approx(sp["cost_low_usd"] * 400)
    assert cf.cost_high_usd == pytest.approx(sp["cost_high_usd"] * 400)


def test_report_plan_section_shows_the_totals(stage2_plan: Any) -> None:
    from netstage.simulator.report import _plan_html

    html = _plan_html(stage2_plan, stage2_plan.district_after)
    assert "range" in html and "one-time" in html and "a year for" in html
    assert f"${stage2_plan.cost_high_usd:,.0f}" in html


# -- (b) a second path has its own link, priced by distance, in a new shared-risk group ----
def _path_cands(distance: float | None) -> tuple[Any, list[UpgradeAction]]:
    data = small_district()
    data["links"][1]["srlg"] = ["conduit-main-st"]
    if distance is not None:
        data["sites"][1]["distance_km"] = distance
    d = build(data)
    c = candidates(d)
    c.availability(analyse_redundancy(d), ["R-HA"])
    return d, [a for a in c.out if a.action in ("leased_path", "fiber_build")]


def test_second_path_is_a_lease_or_fiber_build_priced_by_distance() -> None:
    _, paths = _path_cands(12.0)
    assert {a.action for a in paths} == {"leased_path", "fiber_build"}
    fb = next(a for a in paths if a.action == "fiber_build")
    lp = next(a for a in paths if a.action == "leased_path")
    f, lease = ACTIONS["fiber_build"], ACTIONS["leased_path"]
    assert fb.capex_usd == pytest.approx(f["capex_usd"] + 12 * f["per_km"]["capex_usd"])
    assert fb.recurring_usd_per_year == pytest.approx(12 * f["per_km"]["recurring_usd_per_year"])
    assert lp.capex_usd == pytest.approx(lease["capex_usd"])
    assert lp.recurring_usd_per_year == pytest.approx(
        lease["recurring_usd_per_year"] + 12 * lease["per_km"]["recurring_usd_per_year"])
    assert "12 km" in fb.description and "sites[es].distance_km" in fb.description
    assert "WiscNet" in fb.price_source
    _, far = _path_cands(24.0)
    fb24 = next(a for a in far if a.action == "fiber_build")
    assert fb24.capex_usd - fb.capex_usd == pytest.approx(12 * f["per_km"]["capex_usd"])


def test_second_path_without_distance_says_it_is_an_assumption() -> None:
    _, paths = _path_cands(None)
    fb = next(a for a in paths if a.action == "fiber_build")
    assert f"{RAW['default_path_km']['km']:g} km" in fb.description
    assert "assumption" in fb.description
    assert fb.params["distance_km"] == RAW["default_path_km"]["km"]


def test_second_path_is_physically_diverse() -> None:
    d, paths = _path_cands(3.0)
    existing = {g for lk in d.links for g in lk.srlg} | {g for c in d.circuits for g in c.srlg}
    for a in paths:
        nd = apply_actions(d, [a])
        new = next(lk for lk in nd.links if lk.key == a.params["id"])
        assert new.srlg and not set(new.srlg) & existing, a.description
        assert new.distance_km == 3.0
        assert new.medium.value == ("leased" if a.action == "leased_path" else "fiber")
        assert len(nd.links) == len(d.links) + 1


def test_ha_pair_copies_its_wan_link_as_a_new_priced_diverse_path() -> None:
    data = small_district()
    data["links"][1]["srlg"] = ["conduit-main-st"]
    data["sites"][1]["distance_km"] = 4.0
    d = build(data)
    c = candidates(d)
    c.ha_pair("es-sw", "access", 400, ["R-HA"])
    (a,) = [x for x in c.out if x.action == "ha_pair"]
    device = ACTIONS["ha_pair"]["by_kind"]["access"]["capex_usd"]
    assert a.cost_usd > device          # the device and its own path to the core
    nd = apply_actions(d, [a])
    copy = next(lk for lk in nd.links if {lk.a, lk.b} == {"core", a.params["new_id"]})
    assert copy.srlg and "conduit-main-st" not in copy.srlg
    assert copy.distance_km == 4.0


def test_second_circuit_has_its_own_shared_risk_group() -> None:
    d = build(small_district())
    c = candidates(d)
    c.availability(analyse_redundancy(d), ["R-HA"])
    sc = [a for a in c.out if a.action == "second_circuit"]
    assert sc
    nd = apply_actions(d, [sc[0]])
    new = next(x for x in nd.circuits if x.id == sc[0].params["circuit_id"])
    assert new.srlg and not set(new.srlg) & set(d.circuits[0].srlg)
    per = ACTIONS["second_circuit"]["per_mbps"]["recurring_usd_per_year"]
    assert sc[0].recurring_usd_per_year == pytest.approx(per * sc[0].params["capacity_mbps"])


# -- (c) Wi-Fi upgrades reach the design density ------------------------------------------
def _wifi_district(counts: list[int], classrooms: int = 20) -> Any:
    data = small_district()
    data["sites"][1]["classrooms"] = classrooms
    ap = data["nodes"][3]
    aps = []
    for i, n in enumerate(counts):
        aps.append({**ap, "id": f"es-ap{i + 1}", "count": n,
                    "wifi": {"generation": "wifi5", "channel_width_mhz": 40}})
    data["nodes"] = data["nodes"][:3] + aps
    data["links"] = data["links"][:2] + [
        {"a": "es-sw", "b": f"es-ap{i + 1}", "capacity_mbps": 1000} for i in range(len(counts))]
    return build(data)


def test_wifi_upgrade_adds_aps_to_the_design_density() -> None:
    d = _wifi_district([3, 2])
    density = ACTIONS["add_aps"]["design_density"]["aps_per_classroom"]
    need = math.ceil(20 * density)
    c = candidates(d)
    c.wifi_site("es", ["R-NOW"])
    adds = [a for a in c.out if a.action == "add_aps"]
    refresh = [a for a in c.out if a.action == "wifi_refresh"]
    assert adds and refresh
    for a in adds + refresh:
        nd = apply_actions(d, [a])
        total = sum(n.count for n in nd.nodes if n.kind.value == "ap" and n.site == "es")
        assert total >= need, a.description
        assert all(n.count >= m.count for n, m in zip(nd.nodes, d.nodes, strict=True))
    (r,) = refresh      # new radios AND the missing APs, both paid for
    assert r.capex_usd == pytest.approx(5 * ACTIONS["wifi_refresh"]["capex_usd"]
                                        + (need - 5) * ACTIONS["add_aps"]["capex_usd"])
    dens = next(a for a in adds if sum(a.params["counts"].values()) == need)
    assert "design density" in dens.description


def test_wifi_short_district_plan_reaches_the_density() -> None:
    """A school whose Wi-Fi is the bottleneck: every Wi-Fi action of the plan leaves the
    school at or above the design density."""
    d = _wifi_district([2], classrooms=16)
    p = plan_upgrades(d, target_stage=3, n_scenarios=N, seed=2,
                      classification=classify(d, n_scenarios=N, seed=2,
                                              rules=("R-LAB", "R-NOW")))
    wifi = [a for a in p.actions if a.action in ("add_aps", "wifi_refresh")]
    assert wifi, [a.description for a in p.actions]
    aps = sum(n.count for n in p.district_after.nodes if n.kind.value == "ap")
    assert aps >= 16


# -- (d) never an action that changes nothing measured -------------------------------------
def test_actions_that_change_nothing_measured_are_never_proposed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    data = small_district(declared={"security": {"edge_firewall": True}})
    data["circuits"][0]["capacity_mbps"] = 20       # the Internet circuit is the bottleneck
    d = build(data)
    noop = [
        # a fact already true: the district does not change at all
        UpgradeAction("edge_firewall", "district", "edge firewall (already there)", 1, 1, 0,
                      "", ["R-NOW"], {}),
        # a faster trunk that is never a bottleneck: the simulation measures the same
        UpgradeAction("link_upgrade", "edge--core", "trunk 10G -> 100G", 1, 1, 0, "",
                      ["R-NOW"], {"links": ["edge--core"], "capacity_mbps": [100000]}),
    ]
    real = planmod.search._candidates

    def with_noops(*args: Any, **kw: Any) -> list[UpgradeAction]:
        return noop + real(*args, **kw)   # cost $1: first in line, bound-wise

    monkeypatch.setattr(planmod.search, "_candidates", with_noops)
    p = plan_upgrades(d, target_stage=2, n_scenarios=N, seed=1,
                      classification=classify(d, n_scenarios=N, seed=1,
                                              rules=("R-LAB", "R-NOW", "R-TARGET")))
    assert p.actions
    assert all(p.classification_after.rule(r).allows_stage >= 2
               for r in ("R-LAB", "R-NOW", "R-TARGET"))
    assert not {a.description for a in p.actions} & {a.description for a in noop}
    assert p.candidates_unmeasured >= 2
    assert p.to_json()["candidates_unmeasured"] == p.candidates_unmeasured


def test_changes_measured_compares_rule_inputs() -> None:
    d = build(small_district())
    st = planmod.gap._evaluate(d, ["R-SECURITY"], 3, resolve_rubric(None), N, 0)
    assert not planmod.search._changes_measured(st, st, ["R-SECURITY"])
    data = small_district(declared={"security": {"content_filter": True}})
    st2 = planmod.gap._evaluate(build(data), ["R-SECURITY"], 3, resolve_rubric(None), N, 0)
    assert planmod.search._changes_measured(st, st2, ["R-SECURITY"])


# -- (e) within 10 % of the exhaustive search ----------------------------------------------
def _generated(seed: int) -> Any:
    # short of Internet (40 kbps per student) on Wi-Fi 4, nothing declared
    return generate_district(schools=2 + seed % 2, students=1500 + 500 * seed, seed=seed,
                             internet_kbps_per_student=40, wan_mbps=1000,
                             wifi_generation="wifi4")


@pytest.mark.parametrize("case", [
    "example1", "example2",
    pytest.param("example3", marks=pytest.mark.skip(
        reason="stage 3 -> 4 of example 3: the search generates ~55 distinct candidates, "
               "about 30 relevant ones and millions of compatible subsets below the plan's "
               "cost, each needing at least a 0.2 s structural check: not exhaustible in a "
               "test (see the planner report)")),
    "example4", "generated0", "generated1", "generated2", "generated0-to3",
    "generated1-to3"])
def test_plan_within_ten_percent_of_exhaustive_search(case: str) -> None:
    if case.startswith("example"):
        d = load_district(example(int(case[-1])))
    else:
        d = _generated(int(case[len("generated")]))
    target = 3 if case.endswith("-to3") else None      # default: the next stage
    p = plan_upgrades(d, n_scenarios=N, seed=1, target_stage=target)
    if p.stage_before == 4:
        assert p.actions == [] and p.cost_usd == 0
        return
    assert p.reached, p.notes
    assert p.considered
    # the cheapest verified subset of the same candidate actions, searched exhaustively
    # up to the plan's own cost; the plan itself (or a cheaper one) must be found
    best = exhaustive_plan(d, p.considered, p.target_stage, n_scenarios=N, seed=1,
                           below_usd=p.cost_usd * 1.0001 + 1)
    assert best is not None, "the exhaustive search finds no plan as cheap as the greedy one"
    cheapest, acts = best
    assert classify(apply_actions(d, acts), n_scenarios=N, seed=1).stage >= p.target_stage
    assert p.cost_usd <= 1.10 * cheapest + 1e-6, (p.cost_usd, cheapest,
                                                  [a.description for a in acts])


# -- (f) reach the target the catalogue can reach; say early when it cannot ---------------
def test_out_of_reach_is_said_early_with_the_rule(tmp_path: Path) -> None:
    d = build(small_district())
    raw = dict(RAW)
    raw["actions"] = {k: v for k, v in ACTIONS.items() if k != "second_circuit"}
    f = tmp_path / "cat.yaml"
    f.write_text(yaml.safe_dump(raw))
    t0 = time.perf_counter()
    p = plan_upgrades(d, target_stage=4, n_scenarios=N, catalog=f,
                      classification=classify(d, n_scenarios=N))
    assert not p.reached and p.actions == []
    assert "R-HA" in p.unreachable and "second_circuit" in p.unreachable["R-HA"]
    assert any("out of the catalogue's reach: R-HA" in n for n in p.notes)
    assert p.to_json()["unreachable"]["R-HA"]
    assert p.candidates_evaluated == 0          # nothing simulated after classification
    assert time.perf_counter() - t0 < 30


def test_internet_target_beyond_the_catalogue_tiers_is_out_of_reach(tmp_path: Path) -> None:
    d = build(small_district())               # 400 students: stage 4 needs 400 Mbps
    raw = dict(RAW)
    raw["internet_tiers_mbps"] = [50, 100]
    f = tmp_path / "cat.yaml"
    f.write_text(yaml.safe_dump(raw))
    data = small_district()
    data["circuits"][0]["capacity_mbps"] = 100
    d = build(data)
    c = classify(d, n_scenarios=N, rules=("R-TARGET",))
    p = plan_upgrades(d, target_stage=4, n_scenarios=N, catalog=f, classification=c)
    assert "R-TARGET" in p.unreachable
    assert "400 Mbps" in p.unreachable["R-TARGET"] and "200 Mbps" in p.unreachable["R-TARGET"]


def test_n1_gap_counts_every_failure_above_the_limit() -> None:
    """Two failures above the N-1 limit: fixing one lowers the gap (before, only the
    worst counted, no single fix had a gain and R-HA stayed binding)."""
    from types import SimpleNamespace

    rubric = resolve_rubric(None)
    lim = float(rubric.value("R-HA", "max_n1_unserved_p95"))
    row = SimpleNamespace
    v = classify(build(small_district()), n_scenarios=N, rules=("R-HA",)).rule("R-HA")
    two = SimpleNamespace(contingencies=[row(unserved_p95=lim + 0.02),
                                         row(unserved_p95=lim + 0.02)])
    one = SimpleNamespace(contingencies=[row(unserved_p95=lim + 0.02),
                                         row(unserved_p95=lim - 0.01)])
    none = SimpleNamespace(contingencies=[row(unserved_p95=lim - 0.01)])
    s2, s1, s0 = (planmod.gap._n1_shortfall(v, c, rubric) for c in (two, one, none))
    assert s2 > s1 > s0 == 0.0


def test_dual_homed_district_with_two_circuits_reaches_stage_4() -> None:
    """The shape of the issue's 40-school case, small: two circuits, every school on
    two cores, a single firewall. The catalogue can reach stage 4; the plan does."""
    d = generate_district(schools=4, students=1600, seed=3, circuits=2, dual_homed=1.0)
    p = plan_upgrades(d, target_stage=4, n_scenarios=N, seed=0)
    assert p.reached, (p.notes, p.classification_after.binding)
    assert classify(p.district_after, n_scenarios=N, seed=0).stage == 4
    assert p.classification_after.rule("R-HA").allows_stage == 4


def test_planned_fields_survive_graphml(tmp_path: Path) -> None:
    """srlg (list) and distance_km on links and circuits round-trip through GraphML."""
    from netstage.simulator.graph import from_graphml, to_graphml

    data = small_district()
    data["links"][1].update(srlg=["conduit-a", "entrance-b"], distance_km=3.5)
    data["circuits"][0]["srlg"] = ["isp-entrance"]
    d = build(data)
    to_graphml(d, tmp_path / "d.graphml")
    assert from_graphml(tmp_path / "d.graphml").model_dump() == d.model_dump()
