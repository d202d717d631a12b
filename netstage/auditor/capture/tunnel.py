"""Per-frame decoding of the rare frames that carry inner headers.

The vectorised path (:mod:`.decode`) sees the outer IPv4 header of every frame. A few
frames carry more: MPLS (IPv4 directly, or an Ethernet pseudowire with its own VLAN
tags), PPPoE, IP-in-IP, 6in4, GRE and VXLAN. tshark counts every IPv4 header of such
a frame in its conversation table (but not the header quoted inside an ICMP error),
so these frames are walked here one by one. They are selected first by EtherType /
IP protocol / UDP port, so this loop only ever sees a small share of a capture.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

__all__ = ["InnerHeaders", "walk_frame"]

_MAX_DEPTH = 10


@dataclass
class InnerHeaders:
    """Every IPv4 (src, dst) pair (as 32-bit ints) and every VLAN id, outer first."""

    ipv4_pairs: list[tuple[int, int]] = field(default_factory=list)
    vlans: list[int] = field(default_factory=list)


def walk_frame(data: bytes, linktype: int) -> InnerHeaders:
    """Decode all nested headers of one frame (captured bytes, capture link type)."""
    out = InnerHeaders()
    try:
        if linktype == 1:
            _ethernet(data, 0, out, 0)
        elif linktype == 113 and len(data) >= 16:
            _ethertype(data, 16, struct.unpack_from(">H", data, 14)[0], out, 0)
        elif linktype == 276 and len(data) >= 20:
            _ethertype(data, 20, struct.unpack_from(">H", data, 0)[0], out, 0)
        elif linktype in (0, 108) and len(data) >= 4:
            _ip_any(data, 4, out, 0)
        elif linktype in (12, 14, 101):
            _ip_any(data, 0, out, 0)
    except (struct.error, IndexError):
        pass  # snaplen-cut frame: keep what was decoded
    return out


def _ethernet(d: bytes, p: int, out: InnerHeaders, depth: int) -> None:
    if len(d) < p + 14:
        return
    et = struct.unpack_from(">H", d, p + 12)[0]
    if et <= 1500:  # 802.3 + LLC/SNAP
        if d[p + 14:p + 20] == b"\xaa\xaa\x03\x00\x00\x00":
            _ethertype(d, p + 22, struct.unpack_from(">H", d, p + 20)[0], out, depth)
        return
    _ethertype(d, p + 14, et, out, depth)


def _ethertype(d: bytes, p: int, et: int, out: InnerHeaders, depth: int) -> None:
    if depth > _MAX_DEPTH:
        return
    if et in (0x8100, 0x88A8, 0x9100):
        out.vlans.append(struct.unpack_from(">H", d, p)[0] & 0x0FFF)
        _ethertype(d, p + 4, struct.unpack_from(">H", d, p + 2)[0], out, depth + 1)
    elif et == 0x0800:
        _ipv4(d, p, out, depth)
    elif et == 0x86DD:
        _ipv6(d, p, out, depth)
    elif et in (0x8847, 0x8848):
        _mpls(d, p, out, depth)
    elif et == 0x8864 and len(d) >= p + 8:
        ppp = struct.unpack_from(">H", d, p + 6)[0]
        if ppp == 0x0021:
            _ipv4(d, p + 8, out, depth + 1)
        elif ppp == 0x0057:
            _ipv6(d, p + 8, out, depth + 1)
    elif et == 0x6558:
        _ethernet(d, p, out, depth + 1)


def _ip_any(d: bytes, p: int, out: InnerHeaders, depth: int) -> None:
    if len(d) > p:
        v = d[p] >> 4
        if v == 4:
            _ipv4(d, p, out, depth)
        elif v == 6:
            _ipv6(d, p, out, depth)


def _mpls(d: bytes, p: int, out: InnerHeaders, depth: int) -> None:
    for _ in range(16):
        entry = struct.unpack_from(">I", d, p)[0]
        p += 4
        if entry & 0x100:  # bottom of stack
            break
    else:
        return
    if len(d) <= p:
        return
    nib = d[p] >> 4
    if nib in (4, 6):
        _ip_any(d, p, out, depth + 1)
    elif nib == 0:  # pseudowire control word, then the customer's Ethernet frame
        _ethernet(d, p + 4, out, depth + 1)


def _ipv4(d: bytes, p: int, out: InnerHeaders, depth: int) -> None:
    if len(d) < p + 20 or d[p] >> 4 != 4 or d[p] & 15 < 5:
        return
    ihl = (d[p] & 15) * 4
    src, dst = struct.unpack_from(">II", d, p + 12)
    out.ipv4_pairs.append((src, dst))
    proto = d[p + 9]
    first_fragment = struct.unpack_from(">H", d, p + 6)[0] & 0x1FFF == 0
    if first_fragment:
        _ip_payload(d, p + ihl, proto, out, depth)


def _ipv6(d: bytes, p: int, out: InnerHeaders, depth: int) -> None:
    if len(d) < p + 40 or d[p] >> 4 != 6:
        return
    nh = d[p + 6]
    q = p + 40
    for _ in range(8):
        if nh in (0, 43, 60):
            nh, q = d[q], q + (d[q + 1] + 1) * 8
        elif nh == 44:
            if struct.unpack_from(">H", d, q + 2)[0] & 0xFFF8:
                return
            nh, q = d[q], q + 8
        else:
            break
    _ip_payload(d, q, nh, out, depth)


def _ip_payload(d: bytes, q: int, proto: int, out: InnerHeaders, depth: int) -> None:
    # proto 1 (ICMP) is deliberately not followed: quoted headers in ICMP errors
    # are not conversations (tshark's table skips them too).
    if proto == 4:
        _ipv4(d, q, out, depth + 1)
    elif proto == 41:
        _ipv6(d, q, out, depth + 1)
    elif proto == 47 and len(d) >= q + 4:
        flags, ptype = struct.unpack_from(">HH", d, q)
        if flags & 7 == 0:  # GRE version 0
            hl = 4 + 4 * (bool(flags & 0x8000) + bool(flags & 0x2000) + bool(flags & 0x1000))
            _ethertype(d, q + hl, ptype, out, depth + 1)
    elif proto == 17 and len(d) >= q + 16:
        sport, dport = struct.unpack_from(">HH", d, q)
        if 4789 in (sport, dport):
            _ethernet(d, q + 16, out, depth + 1)
