"""The capture analyser against tshark's ground truth for the real captures in
../shared/data/pcap (EXPECTED.json, TShark 4.0.17; see that directory's README)."""

from __future__ import annotations

import json
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from netstage.auditor.capture import CaptureSummary, analyse_capture

from .support import SHARED, shared_path

pytestmark = pytest.mark.shared

_EXP_FILE = SHARED / "data" / "pcap" / "EXPECTED.json"
NAMES = sorted(json.loads(_EXP_FILE.read_text())) if _EXP_FILE.exists() else ["<missing>"]


@cache
def _expected() -> dict[str, Any]:
    return json.loads(shared_path("pcap", "EXPECTED.json").read_text())  # type: ignore[no-any-return]


@cache
def _summary(name: str) -> CaptureSummary:
    return analyse_capture(shared_path("pcap", name))


def _case(name: str) -> tuple[dict[str, Any], CaptureSummary]:
    return _expected()[name], _summary(name)


def _tshark_conv_pairs(path: Path) -> set[frozenset[str]]:
    """Live ``tshark -z conv,ip`` pairs (used only where EXPECTED.json lost a row)."""
    out = subprocess.run(["tshark", "-n", "-q", "-r", str(path), "-z", "conv,ip"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    pairs = set()
    for line in out.splitlines():
        if "<->" in line:
            a, _, rest = line.partition("<->")
            pairs.add(frozenset((a.strip(), rest.split()[0])))
    return pairs


@pytest.mark.parametrize("name", NAMES)
def test_totals_and_timestamps(name: str) -> None:
    e, s = _case(name)
    assert s.packets == e["packets"]
    assert s.bytes == e["total_bytes"]
    assert s.captured_bytes == e["captured_bytes"]
    assert s.first_ts == e["first_ts"]
    assert s.last_ts == e["last_ts"]
    j = json.loads(json.dumps(s.to_json()))  # plain JSON types only
    assert (j["min_ts"], j["max_ts"]) == (e["min_ts"], e["max_ts"])
    if "timestamps_monotonic" in e:
        assert s.timestamps_monotonic == e["timestamps_monotonic"]
    assert j["packets"] == e["packets"] and j["bytes"] == e["total_bytes"]
    assert s.format == e["format"]
    if e["format"] == "pcap":
        assert s.byte_order == e["byte_order"]
        assert s.interfaces[0]["ts_resolution"] == e["ts_resolution"]
    else:
        assert [i["linktype"] for i in s.interfaces] == e["linktypes"]
        assert {str(k): v for k, v in s.packets_per_interface.items()} == \
            e["packets_per_interface"]


@pytest.mark.parametrize("name", NAMES)
def test_truncation_reported(name: str) -> None:
    e, s = _case(name)
    cut = any("cut short" in m for m in e["tshark_messages"])
    assert s.complete is not cut
    if cut:
        assert s.stopped_at_offset is not None and 0 < s.stopped_at_offset < e["size_bytes"]


@pytest.mark.parametrize("name", NAMES)
def test_ipv4_conversations(name: str) -> None:
    e, s = _case(name)
    got = {(c.a, c.b): c for c in s.conversations}
    for row in e["top10_ipv4_conversations_by_bytes"]:
        c = got.get((row["a"], row["b"]))
        assert c is not None, f"missing conversation {row['a']} <-> {row['b']}"
        assert (c.frames_a_to_b, c.frames_b_to_a) == (row["frames_a_to_b"], row["frames_b_to_a"])
        assert (c.bytes_a_to_b, c.bytes_b_to_a) == (row["bytes_a_to_b"], row["bytes_b_to_a"])
    exp_bytes = [r["bytes"] for r in e["top10_ipv4_conversations_by_bytes"]]
    if s.conversations_total == e["ipv4_conversations_total"]:
        assert [c.bytes for c in s.conversations[:len(exp_bytes)]] == exp_bytes
    else:
        # EXPECTED.json dropped a row tshark prints (many_interfaces-1.pcapng: the
        # 255.255.255.255 conversation whose relative start is negative); then the
        # live tshark table is the reference.
        if shutil.which("tshark") is None:
            pytest.skip("conversation count differs from EXPECTED.json; tshark not installed")
        live = _tshark_conv_pairs(shared_path("pcap", name))
        ours = {frozenset((c.a, c.b)) for c in s.conversations}
        assert s.conversations_total == len(live)
        assert ours == live or s.conversations_total > len(s.conversations)


@pytest.mark.parametrize("name", NAMES)
def test_vlans(name: str) -> None:
    e, s = _case(name)
    assert s.vlan_ids == e["vlan_ids"]
    assert s.vlan_tagged_frames == e["vlan_tagged_frames"]


def _opt(v: Any) -> str | None:
    return None if v is None else str(v)


def _as_list(v: Any) -> list[str]:
    if v is None:
        return []
    return [str(x) for x in v] if isinstance(v, list) else [str(v)]


@pytest.mark.parametrize("name", NAMES)
def test_lldp_neighbours(name: str) -> None:
    e, s = _case(name)
    ours = [n for n in s.neighbours if n["protocol"] == "lldp"]
    assert len(ours) == len(e["lldp_neighbours"])
    assert sum(n["frames"] for n in ours) == e["lldp_frames"]
    for x in e["lldp_neighbours"]:
        m = [n for n in ours if n["source_mac"] == x["source_mac"]
             and n["chassis_id"] == x["chassis_id"] and n["port_id"] == x["port_id"]]
        assert len(m) == 1, f"LLDP neighbour {x['chassis_id']} {x['port_id']} not found"
        n = m[0]
        assert _opt(n["chassis_id_subtype"]) == x["chassis_id_subtype"]
        assert _opt(n["port_id_subtype"]) == x["port_id_subtype"]
        for k in ("system_name", "port_description", "system_description",
                  "system_capabilities"):
            assert n[k] == x[k], k
        assert _opt(n["port_vlan_id"]) == x["port_vlan_id"]
        assert n["management_ipv4"] == _as_list(x["management_ipv4"])
        assert n["management_ipv6"] == _as_list(x["management_ipv6"])
        assert n["management_other_hex"] == _as_list(x["management_other_hex"])
        assert n["frames"] == x["frames"]


@pytest.mark.parametrize("name", NAMES)
def test_cdp_neighbours(name: str) -> None:
    e, s = _case(name)
    ours = [n for n in s.neighbours if n["protocol"] == "cdp"]
    assert len(ours) == len(e["cdp_neighbours"])
    assert sum(n["frames"] for n in ours) == e["cdp_frames"]
    for x in e["cdp_neighbours"]:
        m = [n for n in ours if n["source_mac"] == x["source_mac"]
             and n["device_id"] == x["device_id"]]
        assert len(m) == 1, f"CDP neighbour {x['device_id']} not found"
        n = m[0]
        for k in ("port_id", "platform", "software_version", "vtp_domain"):
            assert n[k] == x[k], k
        assert _opt(n["native_vlan"]) == x["native_vlan"]
        assert _opt(n["voice_vlan"]) == x["voice_vlan"]
        assert n["addresses_ipv4"] == _as_list(x["addresses_ipv4"])
        assert n["frames"] == x["frames"]


@pytest.mark.parametrize("name", NAMES)
def test_stp_bpdus(name: str) -> None:
    e, s = _case(name)
    assert sum(b["frames"] for b in s.stp) == e["stp_frames"]
    assert len(s.stp) == len(e["stp_bpdus"])
    for x in e["stp_bpdus"]:
        m = [b for b in s.stp if b["dst_mac"] == x["dst_mac"]
             and _opt(b["vlan"]) == x["vlan_tags"]
             and _opt(b["pvst_originating_vlan"]) == x["pvst_originating_vlan"]]
        assert len(m) == 1
        b = m[0]
        assert b["version"] == x["version"] and b["bpdu_type"] == x["bpdu_type"]
        assert str(b["root_priority"]) == x["root_priority"]
        assert (b["root_mac"], b["bridge_mac"]) == (x["root_mac"], x["bridge_mac"])
        assert str(b["bridge_priority"]) == x["bridge_priority"]
        assert b["frames"] == x["frames"]


@pytest.mark.parametrize("name", NAMES)
def test_dhcp(name: str) -> None:
    e, s = _case(name)
    x = e["dhcp"]
    assert s.dhcp.get("frames", 0) == e["dhcp_frames"]
    assert {k.upper(): v for k, v in s.dhcp.get("message_types", {}).items()} == \
        x["message_types"]
    clients = s.dhcp.get("clients", [])
    assert sorted(c["mac"] for c in clients) == sorted(x["client_macs"])
    assert sorted(c["hostname"] for c in clients if c["hostname"]) == sorted(x["hostnames"])
    assigned = {c["ip"] for c in clients if c["ip"]}
    assert set(x["offered_or_assigned_ips"]) <= assigned


@pytest.mark.parametrize("name", NAMES)
def test_tls_sni_names(name: str) -> None:
    e, s = _case(name)
    # tshark decodes ClientHellos that span TCP segments too; ours parses the first
    # segment, so every name we report must be one tshark saw
    assert set(s.sni_names) <= {n.lower() for n in e["tls_sni_names"]}
    if e["tls_sni_names"]:
        assert len(s.sni_names) >= 0.9 * len(set(e["tls_sni_names"]))


def test_chunk_size_does_not_change_the_answer() -> None:
    """Records straddling chunk boundaries (tiny chunks) give the same summary."""
    p = shared_path("pcap", "example.pcap")
    a = analyse_capture(p).to_json()
    b = analyse_capture(p, chunk_bytes=3001).to_json()
    assert a == b


def test_per_host_bytes_match_tshark_fields() -> None:
    """Per-host byte totals equal tshark -T fields -e frame.len -e ip.src -e ip.dst."""
    if shutil.which("tshark") is None:
        pytest.skip("tshark not installed")
    p = shared_path("pcap", "test.pcap")
    out = subprocess.run(["tshark", "-n", "-r", str(p), "-T", "fields", "-e", "frame.len",
                          "-e", "ip.src", "-e", "ip.dst"], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    want: dict[str, int] = {}
    for line in out.splitlines():
        ln, src, dst = [*line.split("\t"), "", ""][:3]
        hosts = {h for h in (src.split(",")[0], dst.split(",")[0]) if h}
        for h in hosts:
            want[h] = want.get(h, 0) + int(ln)
    s = analyse_capture(p, control_plane=False)
    got = {t["host"]: t["bytes"] for t in s.top_talkers if ":" not in t["host"]}
    for h, v in got.items():
        assert want[h] == v, h


@pytest.mark.parametrize("name", NAMES)
def test_lldp_and_cdp_views_of_one_port_merge(name: str) -> None:
    """A device advertising one port by LLDP and CDP (same source MAC, LLDP port
    description = CDP port id) is one neighbour link with both protocols."""
    e, s = _case(name)
    both = {(x["source_mac"], x["port_description"]) for x in e["lldp_neighbours"]} & {
        (x["source_mac"], x["port_id"]) for x in e["cdp_neighbours"]}
    links = s.to_json()["neighbour_links"]
    merged = [r for r in links if r["protocols"] == ["cdp", "lldp"]]
    assert len(merged) == len(both)
    assert len(links) == len(s.neighbours) - len(both)


@pytest.mark.parametrize("name", ["example.pcap", "tls2.pcap", "wireshark_samples-test.pcapng"])
def test_throughput_bins_match_tshark_timestamps(name: str) -> None:
    """1-second bins from tshark's frame.time_epoch/frame.len: same peak and p95
    (p95 over every second of the span, empty seconds as zero)."""
    if shutil.which("tshark") is None:
        pytest.skip("tshark not installed")
    import numpy as np

    p = shared_path("pcap", name)
    out = subprocess.run(["tshark", "-n", "-r", str(p), "-T", "fields", "-e",
                          "frame.time_epoch", "-e", "frame.len"], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    bins: dict[int, int] = {}
    for line in out.splitlines():
        ts, ln = line.split("\t")
        sec = int(ts.split(".")[0])
        bins[sec] = bins.get(sec, 0) + int(ln)
    lo, hi = min(bins), max(bins)
    series = np.array([bins.get(t, 0) * 8 / 1e6 for t in range(lo, hi + 1)])
    s = _summary(name)
    assert s.peak_mbps == pytest.approx(series.max(), rel=1e-9)
    assert s.p95_mbps == pytest.approx(float(np.percentile(series, 95)), rel=1e-9)
    assert s.mean_mbps == pytest.approx(series.mean(), rel=1e-9)
