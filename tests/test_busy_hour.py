"""district.busy_hour and district.devices_per_staff: the planner's busy hour, read by
the simulator (the what-if page's busy-hour and staff knobs write these fields)."""

from __future__ import annotations

import numpy as np
import pytest

from netstage.simulator.errors import NetstageError, SimulationError
from netstage.simulator.examples import resolve_district
from netstage.simulator.io import district_from_dict, load_district
from netstage.simulator.profiles import app_mix_names, load_scenarios, scenario_params

SRC = "example:stage2"


def _with(**info: object) -> dict[str, object]:
    d = load_district(resolve_district(SRC))
    data = d.model_dump(mode="json", exclude_unset=True)
    data["district"].update(info)
    return data


def test_override_changes_only_the_busy_hour_types() -> None:
    scen = load_scenarios()
    busy = (0.7, "testing")
    for name in ("now", "future"):
        p0 = scenario_params(name)
        p1 = scenario_params(name, busy_hour=busy)
        # student, staff, lab active at the share; IoT (always on) unchanged
        assert list(p1.active_p) == [0.7, 0.7, 0.7, p0.active_p[3]]
        testing = scen.scenarios["testing"].classes["student"].mix
        student = dict(zip(p1.app_names, np.diff(np.r_[0.0, p1.mix_cdf[0]]), strict=True))
        for app, share in testing.items():
            assert student[app] == pytest.approx(share)
    for name in ("lab", "testing", "update-storm"):
        p0, p1 = scenario_params(name), scenario_params(name, busy_hour=busy)
        assert np.array_equal(p0.active_p, p1.active_p)
        assert np.array_equal(p0.mix_cdf, p1.mix_cdf)
    # only the share, or only the mix
    only = scenario_params("now", busy_hour=(None, "update-storm"))
    assert list(only.active_p[:3]) == list(scenario_params("now").active_p[:3])


def test_unknown_app_mix_is_a_simulation_error_naming_the_known_ones() -> None:
    with pytest.raises(SimulationError, match="known: now, testing, update-storm"):
        scenario_params("now", busy_hour=(None, "netflix"))
    assert app_mix_names() == ["now", "testing", "update-storm"]


def test_district_fields_are_validated() -> None:
    ok = district_from_dict(_with(devices_per_staff=2.5,
                                  busy_hour={"active_share": 0.5, "app_mix": "testing"}),
                            source="t")
    assert ok.district.devices_per_staff == 2.5
    for bad in ({"devices_per_staff": -1}, {"devices_per_staff": 11},
                {"busy_hour": {"active_share": 1.5}}, {"busy_hour": {"active_share": "x"}},
                {"busy_hour": {"app_mix": "two words"}}, {"busy_hour": {"mix": "now"}}):
        with pytest.raises(NetstageError):
            district_from_dict(_with(**bad), source="t")


def test_classify_reads_the_busy_hour() -> None:
    from netstage.simulator.stage import classify

    d0 = load_district(resolve_district(SRC))
    d1 = district_from_dict(_with(busy_hour={"active_share": 1.0, "app_mix": "update-storm"}),
                            source="t")
    c0 = classify(d0, n_scenarios=50, seed=0)
    c1 = classify(d1, n_scenarios=50, seed=0)
    a0 = np.mean(c0.evidence.simulations["now"].active_devices)
    a1 = np.mean(c1.evidence.simulations["now"].active_devices)
    assert a1 > 2 * a0
    # R-LAB's wired lab hour is its own scenario type: unchanged
    assert np.array_equal(c0.evidence.simulations["lab"].active_devices,
                          c1.evidence.simulations["lab"].active_devices)
