"""One definition of the expanded element ids (netstage.simulator.element_ids): what
to_arrays writes, the charts, the planner and the wording read back."""

from __future__ import annotations

from netstage.simulator import element_ids as e
from netstage.simulator.arrays import to_arrays

from .stage_support import build, small_district


def test_ids_round_trip() -> None:
    assert e.member_id("core--es-sw", 2, 16) == "core--es-sw#2"
    assert e.member_id("core--es-sw", 0, 1) == "core--es-sw"
    air = e.air_link_id(e.radio_point(e.member_id("es-ap", 3, 16), "5"))
    assert air == "air:es-ap#3#5" and e.is_air(air) and not e.is_srlg(air)
    assert e.air_point(air) == "es-ap#3#5" and e.model_id(air) == "air:es-ap"
    assert e.parts(e.air_point(air)) == ["es-ap", "3", "5"]
    assert e.split_member("es-ap#3#5") == ("es-ap", "3#5")
    assert e.is_srlg(e.srlg_id("conduit-a"))


def test_to_arrays_writes_these_ids() -> None:
    arr = to_arrays(build(small_district()))
    keys = {e.model_id(x) for x in arr.link_ids if not e.is_air(x)}
    assert keys == {"edge--core", "core--es-sw", "es-sw--es-ap", "isp"}   # isp: the circuit
    assert any(x.startswith("es-sw--es-ap#") for x in arr.link_ids)   # 16 AP uplinks
    airs = [e.air_point(x) for x in arr.link_ids if e.is_air(x)]
    assert airs and all(e.parts(p)[0] == "es-ap" for p in airs)
