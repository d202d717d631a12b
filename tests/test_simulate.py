"""simulate(): results by hand on deterministic districts, reproducibility, chunking,
bounded memory, bad input, the example districts and the CLI."""

from __future__ import annotations

import json
import re
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from netstage.simulator.arrays import to_arrays
from netstage.simulator.errors import SimulationError
from netstage.simulator.generate import generate_district
from netstage.simulator.io import district_from_dict, load_district
from netstage.simulator.model import District
from netstage.simulator.profiles import load_apps, load_scenarios
from netstage.simulator.simulate import SimulationResult, simulate, simulate_district

from .support import TOPOLOGIES, CliRunner, example_districts

APPS = """version: 1
apps:
  flat:
    median_mbps: {demand}
    p95_mbps: {demand}
    min_mbps: {floor}
    elastic: false
    source: test
  idle:
    median_mbps: 0.5
    p95_mbps: 0.5
    min_mbps: 0
    elastic: true
    source: test
"""
SCEN = """version: 1
scenarios:
  all-on:
    source: test
    classes:
      lab: {active: 1.0, mix: {flat: 1.0}}
      iot: {active: 1.0, mix: {idle: 1.0}}
  half:
    source: test
    classes:
      lab: {active: 0.5, mix: {flat: 1.0}}
  nobody:
    source: test
    classes:
      student: {active: 1.0, mix: {flat: 1.0}}
"""


def lab_district(pcs: int = 10, circuit: float = 10.0, iot: int = 0) -> District:
    """One school: ``pcs`` wired lab PCs (+ ``iot`` devices) behind one circuit."""
    pops: list[dict[str, Any]] = [{"device_class": "lab", "count": pcs, "attach": ["sw"],
                                   "connection": "wired"}]
    if iot:
        pops.append({"device_class": "iot", "count": iot, "attach": ["sw"],
                     "connection": "wired"})
    return district_from_dict({
        "district": {"name": "Lab only"},
        "sites": [{"id": "s", "name": "S", "populations": pops}],
        "nodes": [{"id": "rtr", "kind": "edge", "site": "s"},
                  {"id": "sw", "kind": "access", "site": "s"}],
        "links": [{"a": "sw", "b": "rtr", "capacity_mbps": 1000}],
        "circuits": [{"id": "isp", "attach": "rtr", "capacity_mbps": circuit}],
    })


def profiles(tmp_path: Path, demand: float = 2.0, floor: float = 1.5) -> dict[str, Any]:
    (tmp_path / "apps.yaml").write_text(APPS.format(demand=demand, floor=floor))
    (tmp_path / "scen.yaml").write_text(SCEN)
    apps = load_apps(tmp_path / "apps.yaml")
    return {"apps": apps, "scenarios": load_scenarios(tmp_path / "scen.yaml", apps=apps)}


def test_hand_computed_lab_on_a_10_mbps_circuit(tmp_path: Path) -> None:
    # 10 PCs each asking 2 Mbps through a 10 Mbps circuit: 20 asked, 10 served ->
    # unserved 0.5 in every scenario; each PC gets 1 Mbps < its 1.5 floor -> all
    # throttled. The circuit is the bottleneck of all 10 PCs in every scenario.
    r = simulate_district(lab_district(), scenario="all-on", n_scenarios=20, seed=1,
                          **profiles(tmp_path))
    np.testing.assert_allclose(r.unserved_fraction, 0.5, rtol=1e-6)
    np.testing.assert_allclose(r.throttled_share, 1.0)
    np.testing.assert_allclose(r.device_rates_sample, 1.0, rtol=1e-6)
    isp = r.link_ids.index("isp")
    assert r.bottleneck_frequency[isp] == 1.0
    assert r.bottleneck_devices_mean[isp] == 10.0
    assert r.link_util_p95[isp] == pytest.approx(1.0, rel=1e-3)
    assert r.link_util_p95[r.link_ids.index("sw--rtr")] == pytest.approx(0.01, rel=1e-3)
    assert r.percentiles() == pytest.approx({"p50": 0.5, "p95": 0.5, "p99": 0.5})
    assert r.per_site["s"]["unserved_p95"] == pytest.approx(0.5)
    assert r.per_class["lab"]["rate_per_active_mbps_mean"] == pytest.approx(1.0)


def test_floor_below_rate_is_not_throttled_and_floorless_devices_do_not_count(
        tmp_path: Path) -> None:
    # 10 PCs x 2 Mbps + 10 idle IoT x 0.5 Mbps on 10 Mbps: IoT (0.5 < fair share) keep
    # 0.5 each (5 total), the PCs share the other 5: 0.5 each. Floor 0.4: nobody is
    # throttled. Unserved = 1 - 10 / 25 = 0.6. IoT have no floor, so they are not in
    # the throttled denominator.
    r = simulate_district(lab_district(iot=10), scenario="all-on", n_scenarios=5, seed=1,
                          **profiles(tmp_path, floor=0.4))
    np.testing.assert_allclose(r.unserved_fraction, 0.6, rtol=1e-6)
    np.testing.assert_allclose(r.throttled_share, 0.0)
    r2 = simulate_district(lab_district(iot=10), scenario="all-on", n_scenarios=5, seed=1,
                           **profiles(tmp_path, floor=0.6))
    np.testing.assert_allclose(r2.throttled_share, 1.0)  # 10 of 10 PCs, IoT excluded


def test_device_asking_less_than_the_floor_and_served_is_not_throttled(tmp_path: Path) -> None:
    # demand 0.3 < floor 1.0, ample capacity: served fully, not throttled
    r = simulate_district(lab_district(circuit=100), scenario="all-on", n_scenarios=3,
                          **profiles(tmp_path, demand=0.3, floor=1.0))
    np.testing.assert_allclose(r.unserved_fraction, 0.0, atol=1e-7)
    np.testing.assert_allclose(r.throttled_share, 0.0)


def test_empty_scenarios_are_reported_not_silent(tmp_path: Path) -> None:
    r = simulate_district(lab_district(), scenario="nobody", n_scenarios=4,
                          **profiles(tmp_path))
    assert r.active_devices.tolist() == [0, 0, 0, 0]
    np.testing.assert_array_equal(r.unserved_fraction, 0.0)
    assert any("no active device" in w for w in r.warnings)


def test_disconnected_devices_count_as_unserved_and_separately(tmp_path: Path) -> None:
    a = to_arrays(lab_district(circuit=100))
    cut = a.with_paths(np.full_like(a.path_links, -1), np.zeros_like(a.path_len))
    r = simulate(cut, scenario="all-on", n_scenarios=3, **profiles(tmp_path))
    np.testing.assert_allclose(r.unserved_fraction, 1.0)
    np.testing.assert_allclose(r.disconnected_share, 1.0)
    np.testing.assert_allclose(r.throttled_share, 1.0)
    assert any("disconnected" in w for w in r.warnings)


def test_capacity_override_and_errors(tmp_path: Path) -> None:
    kw = profiles(tmp_path)
    a = to_arrays(lab_district())
    cap = a.link_capacity_mbps.copy()
    cap[a.link_ids.index("isp")] = 20.0  # 20 Mbps = exactly the 10 x 2 Mbps asked
    r = simulate(a, scenario="all-on", n_scenarios=3, capacity_mbps=cap, **kw)
    np.testing.assert_allclose(r.unserved_fraction, 0.0, atol=1e-6)
    cap[a.link_ids.index("isp")] = 0.0
    with pytest.raises(SimulationError, match="isp"):
        simulate(a, scenario="all-on", n_scenarios=3, capacity_mbps=cap, **kw)
    with pytest.raises(SimulationError, match="shape"):
        simulate(a, scenario="all-on", capacity_mbps=cap[:-1], **kw)
    for bad in (0, -5):
        with pytest.raises(SimulationError, match="n_scenarios"):
            simulate(a, scenario="all-on", n_scenarios=bad, **kw)
    with pytest.raises(SimulationError, match="unknown scenario"):
        simulate(a, scenario="nope", **kw)


@pytest.fixture(scope="module")
def mid() -> Any:
    return to_arrays(generate_district(schools=4, students=3000, seed=2,
                                       internet_kbps_per_student=150))


def _same(a: SimulationResult, b: SimulationResult) -> None:
    for name in ("unserved_fraction", "throttled_share", "disconnected_share",
                 "unassociated_share", "active_devices", "link_util_p95",
                 "bottleneck_frequency", "bottleneck_devices_mean", "device_rates_sample"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.per_site == b.per_site
    assert a.per_class == b.per_class


def test_seed_reproducible_and_chunking_invariant(mid: Any) -> None:
    base = simulate(mid, scenario="now", n_scenarios=60, seed=7)
    assert base.unserved_fraction.max() > 0  # a loaded district, so the test can fail
    _same(base, simulate(mid, scenario="now", n_scenarios=60, seed=7))
    _same(base, simulate(mid, scenario="now", n_scenarios=60, seed=7, chunk_scenarios=7))
    _same(base, simulate(mid, scenario="now", n_scenarios=60, seed=7, chunk_scenarios=1))
    other = simulate(mid, scenario="now", n_scenarios=60, seed=8)
    assert not np.array_equal(base.unserved_fraction, other.unserved_fraction)
    # the first scenarios of a longer run are the same scenarios
    longer = simulate(mid, scenario="now", n_scenarios=90, seed=7, chunk_scenarios=13)
    np.testing.assert_array_equal(longer.unserved_fraction[:60], base.unserved_fraction)


def test_progress_reaches_total(mid: Any) -> None:
    seen: list[tuple[int, int]] = []
    simulate(mid, scenario="now", n_scenarios=25, chunk_scenarios=10,
             progress=lambda d, t: seen.append((d, t)))
    assert seen == [(10, 25), (20, 25), (25, 25)]


def test_memory_stays_bounded_by_chunks(mid: Any) -> None:
    # a whole-run batch of 2,000 scenarios would hold ~13 bytes per active device-
    # scenario (~50 MB here); chunks of 50 keep the traced peak far below that.
    per_scenario = 13 * 0.4 * mid.n_devices
    tracemalloc.start()
    try:
        simulate(mid, scenario="now", n_scenarios=2000, chunk_scenarios=50)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 0.3 * per_scenario * 2000, (peak, per_scenario * 2000)


def test_more_capacity_never_serves_less(mid: Any) -> None:
    r1 = simulate(mid, scenario="now", n_scenarios=40)
    r2 = simulate(mid, scenario="now", n_scenarios=40, capacity_mbps=mid.link_capacity_mbps * 4)
    assert np.all(r2.served_mbps >= r1.served_mbps * (1 - 1e-6))
    assert r2.percentiles()["p95"] < r1.percentiles()["p95"]


def test_future_grows_demand_by_the_district_growth() -> None:
    d = load_district(TOPOLOGIES / "stage3-emerging.yaml")
    g = d.district.growth
    r = simulate_district(d, scenario="future", n_scenarios=20)
    assert r.growth_factor == pytest.approx((1 + g.growth_per_year) ** g.horizon_years)
    now = simulate_district(d, scenario="now", n_scenarios=20)
    assert r.demand_mbps.mean() > now.demand_mbps.mean() * r.growth_factor * 0.8


def _expected_stage(path: Path) -> int:
    m = re.search(r"expected stage:\s*([1-4])", path.read_text())
    assert m
    return int(m.group(1))


@pytest.mark.parametrize("path", example_districts(), ids=lambda p: p.name)
def test_example_districts_r_now_matches_their_declared_stage(path: Path) -> None:
    # The examples declare their stage (file header, independent of the engine):
    # stage 1-2 districts cannot carry 1:1 today (R-NOW fails the 5 % limits of
    # rubric.yaml), stage 3-4 can.
    r = simulate_district(load_district(path), scenario="now", n_scenarios=200, seed=7)
    worst = max(r.percentiles("unserved_fraction")["p95"],
                r.percentiles("throttled_share")["p95"])
    if _expected_stage(path) <= 2:
        assert worst > 0.05
    else:
        assert worst <= 0.05


def test_to_json_shape(mid: Any) -> None:
    r = simulate(mid, scenario="now", n_scenarios=30)
    j = json.loads(json.dumps(r.to_json(per_scenario=True)))
    assert j["schema"] == "netstage.simulation/1"
    assert j["n_scenarios"] == 30 and j["scenario"] == "now"
    assert j["summary"]["unserved_fraction"]["p95"] == pytest.approx(
        float(np.percentile(r.unserved_fraction, 95)))
    assert len(j["links"]) == len(r.link_ids)
    assert len(j["per_scenario"]["throttled_share"]) == 30
    assert set(j["sites"]) == set(mid.site_ids)
    assert {a["name"] for a in j["apps"]} == set(r.app_names)
    assert r.device_rates_sample.shape == r.device_app.shape == r.device_demand_sample.shape
    assert np.all(r.device_rates_sample <= r.device_demand_sample * (1 + 1e-6))


@pytest.mark.parametrize("path", example_districts(), ids=lambda p: p.name)
def test_cli_simulate_json_on_every_example(run_cli: CliRunner, path: Path) -> None:
    res = run_cli("simulate", str(path), "--scenario", "now", "--scenarios", "60",
                  "--seed", "7", "--json")
    assert res.returncode == 0, res.stderr
    j = json.loads(res.stdout)
    assert j["n_scenarios"] == 60 and j["seed"] == 7 and j["scenario"] == "now"
    d = load_district(path)
    assert j["devices"] == to_arrays(d).n_devices
    direct = simulate_district(d, scenario="now", n_scenarios=60, seed=7)
    assert j["summary"]["unserved_fraction"]["p95"] == pytest.approx(
        direct.percentiles()["p95"])
    assert j["summary"]["throttled_share"]["p95"] == pytest.approx(
        direct.percentiles("throttled_share")["p95"])


def test_cli_simulate_table_and_error(run_cli: CliRunner) -> None:
    path = TOPOLOGIES / "stage2-organic.yaml"
    direct = simulate_district(load_district(path), scenario="now", n_scenarios=100, seed=7)
    table = run_cli("simulate", str(path), "--scenarios", "100")
    assert table.returncode == 0, table.stderr
    worst = direct.link_ids[direct.worst_links(1)[0]]
    assert worst in table.stdout
    assert "unserved" in table.stdout.lower()
    bad = run_cli("simulate", str(path), "--scenario", "nope")
    assert bad.returncode == 1
    assert "unknown scenario type 'nope'" in bad.stderr + bad.stdout


def test_aggregates_match_a_numpy_recount(mid: Any) -> None:
    # recompute the per-scenario and per-site figures from the raw batch + allocation
    # with plain numpy (independent of the compiled summary kernel)
    from netstage.simulator.demand import draw_demand
    from netstage.simulator.maxmin import allocate
    from netstage.simulator.profiles import scenario_params

    n = 12
    r = simulate(mid, scenario="update-storm", n_scenarios=n, seed=3)
    p = scenario_params("update-storm")
    b = draw_demand(mid, p, n, seed=3)
    rate = allocate(b, mid).rate_mbps.astype(np.float64)
    dem = b.demand_mbps.astype(np.float64)
    floor = p.app_min_mbps[b.app]
    thr = (floor > 0) & (rate < np.minimum(floor, dem) * (1 - 1e-6))
    site = mid.device_site[b.device]
    for s in range(n):
        sl = b.scenario_slice(s)
        assert r.unserved_fraction[s] == pytest.approx(1 - rate[sl].sum() / dem[sl].sum(),
                                                       abs=1e-9)
        assert r.throttled_share[s] == pytest.approx(thr[sl].sum() / (floor[sl] > 0).sum())
        assert r.active_devices[s] == sl.stop - sl.start
    assert r.unserved_fraction.max() > 0.01  # the storm overloads the 150 kbps/student
    i = 1
    per = []
    for s in range(n):
        sl = b.scenario_slice(s)
        m = site[sl] == i
        per.append(1 - rate[sl][m].sum() / dem[sl][m].sum())
    assert r.per_site[mid.site_ids[i]]["unserved_p95"] == pytest.approx(
        float(np.percentile(per, 95)), abs=1e-6)  # per-site values are kept as float32


def test_wifi_air_link_and_client_bound_by_hand(tmp_path: Path) -> None:
    # One AP: 20 Mbps of air, at most 5 clients; 8 lab laptops on Wi-Fi each want
    # 10 Mbps (floor 5); 1 Gbps uplink and circuit. 5 associate and share the air:
    # 4 Mbps each; 3 are unassociated (0). Unserved = 1 - 20 / 80 = 0.75; all 8 are
    # below their floor; the air link is the bottleneck of the 5.
    d = district_from_dict({
        "district": {"name": "Wi-Fi"},
        "sites": [{"id": "s", "populations": [
            {"device_class": "lab", "count": 8, "attach": ["ap"], "connection": "wifi"}]}],
        "nodes": [{"id": "rtr", "kind": "edge", "site": "s"},
                  {"id": "ap", "kind": "ap", "site": "s",
                   "wifi": {"air_capacity_mbps": 20, "max_clients": 5}}],
        "links": [{"a": "ap", "b": "rtr", "capacity_mbps": 1000}],
        "circuits": [{"id": "isp", "attach": "rtr", "capacity_mbps": 1000}],
    })
    r = simulate_district(d, scenario="all-on", n_scenarios=4,
                          **profiles(tmp_path, demand=10.0, floor=5.0))
    np.testing.assert_allclose(r.unserved_fraction, 0.75, rtol=1e-6)
    np.testing.assert_allclose(r.unassociated_share, 3 / 8)
    np.testing.assert_allclose(r.throttled_share, 1.0)
    air = r.link_ids.index("air:ap")
    assert r.link_roles[air] == "air"
    assert r.bottleneck_devices_mean[air] == 5
    assert r.link_util_p95[air] == pytest.approx(1.0, rel=1e-3)
    assert sorted(r.device_rates_sample[:8].tolist()) == pytest.approx([0] * 3 + [4] * 5)


def test_one_definition_of_throttled() -> None:
    """simulate.is_throttled (the kernel's test, also the charts'): short of
    min(app minimum, own demand), beyond the rounding slack; no minimum, never."""
    from netstage.simulator.simulate import THROTTLE_SLACK, is_throttled, throttled_devices

    assert is_throttled(1.0, 2.0, 5.0)
    assert not is_throttled(1.0, 2.0, 1.0)          # asked for 1, got it all
    assert not is_throttled(2.0 * (1 - THROTTLE_SLACK / 2), 2.0, 5.0)
    assert not is_throttled(0.0, 0.0, 5.0)          # background: no minimum
    got = throttled_devices(np.array([1.0, 1.0, 0.0]), np.array([2.0, 2.0, 0.0]),
                            np.array([5.0, 1.0, 5.0]))
    assert got.tolist() == [True, False, False]
