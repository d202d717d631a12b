"""Round trip: district -> snmprec twin -> (snmpsim) -> collector -> normalise -> district.

The expectation is the original district file itself: the same infrastructure nodes and
kinds, the same links (APs included, seen over LLDP from their switches), the same
capacities and LAG members, the same circuits.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from netstage.auditor.facts import AuditResult, DeviceFacts, summarise
from netstage.auditor.normalise import facts_to_district, merge_measured
from netstage.auditor.snmp.collector import Collector, CollectTarget, ReplayCollector
from netstage.auditor.snmp.credentials import Secret, SnmpCredential
from netstage.auditor.twin import export_twin, serve_recordings
from netstage.simulator.io import load_district
from netstage.simulator.model import District

from .support import TOPOLOGIES, example_districts


def _audit(collector: Collector, host: str, port: int, communities: list[str]) -> AuditResult:
    targets = [CollectTarget(address=host, port=port, name=c, timeout_s=3.0, retries=2,
                             credential=SnmpCredential(profile=f"twin-{c}", version="v2c",
                                                       community=Secret(c)))
               for c in communities]

    async def run() -> list[DeviceFacts]:
        try:
            return list(await asyncio.gather(*(collector.collect(t) for t in targets)))
        finally:
            close = getattr(collector, "close", None)
            if close is not None:
                close()  # inside the loop: sockets belong to it

    devices = asyncio.run(run())
    return AuditResult(devices=devices, summary=summarise(devices), inventory="twin")


def _topology(d: District) -> tuple[dict[str, str], dict[frozenset[str], tuple[float, int]],
                                    dict[str, tuple[str, float, str | None]]]:
    nodes = {n.id: n.kind.value for n in d.nodes}
    links = {frozenset((lk.a, lk.b)): (lk.capacity_mbps, lk.lag_members or 1) for lk in d.links}
    circuits = {c.id: (c.attach, c.capacity_mbps, c.provider) for c in d.circuits}
    return nodes, links, circuits


@pytest.mark.parametrize("district_file", example_districts(), ids=lambda p: p.stem)
def test_round_trip_through_recordings(district_file: Path, tmp_path: Path) -> None:
    original = load_district(district_file)
    paths = export_twin(original, tmp_path)
    audit = _audit(ReplayCollector(tmp_path), "127.0.0.1", 161, [p.stem for p in paths])
    assert all(d.ok for d in audit.devices)
    res = facts_to_district(audit)  # no base: everything from the facts
    assert _topology(res.district) == _topology(original)
    assert res.mismatches == []
    # every infrastructure node answered; only AP links are seen from one end
    assert res.measured.answered == res.measured.infrastructure_devices == len(paths)
    assert {h.reason for h in res.half_seen_links} <= {"peer_not_audited"}
    ap_ids = {n.id for n in original.nodes if n.kind == "ap"}
    assert {h.peer for h in res.half_seen_links} == ap_ids
    # vendor/model/firmware and sites survive
    for n in original.nodes:
        if n.id in {p.stem for p in paths}:
            got = res.district.node(n.id)
            assert (got.vendor, got.model, got.firmware, got.site) == (
                n.vendor, n.model, n.firmware, n.site)


def test_round_trip_through_snmpsim_with_live_counters(tmp_path: Path) -> None:
    """The demo path: stage3 twin served by snmpsim, collected over SNMP, merged."""
    from netstage.auditor.snmp.live import SnmpCollector

    original = load_district(TOPOLOGIES / "stage3-emerging.yaml")
    loads = {"edge--fw": 400.0, "es-dist--core": 120.0, "hs-acc1--hs-dist": 33.0}
    for lk in original.links:
        lk.background_mbps = loads.get(lk.key, 0.0)
    original.circuits[0].background_mbps = 250.0
    paths = export_twin(original, tmp_path, counters="live")
    with serve_recordings(tmp_path) as (host, port):
        time.sleep(1.0)  # let the live counters and sysUpTime grow
        audit = _audit(SnmpCollector(concurrency=8), host, port, [p.stem for p in paths])
    failed = [(d.target.name, d.failure) for d in audit.devices if not d.ok]
    assert failed == []
    res = facts_to_district(audit)
    assert _topology(res.district) == _topology(original)

    base = load_district(TOPOLOGIES / "stage3-emerging.yaml")  # background 0 everywhere
    merged = merge_measured(base, audit)
    got = {lk.key: lk.background_mbps for lk in merged.links}
    for key, mbps in loads.items():
        # counters and sysUpTime both start with snmpsim; the ratio is the rate. Timing
        # jitter between the two reads costs a few percent at most.
        assert got[key] == pytest.approx(mbps, rel=0.1), key
    assert all(v == 0.0 for k, v in got.items() if k not in loads)
    assert merged.circuits[0].background_mbps == pytest.approx(250.0, rel=0.1)
    assert merged.measured is not None and merged.measured.snmp is not None
    snmp = merged.measured.snmp
    assert (snmp.infrastructure_devices, snmp.answered, snmp.v1v2c_devices) == (13, 13, 13)


def test_cli_round_trip_audit_then_normalise(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """netstage twin -> netstage audit --replay -> netstage normalise -> a valid district."""
    from netstage.auditor.twin import inventory_for_twin

    src = TOPOLOGIES / "stage2-organic.yaml"
    r = run_cli("twin", str(src), "--out", "twin", "--static")  # replay reads plain values
    assert r.returncode == 0, r.stderr
    stems = sorted(p.stem for p in (tmp_path / "twin").glob("*.snmprec"))
    text, env = inventory_for_twin("127.0.0.1", 161, stems)
    (tmp_path / "inv.yaml").write_text(text)
    r = run_cli("audit", "inv.yaml", "--replay", "twin", "--out", "audit.json", env=env)
    assert r.returncode == 0, r.stderr
    r = run_cli("normalise", "audit.json", "--out", "measured.yaml")
    assert r.returncode == 0, r.stderr
    assert "half-seen" in r.stdout and "mismatch" not in r.stdout
    measured = load_district(tmp_path / "measured.yaml")  # validates, with located errors
    assert _topology(measured) == _topology(load_district(src))
    r = run_cli("normalise", "audit.json", "--base", str(src), "--out", "merged.yaml", "--json")
    assert r.returncode == 0, r.stderr
    merged = load_district(tmp_path / "merged.yaml")
    assert merged.measured is not None and merged.measured.snmp is not None
    assert merged.measured.snmp.answered == len(stems)
    assert merged.sites == load_district(src).sites  # declared parts kept
    r = run_cli("normalise", "audit.json", "--clients-in-measurement")
    assert r.returncode == 2 and "--base" in r.stderr  # needs the declared district
    r = run_cli("normalise", "audit.json", "--base", str(src), "--clients-in-measurement",
                "--out", "net.yaml")
    assert r.returncode == 0, r.stderr
    net = load_district(tmp_path / "net.yaml")
    assert net.measured is not None
    assert "clients_in_measurement" in net.measured.extra["snmp"]["background"]


def test_clients_in_measurement_subtracts_the_simulated_client_load(tmp_path: Path) -> None:
    """Measured load taken while the devices were in use: the simulated mean 'now' client
    load of each link comes off the background (never below zero); by default the whole
    measured load stays background."""
    from netstage.auditor.normalise import client_load_mbps
    from netstage.simulator.simulate import simulate_district

    original = load_district(TOPOLOGIES / "stage3-emerging.yaml")
    base = original.model_copy(deep=True)
    for lk in base.links:
        lk.background_mbps = 0.0
    base.circuits[0].background_mbps = 0.0
    clients = client_load_mbps(base)
    # independent check of the attribution: every device crosses the one circuit, so its
    # client load is the mean total served rate
    sim = simulate_district(base, scenario="now", n_scenarios=200, seed=7)
    circuit = base.circuits[0].id
    assert clients[circuit] == pytest.approx(float(sim.served_mbps.mean()), rel=1e-6)
    busy = "es-dist--core"
    assert clients[busy] > 0
    # measured = clients + 100 Mb/s on one link, half the clients' load on the circuit
    original.circuits[0].background_mbps = round(0.5 * clients[circuit], 3)
    for lk in original.links:
        lk.background_mbps = round(clients[busy] + 100.0, 3) if lk.key == busy else 0.0
    paths = export_twin(original, tmp_path)  # static counters: mean since start = load
    audit = _audit(ReplayCollector(tmp_path), "127.0.0.1", 161, [p.stem for p in paths])

    plain = merge_measured(base, audit)
    assert {lk.key: lk.background_mbps for lk in plain.links}[busy] == pytest.approx(
        clients[busy] + 100.0, rel=1e-3)
    net = merge_measured(base, audit, clients_in_measurement=True)
    assert {lk.key: lk.background_mbps for lk in net.links}[busy] == pytest.approx(
        100.0, rel=1e-2)
    assert net.circuits[0].background_mbps == 0.0  # less measured than simulated: floor 0
    extra = net.measured.extra["snmp"] if net.measured else {}
    assert "clients_in_measurement" in extra["background"]
    assert extra["client_load_subtracted_mbps"][busy] == pytest.approx(clients[busy], rel=1e-3)
