"""Name discovery: which name each flow went to, from the few candidate frames.

TLS ClientHellos (the SNI, joined over TCP segments when a hello is longer than one),
QUIC client Initials (the SNI of the ClientHello they carry, see :mod:`.quic`) and DNS
responses (answer address -> query name). :mod:`.classify` turns the names into
application classes.
"""

from __future__ import annotations

import numpy as np

from netstage.auditor.capture.apps import (
    parse_client_hello_sni,
    parse_dns_answers,
    parse_handshake_sni,
)
from netstage.auditor.capture.decode import Decoded
from netstage.auditor.capture.quic import QUIC_V1, QUIC_V2, HelloAssembler, read_client_initials
from netstage.auditor.capture.reader import FrameBatch
from netstage.auditor.capture.state import _State

MAX_SNI_FRAMES = 200_000
#: TCP flows whose ClientHello is being joined from several segments at once.
MAX_TLS_PENDING = 4_096  # x at most MAX_TLS_HELLO bytes each: <= 64 MiB
#: a split ClientHello's next segment must come within this many frames of its start
TLS_PENDING_FRAMES = 100_000
#: the most ClientHello bytes joined per flow (a TLS record is at most 16 kB)
MAX_TLS_HELLO = 16_384 + 5
#: UDP datagrams tried as QUIC client Initials (beyond that QUIC flows keep port classes).
MAX_QUIC_DATAGRAMS = 200_000
#: QUIC connections whose ClientHello is being reassembled at once (oldest dropped).
MAX_QUIC_PENDING = 4_096  # x at most quic.MAX_HELLO_BYTES each: <= 64 MiB
#: DNS responses parsed for names (beyond that, names come from SNI and ports only).
MAX_DNS_FRAMES = 500_000


def _names(s: _State, b: FrameBatch, d: Decoded, ver: int, keys: np.ndarray) -> None:
    """TLS SNI per flow and DNS answer addresses -> names (the few candidate frames)."""
    if ver == 4:
        proto, sport, pay, plen = d.v4_proto, d.v4_sport, d.v4_pay_off, d.v4_pay_len
    else:
        proto, sport, pay, plen = d.v6_proto, d.v6_sport, d.v6_pay_off, d.v6_pay_len
    buf = b.buf
    frame = d.v4_idx if ver == 4 else d.v6_idx
    whole = b.caplen[frame] >= b.wirelen[frame]  # not cut by a snap length
    cand = (proto == 6) & (plen >= 47)
    started: dict[bytes, int] = {}  # flows whose hello started in this batch -> row
    if cand.any():
        j = np.nonzero(cand)[0]
        o = pay[j]
        hit = (buf[o] == 0x16) & (buf[o + 1] == 3) & (buf[o + 5] == 1)
        for jj in j[hit].tolist()[: max(0, MAX_SNI_FRAMES - len(s.sni))]:
            o2 = int(pay[jj])
            data = buf[o2:o2 + int(plen[jj])].tobytes()
            kb = keys[jj].tobytes()
            name = parse_client_hello_sni(data)
            s.tls_pending.pop(kb, None)
            if name:
                _found_sni(s, kb, name)
            elif whole[jj] and len(data) < _record_end(data):
                # a ClientHello longer than this segment (post-quantum key shares make
                # them ~1.8 kB): join the client's next segments of the flow
                if len(s.tls_pending) >= MAX_TLS_PENDING:
                    del s.tls_pending[next(iter(s.tls_pending))]
                s.tls_pending[kb] = (int(sport[jj]), bytearray(data),
                                     b.first_index + int(frame[jj]))
                started[kb] = jj
    if s.tls_pending:
        # a hello's next segment follows within milliseconds: forget stale starts so a
        # lost segment does not cost a hash of every later batch
        horizon = b.first_index - TLS_PENDING_FRAMES
        for kb in [k for k, v in s.tls_pending.items() if v[2] < horizon]:
            del s.tls_pending[kb]
    if s.tls_pending:
        _tls_continuations(s, buf, proto, sport, pay, plen, keys, whole, started)
    _quic_names(s, buf, proto, pay, plen, keys)
    dns = (proto == 17) & (sport == 53) & (plen >= 12)
    if dns.any() and s.dns_parsed < MAX_DNS_FRAMES:
        todo = np.nonzero(dns)[0].tolist()[:MAX_DNS_FRAMES - s.dns_parsed]
        s.dns_parsed += len(todo)
        for jj in todo:
            o2 = int(pay[jj])
            qname, answers = parse_dns_answers(buf[o2:o2 + int(plen[jj])].tobytes())
            if qname:
                s.dns_count[qname] = s.dns_count.get(qname, 0) + 1
                for _t, addr in answers:
                    s.dns_ip[addr] = qname


def _record_end(record: bytes | bytearray) -> int:
    """Length of a TLS record from its 5-byte header (type, version, length)."""
    return 5 + int.from_bytes(record[3:5], "big")


def _found_sni(s: _State, kb: bytes, name: str) -> None:
    s.sni[kb] = name
    s.sni_count[name] = s.sni_count.get(name, 0) + 1


def _key_hash(keys: np.ndarray) -> np.ndarray:
    """64-bit FNV-1a-style hash of each fixed-width flow key row (vectorised)."""
    raw = keys.view(np.uint8).reshape(keys.shape[0], -1)
    h = np.full(keys.shape[0], 0xCBF29CE484222325, np.uint64)
    for c in range(raw.shape[1]):
        h = (h ^ raw[:, c]) * np.uint64(0x100000001B3)
    return h


def _tls_continuations(s: _State, buf: np.ndarray, proto: np.ndarray, sport: np.ndarray,
                       pay: np.ndarray, plen: np.ndarray, keys: np.ndarray,
                       whole: np.ndarray, started: dict[bytes, int]) -> None:
    """Append the client's next TCP segments to ClientHellos split over segments (in
    capture order; the few frames of pending flows are found by a vectorised hash)."""
    width = keys.dtype.itemsize  # IPv4 and IPv6 flow keys differ in width
    mine = [k for k in s.tls_pending if len(k) == width]
    cand = (proto == 6) & (plen > 0)
    if not mine or not cand.any():
        return
    pending = _key_hash(np.frombuffer(b"".join(mine), dtype=keys.dtype))
    j = np.nonzero(cand)[0]
    j = j[np.isin(_key_hash(keys[j]), pending)]
    for jj in j.tolist():
        kb = keys[jj].tobytes()
        entry = s.tls_pending.get(kb)
        if entry is None or jj <= started.get(kb, -1) or int(sport[jj]) != entry[0]:
            continue  # another flow with the same hash, the start itself, or the server
        data = entry[1]
        o2 = int(pay[jj])
        data += buf[o2:o2 + int(plen[jj])].tobytes()
        name = parse_client_hello_sni(bytes(data))
        if name or len(data) >= _record_end(data) or not whole[jj] \
                or len(data) > MAX_TLS_HELLO:
            del s.tls_pending[kb]
        if name:
            _found_sni(s, kb, name)


def _quic_names(s: _State, buf: np.ndarray, proto: np.ndarray, pay: np.ndarray,
                plen: np.ndarray, keys: np.ndarray) -> None:
    """SNI of QUIC flows from their client Initials (see :mod:`.quic`): candidates are UDP
    datagrams of at least 1200 bytes (a client pads every Initial datagram to that,
    RFC 9000 §14.1) that start with a version 1 or 2 long header."""
    cand = (proto == 17) & (plen >= 1200)
    if not cand.any() or s.quic_tried >= MAX_QUIC_DATAGRAMS:
        return
    j = np.nonzero(cand)[0]
    o = pay[j]
    version = ((buf[o + 1].astype(np.uint32) << 24) | (buf[o + 2].astype(np.uint32) << 16)
               | (buf[o + 3].astype(np.uint32) << 8) | buf[o + 4].astype(np.uint32))
    hit = ((buf[o] & 0xC0) == 0xC0) & ((version == QUIC_V1) | (version == QUIC_V2))
    for jj in j[hit].tolist()[: MAX_QUIC_DATAGRAMS - s.quic_tried]:
        kb = keys[jj].tobytes()
        if kb in s.sni:  # named already (also skips the server's datagrams after that)
            continue
        s.quic_tried += 1
        o2 = int(pay[jj])
        for dcid, fragments in read_client_initials(buf[o2:o2 + int(plen[jj])].tobytes()):
            asm = s.quic.get((kb, dcid))
            if asm is None:
                if len(s.quic) >= MAX_QUIC_PENDING:
                    del s.quic[next(iter(s.quic))]
                asm = s.quic[(kb, dcid)] = HelloAssembler()
            hello = asm.add(fragments)
            name = parse_handshake_sni(hello) if hello else None
            if name:
                _found_sni(s, kb, name)
                s.quic_hellos += 1
                del s.quic[(kb, dcid)]
                break
