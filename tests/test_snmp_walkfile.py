"""Replay from net-snmp ``snmpwalk -On`` output files (what a user records from a switch).

The walk files are made by Debian's own ``snmpbulkwalk`` against snmpsim serving real
recordings; replaying them must give exactly the facts of replaying the recordings.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest

from netstage.auditor.snmp.collector import CollectTarget, ReplayCollector
from netstage.auditor.snmp.credentials import Secret, SnmpCredential
from netstage.auditor.snmp.values import parse_walk
from netstage.simulator.errors import CollectorError

from .snmp_fixtures import snmpsim_agent
from .support import IN_CI, shared_path

_NAMES = ["dell-os10", "routeros", "ios_c3560", "panos_vsys"]


def _target(name: str) -> CollectTarget:
    return CollectTarget(address="127.0.0.1", credential=SnmpCredential(
        profile="w", version="v2c", community=Secret(name)))


@pytest.mark.shared
def test_walk_files_from_net_snmp_replay_like_the_recordings(tmp_path: Path) -> None:
    exe = shutil.which("snmpbulkwalk")
    if exe is None:
        if IN_CI:
            pytest.fail("snmpbulkwalk missing: CI installs the Debian snmp package")
        pytest.skip("Debian snmp tools not installed")
    rec = shared_path("snmprec")
    walks = tmp_path / "walks"
    walks.mkdir()
    with snmpsim_agent([rec / f"{n}.snmprec" for n in _NAMES]) as agent:
        for name in _NAMES:
            out = subprocess.run([exe, "-v2c", "-c", name, "-On", "-Cr50", "-t", "5",
                                  f"{agent.host}:{agent.port}", ".1"],
                                 capture_output=True, check=True, timeout=120)
            (walks / f"{name}.walk").write_bytes(out.stdout)  # bytes: keep any "\r"
    from_walk, from_rec = ReplayCollector(walks), ReplayCollector(rec)
    for name in _NAMES:
        a = asyncio.run(from_walk.collect(_target(name)))
        b = asyncio.run(from_rec.collect(_target(name)))
        assert a.ok and b.ok
        assert a.model_dump(exclude={"timings"}) == b.model_dump(exclude={"timings"}), name
        assert a.timings.n_values == b.timings.n_values


def test_walk_syntax_variants() -> None:
    text = """\
.1.3.6.1.2.1.1.1.0 = STRING: "Cisco IOS Software, C2960X
Technical Support: http://www.cisco.com/techsupport
Compiled \\"today\\""
.1.3.6.1.2.1.1.2.0 = OID: .1.3.6.1.4.1.9.1.1208
.1.3.6.1.2.1.1.3.0 = Timeticks: (65814) 0:10:58.14
.1.3.6.1.2.1.1.4.0 = ""
.1.3.6.1.2.1.1.5.0 = STRING: sw1
.1.3.6.1.2.1.2.2.1.6.1 = Hex-STRING: 00 1B 21 3C
4D 5E
.1.3.6.1.2.1.2.2.1.7.1 = INTEGER: up(1)
.1.3.6.1.2.1.2.2.1.8.1 = INTEGER: -3
.1.3.6.1.2.1.31.1.1.1.6.1 = Counter64: 18446744073709551615
.1.3.6.1.2.1.31.1.1.1.15.1 = Gauge32: 1000
.1.3.6.1.2.1.4.20.1.1.10.0.0.1 = IpAddress: 10.0.0.1
.1.3.6.1.2.1.99.1 = No Such Object available on this agent at this OID
"""
    got = dict(parse_walk(text.splitlines(keepends=True)))
    assert got[(1, 3, 6, 1, 2, 1, 1, 1, 0)] == (
        b'Cisco IOS Software, C2960X\nTechnical Support: http://www.cisco.com/techsupport\n'
        b'Compiled "today"')
    assert got[(1, 3, 6, 1, 2, 1, 1, 2, 0)] == "1.3.6.1.4.1.9.1.1208"
    assert got[(1, 3, 6, 1, 2, 1, 1, 3, 0)] == 65814
    assert got[(1, 3, 6, 1, 2, 1, 1, 4, 0)] == b""
    assert got[(1, 3, 6, 1, 2, 1, 1, 5, 0)] == b"sw1"
    assert got[(1, 3, 6, 1, 2, 1, 2, 2, 1, 6, 1)] == bytes.fromhex("001b213c4d5e")
    assert got[(1, 3, 6, 1, 2, 1, 2, 2, 1, 7, 1)] == 1
    assert got[(1, 3, 6, 1, 2, 1, 2, 2, 1, 8, 1)] == -3
    assert got[(1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 1)] == 2**64 - 1
    assert got[(1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 15, 1)] == 1000
    assert got[(1, 3, 6, 1, 2, 1, 4, 20, 1, 1, 10, 0, 0, 1)] == "10.0.0.1"
    assert (1, 3, 6, 1, 2, 1, 99, 1) not in got


def test_walk_errors_are_located() -> None:
    with pytest.raises(CollectorError, match=r"sw\.walk:1: expected 'OID = TYPE: value'"):
        list(parse_walk(["garbage\n"], "sw.walk"))
    with pytest.raises(CollectorError, match=r"sw\.walk:2: INTEGER expected a number"):
        list(parse_walk([".1.3.6.1.2.1.1.5.0 = STRING: x\n",
                         ".1.3.6.1.2.1.2.2.1.8.1 = INTEGER: up\n"], "sw.walk"))
