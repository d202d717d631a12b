"""Vectorised decoding of a whole :class:`~.reader.FrameBatch` with numpy.

Every step works on all frames of a chunk at once: fixed-offset fields are gathered
with one fancy index per field (a strided window view over the chunk's bytes, so a
4-byte big-endian field is one gather plus a ``view('>u4')``), and variable offsets
(VLAN tags, IPv4 options, IPv6 extension headers) are followed by a few masked
rounds, not by a per-packet loop.

Link types: Ethernet (1), Linux SLL (113), SLL2 (276), NULL (0) and LOOP (108),
raw IP (12, 14, 101), 802.11 radiotap (127: LLC/SNAP data frames decoded, others
counted only). Frames that need deeper, rarer decoding (MPLS, PPPoE, IP-in-IP, GRE,
VXLAN) are flagged in :attr:`Decoded.tunnel` for the per-frame pass in
:mod:`.tunnel`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

from netstage.auditor.capture.reader import FrameBatch

__all__ = ["MAX_TAGS", "Decoded", "decode_batch"]

MAX_TAGS = 4
_TPIDS = (0x8100, 0x88A8, 0x9100)
_TUNNEL_ET = (0x8847, 0x8848, 0x8864)
_TUNNEL_IPPROTO = (4, 41, 47)
_VXLAN_PORT = 4789


@dataclass
class Decoded:
    """Decoded fields of one batch. Per-frame arrays have N rows; ``v4_*`` arrays have
    one row per frame with an IPv4 header (``v4_idx`` = frame index), ``v6_*`` likewise.
    Ports are -1 where there is no TCP/UDP header (or a non-first fragment)."""

    ethertype: np.ndarray  # int32 [N], -1 unknown
    l2_off: np.ndarray  # int64 [N], offset of the L2 payload (after tags) in buf
    vlan: np.ndarray  # int32 [N, MAX_TAGS], -1 padded, outer first
    n_tags: np.ndarray  # int8 [N]
    llc: np.ndarray  # bool [N], 802.3 length-framed Ethernet
    dst_mac: np.ndarray  # uint64 [N], 48-bit destination MAC (Ethernet), 0 otherwise
    tunnel: np.ndarray  # bool [N], needs the per-frame pass for inner headers
    v4_idx: np.ndarray
    v4_src: np.ndarray  # uint32
    v4_dst: np.ndarray
    v4_proto: np.ndarray  # int32
    v4_sport: np.ndarray  # int32
    v4_dport: np.ndarray
    v4_pay_off: np.ndarray  # int64 offset of the TCP/UDP payload, -1 if none
    v4_pay_len: np.ndarray  # int64 captured payload bytes
    v6_idx: np.ndarray
    v6_src: np.ndarray  # uint8 [N6, 16]
    v6_dst: np.ndarray
    v6_proto: np.ndarray
    v6_sport: np.ndarray
    v6_dport: np.ndarray
    v6_pay_off: np.ndarray
    v6_pay_len: np.ndarray


class _Bytes:
    """Fixed-width big-endian gathers from a chunk buffer (indexes are clipped so a
    gather never leaves the buffer; callers mask values beyond the captured length)."""

    def __init__(self, buf: np.ndarray) -> None:
        self.buf = buf
        self.n = buf.shape[0]
        self._win: dict[int, np.ndarray] = {}

    def take(self, idx: np.ndarray, width: int) -> np.ndarray:
        win = self._win.get(width)
        if win is None:
            win = as_strided(self.buf, shape=(self.n - width + 1, width), strides=(1, 1),
                             writeable=False)
            self._win[width] = win
        return win[np.clip(idx, 0, self.n - width)]

    def u8(self, idx: np.ndarray) -> np.ndarray:
        return self.buf[np.clip(idx, 0, self.n - 1)].astype(np.int32)

    def be16(self, idx: np.ndarray) -> np.ndarray:
        return self.take(idx, 2).view(">u2")[:, 0].astype(np.int32)

    def be32(self, idx: np.ndarray) -> np.ndarray:
        return self.take(idx, 4).view(">u4")[:, 0].astype(np.uint32)


def decode_batch(b: FrameBatch) -> Decoded:
    """Decode link layer, VLAN tags, IPv4/IPv6 and TCP/UDP ports of every frame."""
    g = _Bytes(b.buf)
    n = len(b)
    off = b.data_off
    end = off + b.caplen
    lt = b.linktype
    et = np.full(n, -1, np.int32)
    l3 = off.copy()
    dst_mac = np.zeros(n, np.uint64)
    llc = np.zeros(n, bool)

    eth = (lt == 1) & (b.caplen >= 14)
    if eth.any():
        i = np.nonzero(eth)[0]
        et[i] = g.be16(off[i] + 12)
        l3[i] = off[i] + 14
        mac = g.take(off[i], 6).astype(np.uint64)
        dst_mac[i] = ((mac[:, 0] << 40) | (mac[:, 1] << 32) | (mac[:, 2] << 24)
                      | (mac[:, 3] << 16) | (mac[:, 4] << 8) | mac[:, 5])
    _link_sll(g, lt, off, b.caplen, et, l3)
    _link_null_raw(g, lt, off, b.caplen, et, l3)
    _link_radiotap(g, lt, off, end, et, l3)

    vlan = np.full((n, MAX_TAGS), -1, np.int32)
    n_tags = np.zeros(n, np.int8)
    for depth in range(MAX_TAGS):
        tagged = np.isin(et, _TPIDS) & (l3 + 4 <= end)
        if not tagged.any():
            break
        i = np.nonzero(tagged)[0]
        vlan[i, depth] = g.be16(l3[i]) & 0x0FFF
        n_tags[i] += 1
        et[i] = g.be16(l3[i] + 2)
        l3[i] += 4

    # 802.3 length field: LLC follows; RFC 1042 SNAP with OUI 0 carries an EtherType.
    is_len = (et >= 0) & (et <= 1500) & (lt != 127)
    if is_len.any():
        i = np.nonzero(is_len & (l3 + 8 <= end))[0]
        llc[np.nonzero(is_len)[0]] = True
        hdr = g.take(l3[i], 8).astype(np.int32)
        snap0 = (hdr[:, 0] == 0xAA) & (hdr[:, 1] == 0xAA) & (hdr[:, 2] == 3) & (
            hdr[:, 3] == 0) & (hdr[:, 4] == 0) & (hdr[:, 5] == 0)
        j = i[snap0]
        et[j] = (hdr[snap0, 6] << 8) | hdr[snap0, 7]
        l3[j] += 8
        llc[j] = False

    _mpls_ip(g, et, l3, end)
    tunnel = np.isin(et, _TUNNEL_ET)
    d = Decoded(ethertype=et, l2_off=l3, vlan=vlan, n_tags=n_tags, llc=llc,
                dst_mac=dst_mac, tunnel=tunnel, **_ipv4(g, et, l3, end),
                **_ipv6(g, et, l3, end))
    if d.v4_idx.size:
        t = np.isin(d.v4_proto, _TUNNEL_IPPROTO) | (
            (d.v4_proto == 17) & ((d.v4_dport == _VXLAN_PORT) | (d.v4_sport == _VXLAN_PORT)))
        tunnel[d.v4_idx[t]] = True
    if d.v6_idx.size:
        tunnel[d.v6_idx[np.isin(d.v6_proto, _TUNNEL_IPPROTO)]] = True
    return d


def _mpls_ip(g: _Bytes, et: np.ndarray, l3: np.ndarray, end: np.ndarray) -> None:
    """MPLS label stacks (up to 8 labels) directly followed by IPv4/IPv6: point the
    frame at the IP header. Pseudowires (Ethernet inside) stay MPLS for the tunnel walk."""
    mp = np.isin(et, (0x8847, 0x8848))
    if not mp.any():
        return
    cand = np.nonzero(mp)[0]
    pos = l3[cand].copy()
    live = np.ones(cand.shape[0], bool)
    for _ in range(8):
        j = np.nonzero(live & (pos + 4 <= end[cand]))[0]
        live[:] = False
        if not j.size:
            break
        entry = g.be32(pos[j])
        pos[j] += 4
        bos = (entry & np.uint32(0x100)) != 0
        done = j[bos]
        live[j[~bos]] = True
        if done.size:
            nib = g.u8(pos[done]) >> 4
            ok = (pos[done] < end[cand[done]]) & ((nib == 4) | (nib == 6))
            f = cand[done[ok]]
            et[f] = np.where(nib[ok] == 4, 0x0800, 0x86DD)
            l3[f] = pos[done[ok]]


def _link_sll(g: _Bytes, lt: np.ndarray, off: np.ndarray, cap: np.ndarray,
              et: np.ndarray, l3: np.ndarray) -> None:
    i = np.nonzero((lt == 113) & (cap >= 16))[0]
    if i.size:
        et[i] = g.be16(off[i] + 14)
        l3[i] = off[i] + 16
    i = np.nonzero((lt == 276) & (cap >= 20))[0]
    if i.size:
        et[i] = g.be16(off[i])
        l3[i] = off[i] + 20


def _link_null_raw(g: _Bytes, lt: np.ndarray, off: np.ndarray, cap: np.ndarray,
                   et: np.ndarray, l3: np.ndarray) -> None:
    # NULL: 4-byte address family in the capturing host's byte order; LOOP: big endian.
    i = np.nonzero(((lt == 0) | (lt == 108)) & (cap >= 4))[0]
    if i.size:
        h = g.take(off[i], 4).astype(np.int64)
        le = h[:, 0] | (h[:, 1] << 8) | (h[:, 2] << 16) | (h[:, 3] << 24)
        be = h[:, 3] | (h[:, 2] << 8) | (h[:, 1] << 16) | (h[:, 0] << 24)
        af = np.where((lt[i] == 0) & (le <= 0xFFFF), le, be)
        et[i] = np.where(af == 2, 0x0800, np.where(np.isin(af, (10, 24, 28, 30)), 0x86DD, -1))
        l3[i] = off[i] + 4
    i = np.nonzero(np.isin(lt, (12, 14, 101)) & (cap >= 1))[0]
    if i.size:
        ver = g.u8(off[i]) >> 4
        et[i] = np.where(ver == 4, 0x0800, np.where(ver == 6, 0x86DD, -1))
        l3[i] = off[i]


def _link_radiotap(g: _Bytes, lt: np.ndarray, off: np.ndarray, end: np.ndarray,
                   et: np.ndarray, l3: np.ndarray) -> None:
    i = np.nonzero((lt == 127) & (end - off >= 8))[0]
    if not i.size:
        return
    rt = g.take(off[i] + 2, 2).astype(np.int64)
    h = off[i] + (rt[:, 0] | (rt[:, 1] << 8))
    fc = g.u8(h)
    flags = g.u8(h + 1)
    data = ((fc >> 2) & 3) == 2
    qos = data & ((fc >> 4) & 8 > 0)
    hl = 24 + np.where((flags & 3) == 3, 6, 0) + np.where(qos, 2, 0) + np.where(
        qos & (flags & 0x80 > 0), 4, 0)
    s = h + hl
    snap = g.take(s, 8).astype(np.int32)
    ok = data & ((flags & 0x40) == 0) & (s + 8 <= end[i]) & (snap[:, 0] == 0xAA) & (
        snap[:, 1] == 0xAA) & (snap[:, 2] == 3)
    et[i[ok]] = (snap[ok, 6] << 8) | snap[ok, 7]
    l3[i[ok]] = s[ok] + 8


def _ports(g: _Bytes, proto: np.ndarray, l4: np.ndarray, end: np.ndarray,
           first_frag: np.ndarray) -> dict[str, np.ndarray]:
    k = proto.shape[0]
    sport = np.full(k, -1, np.int32)
    dport = np.full(k, -1, np.int32)
    pay = np.full(k, -1, np.int64)
    tcp = (proto == 6) & first_frag & (l4 + 20 <= end)
    udp = (proto == 17) & first_frag & (l4 + 8 <= end)
    j = np.nonzero(tcp | udp)[0]
    if j.size:
        pp = g.take(l4[j], 4).view(">u2").astype(np.int32)
        sport[j] = pp[:, 0]
        dport[j] = pp[:, 1]
        doff = np.where(tcp[j], (g.u8(l4[j] + 12) >> 4) * 4, 8)
        pay[j] = l4[j] + doff
    plen = np.where(pay >= 0, np.maximum(end - pay, 0), 0)
    return {"sport": sport, "dport": dport, "pay_off": pay, "pay_len": plen}


def _ipv4(g: _Bytes, et: np.ndarray, l3: np.ndarray,
          end: np.ndarray) -> dict[str, np.ndarray]:
    i = np.nonzero((et == 0x0800) & (l3 + 20 <= end))[0]
    h0 = g.u8(l3[i])
    ok = ((h0 >> 4) == 4) & ((h0 & 15) >= 5)
    i = i[ok]
    x = l3[i]
    ihl = (h0[ok] & 15) * 4
    addr = g.take(x + 12, 8).view(">u4")
    proto = g.u8(x + 9)
    frag = g.be16(x + 6) & 0x1FFF
    p = _ports(g, proto, x + ihl, end[i], frag == 0)
    return {"v4_idx": i, "v4_src": addr[:, 0].astype(np.uint32),
            "v4_dst": addr[:, 1].astype(np.uint32), "v4_proto": proto,
            "v4_sport": p["sport"], "v4_dport": p["dport"], "v4_pay_off": p["pay_off"],
            "v4_pay_len": p["pay_len"]}


def _ipv6(g: _Bytes, et: np.ndarray, l3: np.ndarray,
          end: np.ndarray) -> dict[str, np.ndarray]:
    i = np.nonzero((et == 0x86DD) & (l3 + 40 <= end))[0]
    i = i[(g.u8(l3[i]) >> 4) == 6]
    x = l3[i]
    nh = g.u8(x + 6)
    l4 = x + 40
    first = np.ones(i.shape[0], bool)
    e = end[i]
    for _ in range(4):  # hop-by-hop, routing, destination options, fragment
        ext = np.isin(nh, (0, 43, 60, 44)) & (l4 + 8 <= e)
        if not ext.any():
            break
        j = np.nonzero(ext)[0]
        frag = nh[j] == 44
        first[j[frag]] &= (g.be16(l4[j[frag]] + 2) & 0xFFF8) == 0
        ln = np.where(frag, 8, (g.u8(l4[j] + 1) + 1) * 8)
        nh[j] = g.u8(l4[j])
        l4[j] += ln
    a = g.take(x + 8, 32)
    p = _ports(g, nh, l4, e, first)
    return {"v6_idx": i, "v6_src": np.ascontiguousarray(a[:, :16]),
            "v6_dst": np.ascontiguousarray(a[:, 16:]), "v6_proto": nh,
            "v6_sport": p["sport"], "v6_dport": p["dport"], "v6_pay_off": p["pay_off"],
            "v6_pay_len": p["pay_len"]}
