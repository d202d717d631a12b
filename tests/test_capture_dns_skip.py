"""parse_dns_answers skips answer owner names that point at the question without
decoding them; on any input it must return what a full decode of every name returns."""

from __future__ import annotations

import random
import struct

from netstage.auditor.capture import apps
from netstage.auditor.capture.apps import _dns_name, parse_dns_answers


def _reference(msg: bytes) -> tuple[str | None, list[tuple[int, bytes]]]:
    """The parser before the skip: every answer name decoded with _dns_name."""
    try:
        if len(msg) < 12 or not msg[2] & 0x80:
            return None, []
        qd, an = struct.unpack_from(">HH", msg, 4)
        p = 12
        qname = None
        for _ in range(qd):
            name, p = _dns_name(msg, p)
            qname = qname or name
            p += 4
        out: list[tuple[int, bytes]] = []
        for _ in range(min(an, 64)):
            _n, p = _dns_name(msg, p)
            rtype, _cls, _ttl, rdlen = struct.unpack_from(">HHIH", msg, p)
            p += 10
            rdata = msg[p:p + rdlen]
            if len(rdata) < rdlen:
                break
            if (rtype == 1 and rdlen == 4) or (rtype == 28 and rdlen == 16):
                out.append((rtype, rdata))
            p += rdlen
        return qname, out
    except (IndexError, struct.error):
        return None, []


def _response(rnd: random.Random) -> bytes:
    name = b"".join(bytes([n]) + b"a" * n for n in (3, 7, 2)) + b"\0"
    answers = b""
    for _ in range(rnd.randint(0, 4)):
        owner = rnd.choice([b"\xc0\x0c", b"\xc0\x0e", name, b"\xc0\xff", b"\xc0"])
        rtype, rd = rnd.choice([(1, bytes(4)), (28, bytes(16)), (5, b"\xc0\x0c")])
        answers += owner + struct.pack(">HHIH", rtype, 1, 60, len(rd)) + rd
    return (struct.pack(">HHHHHH", rnd.randrange(65536), 0x8180, 1, 4, 0, 0) + name
            + b"\0\x01\0\x01" + answers)


def test_skip_matches_full_decode_on_mutated_responses() -> None:
    rnd = random.Random(15)
    for _ in range(3000):
        msg = bytearray(_response(rnd))
        for _ in range(rnd.randint(0, 3)):  # corrupt, cut or extend
            op = rnd.random()
            if op < 0.5 and msg:
                msg[rnd.randrange(len(msg))] = rnd.randrange(256)
            elif op < 0.8:
                del msg[rnd.randrange(len(msg) + 1):]
            else:
                msg += bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 8)))
        assert parse_dns_answers(bytes(msg)) == _reference(bytes(msg)), bytes(msg).hex()


def test_a_record_behind_the_usual_pointer_is_found() -> None:
    name = b"\x05teams\x09microsoft\x03com\0"
    msg = (struct.pack(">HHHHHH", 1, 0x8180, 1, 1, 0, 0) + name + b"\0\x01\0\x01"
           + b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 7]))
    assert parse_dns_answers(msg) == ("teams.microsoft.com", [(1, bytes([192, 0, 2, 7]))])
    assert apps.parse_dns_answers(msg[:-1]) == _reference(msg[:-1])
