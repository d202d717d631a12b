"""The Wi-Fi radio model (simulator/wifi.py, data/wifi.yaml): published throughputs,
capability rules, airtime combination, band steering, and R-NOW on AP density."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import numpy as np
import pytest

from netstage.simulator.arrays import to_arrays
from netstage.simulator.datafiles import load_data_yaml
from netstage.simulator.stage import classify
from netstage.simulator.wifi import (
    ClientClass,
    ap_radios,
    client_goodput_mbps,
    contention_factor,
    radio_capacity_mbps,
)

from .stage_support import build, small_district

REFS = load_data_yaml("wifi.yaml")["reference_throughputs"]


@pytest.mark.parametrize("ref", REFS, ids=[r["id"] for r in REFS])
def test_model_within_25_percent_of_published_throughput(ref: dict[str, Any]) -> None:
    """Each cited published figure (source in wifi.yaml) is matched within +-25 %."""
    ap = ref["ap"]
    mix = tuple(ClientClass(float(c["share"]), c["generation"], int(c["spatial_streams"]))
                for c in ref["clients"])
    got = radio_capacity_mbps(ap["generation"], ap["band"], ap["channel_width_mhz"],
                              ap["spatial_streams"], mix, ref["active_clients"])
    assert ref["source"] and ref["measured_mbps"] > 0
    assert got == pytest.approx(ref["measured_mbps"], rel=0.25), (got, ref["id"])


def test_at_least_three_references() -> None:
    assert len(REFS) >= 3 and len({r["source"] for r in REFS}) >= 3


def test_client_gets_the_lower_capability() -> None:
    wifi5_2x2 = ClientClass(1.0, "wifi5", 2)
    on6, gen, _, _ = client_goodput_mbps("wifi6", "5", 80, 4, wifi5_2x2)
    on5, _, _, _ = client_goodput_mbps("wifi5", "5", 80, 4, wifi5_2x2)
    assert gen == "wifi5" and on6 == on5  # a wifi5 client on a wifi6 AP gets wifi5 rates
    # streams: min(AP, client)
    one = client_goodput_mbps("wifi6", "5", 40, 1, ClientClass(1.0, "wifi6", 2))
    two = client_goodput_mbps("wifi6", "5", 40, 4, ClientClass(1.0, "wifi6", 2))
    assert one[3] == 1 and two[3] == 2 and two[0] == pytest.approx(2 * one[0])
    # 802.11n has no 80 MHz channel: a wifi4 client on an 80 MHz wifi6 radio uses 40 MHz
    assert client_goodput_mbps("wifi6", "5", 80, 2, ClientClass(1.0, "wifi4", 2))[2] == 40


def test_band_rules() -> None:
    # 2.4 GHz is 20 MHz in a dense plan and has no 802.11ac: a wifi5 AP runs 802.11n there
    g, gen, width, _ = client_goodput_mbps("wifi5", "2.4", 80, 2, ClientClass(1.0, "wifi5", 2))
    assert (gen, width) == ("wifi4", 20)
    assert g < client_goodput_mbps("wifi5", "5", 20, 2, ClientClass(1.0, "wifi5", 2))[0]
    with pytest.raises(ValueError):
        client_goodput_mbps("wifi6e", "6", 80, 2, ClientClass(1.0, "wifi6", 2))


def test_typical_mcs_is_below_the_top_rate() -> None:
    """802.11n 20 MHz 2x2: the old model used the top PHY rate (144 Mbps) at 50 % = 72
    Mbps whatever the load; one 2x2 client at classroom MCS 7 gets at most that, and a
    classroom of 30 active clients well under it."""
    two = (ClientClass(1.0, "wifi4", 2),)
    assert radio_capacity_mbps("wifi4", "5", 20, 2, two, 1) <= 72.2 + 1e-9
    assert radio_capacity_mbps("wifi4", "5", 20, 2, two, 30) < 0.75 * 72.0


def test_slow_clients_pull_the_cell_down() -> None:
    fast = ClientClass(1.0, "wifi6", 2)
    slow = ClientClass(1.0, "wifi4", 1)
    mixed = (ClientClass(0.5, "wifi6", 2), ClientClass(0.5, "wifi4", 1))
    c_fast = radio_capacity_mbps("wifi6", "5", 40, 2, (fast,), 10)
    c_slow = radio_capacity_mbps("wifi6", "5", 40, 2, (slow,), 10)
    c_mix = radio_capacity_mbps("wifi6", "5", 40, 2, mixed, 10)
    assert c_mix == pytest.approx(1 / (0.5 / c_fast + 0.5 / c_slow))  # equal-throughput air
    assert c_slow < c_mix < (c_fast + c_slow) / 2


def test_contention_falls_with_active_clients() -> None:
    xs = [contention_factor(n) for n in (1, 5, 10, 20, 30, 60, 120, 500)]
    assert xs[0] == 1.0 and all(a >= b for a, b in itertools.pairwise(xs))
    assert xs[-1] > 0


def test_radios_and_band_steering() -> None:
    mix = (ClientClass(0.4, "wifi6e", 2), ClientClass(0.6, "wifi5", 2))
    six = ap_radios("ap", "wifi6e", "6", 80, 2, mix)
    assert [r.band for r in six] == ["6", "5", "2.4"]
    assert sum(r.share for r in six) == pytest.approx(1.0)
    assert six[0].share == pytest.approx(0.4)  # only 6E clients use the 6 GHz radio
    steer = load_data_yaml("wifi.yaml")["band_steering_5ghz_share"]
    assert six[1].share == pytest.approx(0.6 * steer)
    assert [r.band for r in ap_radios("ap", "wifi4", "2.4", 20, 2, mix)] == ["2.4"]


def test_devices_split_over_radios_and_capacity_per_radio() -> None:
    a = to_arrays(build(small_district()))
    w = a.meta["wifi_radios"]
    bands = np.asarray(w["band"])
    steer = load_data_yaml("wifi.yaml")["band_steering_5ghz_share"]
    on5 = int(w["devices"][bands == "5"].sum())
    on24 = int(w["devices"][bands == "2.4"].sum())
    n_wifi = int((a.attach_air_link[a.device_attach] >= 0).sum())
    assert on5 + on24 == n_wifi > 0  # every Wi-Fi device is on exactly one radio
    assert on5 / n_wifi == pytest.approx(steer, abs=0.02)
    # the first radio keeps the member's id; the air link carries the radio's capacity
    assert "es-ap#3" in a.attach_ids and "es-ap#3#2.4" in a.attach_ids
    p = a.attach_ids.index("es-ap#3")
    cap = a.link_capacity_mbps[a.attach_air_link[p]]
    row = int(np.flatnonzero(w["attach"] == p)[0])
    assert cap == pytest.approx(w["capacity_mbps"][row])


def test_air_capacity_override_is_one_radio() -> None:
    data = small_district()
    data["nodes"][3]["wifi"] = {"air_capacity_mbps": 123.0}
    a = to_arrays(build(data))
    air = a.link_capacity_mbps[a.attach_air_link[a.attach_air_link >= 0]]
    assert len(air) == 16 and np.all(air == 123.0)


def test_mix_errors_are_clear() -> None:
    data = small_district()
    data["district"]["wifi_clients"] = [{"share": 0.5, "generation": "wifi5"}]
    with pytest.raises(Exception, match=r"sum to 0\.5"):
        build(data)
    data = small_district()
    data["nodes"][3]["wifi"] = {"generation": "wifi5", "band": "6"}
    with pytest.raises(Exception, match="no 6 GHz radio"):
        to_arrays(build(data))


def _one_to_one(generation: str, width: int, aps: int) -> dict[str, Any]:
    """One school of 600 students in 24 classrooms, 1:1, everything but the air fast."""
    d = small_district()
    d = copy.deepcopy(d)
    d["district"]["devices_per_student"] = 1.0
    d["sites"][1] = {"id": "es", "students": 600, "staff": 40, "classrooms": 24}
    d["nodes"][3].update(count=aps, wifi={"generation": generation,
                                           "channel_width_mhz": width})
    d["links"][2]["capacity_mbps"] = 10000
    d["circuits"][0]["capacity_mbps"] = 10000
    return d


def test_one_to_one_on_wifi4_one_ap_per_three_classrooms_fails_r_now() -> None:
    c = classify(build(_one_to_one("wifi4", 20, 8)), rules=("R-NOW",), n_scenarios=100,
                 seed=0)
    v = c.rule("R-NOW")
    assert v.status == "fail" and v.allows_stage == 2, v.explanation
    dens = v.details["wifi_density"]
    assert dens[0]["aps_per_classroom"] == pytest.approx(8 / 24, abs=1e-3)


def test_one_to_one_on_wifi6_one_ap_per_classroom_passes_r_now() -> None:
    c = classify(build(_one_to_one("wifi6", 40, 24)), rules=("R-NOW",), n_scenarios=100,
                 seed=0)
    v = c.rule("R-NOW")
    assert v.status == "pass" and v.allows_stage == 4, v.explanation
    dens = v.details["wifi_density"][0]
    assert dens["aps_per_classroom"] == 1.0 and dens["radios"] == 48
    assert 0 < dens["active_clients_per_radio"] < 60


def test_report_and_json_show_wifi_density() -> None:
    from netstage.simulator.report import build_report_json, render_html
    from netstage.simulator.study import Study

    d = build(_one_to_one("wifi4", 20, 8))
    c = classify(d, rules=("R-NOW",), n_scenarios=20, seed=0)
    s = Study.from_classification(d, c)
    html = render_html(s, [], {}, None)
    assert "Wi-Fi density" in html and "0.33" in html
    js = build_report_json(s, [], None, None, [])
    rule = next(r for r in js["classification"]["rules"] if r["id"] == "R-NOW")
    assert rule["details"]["wifi_density"][0]["site"] == "es"


def test_site_mix_overrides_district_mix_and_six_ghz_radios() -> None:
    data = small_district()
    data["district"]["wifi_clients"] = [{"share": 1.0, "generation": "wifi4",
                                         "spatial_streams": 1}]
    slow = to_arrays(build(data)).meta["wifi_radios"]["capacity_mbps"].max()
    data["sites"][1]["wifi_clients"] = [{"share": 0.5, "generation": "wifi6e",
                                         "spatial_streams": 2},
                                        {"share": 0.5, "generation": "wifi6",
                                         "spatial_streams": 2}]
    data["nodes"][3]["wifi"] = {"generation": "wifi6e", "channel_width_mhz": 80,
                                "band": 6}
    a = to_arrays(build(data))
    w = a.meta["wifi_radios"]
    assert set(w["band"]) == {"6", "5", "2.4"} and len(w["band"]) == 3 * 16
    assert "es-ap#0" in a.attach_ids and "es-ap#0#5" in a.attach_ids
    six = np.asarray(w["band"]) == "6"
    assert w["devices"][six].sum() == pytest.approx(0.5 * w["devices"].sum(), abs=16)
    assert w["capacity_mbps"][six].min() > slow


def test_undeclared_classrooms_come_from_students_not_one_ap_per_room() -> None:
    # 600 students and 8 APs: declared 24 rooms -> 1/3 of the clients in their AP's room.
    # Without `classrooms` the school is NOT read as one AP per room (the optimistic
    # reading): 600 / students_per_classroom rooms, provenance "default".
    declared = _one_to_one("wifi4", 20, 8)
    silent = copy.deepcopy(declared)
    for s in silent["sites"]:
        s.pop("classrooms", None)
    per_room = load_data_yaml("wifi.yaml")["students_per_classroom"]
    v = classify(build(silent), rules=("R-NOW",), n_scenarios=100, seed=0).rule("R-NOW")
    dens = v.details["wifi_density"][0]
    assert dens["classrooms_provenance"] == "default"
    assert dens["classrooms"] == -(-600 // per_room)
    assert dens["aps_per_classroom"] < 1
    assert v.status == "fail", "an undeclared school must not pass where the declared one fails"
