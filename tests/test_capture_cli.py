"""The bundled demo capture (synth), calibration and the `netstage capture` CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from netstage.auditor.capture import analyse_capture, control
from netstage.auditor.capture.calibrate import calibrate, write_calibration
from netstage.auditor.capture.synth import DEFAULT_NAME, write_synthetic_capture
from netstage.simulator.errors import ConfigError, MissingExtraError
from netstage.simulator.profiles import load_apps, load_scenarios, scenario_params

from .support import TOPOLOGIES, CliRunner

BUNDLED = TOPOLOGIES / "captures" / DEFAULT_NAME


def test_regenerating_the_demo_capture_gives_identical_bytes(tmp_path: Path) -> None:
    p = write_synthetic_capture(tmp_path / "again.pcapng")
    assert p.read_bytes() == BUNDLED.read_bytes()
    assert BUNDLED.stat().st_size < 2 * 1024 * 1024
    other = write_synthetic_capture(tmp_path / "seed.pcapng", seed=1)
    assert other.read_bytes() != BUNDLED.read_bytes()


def test_demo_capture_content_matches_the_district_and_tshark() -> None:
    s = analyse_capture(BUNDLED)
    district = yaml.safe_load((TOPOLOGIES / "stage3-emerging.yaml").read_text())
    node_ids = {n["id"] for n in district["nodes"]}
    lldp = {n["system_name"] for n in s.neighbours if n["protocol"] == "lldp"}
    assert lldp and lldp <= node_ids
    assert s.vlan_ids == [110, 120, 130]
    assert s.dhcp["clients_per_vlan"] == {"110": 2, "120": 1, "130": 1}
    assert s.dhcp["message_types"] == {"discover": 4, "offer": 4, "request": 4, "ack": 4}
    assert all(c["hostname"] and c["ip"] for c in s.dhcp["clients"])
    for app in ("video", "conference", "update", "testing", "web"):
        assert s.apps[app]["bytes"] > 0, app
    assert s.p95_mbps <= s.peak_mbps and s.peak_mbps > 1
    if shutil.which("tshark") is None:
        return
    out = subprocess.run(["tshark", "-n", "-r", str(BUNDLED), "-T", "fields", "-e",
                          "frame.len", "-e", "lldp.tlv.system.name", "-e",
                          "tls.handshake.extensions_server_name"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    rows = [line.split("\t") for line in out.splitlines()]
    assert s.packets == len(rows)
    assert s.bytes == sum(int(r[0]) for r in rows)
    assert lldp == {r[1] for r in rows if len(r) > 1 and r[1]}
    assert set(s.sni_names) == {r[2] for r in rows if len(r) > 2 and r[2]}


def test_calibration_is_valid_simulator_input(tmp_path: Path) -> None:
    s = analyse_capture(BUNDLED)
    cal = calibrate(s)
    mix = cal["measured"]["mix"]
    assert abs(sum(mix.values()) - 1) < 1e-6
    assert set(mix) <= set(load_apps().apps)
    # device shares by dominant application: the synth plan gives web the most devices
    assert max(mix, key=lambda k: mix[k]) == "web"
    out = write_calibration(s, tmp_path / "measured.yaml")
    apps = load_apps(out[0])
    scen = load_scenarios(out[1], apps=apps)
    params = scenario_params("measured", apps=apps, scenarios=scen)
    assert params.active_p.max() > 0
    video = apps.apps["video"]
    assert video.median_mbps == cal["measured"]["apps"]["video"]["median_mbps"]
    assert "measured" in video.source
    # the measured video rate is a rate: bytes over active time of each device
    dev_rates = [d["apps"]["video"]["mbps"] for d in s.devices if "video" in d["apps"]]
    assert min(dev_rates) <= video.median_mbps <= max(dev_rates)


def test_calibration_needs_client_traffic(shared_data) -> None:  # type: ignore[no-untyped-def]
    s = analyse_capture(shared_data("pcap", "lldp.pcap"))
    with pytest.raises(ConfigError, match="no classified client traffic"):
        calibrate(s)


def test_user_mapping_extends_the_shipped_one(tmp_path: Path) -> None:
    m = tmp_path / "map.yaml"
    m.write_text("domains:\n  testing: [docs.google.com]\n")
    base = analyse_capture(BUNDLED, control_plane=False)
    ext = analyse_capture(BUNDLED, control_plane=False, mapping=m)
    assert ext.apps["testing"]["bytes"] > base.apps["testing"]["bytes"]
    assert ext.apps["web"]["bytes"] < base.apps["web"]["bytes"]
    assert ext.packets == base.packets
    bad = tmp_path / "bad.yaml"
    bad.write_text("domains:\n  streaming: [example.com]\n")
    with pytest.raises(ConfigError, match="unknown class 'streaming'"):
        analyse_capture(BUNDLED, control_plane=False, mapping=bad)


def test_missing_scapy_is_a_missing_extra_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(control, "_loaded", False)
    monkeypatch.setattr(control, "scapy_available", lambda: False)
    with pytest.raises(MissingExtraError, match=r"netstage\[capture\]"):
        analyse_capture(BUNDLED)
    s = analyse_capture(BUNDLED, control_plane=False)
    assert s.packets > 0 and s.neighbours == []


def test_cli_json_and_calibrate(run_cli: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "cal.yaml"
    r = run_cli("capture", str(BUNDLED), "--json", "--calibrate", str(out))
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    s = analyse_capture(BUNDLED)
    assert (j["packets"], j["bytes"]) == (s.packets, s.bytes)
    assert j["vlan_ids"] == [110, 120, 130]
    assert j["quic_client_hellos"] == s.quic_client_hellos > 0
    assert out.exists() and (tmp_path / "cal.scenarios.yaml").exists()
    load_scenarios(tmp_path / "cal.scenarios.yaml", apps=load_apps(out))


def test_cli_tables(run_cli: CliRunner) -> None:
    r = run_cli("capture", str(BUNDLED))
    assert r.returncode == 0, r.stderr
    for text in ("traffic mix", "top IPv4 conversations", "LLDP/CDP neighbours", "es-dist",
                 "VLANs: 110"):
        assert text in r.stdout
    summary = analyse_capture(BUNDLED)
    quic = summary.quic_client_hellos
    flat = " ".join(r.stdout.split())
    assert quic > 0 and f"({quic} over QUIC)" in flat
    name, count = next(iter(summary.sni_names.items()))  # the most frequent server name
    assert f"top server names: {name} ({count})" in flat


def test_cli_truncated_file_reports_offset(run_cli: CliRunner, tmp_path: Path) -> None:
    data = BUNDLED.read_bytes()
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(data[: len(data) - 50])
    r = run_cli("capture", str(cut), "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    full = analyse_capture(BUNDLED, control_plane=False)
    assert j["complete"] is False and 0 < j["packets"] < full.packets
    assert j["stopped_at_offset"] < len(data) - 50
    assert f"byte offset {j['stopped_at_offset']}" in r.stderr.replace("\n", " ")


@pytest.mark.parametrize("content", [b"", b"not a capture at all\n", b"\xd4\xc3\xb2\xa1\x02"])
def test_cli_rejects_non_captures(run_cli: CliRunner, tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "x.pcap"
    p.write_bytes(content)
    r = run_cli("capture", str(p))
    assert r.returncode == 1
    assert r.stderr.startswith("error:") and "Traceback" not in r.stderr
    assert str(p.name) in r.stderr


def test_cli_synth(run_cli: CliRunner, tmp_path: Path) -> None:
    r = run_cli("capture-synth", str(tmp_path / "s.pcapng"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "s.pcapng").read_bytes() == BUNDLED.read_bytes()


def test_neighbours_become_auditor_facts() -> None:
    from netstage.auditor.capture.neighbours import neighbour_facts

    s = analyse_capture(BUNDLED)
    facts = neighbour_facts(s.neighbours, local_if_name="span-core")
    assert len(facts) == len(s.neighbours)
    lldp = [f for f in facts if f.protocol == "lldp"]
    assert {f.remote_sysname for f in lldp} == {"core", "es-dist", "es-acc1", "es-acc2"}
    assert all(f.remote_mgmt_address and f.remote_port_id for f in facts)
    links = s.to_json()["neighbour_links"]
    core = [r for r in links if r["device"] == "core"]
    assert len(core) == 1 and core[0]["protocols"] == ["cdp", "lldp"]
