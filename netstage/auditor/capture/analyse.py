"""One streamed pass over a capture: totals, conversations, flows, apps, VLANs, facts.

Per chunk (:class:`~.reader.FrameBatch`) everything is vectorised: the decoder gives
per-frame arrays, and small keyed tables (directed IPv4 pairs, flows, 1-second bins,
VLANs) are reduced with sort/reduceat and merged across chunks
(:class:`~.aggregate.KeyedSums`). The only per-frame Python work is on the few
preselected frames: tunnelled frames (inner headers), TLS ClientHellos (SNI), DNS
responses and control-plane frames (LLDP/CDP/STP/DHCP, decoded with scapy).
"""

from __future__ import annotations

import io
import ipaddress
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from netstage.auditor.capture import control
from netstage.auditor.capture.aggregate import KeyedSums, Totals, reduce_keyed
from netstage.auditor.capture.apps import (
    AppMapping,
    load_mapping,
    parse_client_hello_sni,
    parse_dns_answers,
    parse_handshake_sni,
)
from netstage.auditor.capture.decode import Decoded, decode_batch
from netstage.auditor.capture.neighbours import neighbour_links
from netstage.auditor.capture.quic import QUIC_V1, QUIC_V2, HelloAssembler, read_client_initials
from netstage.auditor.capture.reader import CHUNK_BYTES, FrameBatch, ReadState, iter_batches
from netstage.auditor.capture.tunnel import walk_frame

__all__ = ["CaptureSummary", "analyse_capture"]

Progress = Callable[[int, int], None]

#: Distinct control-plane frames kept for decoding (beyond that they are only counted).
MAX_CONTROL_FRAMES = 20_000
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
TOP_N = 50



def _ts(ns: int | None) -> str | None:
    """Integer nanoseconds -> epoch seconds string with 9 decimals (exact)."""
    if ns is None:
        return None
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    return f"{sign}{ns // 1_000_000_000}.{ns % 1_000_000_000:09d}"


@dataclass
class Conversation:
    """One IPv4 or IPv6 conversation as tshark's ``-z conv,ip`` / ``conv,ipv6`` counts it
    (a = first sender)."""

    a: str
    b: str
    frames_a_to_b: int
    frames_b_to_a: int
    bytes_a_to_b: int
    bytes_b_to_a: int
    first_ts_ns: int
    last_ts_ns: int

    @property
    def frames(self) -> int:
        return self.frames_a_to_b + self.frames_b_to_a

    @property
    def bytes(self) -> int:
        return self.bytes_a_to_b + self.bytes_b_to_a

    def to_json(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "frames": self.frames, "bytes": self.bytes,
                "frames_a_to_b": self.frames_a_to_b, "frames_b_to_a": self.frames_b_to_a,
                "bytes_a_to_b": self.bytes_a_to_b, "bytes_b_to_a": self.bytes_b_to_a,
                "first_ts": _ts(self.first_ts_ns), "last_ts": _ts(self.last_ts_ns)}


@dataclass
class CaptureSummary:
    """Everything one pass over a capture found. Timestamps are integer nanoseconds."""

    path: str
    format: str
    byte_order: str
    size_bytes: int
    interfaces: list[dict[str, Any]]
    packets: int
    bytes: int
    captured_bytes: int
    first_ts_ns: int | None
    last_ts_ns: int | None
    min_ts_ns: int | None
    max_ts_ns: int | None
    timestamps_monotonic: bool
    complete: bool
    stopped_at_offset: int | None
    stop_reason: str | None
    warnings: list[str]
    packets_per_interface: dict[int, int]
    packets_per_linktype: dict[int, int]
    ipv4_packets: int
    ipv6_packets: int
    conversations_total: int
    conversations: list[Conversation]
    ipv6_conversations_total: int
    ipv6_conversations: list[Conversation]
    top_talkers: list[dict[str, Any]]
    hosts_total: int
    apps: dict[str, dict[str, int]]
    flows_total: int
    vlans: list[dict[str, int]]
    vlan_tagged_frames: int
    neighbours: list[dict[str, Any]]
    stp: list[dict[str, Any]]
    dhcp: dict[str, Any]
    other_cisco: dict[str, int]
    sni_names: dict[str, int]
    dns_names: dict[str, int]
    quic_client_hellos: int  # flows named from a QUIC Initial's ClientHello (in sni_names)
    bin_seconds: int
    peak_mbps: float
    p95_mbps: float
    mean_mbps: float
    throughput: list[tuple[int, float]]
    devices: list[dict[str, Any]] = field(default_factory=list)

    @property
    def first_ts(self) -> str | None:
        return _ts(self.first_ts_ns)

    @property
    def last_ts(self) -> str | None:
        return _ts(self.last_ts_ns)

    @property
    def duration_s(self) -> float:
        if self.min_ts_ns is None or self.max_ts_ns is None:
            return 0.0
        return (self.max_ts_ns - self.min_ts_ns) / 1e9

    @property
    def vlan_ids(self) -> list[int]:
        return [v["vlan"] for v in self.vlans]

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able dict (documented in docs/capture.md)."""
        return {
            "file": Path(self.path).name, "format": self.format,
            "byte_order": self.byte_order, "size_bytes": self.size_bytes,
            "interfaces": self.interfaces,
            "packets": self.packets, "bytes": self.bytes,
            "captured_bytes": self.captured_bytes,
            "first_ts": self.first_ts, "last_ts": self.last_ts,
            "min_ts": _ts(self.min_ts_ns), "max_ts": _ts(self.max_ts_ns),
            "duration_s": round(self.duration_s, 6),
            "timestamps_monotonic": self.timestamps_monotonic,
            "complete": self.complete, "stopped_at_offset": self.stopped_at_offset,
            "stop_reason": self.stop_reason, "warnings": self.warnings,
            "packets_per_interface": {str(k): v for k, v in
                                      sorted(self.packets_per_interface.items())},
            "packets_per_linktype": {str(k): v for k, v in
                                     sorted(self.packets_per_linktype.items())},
            "ipv4_packets": self.ipv4_packets, "ipv6_packets": self.ipv6_packets,
            "throughput": {"bin_seconds": self.bin_seconds,
                           "peak_mbps": round(self.peak_mbps, 6),
                           "p95_mbps": round(self.p95_mbps, 6),
                           "mean_mbps": round(self.mean_mbps, 6),
                           "series": [[t, v] for t, v in self.throughput]},
            "peak_mbps": round(self.peak_mbps, 6), "p95_mbps": round(self.p95_mbps, 6),
            "apps": self.apps, "flows_total": self.flows_total,
            "conversations_total": self.conversations_total,
            "conversations": [c.to_json() for c in self.conversations],
            "ipv6_conversations_total": self.ipv6_conversations_total,
            "ipv6_conversations": [c.to_json() for c in self.ipv6_conversations],
            "hosts_total": self.hosts_total, "top_talkers": self.top_talkers,
            "vlans": self.vlans, "vlan_ids": self.vlan_ids,
            "vlan_tagged_frames": self.vlan_tagged_frames,
            "neighbours": self.neighbours,
            "neighbour_links": neighbour_links(self.neighbours),
            "stp": self.stp, "dhcp": self.dhcp,
            "other_cisco_frames": self.other_cisco,
            "tls_sni_names": self.sni_names, "dns_names": self.dns_names,
            "quic_client_hellos": self.quic_client_hellos,
            "devices": self.devices[:TOP_N],
        }


class _State:
    """Accumulators of one analysis."""

    def __init__(self, control_plane: bool) -> None:
        self.totals = Totals()
        self.conv = KeyedSums(n_sum=2, n_min=2, n_max=1)  # bytes, frames | ts, index | ts
        self.conv6 = KeyedSums(n_sum=2, n_min=2, n_max=1)  # same, keys src16+dst16 (void)
        self.flow4 = KeyedSums(n_sum=3, n_min=1, n_max=1)  # bytes, frames, bytes_a2b
        self.flow6 = KeyedSums(n_sum=3, n_min=1, n_max=1)
        self.bins = KeyedSums(n_sum=1)
        self.vlan = KeyedSums(n_sum=2)  # frames, bytes
        self.vlan_frames = 0
        self.v4 = 0
        self.v6 = 0
        self.control_plane = control_plane
        self.control: dict[tuple[str, bytes, str | None, int], list[int]] = {}
        self.control_dropped = 0
        self.sni: dict[bytes, str] = {}
        self.sni_count: dict[str, int] = {}
        # flow -> (client port, hello bytes so far, file index of the hello's first frame)
        self.tls_pending: dict[bytes, tuple[int, bytearray, int]] = {}
        self.quic: dict[tuple[bytes, bytes], HelloAssembler] = {}
        self.quic_tried = 0
        self.quic_hellos = 0
        self.dns_ip: dict[bytes, str] = {}
        self.dns_parsed = 0
        self.dns_count: dict[str, int] = {}


def _mac_str(v: int) -> str:
    return ":".join(f"{(v >> s) & 0xFF:02x}" for s in range(40, -8, -8))


def _flow_keys(src: np.ndarray, dst: np.ndarray, proto: np.ndarray, sport: np.ndarray,
               dport: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Canonical (both directions in one) flow keys as void rows, and the direction.

    ``src``/``dst`` are ``[n, width]`` uint8 address bytes (big-endian order, so byte
    comparison is address comparison). Returns ``(keys Vk, a_to_b bool)``.
    """
    n = src.shape[0]
    sp = np.where(sport < 0, 0, sport + 1).astype(np.int64)
    dp = np.where(dport < 0, 0, dport + 1).astype(np.int64)
    # lexicographic compare (src, sport) vs (dst, dport)
    less, same = _byte_order(src, dst)
    a2b = np.where(same, sp <= dp, less)
    a = np.where(a2b[:, None], src, dst)
    b = np.where(a2b[:, None], dst, src)
    pa = np.where(a2b, sp, dp)
    pb = np.where(a2b, dp, sp)
    tail = np.empty((n, 8), np.uint8)
    tail[:, 0] = proto.astype(np.uint8)
    tail[:, 1] = 0
    tail[:, 2] = (pa >> 16) & 0xFF
    tail[:, 3] = (pa >> 8) & 0xFF
    tail[:, 4] = pa & 0xFF
    tail[:, 5] = (pb >> 16) & 0xFF
    tail[:, 6] = (pb >> 8) & 0xFF
    tail[:, 7] = pb & 0xFF
    return _void_rows(a, b, tail), a2b


def _byte_order(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise lexicographic comparison of ``[n, w]`` uint8 arrays (big-endian addresses
    compare like their bytes): ``(src < dst, src == dst)``."""
    diff = src.astype(np.int16) - dst.astype(np.int16)
    nz = diff != 0
    less = diff[np.arange(src.shape[0]), np.argmax(nz, axis=1)] < 0
    return less, ~nz.any(axis=1)


def _void_rows(*parts: np.ndarray) -> np.ndarray:
    """``[n, w_i]`` uint8 arrays side by side as one fixed-width (void) key per row."""
    rows = np.ascontiguousarray(np.concatenate(parts, axis=1))
    return rows.view(np.dtype((np.void, rows.shape[1]))).ravel()


def _v4_bytes(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.astype(">u4")).view(np.uint8).reshape(-1, 4)


def _add_conversations(acc: KeyedSums, keys: np.ndarray, frames: np.ndarray, b: FrameBatch,
                       wl: np.ndarray, idx: np.ndarray) -> None:
    """One row per (address pair key, frame): bytes, frames | first ts, frame index | last
    ts (frames without a timestamp do not move the first/last time)."""
    if keys.size == 0:
        return
    has = b.has_ts[frames]
    acc.add(keys, np.stack([wl[frames], np.ones(frames.shape[0], np.int64)], axis=1),
            np.stack([np.where(has, b.ts_ns[frames], np.iinfo(np.int64).max), idx[frames]],
                     axis=1),
            np.where(has, b.ts_ns[frames], np.iinfo(np.int64).min)[:, None])


def _add_batch(s: _State, b: FrameBatch, d: Decoded) -> None:
    wl = b.wirelen
    s.totals.add(b.ts_ns, b.has_ts, wl, b.caplen, b.iface, b.linktype)
    idx = np.arange(len(b), dtype=np.int64) + b.first_index
    # 1-second throughput bins
    t = b.has_ts
    if t.any():
        sec = b.ts_ns[t] // 1_000_000_000
        s.bins.add(sec, wl[t][:, None])
    # VLANs (every tag depth; tunnelled inner tags below)
    tagged = d.n_tags > 0
    s.vlan_frames += int(tagged.sum())
    if tagged.any():
        rows, cols = np.nonzero(d.vlan >= 0)
        s.vlan.add(d.vlan[rows, cols].astype(np.int64),
                   np.stack([np.ones(rows.shape[0], np.int64), wl[rows]], axis=1))
    # IPv4 conversations: outer headers of plain frames, every header of tunnelled ones
    plain = ~d.tunnel[d.v4_idx]
    pi = d.v4_idx[plain]
    src = d.v4_src[plain].astype(np.uint64)
    dst = d.v4_dst[plain].astype(np.uint64)
    keys = [(src << np.uint64(32)) | dst]
    fr = [pi]
    tun = np.nonzero(d.tunnel)[0]
    if tun.size:
        extra_k: list[int] = []
        extra_i: list[int] = []
        vl: list[int] = []
        for i in tun.tolist():
            ih = walk_frame(b.frame_bytes(i), int(b.linktype[i]))
            for a_, b_ in ih.ipv4_pairs:
                extra_k.append((a_ << 32) | b_)
                extra_i.append(i)
            inner = ih.vlans[int(d.n_tags[i]):]
            vl.extend(inner)
            if inner and d.n_tags[i] == 0:
                s.vlan_frames += 1
        keys.append(np.array(extra_k, np.uint64))
        fr.append(np.array(extra_i, np.int64))
        if vl:  # inner tags beyond the outer ones already counted
            s.vlan.add(np.array(vl, np.int64), np.zeros((len(vl), 2), np.int64))
    _add_conversations(s.conv, np.concatenate(keys), np.concatenate(fr), b, wl, idx)
    # IPv6 conversations: the outer IPv6 header of each frame (IPv6 inside a tunnel, e.g.
    # Teredo or 6in4, is not walked)
    _add_conversations(s.conv6, _void_rows(d.v6_src, d.v6_dst), d.v6_idx, b, wl, idx)
    s.v4 += int(d.v4_idx.size)
    s.v6 += int(d.v6_idx.size)
    # flows (outer header) for apps, talkers and devices
    if d.v4_idx.size:
        k, a2b = _flow_keys(_v4_bytes(d.v4_src), _v4_bytes(d.v4_dst), d.v4_proto,
                            d.v4_sport, d.v4_dport, 4)
        _add_flows(s.flow4, k, a2b, b, d.v4_idx)
        _names(s, b, d, 4, k)
    if d.v6_idx.size:
        k, a2b = _flow_keys(d.v6_src, d.v6_dst, d.v6_proto, d.v6_sport, d.v6_dport, 16)
        _add_flows(s.flow6, k, a2b, b, d.v6_idx)
        _names(s, b, d, 6, k)
    if s.control_plane:
        _select_control(s, b, d)


def _add_flows(acc: KeyedSums, k: np.ndarray, a2b: np.ndarray, b: FrameBatch,
               fi: np.ndarray) -> None:
    w = b.wirelen[fi]
    ts = b.ts_ns[fi]
    has = b.has_ts[fi]
    acc.add(k, np.stack([w, np.ones(fi.shape[0], np.int64), np.where(a2b, w, 0)], axis=1),
            np.where(has, ts, np.iinfo(np.int64).max)[:, None],
            np.where(has, ts, np.iinfo(np.int64).min)[:, None])


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


def _select_control(s: _State, b: FrameBatch, d: Decoded) -> None:
    lldp = d.ethertype == 0x88CC
    # 802.3 LLC frames to a group address: STP, CDP (also to 01:00:0c:cd:cd:d0 on
    # tagged trunks), UDLD, VTP, DTP, PVST+ ... told apart after decoding
    llc = d.llc & (((d.dst_mac >> np.uint64(40)) & np.uint64(1)) == np.uint64(1))
    sel = [("lldp", np.nonzero(lldp)[0]), ("llc", np.nonzero(llc)[0])]
    if d.v4_idx.size:
        dh = (d.v4_proto == 17) & np.isin(d.v4_sport, (67, 68)) & np.isin(d.v4_dport, (67, 68))
        sel.append(("dhcp", d.v4_idx[np.nonzero(dh)[0]]))
        dh_pay = {int(d.v4_idx[j]): j for j in np.nonzero(dh)[0].tolist()}
    else:
        dh_pay = {}
    for kind, ii in sel:
        for i in ii.tolist():
            if kind == "dhcp":
                j = dh_pay[i]
                o = int(d.v4_pay_off[j])
                body = b.buf[o:o + int(d.v4_pay_len[j])].tobytes()
            else:
                o = int(d.l2_off[i])
                body = b.buf[o:int(b.data_off[i] + b.caplen[i])].tobytes()
            src = None
            dstm = int(d.dst_mac[i])
            if int(b.linktype[i]) == 1 and int(b.caplen[i]) >= 12:
                o0 = int(b.data_off[i])
                src = control._mac(b.buf[o0 + 6:o0 + 12].tobytes())
            tags = d.vlan[i][d.vlan[i] >= 0]
            vlan = int(tags[-1]) if tags.size else -1
            key = (kind, body, src, vlan)
            ent = s.control.get(key)
            if ent is None:
                if len(s.control) >= MAX_CONTROL_FRAMES:
                    s.control_dropped += 1
                    continue
                s.control[key] = [1, dstm]
            else:
                ent[0] += 1


def _conversations(s: _State) -> tuple[int, list[Conversation]]:
    """IPv4 conversations (keys ``src << 32 | dst``) as tshark's ``-z conv,ip``."""
    k, sums, mins, maxs = s.conv.result(np.dtype(np.uint64))
    return _conversation_table(_v4_bytes(k >> np.uint64(32)),
                               _v4_bytes(k & np.uint64(0xFFFFFFFF)), sums, mins, maxs)


def _conversations6(s: _State) -> tuple[int, list[Conversation]]:
    """IPv6 conversations (keys: 16 source then 16 destination bytes), as ``conv,ipv6``."""
    k, sums, mins, maxs = s.conv6.result(np.dtype((np.void, 32)))
    raw = k.view(np.uint8).reshape(-1, 32)
    return _conversation_table(raw[:, :16], raw[:, 16:], sums, mins, maxs)


def _conversation_table(src: np.ndarray, dst: np.ndarray, sums: np.ndarray, mins: np.ndarray,
                        maxs: np.ndarray) -> tuple[int, list[Conversation]]:
    """(count, top :data:`TOP_N` by bytes) of the address pairs of per-direction rows.

    ``src``/``dst`` are ``[rows, width]`` big-endian address bytes; ``sums`` are (bytes,
    frames), ``mins`` (first timestamp, first frame index), ``maxs`` (last timestamp).
    ``a`` of each conversation is the address that sent first.
    """
    n, w = src.shape
    if n == 0:
        return 0, []
    less, same = _byte_order(src, dst)
    fwd = less | same  # direction lo -> hi
    pair = _void_rows(np.where(fwd[:, None], src, dst), np.where(fwd[:, None], dst, src))
    u, inv = np.unique(pair, return_inverse=True)
    inv = inv.ravel()
    m = u.shape[0]
    b_f = np.bincount(inv, weights=np.where(fwd, sums[:, 0], 0), minlength=m).astype(np.int64)
    b_r = np.bincount(inv, weights=np.where(fwd, 0, sums[:, 0]), minlength=m).astype(np.int64)
    f_f = np.bincount(inv, weights=np.where(fwd, sums[:, 1], 0), minlength=m).astype(np.int64)
    f_r = np.bincount(inv, weights=np.where(fwd, 0, sums[:, 1]), minlength=m).astype(np.int64)
    # exact int sums (bincount weights are float64; fine below 2**53 bytes)
    first_idx_f = np.full(m, np.iinfo(np.int64).max)
    first_idx_r = np.full(m, np.iinfo(np.int64).max)
    np.minimum.at(first_idx_f, inv[fwd], mins[fwd, 1])
    np.minimum.at(first_idx_r, inv[~fwd], mins[~fwd, 1])
    t0 = np.full(m, np.iinfo(np.int64).max)
    t1 = np.full(m, np.iinfo(np.int64).min)
    np.minimum.at(t0, inv, mins[:, 0])
    np.maximum.at(t1, inv, maxs[:, 0])
    total = b_f + b_r
    frames = f_f + f_r
    order = np.lexsort((-frames, -total))[:TOP_N]
    out = []
    for j in order.tolist():
        raw = u[j].tobytes()
        lo_ip, hi_ip = str(ipaddress.ip_address(raw[:w])), str(ipaddress.ip_address(raw[w:]))
        lo_first = first_idx_f[j] <= first_idx_r[j]
        a, bb = (lo_ip, hi_ip) if lo_first else (hi_ip, lo_ip)
        fa, fb = (int(f_f[j]), int(f_r[j])) if lo_first else (int(f_r[j]), int(f_f[j]))
        ba, bbb = (int(b_f[j]), int(b_r[j])) if lo_first else (int(b_r[j]), int(b_f[j]))
        out.append(Conversation(a=a, b=bb, frames_a_to_b=fa, frames_b_to_a=fb,
                                bytes_a_to_b=ba, bytes_b_to_a=bbb,
                                first_ts_ns=int(t0[j]), last_ts_ns=int(t1[j])))
    return m, out


def _throughput(s: _State) -> tuple[float, float, float, list[tuple[int, float]]]:
    k, sums, _mn, _mx = s.bins.result(np.dtype(np.int64))
    if k.shape[0] == 0:
        return 0.0, 0.0, 0.0, []
    mbps = sums[:, 0] * 8 / 1e6
    span = int(k[-1] - k[0]) + 1
    zeros = span - k.shape[0]
    # p95 over every second of the span, empty seconds included (as zeros)
    srt = np.sort(mbps)
    rank = 0.95 * (span - 1)
    lo_i, frac = int(np.floor(rank)), rank - np.floor(rank)

    def at(r: int) -> float:
        return 0.0 if r < zeros else float(srt[r - zeros])

    p95 = at(lo_i) + (at(min(lo_i + 1, span - 1)) - at(lo_i)) * frac
    series = list(zip(k.tolist(), [round(float(x), 6) for x in mbps], strict=True))
    if len(series) > 3600:  # keep the JSON small: the busiest hour's worth of bins
        series = [series[i] for i in sorted(np.argsort(-mbps)[:3600].tolist())]
    return float(mbps.max()), float(p95), float(mbps.sum() / span), series


@dataclass
class _FlowTable:
    """Merged flows of one address family; addresses as indexes into ``names``."""

    names: list[str]  # unique addresses (both sides), as strings
    client_ok: np.ndarray  # bool per unique address: a client-side (private) address
    ia: np.ndarray  # per flow: index of side a
    ib: np.ndarray
    proto: np.ndarray
    pa: np.ndarray  # ports, -1 if none
    pb: np.ndarray
    bytes: np.ndarray
    frames: np.ndarray
    a2b: np.ndarray
    t0: np.ndarray
    t1: np.ndarray
    keys: np.ndarray


def _client_side(addr: np.ndarray) -> np.ndarray:
    """Addresses that are clients of a school network: RFC 1918, CGNAT 100.64/10 and
    link-local 169.254/16 (IPv4); ULA fc00::/7 and link-local fe80::/10 (IPv6)."""
    a0 = addr[:, 0].astype(np.int32)
    a1 = addr[:, 1].astype(np.int32)
    if addr.shape[1] == 4:
        return ((a0 == 10) | ((a0 == 172) & ((a1 & 0xF0) == 16)) | ((a0 == 192) & (a1 == 168))
                | ((a0 == 100) & ((a1 & 0xC0) == 64)) | ((a0 == 169) & (a1 == 254)))
    return ((a0 & 0xFE) == 0xFC) | ((a0 == 0xFE) & ((a1 & 0xC0) == 0x80))


def _flow_table(acc: KeyedSums, width: int) -> _FlowTable | None:
    k, sums, mins, maxs = acc.result(np.dtype(f"V{2 * width + 8}"))
    n = k.shape[0]
    if n == 0:
        return None
    raw = np.frombuffer(k.tobytes(), np.uint8).reshape(-1, 2 * width + 8)
    both = np.ascontiguousarray(np.concatenate([raw[:, :width], raw[:, width:2 * width]]))
    u, inv = np.unique(both.view(f"V{width}").ravel(), return_inverse=True)
    ub = np.frombuffer(u.tobytes(), np.uint8).reshape(-1, width)
    if width == 4:
        names = [str(ipaddress.IPv4Address(int(x)))
                 for x in ub.view(">u4").ravel().tolist()]
    else:
        names = [str(ipaddress.IPv6Address(bytes(r))) for r in ub]
    t = raw[:, 2 * width:].astype(np.int64)
    return _FlowTable(names=names, client_ok=_client_side(ub), ia=inv[:n].ravel(),
                      ib=inv[n:].ravel(), proto=t[:, 0],
                      pa=((t[:, 2] << 16) | (t[:, 3] << 8) | t[:, 4]) - 1,
                      pb=((t[:, 5] << 16) | (t[:, 6] << 8) | t[:, 7]) - 1,
                      bytes=sums[:, 0], frames=sums[:, 1], a2b=sums[:, 2], t0=mins[:, 0],
                      t1=maxs[:, 0], keys=k)


def _classify(s: _State, ft: _FlowTable, mapping: AppMapping
              ) -> tuple[np.ndarray, np.ndarray]:
    """Class code per flow and whether side b is the client."""
    a_cli = ft.client_ok[ft.ia]
    b_cli = ft.client_ok[ft.ib]
    # client = the private side; if both or neither, the side with the higher port
    client_b = np.where(a_cli != b_cli, b_cli, ft.pb > ft.pa)
    server_port = np.where(client_b, ft.pa, ft.pb)
    client_port = np.where(client_b, ft.pb, ft.pa)
    table = mapping.port_table()
    proto_row = np.where(ft.proto == 6, 0, 1)
    tcpudp = (ft.proto == 6) | (ft.proto == 17)
    sp = np.clip(server_port, 0, 65535)
    cp = np.clip(client_port, 0, 65535)
    code = np.where(tcpudp & (server_port >= 0), table[proto_row, sp], -1).astype(np.int32)
    code = np.where((code < 0) & tcpudp & (client_port >= 0), table[proto_row, cp], code)
    # DNS name of the server address, then the flow's TLS SNI (highest precedence)
    if s.dns_ip:
        by_addr = np.full(len(ft.names), -1, np.int32)
        pos = {nm: i for i, nm in enumerate(ft.names)}
        by_name: dict[str, int] = {}
        for raw_addr, qname in s.dns_ip.items():
            i = pos.get(str(ipaddress.ip_address(raw_addr)))
            if i is None:
                continue
            c = by_name.get(qname)
            if c is None:
                cls = mapping.class_of_name(qname)
                c = by_name[qname] = mapping.classes.index(cls) if cls else -1
            by_addr[i] = c
        srv = by_addr[np.where(client_b, ft.ia, ft.ib)]
        code = np.where(srv >= 0, srv, code)
    if s.sni:
        width = ft.keys.dtype.itemsize
        fpos = {kk.tobytes(): i for i, kk in enumerate(ft.keys)}
        for kb, nm in s.sni.items():
            i2 = fpos.get(kb) if len(kb) == width else None
            cls = mapping.class_of_name(nm) if i2 is not None else None
            if cls:
                code[i2] = mapping.classes.index(cls)
    code[code < 0] = mapping.classes.index(mapping.default)
    return code, client_b


def _apps_and_hosts(s: _State, mapping: AppMapping) -> tuple[
        dict[str, dict[str, int]], int, list[dict[str, Any]], int, list[dict[str, Any]]]:
    n_cls = len(mapping.classes)
    app_b = np.zeros(n_cls, np.int64)
    app_p = np.zeros(n_cls, np.int64)
    app_f = np.zeros(n_cls, np.int64)
    talkers: list[tuple[int, str, int, int, int]] = []  # bytes, host, packets, sent, recv
    dev: dict[str, dict[str, Any]] = {}
    n_flows = 0
    n_hosts = 0
    for acc, width in ((s.flow4, 4), (s.flow6, 16)):
        ft = _flow_table(acc, width)
        if ft is None:
            continue
        n = ft.bytes.shape[0]
        n_flows += n
        code, client_b = _classify(s, ft, mapping)
        app_b += np.bincount(code, weights=ft.bytes, minlength=n_cls).astype(np.int64)
        app_p += np.bincount(code, weights=ft.frames, minlength=n_cls).astype(np.int64)
        app_f += np.bincount(code, minlength=n_cls)
        # hosts: a frame counts once per distinct address among its two ends
        other = ft.ib != ft.ia
        h = np.concatenate([ft.ia, ft.ib[other]])
        m = len(ft.names)
        by = np.concatenate([ft.bytes, ft.bytes[other]])
        fr = np.concatenate([ft.frames, ft.frames[other]])
        sent = np.concatenate([ft.a2b, (ft.bytes - ft.a2b)[other]])
        hb = np.bincount(h, weights=by, minlength=m).astype(np.int64)
        hp = np.bincount(h, weights=fr, minlength=m).astype(np.int64)
        hs = np.bincount(h, weights=sent, minlength=m).astype(np.int64)
        n_hosts += int((hp > 0).sum())
        for i in np.argsort(-hb, kind="stable")[:TOP_N].tolist():
            talkers.append((int(hb[i]), ft.names[i], int(hp[i]), int(hs[i]),
                            int(hb[i] - hs[i])))
        # devices: the client side of each flow, when it is a client-side address
        cli = np.where(client_b, ft.ib, ft.ia)
        ok = ft.client_ok[cli]
        key = cli[ok].astype(np.int64) * n_cls + code[ok]
        ks, sums, mn, mx = reduce_keyed(key, ft.bytes[ok][:, None], ft.t0[ok][:, None],
                                        ft.t1[ok][:, None])
        assert mn is not None and mx is not None
        for kk, by_, t0, t1 in zip(ks.tolist(), sums[:, 0].tolist(), mn[:, 0].tolist(),
                                   mx[:, 0].tolist(), strict=True):
            addr = ft.names[kk // n_cls]
            d = dev.setdefault(addr, {"address": addr, "bytes": 0, "apps": {}})
            d["bytes"] += by_
            dur = max((t1 - t0) / 1e9, 1.0) if t0 <= t1 else 1.0
            d["apps"][mapping.classes[kk % n_cls]] = {
                "bytes": by_, "active_s": round(dur, 3), "mbps": round(by_ * 8 / dur / 1e6, 6)}
    apps = {c: {"bytes": int(app_b[i]), "packets": int(app_p[i]), "flows": int(app_f[i])}
            for i, c in enumerate(mapping.classes)}
    talkers.sort(key=lambda r: (-r[0], r[1]))
    top = [{"host": h, "bytes": b, "packets": p, "bytes_sent": se, "bytes_received": rc}
           for b, h, p, se, rc in talkers[:TOP_N]]
    devices = sorted(dev.values(), key=lambda x: (-x["bytes"], x["address"]))
    return apps, n_flows, top, n_hosts, devices


def _control_facts(s: _State) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                       dict[str, Any], dict[str, int]]:
    neigh: dict[tuple[Any, ...], dict[str, Any]] = {}
    stp: dict[tuple[Any, ...], dict[str, Any]] = {}
    other: dict[str, int] = {}
    dhcp_types: dict[str, int] = {}
    clients: dict[str, dict[str, Any]] = {}
    if s.control:
        control.require_scapy()
    for (kind, body, src, vlan), (count, dstm) in s.control.items():
        if kind == "lldp":
            n = control.parse_lldp(body, src)
            if n is None:
                continue
            n["vlan"] = vlan if vlan >= 0 else None
            key = ("lldp", *(str(v) for k, v in sorted(n.items()) if k != "ttl"))
            ent = neigh.setdefault(key, {**n, "frames": 0})
            ent["frames"] += count
        elif kind == "llc":
            dst = _mac_str(dstm)
            st = control.parse_stp(body, dst)
            if st is not None:
                st["vlan"] = vlan if vlan >= 0 else None
                st["source_mac"] = src
                key = ("stp", *(str(v) for _k, v in sorted(st.items()) if _k != "bpdu_type"))
                e2 = stp.setdefault(key, {**st, "frames": 0})
                e2["frames"] += count
                continue
            r = control.parse_cisco_llc(body, src)
            if r is None:
                continue
            what, info = r
            if what == "cdp":
                info["vlan"] = vlan if vlan >= 0 else None
                key = ("cdp", *(str(v) for _k, v in sorted(info.items())))
                ent = neigh.setdefault(key, {**info, "frames": 0})
                ent["frames"] += count
            else:
                other[info["pid"]] = other.get(info["pid"], 0) + count
        elif kind == "dhcp":
            dh = control.parse_dhcp(body)
            if dh is None:
                continue
            mt = dh["message_type"] or "bootp"
            dhcp_types[mt] = dhcp_types.get(mt, 0) + count
            c = clients.setdefault(dh["client_mac"], {
                "mac": dh["client_mac"], "vlan": vlan if vlan >= 0 else None,
                "hostname": None, "vendor_class": None, "ip": None})
            for k in ("hostname", "vendor_class"):
                c[k] = c[k] or dh[k]
            if mt in ("offer", "ack") and dh["your_ip"]:
                c["ip"] = dh["your_ip"]
            elif dh["requested_ip"] and not c["ip"]:
                c["ip"] = dh["requested_ip"]
    per_vlan: dict[str, int] = {}
    for c in clients.values():
        kv = str(c["vlan"]) if c["vlan"] is not None else "untagged"
        per_vlan[kv] = per_vlan.get(kv, 0) + 1
    dhcp = {"frames": sum(dhcp_types.values()), "message_types": dhcp_types,
            "clients": sorted(clients.values(), key=lambda c: c["mac"]),
            "clients_per_vlan": per_vlan}
    nb = sorted(neigh.values(), key=lambda n: (n["protocol"], str(n.get("source_mac")),
                                               str(n.get("chassis_id") or n.get("device_id"))))
    return nb, list(stp.values()), dhcp, other


def analyse_capture(path: str | os.PathLike[str] | io.BufferedIOBase | io.BytesIO, *,
                    progress: Progress | None = None,
                    mapping: AppMapping | str | os.PathLike[str] | None = None,
                    control_plane: bool = True,
                    chunk_bytes: int = CHUNK_BYTES, max_packets: int | None = None,
                    max_seconds: float | None = None) -> CaptureSummary:
    """Analyse the pcap/pcapng capture at ``path`` in one streamed pass.

    ``progress(bytes_done, bytes_total)`` is called after each chunk. ``mapping`` is an
    :class:`AppMapping` or a user mapping file extending the shipped one.
    ``control_plane`` decodes LLDP/CDP/STP/DHCP with scapy (extra ``capture``; raises
    :class:`MissingExtraError` if it is missing). Raises :class:`CaptureFormatError`
    if the file is not a capture; a damaged tail gives a partial summary with
    ``complete`` False and ``stopped_at_offset`` set. ``max_packets`` / ``max_seconds``
    bound the read (for a FIFO that never ends): reaching one also gives a partial
    summary whose ``stop_reason`` names the limit. For a FIFO ``bytes_total`` is 0.
    """
    if control_plane:
        control.check_scapy()  # fail early; the import waits for control-plane frames
    mp = mapping if isinstance(mapping, AppMapping) else load_mapping(
        None if mapping is None else Path(mapping))
    name = str(getattr(path, "name", "<stream>")) if isinstance(path, io.IOBase) else str(path)
    st = ReadState(path=name)
    s = _State(control_plane)
    for b in iter_batches(path, st, chunk_bytes=chunk_bytes, max_packets=max_packets,
                          max_seconds=max_seconds):
        d = decode_batch(b)
        _add_batch(s, b, d)
        if progress is not None:
            progress(st.bytes_read, st.size_bytes)
    if progress is not None:
        progress(st.bytes_read if st.streaming else st.size_bytes, st.size_bytes)
    n_conv, convs = _conversations(s)
    n_conv6, convs6 = _conversations6(s)
    peak, p95, mean, series = _throughput(s)
    apps, n_flows, talkers, n_hosts, devices = _apps_and_hosts(s, mp)
    neigh, stp, dhcp, other = _control_facts(s) if control_plane else ([], [], {}, {})
    if s.control_dropped:
        st.warnings.append(f"{s.control_dropped} control-plane frames beyond the first "
                           f"{MAX_CONTROL_FRAMES} distinct ones were not decoded")
    vk, vs, _a, _b = s.vlan.result(np.dtype(np.int64))
    vlans = [{"vlan": int(k), "frames": int(v[0]), "bytes": int(v[1])}
             for k, v in zip(vk.tolist(), vs, strict=True)]
    t = s.totals
    return CaptureSummary(
        path=name, format=st.format, byte_order=st.byte_order,
        size_bytes=st.size_bytes,
        interfaces=[{"linktype": i.linktype, "snaplen": i.snaplen,
                     "ts_resolution": i.ts_resolution, "name": i.name}
                    for i in st.interfaces],
        packets=t.packets, bytes=t.wire_bytes, captured_bytes=t.captured_bytes,
        first_ts_ns=t.first_ts_ns, last_ts_ns=t.last_ts_ns, min_ts_ns=t.min_ts_ns,
        max_ts_ns=t.max_ts_ns, timestamps_monotonic=t.monotonic, complete=st.complete,
        stopped_at_offset=st.stopped_at_offset, stop_reason=st.stop_reason,
        warnings=st.warnings, packets_per_interface=dict(t.per_iface),
        packets_per_linktype=dict(t.per_linktype), ipv4_packets=s.v4, ipv6_packets=s.v6,
        conversations_total=n_conv, conversations=convs, ipv6_conversations_total=n_conv6,
        ipv6_conversations=convs6, top_talkers=talkers,
        hosts_total=n_hosts, apps=apps, flows_total=n_flows, vlans=vlans,
        vlan_tagged_frames=s.vlan_frames, neighbours=neigh, stp=stp, dhcp=dhcp,
        other_cisco=other,
        sni_names=dict(sorted(s.sni_count.items(), key=lambda kv: -kv[1])[:200]),
        dns_names=dict(sorted(s.dns_count.items(), key=lambda kv: -kv[1])[:200]),
        quic_client_hellos=s.quic_hellos, bin_seconds=1, peak_mbps=peak, p95_mbps=p95,
        mean_mbps=mean, throughput=series,
        devices=devices,
    )
