"""The opt-in write-community test against real agents (Debian snmpd on 127.0.0.1).

One agent has ``rwcommunity private``: the no-op SET of sysLocation.0 is accepted. One
has ``rocommunity public`` only: both communities are refused. One has ``rwcommunity
private`` but a configured (hence read-only) sysLocation: inconclusive, never
"refused". sysLocation is the same afterwards on every agent. The CLI flag works as a
subprocess and its audit feeds measured.snmp.default_write_community_accepted. A
recording client proves that nothing but GET/SET of sysLocation.0 with the very value
read is ever sent, one attempt each.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pyasn1.codec.ber import decoder  # type: ignore[import-untyped]
from pysnmp.proto import api

from netstage.auditor.audit import audit_inventory
from netstage.auditor.facts import AuditResult, DeviceFacts, SnmpTarget, load_audit, summarise
from netstage.auditor.inventory import load_inventory
from netstage.auditor.normalise import _write_accepted, facts_to_district
from netstage.auditor.snmp import ber, oids
from netstage.auditor.snmp.collector import CollectTarget
from netstage.auditor.snmp.credentials import SnmpCredential
from netstage.auditor.snmp.live import SnmpCollector
from netstage.auditor.snmp.write_check import (
    WRITE_COMMUNITIES,
    device_write_result,
    noop_set_syslocation,
)

from .snmp_fixtures import Agent, snmpd_agent
from .support import ROOT

PROBE = "netstage-probe"  # the fixture's read-only community, used to look, never to write


@pytest.fixture(scope="module")
def rw_agent() -> Iterator[Agent]:
    with snmpd_agent((), sys_location=None,
                     extra_lines=["rwcommunity private 127.0.0.1"]) as agent:
        yield agent


@pytest.fixture(scope="module")
def ro_agent() -> Iterator[Agent]:
    with snmpd_agent((), sys_location=None,
                     extra_lines=["rocommunity public 127.0.0.1"]) as agent:
        yield agent


def _get_location(agent: Agent, community: str = PROBE) -> bytes | None:
    """sysLocation.0 read over a plain UDP socket (None: no answer)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2.0)
        s.sendto(ber.encode_request(1, community.encode(), ber.GET, 4242, (oids.SYS_LOCATION,)),
                 (agent.host, agent.port))
        try:
            data, _ = s.recvfrom(65535)
        except TimeoutError:
            return None
    value = ber.decode_response(data).varbinds[0][1]
    assert isinstance(value, bytes)
    return value


def _target(agent: Agent) -> CollectTarget:
    return CollectTarget(address=agent.host, port=agent.port,
                         credential=SnmpCredential(profile="t", version="v2c"),
                         timeout_s=1.0, retries=3, plan=())


def _check(agent: Agent) -> dict[str, str]:
    async def run() -> dict[str, str]:
        c = SnmpCollector()
        try:
            return {comm: await c.check_write_community(_target(agent), comm)
                    for comm in WRITE_COMMUNITIES}
        finally:
            c.close()

    return asyncio.run(run())


def test_rw_community_write_accepted_and_value_unchanged(rw_agent: Agent) -> None:
    before = _get_location(rw_agent)
    assert before
    got = _check(rw_agent)
    assert got["private"] == "accepted"
    assert got["public"].startswith("refused: timeout")  # not configured at all
    assert device_write_result(got) == "accepted"
    assert _get_location(rw_agent) == before
    # the inference "no default read community => no default write one" rests on a
    # read-write community also reading: true on this implementation
    assert _get_location(rw_agent, "private") == before


def test_ro_community_write_refused(ro_agent: Agent) -> None:
    before = _get_location(ro_agent)
    got = _check(ro_agent)
    assert got["public"] == "refused: noAccess"
    assert got["private"].startswith("refused: timeout")
    assert device_write_result(got) == "refused"
    assert _get_location(ro_agent) == before


def test_configured_syslocation_is_inconclusive_not_refused() -> None:
    # net-snmp makes a configured sysLocation read-only: notWritable comes after the
    # access check (RFC 3416 4.2.5), so the community may still write elsewhere
    with snmpd_agent((), sys_location="room 101",
                     extra_lines=["rwcommunity private 127.0.0.1"]) as agent:
        got = _check(agent)
        assert got["private"] == "inconclusive: notWritable"
        assert device_write_result(got) == "inconclusive"
        assert _get_location(agent) == b"room 101"


class _Recorder:
    """A fake client: answers GET with a value and SET with ``set_status``; records."""

    def __init__(self, set_status: int = 0, value: bytes = b"Closet \xe9 2") -> None:
        self.sent: list[tuple[CollectTarget, bytes]] = []
        self.set_status = set_status
        self.value = value

    async def exchange(self, target: CollectTarget,
                       encode: Callable[[int], bytes]) -> ber.Response:
        packet = encode(7)
        self.sent.append((target, packet))
        pdu = _decode(packet)[1]
        if pdu == "get":
            return ber.Response(7, 0, 0, [(oids.SYS_LOCATION, self.value)])
        return ber.Response(7, self.set_status, 1 if self.set_status else 0,
                            [(oids.SYS_LOCATION, self.value)])


def _decode(packet: bytes) -> tuple[str, str, list[tuple[str, bytes | None]]]:
    """(community, pdu kind, [(oid, octets)]) decoded by pysnmp/pyasn1, not our codec."""
    msg, rest = decoder.decode(packet, asn1Spec=api.v2c.Message())
    assert not rest
    pdu = api.v2c.apiMessage.get_pdu(msg)
    kind = {api.v2c.GetRequestPDU.tagSet: "get",
            api.v2c.SetRequestPDU.tagSet: "set"}[pdu.tagSet]
    vbs = [(str(o), bytes(v.asOctets()) if kind == "set" else None)
           for o, v in api.v2c.apiPDU.get_varbinds(pdu)]
    return str(api.v2c.apiMessage.get_community(msg)), kind, vbs


@pytest.mark.parametrize(("status", "outcome"), [
    (0, "accepted"), (6, "refused: noAccess"), (16, "refused: authorizationError"),
    (17, "inconclusive: notWritable"), (10, "inconclusive: wrongValue")])
def test_only_a_noop_set_of_syslocation_is_sent(status: int, outcome: str) -> None:
    rec = _Recorder(set_status=status)
    tgt = _target(Agent(host="127.0.0.1", port=1, kind="fake"))
    assert asyncio.run(noop_set_syslocation(rec, tgt, "private")) == outcome
    assert [t.retries for t, _ in rec.sent] == [0, 0]  # one attempt each, never retried
    decoded = [_decode(p) for _, p in rec.sent]
    assert [d[:2] for d in decoded] == [("private", "get"), ("private", "set")]
    for _, _, vbs in decoded:
        assert [o for o, _ in vbs] == ["1.3.6.1.2.1.1.6.0"]
    assert decoded[1][2][0][1] == rec.value  # written back byte for byte


def test_no_set_without_a_value_read_and_only_two_communities() -> None:
    class Empty(_Recorder):
        async def exchange(self, target: CollectTarget,
                           encode: Callable[[int], bytes]) -> ber.Response:
            self.sent.append((target, encode(7)))
            return ber.Response(7, 0, 0, [(oids.SYS_LOCATION, ber.NO_SUCH)])

    rec = Empty()
    tgt = _target(Agent(host="127.0.0.1", port=1, kind="fake"))
    assert asyncio.run(noop_set_syslocation(rec, tgt, "public")).startswith("inconclusive")
    assert len(rec.sent) == 1 and _decode(rec.sent[0][1])[1] == "get"
    with pytest.raises(ValueError):
        asyncio.run(noop_set_syslocation(rec, tgt, "secret"))


def test_cli_flag_as_subprocess_feeds_the_district(rw_agent: Agent, ro_agent: Agent,
                                                   tmp_path: Path) -> None:
    inv = tmp_path / "inventory.yaml"
    inv.write_text(
        "credentials:\n  probe:\n    version: v2c\n    community: env:T_WC_COMMUNITY\n"
        "targets:\n"
        f"  - {{name: rw, address: 127.0.0.1, port: {rw_agent.port}, credentials: probe, "
        "timeout_s: 1, retries: 0}\n"
        f"  - {{name: ro, address: 127.0.0.1, port: {ro_agent.port}, credentials: probe, "
        "timeout_s: 1, retries: 0}\n", encoding="utf-8")
    out = tmp_path / "audit.json"
    before = (_get_location(rw_agent), _get_location(ro_agent))
    env = {**os.environ, "T_WC_COMMUNITY": PROBE, "PYTHONPATH": str(ROOT)}
    help_text = subprocess.run([sys.executable, "-m", "netstage", "audit", "--help"],
                               capture_output=True, text=True, env={**env, "COLUMNS": "200"},
                               check=True).stdout
    assert "--check-write-communities" in help_text and "WRITE" in help_text
    proc = subprocess.run([sys.executable, "-m", "netstage", "audit", str(inv),
                           "--check-write-communities", "--out", str(out)],
                          capture_output=True, text=True, env={**env, "COLUMNS": "200"},
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "1 of 2 devices accept a default write community" in proc.stdout
    data = json.loads(out.read_text())
    by_name = {d["target"]["name"]: d for d in data["devices"]}
    assert by_name["rw"]["write_community_check"]["private"] == "accepted"
    assert set(by_name["ro"]["write_community_check"]) == set(WRITE_COMMUNITIES)
    assert data["summary"]["write_community_accepted"] == 1
    assert (_get_location(rw_agent), _get_location(ro_agent)) == before
    snmp = facts_to_district(load_audit(out)).district.measured
    assert snmp is not None and snmp.snmp is not None
    assert snmp.snmp.default_write_community_accepted == 1


def _device(name: str, check: dict[str, str] | None) -> DeviceFacts:
    return DeviceFacts(target=SnmpTarget(address="127.0.0.1", name=name), ok=True,
                       write_community_check=check)


@pytest.mark.parametrize(("checks", "expected"), [
    ([{"private": "accepted", "public": "refused: noAccess"},
      {"private": "refused: timeout", "public": "refused: timeout"}], 1),
    ([{"private": "refused: noAccess", "public": "refused: timeout"}], 0),
    # nobody accepted but one device could not tell: the fact stays unknown
    ([{"private": "refused: noAccess", "public": "refused: timeout"},
      {"private": "inconclusive: notWritable", "public": "refused: timeout"}], None),
    ([None], None),  # the test did not run
])
def test_audit_to_measured_write_fact(checks: list[dict[str, str] | None],
                                      expected: int | None) -> None:
    devices = [_device(f"d{i}", c) for i, c in enumerate(checks)]
    assert _write_accepted(AuditResult(inventory="t", devices=devices,
                                       summary=summarise(devices))) == expected


def test_replayed_recordings_are_never_written(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    class Fake:
        async def collect(self, target: CollectTarget) -> DeviceFacts:
            return _device(target.name or "", None)

    inv = tmp_path / "inv.yaml"
    inv.write_text("credentials:\n  c:\n    version: v2c\n    community: env:T_WC_X\n"
                   "targets:\n  - {name: a, address: 127.0.0.1, credentials: c}\n"
                   "write_community_check: true\n", encoding="utf-8")
    monkeypatch.setenv("T_WC_X", "x")
    res = audit_inventory(load_inventory(inv), Fake())  # type: ignore[arg-type]
    d = res.devices[0]
    assert d.write_community_check is None
    assert any("write-community test skipped" in w for w in d.warnings)
