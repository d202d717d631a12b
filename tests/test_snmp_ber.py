"""Our minimal BER against pysnmp/pyasn1, an independent implementation of the same
standard: requests we encode decode there, responses it encodes decode here."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder, encoder  # type: ignore[import-untyped]
from pysnmp.proto import rfc1905
from pysnmp.proto.api import v2c

from netstage.auditor.snmp import ber

oids = st.tuples(st.integers(0, 2), st.integers(0, 39)).flatmap(
    lambda head: st.lists(st.integers(0, 2**32 - 1), min_size=0, max_size=12).map(
        lambda tail: (*head, *tail)))


@settings(max_examples=60, deadline=None)
@given(st.lists(oids, min_size=1, max_size=70), st.integers(1, 2**31 - 1),
       st.integers(0, 200), st.text(min_size=0, max_size=40))
def test_bulk_request_decodes_in_pyasn1(keys: list[tuple[int, ...]], rid: int, reps: int,
                                        community: str) -> None:
    packet = ber.encode_request(1, community.encode(), ber.GETBULK, rid, keys, 0, reps)
    msg, rest = decoder.decode(packet, asn1Spec=v2c.Message())
    assert not rest
    assert bytes(v2c.apiMessage.get_community(msg)) == community.encode()
    pdu = v2c.apiMessage.get_pdu(msg)
    assert pdu.isSameTypeWith(v2c.GetBulkRequestPDU())
    assert int(v2c.apiBulkPDU.get_request_id(pdu)) == rid
    assert int(v2c.apiBulkPDU.get_max_repetitions(pdu)) == reps
    assert [tuple(o) for o, _ in v2c.apiBulkPDU.get_varbinds(pdu)] == keys


def _response(varbinds: list[tuple[str, object]], rid: int = 77, status: int = 0,
              index: int = 0) -> bytes:
    msg = v2c.Message()
    v2c.apiMessage.set_defaults(msg)
    v2c.apiMessage.set_community(msg, "c")
    pdu = v2c.ResponsePDU()
    v2c.apiPDU.set_defaults(pdu)
    v2c.apiPDU.set_request_id(pdu, rid)
    v2c.apiPDU.set_error_status(pdu, status)
    v2c.apiPDU.set_error_index(pdu, index)
    v2c.apiPDU.set_varbinds(pdu, [(v2c.ObjectIdentifier(o), v) for o, v in varbinds])
    v2c.apiMessage.set_pdu(msg, pdu)
    return bytes(encoder.encode(msg))


@settings(max_examples=60, deadline=None)
@given(st.integers(-(2**31), 2**31 - 1), st.integers(0, 2**64 - 1),
       st.integers(0, 2**32 - 1), st.binary(max_size=300), oids)
def test_response_values_decode_like_pysnmp(i32: int, c64: int, u32: int, raw: bytes,
                                            oid_value: tuple[int, ...]) -> None:
    vbs: list[tuple[str, object]] = [
        ("1.3.6.1.2.1.1.1.0", v2c.OctetString(raw)),
        ("1.3.6.1.2.1.1.2.0", v2c.ObjectIdentifier(oid_value)),
        ("1.3.6.1.2.1.1.3.0", v2c.TimeTicks(u32)),
        ("1.3.6.1.2.1.2.2.1.1.5", v2c.Integer(i32)),
        ("1.3.6.1.2.1.2.2.1.10.5", v2c.Counter32(u32)),
        ("1.3.6.1.2.1.31.1.1.1.6.5", v2c.Counter64(c64)),
        ("1.3.6.1.2.1.31.1.1.1.15.5", v2c.Gauge32(u32)),
        ("1.3.6.1.2.1.4.20.1.1.10.0.0.1", v2c.IpAddress("10.0.0.1")),
        ("1.3.6.1.4.1.2636.3.1.13.1.5.4294967295", v2c.Null("")),
        ("1.3.6.1.2.1.99.0", rfc1905.noSuchObject),
        ("1.3.6.1.2.1.99.1", rfc1905.noSuchInstance),
        ("1.3.6.1.2.1.99.2", rfc1905.endOfMibView),
    ]
    r = ber.decode_response(_response(vbs, rid=2**31 - 1, status=0))
    assert r.request_id == 2**31 - 1 and r.error_status == 0
    assert [".".join(map(str, o)) for o, _ in r.varbinds] == [o for o, _ in vbs]
    assert [v for _, v in r.varbinds] == [
        raw, ".".join(map(str, oid_value)), u32, i32, u32, c64, u32, "10.0.0.1", None,
        ber.NO_SUCH, ber.NO_SUCH, ber.END_OF_MIB]


def test_error_status_and_index() -> None:
    r = ber.decode_response(_response([("1.3.6.1.2.1.1.1.0", v2c.Null(""))], status=2,
                                      index=1))
    assert (r.error_status, r.error_index) == (2, 1)


@pytest.mark.parametrize("garbage", [b"", b"\x30", b"\x30\x03\x02\x01", b"\x04\x00",
                                     b"\x30\x84\xff\xff\xff\xff", b"\x30\x05\x02\x01\x01\x04\x00"])
def test_garbage_is_a_ber_error(garbage: bytes) -> None:
    with pytest.raises(ber.BerError):
        ber.decode_response(garbage)


def test_request_is_not_a_response() -> None:
    with pytest.raises(ber.BerError, match="not a response"):
        ber.decode_response(ber.encode_request(1, b"c", ber.GET, 1, [(1, 3, 6, 1)]))
