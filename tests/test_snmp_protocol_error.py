"""An agent that answers with something that is not a readable SNMP response is a
``protocol_error`` with the first bad packet's summary; silence stays ``timeout``."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from netstage.auditor.facts import FailureKind
from netstage.auditor.snmp import ber
from netstage.auditor.snmp.collector import CollectTarget
from netstage.auditor.snmp.credentials import Secret, SnmpCredential
from netstage.auditor.snmp.live import SnmpCollector

SYS = (1, 3, 6, 1, 2, 1, 1, 1, 0)
COMMUNITY = "s3cret-community"


class GarbageAgent:
    """Answers every datagram on 127.0.0.1 with ``reply(request)`` (None: stays silent)."""

    def __init__(self, reply: Callable[[bytes], bytes | None]) -> None:
        self.reply = reply
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = int(self.sock.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            out = self.reply(data)
            if out is not None:
                self.sock.sendto(out, peer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def agent() -> Iterator[Callable[[Callable[[bytes], bytes | None]], GarbageAgent]]:
    made: list[GarbageAgent] = []

    def start(reply: Callable[[bytes], bytes | None]) -> GarbageAgent:
        a = GarbageAgent(reply)
        made.append(a)
        return a

    yield start
    for a in made:
        a.close()


def _collect(port: int) -> Any:
    cred = SnmpCredential(profile="t", version="v2c", community=Secret(COMMUNITY))
    target = CollectTarget(address="127.0.0.1", port=port, credential=cred, timeout_s=0.4,
                           retries=1)

    async def run() -> Any:
        c = SnmpCollector()
        try:
            return await c.collect(target)
        finally:
            c.close()

    return asyncio.run(run())


def _response(oid: tuple[int, ...] = SYS) -> bytes:
    return ber.encode_request(1, COMMUNITY.encode(), ber.RESPONSE, 1, [oid])


LONG_OID = (1, 3, 6, 1, *([1] * 200))
CASES = {
    "garbage": (lambda req: b"HTTP/1.1 400 Bad Request\r\n\r\n", "not an SNMP message"),
    "truncated": (lambda req: _response()[:-5], "runs past the end"),
    "absurd-length": (lambda req: b"\x30\x84\x7f\xff\xff\xff\x02\x01\x01",
                      "BER length 2147483647"),
    "long-length-form": (lambda req: b"\x30\x89" + b"\xff" * 9, "length form"),
    "long-oid": (lambda req: _response(LONG_OID), "longer than 128 sub-identifiers"),
    "echo": (lambda req: req, "not a response PDU"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_an_agent_answering_garbage_is_a_protocol_error(agent: Any, case: str) -> None:
    reply, needle = CASES[case]
    a = agent(reply)
    facts = _collect(a.port)
    assert not facts.ok
    assert facts.failure.kind == FailureKind.protocol_error, facts.failure
    reason = facts.failure.reason
    assert "answered" in reason and needle in reason and "127.0.0.1:" in reason
    assert "no answer" not in reason
    dumped = facts.model_dump_json()
    assert COMMUNITY not in dumped and COMMUNITY.encode().hex() not in dumped.replace(" ", "")


def test_silence_is_still_no_answer(agent: Any) -> None:
    a = agent(lambda req: None)
    facts = _collect(a.port)
    assert facts.failure.kind == FailureKind.timeout
    assert "no answer" in facts.failure.reason


def test_ber_limits_on_oids() -> None:
    with pytest.raises(ber.BerError, match="longer than 128"):
        ber.decode_response(_response(LONG_OID))
    ok = ber.decode_response(_response((1, 3, 6, 1, *([7] * 120))))
    assert len(ok.varbinds[0][0]) == 124
    with pytest.raises(ber.BerError, match="over 2\\^32-1"):
        ber.decode_response(_response((1, 3, 6, 1, 2**40)))


def test_errors_doc_lists_every_failure_kind_with_an_example() -> None:
    from .support import ROOT

    doc = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    for kind in FailureKind:
        row = next((line for line in doc.splitlines()
                    if line.startswith(f"| `{kind.value}` |")), None)
        assert row is not None, f"docs/errors.md lacks failure kind {kind.value}"
        assert row.count("|") >= 4 and len(row) > 40, row
