"""Capture facts merged into a district: LLDP/CDP neighbours -> links, DHCP clients/VLAN.

Expectations come from the synth module's own configuration (``synth.SWITCHES``: who
advertises, from which port and management address) and the declared topology's links,
and the DHCP clients from tshark's decode of the same file, not from the merge's output.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from netstage.auditor.capture import CaptureSummary, analyse_capture, synth
from netstage.auditor.capture_merge import DEFAULT_CAPACITY_MBPS, merge_capture
from netstage.simulator.errors import ConfigError
from netstage.simulator.io import district_from_dict, load_district
from netstage.simulator.model import District

from .support import TOPOLOGIES, CliRunner

CAPTURE = TOPOLOGIES / "captures" / synth.DEFAULT_NAME
DISTRICT = TOPOLOGIES / "stage3-emerging.yaml"
SPEAKERS = [s[0] for s in synth.SWITCHES]  # advertised system names (= node ids)
# the synth's uplinks advertise MAU type 36 = dot3MauType10GigBaseSR (IANA-MAU-MIB;
# tshark: "10GigBaseSR"), so links added from them are 10 Gb/s
ADVERTISED_MBPS = {36: 10000.0}[synth.UPLINK_MAU_TYPE]


@pytest.fixture(scope="module")
def summary() -> CaptureSummary:
    return analyse_capture(CAPTURE)


@pytest.fixture()
def base() -> District:
    return load_district(DISTRICT)


def _expected(base: District, observer: str) -> tuple[set[frozenset[str]], set[frozenset[str]]]:
    """(confirmed pairs, added pairs) the synth's speakers imply for ``observer``."""
    pairs = {frozenset((lk.a, lk.b)) for lk in base.links}
    others = [frozenset((observer, n)) for n in SPEAKERS if n != observer]
    return {p for p in others if p in pairs}, {p for p in others if p not in pairs}


@pytest.mark.parametrize("observer", ["es-dist", "core"])
def test_neighbours_become_links_of_the_observer(summary: CaptureSummary, base: District,
                                                 observer: str) -> None:
    before = base.model_dump()
    res = merge_capture(base, summary, observer=observer)
    want_matched, want_added = _expected(base, observer)
    keys = {frozenset((lk.a, lk.b)): lk.key for lk in base.links}
    assert set(res.matched_links) == {keys[p] for p in want_matched}
    assert {frozenset((a["a"], a["b"])) for a in res.added_links} == want_added
    assert res.unknown_neighbours == []
    # every advert was matched by name to the speaker's node; the observer's own is no link
    assert {r["node"] for r in res.neighbours} == set(SPEAKERS)
    for r in res.neighbours:
        assert r["matched_by"] == "name"
        assert (r["link"] == "observer_itself") == (r["node"] == observer)
    out_pairs = {frozenset((lk.a, lk.b)): lk for lk in res.district.links}
    assert len(res.district.links) == len(base.links) + len(want_added)
    for p in want_added:
        assert out_pairs[p].capacity_mbps == ADVERTISED_MBPS != DEFAULT_CAPACITY_MBPS
    assert all(a["capacity_source"] == "lldp-mau" for a in res.added_links)
    for lk in base.links:  # confirmed links keep their declared capacity
        assert out_pairs[frozenset((lk.a, lk.b))].capacity_mbps == lk.capacity_mbps
    assert base.model_dump() == before  # base unchanged
    extra = res.district.measured.extra["capture"] if res.district.measured else {}
    assert extra["observer"] == observer and extra["file"] == CAPTURE.name


def test_the_example_span_adds_links_and_confirms_one() -> None:
    """Guard that the parametrised test above exercises both paths on this topology."""
    base = load_district(DISTRICT)
    m1, a1 = _expected(base, "es-dist")
    m2, a2 = _expected(base, "core")
    assert len(m1) == 3 and not a1 and m2 and a2


def test_match_by_management_address(summary: CaptureSummary) -> None:
    """A node named differently from the advert is found by its mgmt address."""
    name, _descr, _port, _mac, mgmt = synth.SWITCHES[2]
    data: dict[str, Any] = yaml.safe_load(DISTRICT.read_text())
    text = json.dumps(data).replace(f'"{name}"', '"renamed-acc"')
    data = json.loads(text)
    for n in data["nodes"]:
        if n["id"] == "renamed-acc":
            n["mgmt_address"] = mgmt
    base = district_from_dict(data)
    res = merge_capture(base, summary, observer="es-dist")
    row = next(r for r in res.neighbours if r["system_name"] == name)
    assert (row["node"], row["matched_by"], row["link"]) == ("renamed-acc", "mgmt_address",
                                                             "matched")
    assert "renamed-acc--es-dist" in res.matched_links


def test_neighbour_matching_no_node_is_reported_not_linked(summary: CaptureSummary,
                                                          base: District) -> None:
    proto = next(n for n in summary.neighbours if n["protocol"] == "lldp")
    stranger = {**proto, "system_name": "lab-switch-9.example.org",
                "chassis_id": "02:0b:00:00:09:09", "source_mac": "02:0b:00:00:09:09",
                "management_ipv4": ["192.0.2.99"], "port_id": "ge-0/0/7"}
    s = dataclasses.replace(summary, neighbours=[*summary.neighbours, stranger])
    res = merge_capture(base, s, observer="es-dist")
    assert [u["system_name"] for u in res.unknown_neighbours] == ["lab-switch-9.example.org"]
    assert res.unknown_neighbours[0]["mgmt_address"] == "192.0.2.99"
    assert not res.added_links  # the known speakers still only confirm links
    assert len(res.district.links) == len(base.links)
    assert {n.id for n in res.district.nodes} == {n.id for n in base.nodes}


def test_without_observer_nothing_is_linked(summary: CaptureSummary, base: District) -> None:
    res = merge_capture(base, summary)
    assert {r["link"] for r in res.neighbours} == {"no_observer"}
    assert not res.added_links and not res.matched_links
    assert res.district.links == base.links


def test_unknown_observer_is_a_config_error(summary: CaptureSummary, base: District) -> None:
    with pytest.raises(ConfigError, match=r"no-such-switch.*--observer"):
        merge_capture(base, summary, observer="no-such-switch")


def _tshark_dhcp_clients() -> dict[str, int]:
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark not installed (scripts/system-deps.sh)")
    out = subprocess.run([tshark, "-r", str(CAPTURE), "-Y", "dhcp", "-T", "fields",
                          "-e", "vlan.id", "-e", "dhcp.hw.mac_addr"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    macs: dict[str, set[str]] = {}
    for line in out.splitlines():
        vlan, mac = line.split("\t")
        macs.setdefault(vlan or "untagged", set()).add(mac.lower())
    return {k: len(v) for k, v in macs.items()}


def test_dhcp_clients_per_vlan_equal_tshark(summary: CaptureSummary, base: District) -> None:
    res = merge_capture(base, summary, observer="es-dist")
    assert res.clients_per_vlan == _tshark_dhcp_clients()
    assert set(res.clients_per_vlan) <= {str(v) for v in (synth.VLAN_STUDENT, synth.VLAN_STAFF,
                                                          synth.VLAN_IOT)}
    # populations are not invented from a capture window
    assert [s.model_dump() for s in res.district.sites] == [s.model_dump() for s in base.sites]


def test_cli_writes_the_merged_district(run_cli: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "merged" / "lakeview.yaml"
    r = run_cli("capture", str(CAPTURE), "--district", str(DISTRICT), "--observer", "core",
                "--district-out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    merge = json.loads(r.stdout)["district_merge"]
    base = load_district(DISTRICT)
    want_matched, want_added = _expected(base, "core")
    assert {frozenset((a["a"], a["b"])) for a in merge["added_links"]} == want_added
    merged = load_district(out)
    pairs = {frozenset((lk.a, lk.b)) for lk in merged.links}
    assert want_added <= pairs and want_matched <= pairs
    assert len(merged.links) == len(base.links) + len(want_added)
    r = run_cli("capture", str(CAPTURE), "--district", str(DISTRICT), "--observer", "core")
    assert r.returncode == 0, r.stderr
    assert "added link core--es-acc1" in r.stdout and "observer_itself" in r.stdout


def test_cli_bad_observer_fails_before_analysis(run_cli: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "never.yaml"
    r = run_cli("capture", str(CAPTURE), "--district", str(DISTRICT), "--observer", "nope",
                "--district-out", str(out))
    assert r.returncode == 1
    assert "nope" in r.stderr and "--observer" in r.stderr
    assert not out.exists()
    r = run_cli("capture", str(CAPTURE), "--district-out", str(out))
    assert r.returncode != 0 and "--district" in r.stderr and not out.exists()
