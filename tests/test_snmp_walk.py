"""Walk robustness against misbehaving agents, and the collector's limits.

The misbehaving agents are real UDP SNMPv2c responders on 127.0.0.1 (a few lines of
pysnmp's protocol API in a thread), because snmpsim always answers correctly:
* one whose walk of ifDescr jumps back to an earlier OID (a naive walker loops forever),
* one that repeats the same OID,
* one that answers GET but never GETBULK (timeout in the middle of a device),
* one that answers every request slowly (the whole-device limit must stop it).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyasn1.codec.ber import decoder, encoder  # type: ignore[import-untyped]
from pysnmp.proto import rfc1905
from pysnmp.proto.api import v2c

from netstage.auditor.facts import FailureKind
from netstage.auditor.snmp import oids
from netstage.auditor.snmp.collector import CollectTarget
from netstage.auditor.snmp.credentials import Secret, SnmpCredential
from netstage.auditor.snmp.live import SnmpCollector

from .snmp_fixtures import Agent, snmpsim_agent

Oid = tuple[int, ...]
IF_DESCR = (1, 3, 6, 1, 2, 1, 2, 2, 1, 2)


def _mib(n_if: int = 3) -> dict[Oid, Any]:
    mib: dict[Oid, Any] = {
        (1, 3, 6, 1, 2, 1, 1, 1, 0): v2c.OctetString("crafted agent"),
        (1, 3, 6, 1, 2, 1, 1, 2, 0): v2c.ObjectIdentifier("1.3.6.1.4.1.99999.1"),
        (1, 3, 6, 1, 2, 1, 1, 3, 0): v2c.TimeTicks(4242),
        (1, 3, 6, 1, 2, 1, 1, 5, 0): v2c.OctetString("crafted"),
    }
    for i in range(1, n_if + 1):
        mib[(*IF_DESCR, i)] = v2c.OctetString(f"port{i}")
        mib[(1, 3, 6, 1, 2, 1, 2, 2, 1, 8, i)] = v2c.Integer(1)
        mib[(1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1, i)] = v2c.OctetString(f"p{i}")
    return mib


class CraftedAgent:
    """A loopback SNMPv2c agent with optional misbehaviour (see the module docstring)."""

    def __init__(self, mib: dict[Oid, Any], *, back_after: Oid | None = None,
                 back_to: Oid | None = None, answer_bulk: bool = True,
                 delay_s: float = 0.0, max_varbinds: int | None = None) -> None:
        self.keys = sorted(mib)
        self.mib = mib
        self.back_after, self.back_to = back_after, back_to
        self.answer_bulk = answer_bulk
        self.delay_s = delay_s
        self.max_varbinds = max_varbinds
        self.too_big = 0
        self.requests = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _next(self, oid: Oid) -> tuple[Oid, Any]:
        if self.back_after is not None and oid == self.back_after and self.back_to:
            return self.back_to, self.mib[self.back_to]
        for k in self.keys:
            if k > oid:
                return k, self.mib[k]
        return oid, rfc1905.endOfMibView

    def _answer(self, data: bytes) -> bytes | None:
        msg, _ = decoder.decode(data, asn1Spec=v2c.Message())
        req = v2c.apiMessage.get_pdu(msg)
        rsp_msg = v2c.apiMessage.get_response(msg)
        rsp = v2c.apiMessage.get_pdu(rsp_msg)
        asked = [tuple(o) for o, _ in v2c.apiPDU.get_varbinds(req)]
        out: list[tuple[Oid, Any]] = []
        if req.isSameTypeWith(v2c.GetRequestPDU()):
            out = [(o, self.mib.get(o, rfc1905.noSuchObject)) for o in asked]
        elif req.isSameTypeWith(v2c.GetNextRequestPDU()):
            out = [self._next(o) for o in asked]
        elif req.isSameTypeWith(v2c.GetBulkRequestPDU()):
            if not self.answer_bulk:
                return None
            reps = int(v2c.apiBulkPDU.get_max_repetitions(req))
            cur = list(asked)
            for _ in range(max(1, reps)):
                for i, o in enumerate(cur):
                    k, v = self._next(o)
                    out.append((k, v))
                    cur[i] = k
        if self.max_varbinds is not None and len(out) > self.max_varbinds:
            self.too_big += 1  # like an agent whose response would exceed its max size
            out = [(o, v2c.Null("")) for o in asked]
            v2c.apiPDU.set_error_status(rsp, 1)
        v2c.apiPDU.set_varbinds(rsp, out)
        return bytes(encoder.encode(rsp_msg))

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            self.requests += 1
            if self.delay_s:
                time.sleep(self.delay_s)
            answer = self._answer(data)
            if answer is not None:
                self.sock.sendto(answer, peer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def crafted() -> Iterator[Any]:
    agents: list[CraftedAgent] = []

    def start(**kw: Any) -> CraftedAgent:
        a = CraftedAgent(_mib(kw.pop("n_if", 3)), **kw)
        agents.append(a)
        return a

    yield start
    for a in agents:
        a.close()


def _target(port: int, **kw: Any) -> CollectTarget:
    cred = SnmpCredential(profile="t", version=kw.pop("version", "v2c"),
                          community=Secret(kw.pop("community", "public")))
    return CollectTarget(address="127.0.0.1", port=port, credential=cred,
                         **{"timeout_s": 1.0, "retries": 0, **kw})


def _collect(target: CollectTarget, **kw: Any) -> Any:
    async def run() -> Any:
        c = SnmpCollector(**kw)
        try:
            return await c.collect(target)
        finally:
            c.close()

    return asyncio.run(run())


def test_crafted_agent_walks_normally(crafted: Any) -> None:
    agent = crafted()
    facts = _collect(_target(agent.port))
    assert facts.ok and not facts.warnings
    assert [(i.if_index, i.descr, i.name) for i in facts.interfaces] == \
        [(1, "port1", "p1"), (2, "port2", "p2"), (3, "port3", "p3")]


@pytest.mark.parametrize("back_to", [(*IF_DESCR, 1), (*IF_DESCR, 2)],
                         ids=["jumps-back", "repeats"])
def test_non_increasing_oid_stops_the_walk_with_a_warning(crafted: Any, back_to: Oid) -> None:
    agent = crafted(back_after=(*IF_DESCR, 2), back_to=back_to)
    started = time.perf_counter()
    facts = _collect(_target(agent.port, device_timeout_s=20, max_repetitions=1))
    assert time.perf_counter() - started < 10
    assert facts.ok
    assert any("non-increasing OID" in w for w in facts.warnings), facts.warnings
    descrs = {i.if_index: i.descr for i in facts.interfaces}
    assert descrs[1] == "port1" and descrs[2] == "port2"  # what came before the loop
    assert agent.requests < 50  # it stopped instead of looping


def test_too_big_splits_requests(crafted: Any) -> None:
    """An agent that refuses responses over 8 varbinds still gets fully walked with the
    ~50-column audit plan (repetitions halve, then the columns are batched)."""
    agent = crafted(n_if=5, max_varbinds=8)
    facts = _collect(_target(agent.port, plan=oids.FULL_PLAN))
    assert facts.ok and not facts.warnings, facts.warnings
    assert agent.too_big > 0
    assert [(i.descr, i.name, i.oper_status) for i in facts.interfaces] == \
        [(f"port{i}", f"p{i}", 1) for i in range(1, 6)]
    assert facts.sys_name == "crafted"


def test_agent_silent_after_get_is_a_timeout(crafted: Any) -> None:
    agent = crafted(answer_bulk=False)
    facts = _collect(_target(agent.port))
    assert not facts.ok and facts.failure.kind == FailureKind.timeout


def test_whole_device_limit(crafted: Any) -> None:
    agent = crafted(n_if=200, delay_s=0.05)
    started = time.perf_counter()
    facts = _collect(_target(agent.port, device_timeout_s=1.0, max_repetitions=1))
    assert time.perf_counter() - started < 5
    assert not facts.ok and facts.failure.kind == FailureKind.timeout
    assert "device_timeout_s" in facts.failure.reason


def test_bounded_concurrency(crafted: Any) -> None:
    """With concurrency 2, never more than 2 devices in flight (agents slow to answer)."""
    agents = [crafted(delay_s=0.05) for _ in range(6)]
    in_flight = 0
    peak = 0

    async def run() -> list[Any]:
        nonlocal in_flight, peak
        c = SnmpCollector(concurrency=2)
        orig = c._client

        async def client(address: str) -> Any:  # called once a device holds a slot
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            return await orig(address)

        c._client = client  # type: ignore[method-assign]

        async def one(t: CollectTarget) -> Any:
            nonlocal in_flight
            try:
                return await c.collect(t)
            finally:
                in_flight -= 1

        try:
            return await asyncio.gather(*(one(_target(a.port, plan=oids.INTERFACE_PLAN))
                                          for a in agents))
        finally:
            c.close()

    results = asyncio.run(run())
    assert all(r.ok for r in results)
    assert peak == 2


def test_snmpv1_walk_with_getnext(tmp_path: Path) -> None:
    (tmp_path / "v1dev.snmprec").write_text(
        "1.3.6.1.2.1.1.1.0|4|v1 device\n1.3.6.1.2.1.1.5.0|4|old-sw\n"
        "1.3.6.1.2.1.2.2.1.2.1|4|eth0\n1.3.6.1.2.1.2.2.1.2.2|4|eth1\n"
        "1.3.6.1.2.1.2.2.1.5.1|66|100000000\n1.3.6.1.2.1.2.2.1.5.2|66|10000000\n",
        encoding="utf-8")
    agent: Agent
    with snmpsim_agent(tmp_path) as agent:
        facts = _collect(_target(agent.port, version="v1", community="v1dev", timeout_s=3,
                                 retries=1))
    assert facts.ok, facts.failure
    assert facts.snmp_version == "v1" and facts.sys_name == "old-sw"
    assert [(i.descr, i.speed_mbps) for i in facts.interfaces] == [("eth0", 100.0),
                                                                   ("eth1", 10.0)]
    assert facts.timings.n_requests >= 4  # one GETNEXT per row: no GETBULK in v1


def test_answer_and_device_limit_in_the_same_loop_step_still_cancel() -> None:
    """Regression: on Python 3.11 ``asyncio.wait_for`` returns the answer and drops the
    cancellation when both arrive in the same event-loop step; the device limit was then
    lost and the walk ran on (seen in CI as a 12 s audit under a 1 s limit). Deterministic:
    the answer is delivered and the task cancelled in one synchronous block."""
    from netstage.auditor.snmp import ber
    from netstage.auditor.snmp.live import _CommunityClient

    class Transport:
        def sendto(self, data: bytes, addr: Any) -> None:
            pass

    async def run() -> None:
        client = _CommunityClient()
        client.transport = Transport()  # type: ignore[assignment]
        target = _target(16100, timeout_s=5.0)
        task = asyncio.ensure_future(client.request(target, 1, b"public", ber.GET,
                                                    [(1, 3, 6, 1, 2, 1, 1, 5, 0)]))
        await asyncio.sleep(0)  # the request is sent and waits for its answer
        (rid,) = client.pending
        msg = v2c.Message()
        v2c.apiMessage.set_defaults(msg)
        pdu = v2c.ResponsePDU()
        v2c.apiPDU.set_defaults(pdu)
        v2c.apiPDU.set_request_id(pdu, rid)
        v2c.apiPDU.set_varbinds(pdu, [(v2c.ObjectIdentifier("1.3.6.1.2.1.1.5.0"),
                                       v2c.OctetString("x"))])
        v2c.apiMessage.set_pdu(msg, pdu)
        client.datagram_received(bytes(encoder.encode(msg)), ("127.0.0.1", 16100))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
