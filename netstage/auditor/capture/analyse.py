"""One streamed pass over a capture: totals, conversations, flows, apps, VLANs, facts.

Per chunk (:class:`~.reader.FrameBatch`) everything is vectorised: the decoder gives
per-frame arrays, and small keyed tables (directed IPv4 pairs, flows, 1-second bins,
VLANs) are reduced with sort/reduceat and merged across chunks
(:class:`~.aggregate.KeyedSums`). The only per-frame Python work is on the few
preselected frames: tunnelled frames (inner headers), TLS ClientHellos (SNI), DNS
responses and control-plane frames (LLDP/CDP/STP/DHCP, decoded with scapy).

This module is the driver (:func:`analyse_capture`, :class:`CaptureSummary` and the
per-chunk dispatch); the work is split along its seams (issue 13 item 6):
:mod:`.volumes` (conversations, flows, throughput), :mod:`.names` (TLS/QUIC SNI and DNS
names), :mod:`.control_plane` (LLDP/CDP/STP/DHCP frames) and :mod:`.classify`
(application classes, talkers, devices), over the accumulators in :mod:`.state`.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from netstage.auditor.capture import control
from netstage.auditor.capture.apps import AppMapping, load_mapping
from netstage.auditor.capture.classify import _apps_and_hosts
from netstage.auditor.capture.control_plane import (
    MAX_CONTROL_FRAMES,
    _control_facts,
    _select_control,
)
from netstage.auditor.capture.decode import Decoded, decode_batch
from netstage.auditor.capture.names import MAX_DNS_FRAMES as MAX_DNS_FRAMES
from netstage.auditor.capture.names import MAX_QUIC_DATAGRAMS as MAX_QUIC_DATAGRAMS
from netstage.auditor.capture.names import MAX_QUIC_PENDING as MAX_QUIC_PENDING
from netstage.auditor.capture.names import MAX_SNI_FRAMES as MAX_SNI_FRAMES
from netstage.auditor.capture.names import MAX_TLS_HELLO as MAX_TLS_HELLO
from netstage.auditor.capture.names import MAX_TLS_PENDING as MAX_TLS_PENDING
from netstage.auditor.capture.names import TLS_PENDING_FRAMES as TLS_PENDING_FRAMES
from netstage.auditor.capture.names import _names
from netstage.auditor.capture.neighbours import neighbour_links
from netstage.auditor.capture.reader import CHUNK_BYTES, FrameBatch, ReadState, iter_batches
from netstage.auditor.capture.state import _State
from netstage.auditor.capture.tunnel import walk_frame
from netstage.auditor.capture.volumes import (
    TOP_N,
    Conversation,
    _add_conversations,
    _add_flows,
    _conversations,
    _conversations6,
    _flow_keys,
    _throughput,
    _ts,
    _v4_bytes,
    _void_rows,
)

__all__ = ["CaptureSummary", "analyse_capture"]

Progress = Callable[[int, int], None]


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
