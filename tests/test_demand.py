"""Monte Carlo demand (simulator/demand.py) and profile/scenario data (profiles.py)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from netstage.simulator.arrays import DEVICE_CLASSES, DistrictArrays, to_arrays
from netstage.simulator.datafiles import data_path
from netstage.simulator.demand import DemandBatch, draw_demand
from netstage.simulator.errors import ConfigError, SimulationError
from netstage.simulator.generate import generate_district
from netstage.simulator.profiles import load_apps, load_scenarios, scenario_params


@pytest.fixture(scope="module")
def arrays() -> DistrictArrays:
    return to_arrays(generate_district(schools=3, students=900, seed=3))


def _scenario_entries(b: DemandBatch, s: int) -> tuple[np.ndarray, ...]:
    sl = b.scenario_slice(s)
    return b.device[sl], b.app[sl], b.demand_mbps[sl]


def test_same_seed_same_draws_other_seed_other_draws(arrays: DistrictArrays) -> None:
    p = scenario_params("now")
    a, b = draw_demand(arrays, p, 20, seed=11), draw_demand(arrays, p, 20, seed=11)
    c = draw_demand(arrays, p, 20, seed=12)
    for x in ("group_start", "group_assoc", "device", "app", "demand_mbps"):
        np.testing.assert_array_equal(getattr(a, x), getattr(b, x))
    assert a.n_entries != c.n_entries or not np.array_equal(a.demand_mbps, c.demand_mbps)


def test_chunks_reproduce_the_same_scenarios(arrays: DistrictArrays) -> None:
    p = scenario_params("now")
    whole = draw_demand(arrays, p, 12, seed=5)
    first = draw_demand(arrays, p, 5, seed=5)
    rest = draw_demand(arrays, p, 7, seed=5, first_scenario=5)
    for s in range(12):
        part, k = (first, s) if s < 5 else (rest, s - 5)
        for x, y in zip(_scenario_entries(whole, s), _scenario_entries(part, k), strict=True):
            np.testing.assert_array_equal(x, y)


def test_draws_do_not_depend_on_paths(arrays: DistrictArrays) -> None:
    # common random numbers: an N-1 run (other paths) sees the same demand
    p = scenario_params("now")
    cut = arrays.with_paths(np.full_like(arrays.path_links, -1), np.zeros_like(arrays.path_len))
    a, b = draw_demand(arrays, p, 4, seed=1), draw_demand(cut, p, 4, seed=1)
    np.testing.assert_array_equal(a.demand_mbps, b.demand_mbps)
    np.testing.assert_array_equal(a.device, b.device)


def test_associated_entries_sorted_and_within_client_bound(arrays: DistrictArrays) -> None:
    b = draw_demand(arrays, scenario_params("update-storm"), 10, seed=2)
    bound = arrays.attach_max_clients
    for s in range(b.n_scenarios):
        for p in range(len(arrays.attach_ids)):
            a, e = int(b.group_start[s, p]), int(b.group_start[s, p + 1])
            k = int(b.group_assoc[s, p])
            assert k <= e - a
            if bound[p] > 0:
                assert k == min(e - a, bound[p])
            else:
                assert k == e - a
            assert np.all(np.diff(b.demand_mbps[a:a + k]) >= 0)
            assert np.all(arrays.device_attach[b.device[a:e]] == p)


def test_activity_mix_and_lognormal_match_the_profiles(arrays: DistrictArrays) -> None:
    # independent expectations: the numbers in apps.yaml / scenarios.yaml themselves
    apps = yaml.safe_load(Path(data_path("apps.yaml")).read_text())["apps"]
    scen = yaml.safe_load(Path(data_path("scenarios.yaml")).read_text())["scenarios"]["now"]
    p = scenario_params("now")
    n_s = 200
    b = draw_demand(arrays, p, n_s, seed=9)
    cls = arrays.device_class[b.device]
    student = DEVICE_CLASSES.index("student")
    n_students = int(np.count_nonzero(arrays.device_class == student))
    trials = n_students * n_s
    hits = int(np.count_nonzero(cls == student))
    q = scen["classes"]["student"]["active"]
    assert abs(hits - q * trials) < 5 * math.sqrt(trials * q * (1 - q))
    st_apps = b.app[cls == student]
    for name, share in scen["classes"]["student"]["mix"].items():
        n = int(np.count_nonzero(st_apps == p.app_names.index(name)))
        assert abs(n - share * hits) < 5 * math.sqrt(hits * share * (1 - share)) + 1
    video = b.demand_mbps[b.app == p.app_names.index("video")]
    assert video.size > 5000
    assert np.median(video) == pytest.approx(apps["video"]["median_mbps"], rel=0.04)
    assert np.percentile(video, 95) == pytest.approx(apps["video"]["p95_mbps"], rel=0.06)


def test_shipped_data_has_the_stage_rule_scenarios_and_sources() -> None:
    scen = load_scenarios()
    assert {"lab", "now", "future", "testing", "update-storm"} <= set(scen.scenarios)
    rubric = yaml.safe_load(Path(data_path("rubric.yaml")).read_text())
    for rule in rubric["rules"].values():
        if "scenario" in rule:
            assert rule["scenario"] in scen.scenarios
    for name, app in load_apps().apps.items():
        assert app.source, name
    # every numeric line of apps.yaml carries its source on the same line
    for line in Path(data_path("apps.yaml")).read_text().splitlines():
        if line.strip().startswith(("median_mbps", "p95_mbps", "min_mbps", "max_mbps")):
            assert "#" in line, line


def test_growth_factor_follows_district_or_override() -> None:
    assert scenario_params("now").growth_factor == 1.0
    assert scenario_params("future", district_growth=(3.0, 0.5)).growth_factor == \
        pytest.approx(1.5 ** 3)
    assert scenario_params("future", district_growth=(3.0, 0.5),
                           growth_years=5).growth_factor == pytest.approx(1.5 ** 5)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    f = tmp_path / name
    f.write_text(text)
    return f


def test_nan_in_a_profile_is_a_located_error(tmp_path: Path) -> None:
    f = _write(tmp_path, "apps.yaml", "version: 1\napps:\n  web:\n    median_mbps: .nan\n"
               "    p95_mbps: 2\n    min_mbps: 0.1\n    elastic: true\n    source: x\n")
    with pytest.raises(ConfigError, match=r"apps\.yaml:4"):
        load_apps(f)


def test_mix_not_summing_to_one_and_unknown_app_are_errors(tmp_path: Path) -> None:
    bad_sum = _write(tmp_path, "s1.yaml", "version: 1\nscenarios:\n  x:\n    source: s\n"
                     "    classes:\n      student: {active: 0.5, mix: {web: 0.5}}\n")
    with pytest.raises(ConfigError, match="sum to 1"):
        load_scenarios(bad_sum)
    unknown = _write(tmp_path, "s2.yaml", "version: 1\nscenarios:\n  x:\n    source: s\n"
                     "    classes:\n      student:\n        active: 0.5\n"
                     "        mix: {tiktok: 1.0}\n")
    with pytest.raises(ConfigError, match=r"s2\.yaml:8.*tiktok"):
        load_scenarios(unknown)
    with pytest.raises(SimulationError, match="unknown scenario type 'rush'"):
        scenario_params("rush")


def test_negative_scenario_count_is_an_error(arrays: DistrictArrays) -> None:
    with pytest.raises(SimulationError):
        draw_demand(arrays, scenario_params("now"), -1)
