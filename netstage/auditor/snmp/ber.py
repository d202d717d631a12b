"""Minimal BER for SNMPv1/v2c GET, GETNEXT, GETBULK (and one SET) messages (RFC 1157/3416).

The live collector's community path encodes its requests and decodes the responses
here instead of through pyasn1, which costs ~100 us per value in pure Python; this
costs a few. SET exists only for the opt-in write-community test
(:mod:`.write_check`), which writes one OCTET STRING back unchanged.
Only what a command generator needs: request encoding, response decoding
into the neutral values of :mod:`.values` (``int``, ``bytes``, dotted ``str`` for OIDs
and IpAddress, ``None`` for NULL) plus the two exception markers. SNMPv3 keeps pysnmp
(USM, crypto). A malformed packet raises :class:`BerError`.
"""

from __future__ import annotations

from netstage.auditor.snmp.values import Oid

__all__ = [
    "END_OF_MIB",
    "GET",
    "GETBULK",
    "GETNEXT",
    "NO_SUCH",
    "SET",
    "BerError",
    "Response",
    "VarBindException",
    "decode_response",
    "encode_request",
    "encode_set_octets",
    "summary",
]

GET, GETNEXT, RESPONSE, SET, GETBULK = 0xA0, 0xA1, 0xA2, 0xA3, 0xA5
MAX_OID_ARCS = 128  # RFC 2578 section 3.5: at most 128 sub-identifiers
MAX_ARC = 2**32 - 1  # each sub-identifier is an unsigned 32-bit number
_UNSIGNED = {0x41, 0x42, 0x43, 0x46, 0x47}  # Counter32 Gauge32 TimeTicks Counter64 UInteger32


class BerError(ValueError):
    """A packet that is not a well-formed SNMP response."""


class VarBindException:
    """An SNMPv2 varbind exception (noSuchObject/noSuchInstance, endOfMibView)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


NO_SUCH = VarBindException("noSuch")
END_OF_MIB = VarBindException("endOfMibView")


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(raw),)) + raw


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes((tag,)) + _length(len(body)) + body


def _int(value: int) -> bytes:
    return _tlv(0x02, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True))


def _oid(oid: Oid) -> bytes:
    if len(oid) < 2:
        raise ValueError(f"OID {oid} needs at least two arcs")
    out = bytearray()
    for arc in (oid[0] * 40 + oid[1], *oid[2:]):
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return _tlv(0x06, bytes(out))


def encode_request(version: int, community: bytes, pdu: int, request_id: int,
                   oids: list[Oid] | tuple[Oid, ...], non_repeaters: int = 0,
                   max_repetitions: int = 0) -> bytes:
    """A v1 (``version`` 0) or v2c (1) request; GETBULK uses the last two arguments."""
    varbinds = b"".join(_tlv(0x30, _oid(o) + b"\x05\x00") for o in oids)
    a, b = (non_repeaters, max_repetitions) if pdu == GETBULK else (0, 0)
    body = _int(request_id) + _int(a) + _int(b) + _tlv(0x30, varbinds)
    return _tlv(0x30, _int(version) + _tlv(0x04, community) + _tlv(pdu, body))


def encode_set_octets(version: int, community: bytes, request_id: int, oid: Oid,
                      value: bytes) -> bytes:
    """A v1/v2c SetRequest of one varbind: ``oid`` = OCTET STRING ``value``."""
    varbind = _tlv(0x30, _oid(oid) + _tlv(0x04, value))
    body = _int(request_id) + _int(0) + _int(0) + _tlv(0x30, varbind)
    return _tlv(0x30, _int(version) + _tlv(0x04, community) + _tlv(SET, body))


def _read(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the TLV at ``pos``."""
    try:
        tag = data[pos]
        n = data[pos + 1]
        pos += 2
        if n & 0x80:
            k = n & 0x7F
            if k == 0 or k > 4:
                raise BerError(f"unsupported BER length form ({k} length octets) at byte "
                               f"{pos + 1}")
            n = int.from_bytes(data[pos:pos + k], "big")
            pos += k
    except IndexError:
        raise BerError(f"truncated BER at byte {pos}") from None
    end = pos + n
    if end > len(data):
        raise BerError(f"BER length {n} at byte {pos} runs past the end of the "
                       f"{len(data)}-byte packet")
    return tag, pos, end


def _decode_oid(raw: bytes) -> Oid:
    arcs: list[int] = []
    value = 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            if value > MAX_ARC and arcs:
                raise BerError(f"OID sub-identifier {value} is over 2^32-1")
            arcs.append(value)
            value = 0
            if len(arcs) > MAX_OID_ARCS - 1:  # the first encodes two sub-identifiers
                raise BerError(f"OID longer than {MAX_OID_ARCS} sub-identifiers")
    if not arcs:
        raise BerError("empty OID")
    first = arcs[0]
    head = (0, first) if first < 40 else (1, first - 40) if first < 80 else (2, first - 80)
    return (*head, *arcs[1:])


def _value(tag: int, raw: bytes) -> int | bytes | str | VarBindException | None:
    if tag == 0x02:
        return int.from_bytes(raw, "big", signed=True)
    if tag in _UNSIGNED:
        return int.from_bytes(raw, "big", signed=False)
    if tag in (0x04, 0x44):  # OCTET STRING, Opaque
        return bytes(raw)
    if tag == 0x06:
        return ".".join(map(str, _decode_oid(raw)))
    if tag == 0x40:
        return ".".join(str(b) for b in raw)
    if tag == 0x05:
        return None
    if tag in (0x80, 0x81):
        return NO_SUCH
    if tag == 0x82:
        return END_OF_MIB
    return bytes(raw)  # an unknown application type: keep its octets


class Response:
    """A decoded GetResponse-PDU."""

    __slots__ = ("error_index", "error_status", "request_id", "varbinds")

    def __init__(self, request_id: int, error_status: int, error_index: int,
                 varbinds: list[tuple[Oid, int | bytes | str | VarBindException | None]]) -> None:
        self.request_id = request_id
        self.error_status = error_status
        self.error_index = error_index
        self.varbinds = varbinds


def summary(data: bytes, error: BerError, peer: tuple[str, int] | None = None) -> str:
    """One line about an undecodable packet: size, sender, the problem, first bytes.

    Only the first 6 bytes are shown: an SNMP message's community starts after byte 6,
    so a packet that echoes a request cannot put the community into a report.
    """
    head = data[:6].hex(" ") + (" ..." if len(data) > 6 else "")
    who = f" from {peer[0]}:{peer[1]}" if peer else ""
    return f"{len(data)} bytes{who}: {error} (starts {head or 'empty'})"


def decode_response(data: bytes) -> Response:
    """Decode an SNMPv1/v2c message carrying a GetResponse-PDU."""
    if not data or data[0] != 0x30:
        raise BerError(f"not an SNMP message (first byte {data[:1].hex() or 'missing'}, "
                       "expected 30)")
    tag, pos, _end = _read(data, 0)
    if tag != 0x30:
        raise BerError("not an SNMP message")
    tag, s, e = _read(data, pos)  # version
    if tag != 0x02:
        raise BerError("no version")
    tag, s, e = _read(data, e)  # community
    if tag != 0x04:
        raise BerError("no community")
    tag, pdu_start, _pdu_end = _read(data, e)
    if tag != RESPONSE:
        raise BerError(f"not a response PDU (tag {tag:#x})")
    fields = []
    pos = pdu_start
    for _ in range(3):
        tag, s, e = _read(data, pos)
        if tag != 0x02:
            raise BerError("bad PDU header")
        fields.append(int.from_bytes(data[s:e], "big", signed=True))
        pos = e
    tag, pos, list_end = _read(data, pos)
    if tag != 0x30:
        raise BerError("no varbind list")
    varbinds = []
    while pos < list_end:
        tag, vs, ve = _read(data, pos)
        if tag != 0x30:
            raise BerError("bad varbind")
        tag, os_, oe = _read(data, vs)
        if tag != 0x06:
            raise BerError("varbind without OID")
        vtag, v0, v1 = _read(data, oe)
        varbinds.append((_decode_oid(data[os_:oe]), _value(vtag, data[v0:v1])))
        pos = ve
    return Response(fields[0], fields[1], fields[2], varbinds)
