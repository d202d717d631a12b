"""The digital twin: district -> snmprec files -> a real snmpsim agent on loopback."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from netstage.auditor.twin import (
    CIRCUIT_ALIAS_RE,
    export_twin,
    serve_recordings,
    twin_community,
)
from netstage.simulator.errors import CollectorError
from netstage.simulator.io import load_district
from netstage.simulator.model import INFRASTRUCTURE_KINDS

from .support import TOPOLOGIES, example_districts

LLDP_REM = "1.0.8802.1.1.2.1.4.1.1"
LLDP_LOC_PORT = "1.0.8802.1.1.2.1.3.7.1"
IFX = "1.3.6.1.2.1.31.1.1.1"


def _records(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        oid, _tag, value = line.split("|", 2)
        out[oid] = value
    return out


@pytest.mark.parametrize("district_file", example_districts(), ids=lambda p: p.stem)
def test_export_is_consistent_between_neighbours(district_file: Path, tmp_path: Path) -> None:
    d = load_district(district_file)
    paths = export_twin(d, tmp_path)
    infra = {n.id for n in d.nodes if n.kind in INFRASTRUCTURE_KINDS}
    assert sorted(p.stem for p in paths) == sorted(twin_community(n) for n in infra)
    recs = {p.stem: _records(p) for p in paths}
    if_names = {dev: {oid.rsplit(".", 1)[1]: v for oid, v in r.items()
                      if oid.startswith(IFX + ".1.")} for dev, r in recs.items()}
    seen_pairs: dict[frozenset[str], int] = {}
    for dev, r in recs.items():
        # Records are sorted by numeric OID (snmpsim walks need it).
        oids = [tuple(int(x) for x in o.split(".")) for o in r]
        assert oids == sorted(oids)
        for oid, value in r.items():
            if not oid.startswith(LLDP_REM + ".9."):
                continue
            local_port = oid.split(".")[-2]
            peer = value
            peer_port = r[f"{LLDP_REM}.7.{oid[len(LLDP_REM) + 3:]}"]
            local_name = r[f"{LLDP_LOC_PORT}.3.{local_port}"]
            seen_pairs[frozenset((dev, peer))] = seen_pairs.get(frozenset((dev, peer)), 0) + 1
            if peer in recs:  # both ends exported: the peer sees us on that port
                assert peer_port in if_names[peer].values()
                back = [v for o, v in recs[peer].items() if o.startswith(LLDP_REM + ".7.")
                        and recs[peer][LLDP_REM + ".9." + o[len(LLDP_REM) + 3:]] == dev]
                assert local_name in back
    # Every link with an exported end is seen over LLDP (LAG: once per member).
    for lk in d.links:
        if lk.a in infra or lk.b in infra:
            assert seen_pairs.get(frozenset((lk.a, lk.b)), 0) >= (lk.lag_members or 1)
    # Circuits: marker alias and speed on the attach node.
    for c in d.circuits:
        r = recs[twin_community(c.attach)]
        aliases = {oid.rsplit(".", 1)[1]: v for oid, v in r.items() if oid.startswith(IFX + ".18.")}
        idx = [i for i, a in aliases.items() if (m := CIRCUIT_ALIAS_RE.match(a))
               and m.group("id") == c.id]
        assert len(idx) == 1
        assert float(r[f"{IFX}.15.{idx[0]}"]) == round(c.capacity_mbps)


def _snmpget(port: int, community: str, *oids: str) -> list[str]:
    out = subprocess.run(["snmpget", "-v2c", "-c", community, "-On", "-Oqv", "-t", "2",
                          f"127.0.0.1:{port}", *oids],
                         capture_output=True, text=True, timeout=30, check=True)
    return out.stdout.split("\n")[: len(oids)]


def test_served_twin_answers_per_community_with_live_counters(tmp_path: Path) -> None:
    d = load_district(TOPOLOGIES / "stage1-lab-era.yaml")
    d.links[0].background_mbps = 40.0  # core -- rtr, port1 on core
    export_twin(d, tmp_path, counters="live")
    with serve_recordings(tmp_path) as (host, port):
        assert host == "127.0.0.1"
        for dev in ("core", "rtr", "es-sw"):
            assert _snmpget(port, dev, "1.3.6.1.2.1.1.5.0")[0].strip('"') == dev
        t0 = time.monotonic()
        first = int(_snmpget(port, "core", f"{IFX}.6.1001")[0])
        time.sleep(1.5)
        second = int(_snmpget(port, "core", f"{IFX}.6.1001")[0])
        elapsed = time.monotonic() - t0
    mbps = (second - first) * 8 / 1e6 / elapsed
    assert 25 < mbps < 45  # 40 Mbps, minus the time the snmpget calls take


def test_serve_reports_missing_recordings_and_snmpsim_failure(tmp_path: Path) -> None:
    with pytest.raises(CollectorError, match=r"no \.snmprec"), serve_recordings(tmp_path):
        pass
    export_twin(load_district(TOPOLOGIES / "stage1-lab-era.yaml"), tmp_path)
    with pytest.raises(CollectorError, match="exited with code"), \
            serve_recordings(tmp_path, extra_args=["--v3-auth-proto=NOPE"]):
        pass


def test_cli_twin_exports(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "twin"
    r = run_cli("twin", str(TOPOLOGIES / "stage2-organic.yaml"), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert sorted(p.stem for p in out.glob("*.snmprec")) == sorted(
        ["edge", "fw", "core", "es1-sw", "es2-sw", "ms-sw", "hs-dist", "hs-sw1", "hs-sw2"])
    r = run_cli("twin", str(TOPOLOGIES / "stage2-organic.yaml"))
    assert r.returncode == 2
