"""The project's own synthetic demo capture: 40 busy seconds of a school as pcapng.

Written from scratch (no third-party capture bytes): a span of the Lakeview district
(``netstage/topologies/stage3-emerging.yaml``) trunk, 802.1Q-tagged student / staff / IoT
VLANs, every client resolving its server by DNS and opening TLS with a ClientHello
carrying the SNI (over TCP, or inside a QUIC Initial for most video streams), so that
the analyser classifies flows the same way as on a real capture: video
(googlevideo.com), conferencing (Teams UDP 3478 + teams.microsoft.com), OS updates
(dl.google.com), online testing (testnav.com) and web. LLDP from the
district's switches (system names are the topology's node ids), CDP from the core,
building-management sensors on the IoT VLAN (MQTT over TLS, port 8883), RSTP BPDUs
and DHCP exchanges with host names.

Bulk data packets are stored cut to :data:`SNAPLEN` bytes (headers only, as a span
port with a snap length would store them) while their original length is the full
1514-byte frame, so the file stays small while byte counts and rates are realistic.
All addresses are private or from the documentation ranges (RFC 5737, RFC 3849).

The output is a pure function of the arguments: the same seed writes the same bytes.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_NAME", "SNAPLEN", "quic_client_initials", "tls_client_hello_segments",
           "write_synthetic_capture"]

DEFAULT_NAME = "lakeview-busy-hour-sample.pcapng"
SNAPLEN = 64
START_NS = 1_773_136_800 * 1_000_000_000  # 2026-03-10 10:00:00 UTC, a school morning
VLAN_STUDENT, VLAN_STAFF, VLAN_IOT = 110, 120, 130
GATEWAY_MAC = bytes.fromhex("02000a140001")
RESOLVER = "10.20.1.53"

# Server names -> addresses in the documentation ranges (RFC 5737)
SERVERS = {
    "rr3---sn-video.googlevideo.com": "203.0.113.10",
    "i.ytimg.com": "203.0.113.11",
    "teams.microsoft.com": "198.51.100.20",
    "dl.google.com": "203.0.113.30",
    "student.testnav.com": "198.51.100.40",
    "docs.google.com": "203.0.113.50",
    "lakeview.instructure.com": "198.51.100.60",
    "en.wikipedia.org": "192.0.2.70",
}
TEAMS_MEDIA = "198.51.100.21"
IOT_BROKER = "192.0.2.80"

# LLDP/CDP speakers: topology node ids (stage3-emerging.yaml) and their uplink ports
SWITCHES = [
    ("core", "Aruba CX 8325", "1/1/1", "02:0a:00:00:00:01", "10.20.0.1"),
    ("es-dist", "Aruba CX 6300", "1/1/49", "02:0a:00:00:01:01", "10.20.0.11"),
    ("es-acc1", "Aruba CX 6100", "1/1/52", "02:0a:00:00:01:11", "10.20.0.12"),
    ("es-acc2", "Aruba CX 6100", "1/1/52", "02:0a:00:00:01:12", "10.20.0.13"),
]
# operational MAU type their uplinks advertise in the LLDP 802.3 MAC/PHY TLV:
# dot3MauType10GigBaseSR (IANA-MAU-MIB), the 10 Gb/s fiber of stage3-emerging.yaml
UPLINK_MAU_TYPE = 36


@dataclass(frozen=True)
class _Rec:
    ts_ns: int
    iface: int
    data: bytes  # captured bytes
    wirelen: int


def _mac(s: str) -> bytes:
    return bytes.fromhex(s.replace(":", ""))


def _ip(s: str) -> bytes:
    return bytes(int(x) for x in s.split("."))


def _csum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f">{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _eth(dst: bytes, src: bytes, vlan: int | None, ethertype: int, payload: bytes) -> bytes:
    tag = struct.pack(">HH", 0x8100, vlan) if vlan is not None else b""
    return dst + src + tag + struct.pack(">H", ethertype) + payload


def _ipv4(src: str, dst: str, proto: int, l4: bytes, total_l4: int, ident: int) -> bytes:
    hdr = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + total_l4, ident & 0xFFFF, 0x4000, 64,
                      proto, 0, _ip(src), _ip(dst))
    hdr = hdr[:10] + struct.pack(">H", _csum(hdr)) + hdr[12:]
    return hdr + l4


def _tcp(sport: int, dport: int, seq: int, ack: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                       5 << 4, flags, 64240, 0, 0) + payload


def _udp(sport: int, dport: int, payload: bytes, total: int | None = None) -> bytes:
    return struct.pack(">HHHH", sport, dport, 8 + (total if total is not None
                                                   else len(payload)), 0) + payload


def _dns_name(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"


def _dns(qid: int, name: str, answer: str | None) -> bytes:
    flags = 0x8180 if answer else 0x0100
    q = _dns_name(name) + struct.pack(">HH", 1, 1)
    msg = struct.pack(">HHHHHH", qid, flags, 1, 1 if answer else 0, 0, 0) + q
    if answer:
        msg += struct.pack(">HHHIH", 0xC00C, 1, 1, 300, 4) + _ip(answer)
    return msg


def _hello_message(sni: str, rnd: random.Random, *, before_sni: int = 0,
                   alpn: bytes = b"\x02h2\x08http/1.1") -> bytes:
    """A ClientHello handshake message (no record header) naming ``sni``; ``before_sni``
    bytes of a padding extension (RFC 7685) come first, as a large key share would."""
    name = sni.encode()
    sni_ext = struct.pack(">HHHBH", 0, len(name) + 5, len(name) + 3, 0, len(name)) + name
    alpn_ext = struct.pack(">HHH", 0x10, len(alpn) + 2, len(alpn)) + alpn
    pad = struct.pack(">HH", 0x15, before_sni) + bytes(before_sni) if before_sni else b""
    exts = pad + sni_ext + alpn_ext + b"\x00\x0b\x00\x02\x01\x00"
    body = (b"\x03\x03" + bytes(rnd.getrandbits(8) for _ in range(32)) + b"\x00"
            + struct.pack(">H", 6) + b"\x13\x01\x13\x02\xc0\x2f" + b"\x01\x00"
            + struct.pack(">H", len(exts)) + exts)
    return b"\x01" + len(body).to_bytes(3, "big") + body


def _client_hello(sni: str, rnd: random.Random, *, before_sni: int = 0) -> bytes:
    hs = _hello_message(sni, rnd, before_sni=before_sni)
    return b"\x16\x03\x01" + struct.pack(">H", len(hs)) + hs


def tls_client_hello_segments(sni: str, rnd: random.Random, *, before_sni: int = 0,
                              mss: int = 1460) -> list[bytes]:
    """A TLS ClientHello record for ``sni`` cut into TCP payloads of at most ``mss`` bytes
    (``before_sni`` bytes of padding first, as a post-quantum key share would)."""
    record = _client_hello(sni, rnd, before_sni=before_sni)
    return [record[i:i + mss] for i in range(0, len(record), mss)]


def _varint(v: int) -> bytes:
    """RFC 9000 §16 variable-length integer (1, 2 or 4 bytes)."""
    if v < 0x40:
        return bytes([v])
    if v < 0x4000:
        return struct.pack(">H", 0x4000 | v)
    return struct.pack(">I", 0x80000000 | v)


def quic_client_initials(sni: str, rnd: random.Random, *, dcid: bytes, scid: bytes = b"",
                         version: int = 1, packets: int = 1, scramble: bool = False,
                         before_sni: int = 0) -> list[bytes]:
    """UDP payloads of a client's first QUIC Initial datagrams carrying a ClientHello for
    ``sni`` (RFC 9000 §17.2.2, protected as RFC 9001 §5 / RFC 9369 §3 say).

    The hello is cut into ``packets`` CRYPTO frames, one Initial per datagram, each
    padded to 1200 bytes; ``scramble`` splits each packet's share into two CRYPTO frames
    sent in reverse order (as Chrome does). Used by the tests (tshark reads these) and
    available to demo data; :mod:`netstage.auditor.capture.quic` reads them back.
    """
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from netstage.auditor.capture.quic import (
        QUIC_V2,
        client_initial_keys,
        header_mask,
        packet_nonce,
    )

    hello = _hello_message(sni, rnd, before_sni=before_sni, alpn=b"\x02h3")
    key, iv, hp = client_initial_keys(dcid, version)
    ptype = 1 if version == QUIC_V2 else 0
    step = -(-len(hello) // packets)
    out = []
    for pn in range(packets):
        lo, hi = pn * step, min(len(hello), (pn + 1) * step)
        parts = [(lo, hello[lo:hi])]
        if scramble and hi - lo > 1:
            mid = (lo + hi) // 2
            parts = [(mid, hello[mid:hi]), (lo, hello[lo:mid])]
        frames = b"".join(b"\x06" + _varint(off) + _varint(len(d)) + d for off, d in parts)
        pn_bytes = struct.pack(">H", pn)
        head = (bytes([0xC0 | ptype << 4 | (len(pn_bytes) - 1)]) + struct.pack(">I", version)
                + bytes([len(dcid)]) + dcid + bytes([len(scid)]) + scid + _varint(0))
        # pad the datagram to 1200 bytes: header + 2-byte length + pn + frames + tag
        frames += bytes(max(0, 1200 - (len(head) + 2 + len(pn_bytes) + len(frames) + 16)))
        header = head + _varint(len(pn_bytes) + len(frames) + 16).rjust(2, b"\x40") + pn_bytes
        sealed = AESGCM(key).encrypt(packet_nonce(iv, pn_bytes), frames, header)
        mask = header_mask(hp, sealed[4 - len(pn_bytes):20 - len(pn_bytes)])
        first = header[0] ^ (mask[0] & 0x0F)
        pn_off = len(header) - len(pn_bytes)
        masked_pn = bytes(b ^ mask[1 + i] for i, b in enumerate(pn_bytes))
        out.append(bytes([first]) + header[1:pn_off] + masked_pn + sealed)
    return out


def _lldp(name: str, descr: str, port: str, mac: str, mgmt: str, vlan: int) -> bytes:
    def tlv(t: int, v: bytes) -> bytes:
        return struct.pack(">H", (t << 9) | len(v)) + v

    return (tlv(1, b"\x04" + _mac(mac)) + tlv(2, b"\x05" + port.encode())
            + tlv(3, struct.pack(">H", 120)) + tlv(4, f"uplink {port}".encode())
            + tlv(5, name.encode()) + tlv(6, f"{descr} ArubaOS-CX 10.13".encode())
            + tlv(7, struct.pack(">HH", 0x0014, 0x0014))
            + tlv(8, b"\x05\x01" + _ip(mgmt) + b"\x02\x00\x00\x00\x01\x00")
            + tlv(127, b"\x00\x80\xc2\x01" + struct.pack(">H", vlan))
            # IEEE 802.3 MAC/PHY Configuration/Status of the 10G fiber uplink: no
            # auto-negotiation (status 0, no advertised capability), operational MAU type
            + tlv(127, b"\x00\x12\x0f\x01" + struct.pack(">BHH", 0, 0, UPLINK_MAU_TYPE))
            + tlv(0, b""))


def _cdp(name: str, port: str, platform: str, mgmt: str, native: int) -> bytes:
    def tlv(t: int, v: bytes) -> bytes:
        return struct.pack(">HH", t, len(v) + 4) + v

    addr = struct.pack(">I", 1) + b"\x01\x01\xcc" + struct.pack(">H", 4) + _ip(mgmt)
    body = (tlv(1, name.encode()) + tlv(2, addr) + tlv(3, port.encode())
            + tlv(4, struct.pack(">I", 0x28)) + tlv(5, b"ArubaOS-CX 10.13")
            + tlv(6, platform.encode()) + tlv(9, b"lakeview")
            + tlv(10, struct.pack(">H", native)))
    pdu = b"\x02\xb4" + struct.pack(">H", 0) + body
    pdu = pdu[:2] + struct.pack(">H", _csum(pdu)) + pdu[4:]
    return b"\xaa\xaa\x03\x00\x00\x0c\x20\x00" + pdu


def _llc_frame(dst: bytes, src: bytes, llc: bytes) -> bytes:
    return dst + src + struct.pack(">H", len(llc)) + llc


def _rstp(bridge_mac: str) -> bytes:
    m = _mac(bridge_mac)
    bpdu = (struct.pack(">HBBB", 0, 2, 2, 0x3C) + struct.pack(">H", 0x6000) + m
            + struct.pack(">I", 0) + struct.pack(">H", 0x6000) + m
            + struct.pack(">HHHHHB", 0x8001, 0, 20 * 256, 2 * 256, 15 * 256, 0))
    return b"\x42\x42\x03" + bpdu


def _dhcp(op: int, xid: int, mac: bytes, yiaddr: str, mtype: int, host: str | None,
          server: str, requested: str | None = None) -> bytes:
    b = struct.pack(">BBBBIHH4s4s4s4s", op, 1, 6, 0, xid, 0, 0x8000, b"\0" * 4,
                    _ip(yiaddr), b"\0" * 4, b"\0" * 4)
    b += mac + b"\0" * 10 + b"\0" * 192 + b"\x63\x82\x53\x63"
    b += bytes([53, 1, mtype])
    if host:
        b += bytes([12, len(host)]) + host.encode()
    if op == 1:
        b += bytes([60, 8]) + b"ChromeOS"
        if requested:
            b += bytes([50, 4]) + _ip(requested)
    else:
        b += bytes([54, 4]) + _ip(server) + bytes([51, 4]) + struct.pack(">I", 86400)
    return b + b"\xff"


class _Builder:
    def __init__(self, seed: int, seconds: float) -> None:
        self.rnd = random.Random(seed)
        self.seconds = seconds
        self.recs: list[_Rec] = []
        self.ident = 1

    def add(self, t_s: float, frame: bytes, wirelen: int | None = None, iface: int = 0,
            snap: bool = False) -> None:
        wl = wirelen if wirelen is not None else len(frame)
        data = frame[:SNAPLEN] if snap else frame
        self.recs.append(_Rec(START_NS + round(t_s * 1e9), iface, data, max(wl, len(data))))

    def ip_frame(self, t: float, cmac: bytes, vlan: int, src: str, dst: str, proto: int,
                 l4: bytes, l4_total: int, to_client: bool, snap: bool = False) -> None:
        self.ident += 1
        pkt = _ipv4(src, dst, proto, l4, l4_total, self.ident)
        s, d = (GATEWAY_MAC, cmac) if to_client else (cmac, GATEWAY_MAC)
        frame = _eth(d, s, vlan, 0x0800, pkt)
        wire = 18 + 20 + l4_total
        self.add(t, frame, max(wire, 64), snap=snap)

    def resolve(self, t0: float, cmac: bytes, vlan: int, cip: str,
                name: str) -> tuple[str, int]:
        """The client's DNS query for ``name`` and the answer: (server address, the
        client port its session will use; the query goes from the port below it)."""
        r = self.rnd
        sip = SERVERS[name]
        sport = r.randint(49152, 65000)
        qid = r.getrandbits(16)
        q = _udp(sport - 1, 53, _dns(qid, name, None))
        self.ip_frame(t0, cmac, vlan, cip, RESOLVER, 17, q, len(q), False)
        a = _udp(53, sport - 1, _dns(qid, name, sip))
        self.ip_frame(t0 + 0.004, cmac, vlan, RESOLVER, cip, 17, a, len(a), True)
        return sip, sport

    def tls_session(self, t0: float, cmac: bytes, vlan: int, cip: str, name: str,
                    mbps: float, seconds: float, upload_share: float = 0.02) -> None:
        """DNS lookup, TCP handshake, ClientHello (SNI), then bulk data at ``mbps``."""
        r = self.rnd
        sip, sport = self.resolve(t0, cmac, vlan, cip, name)
        t = t0 + 0.006
        seq, ack = r.getrandbits(32), r.getrandbits(32)
        self.ip_frame(t, cmac, vlan, cip, sip, 6, _tcp(sport, 443, seq, 0, 0x02, b""), 20,
                      False)
        self.ip_frame(t + 0.012, cmac, vlan, sip, cip, 6,
                      _tcp(443, sport, ack, seq + 1, 0x12, b""), 20, True)
        self.ip_frame(t + 0.0121, cmac, vlan, cip, sip, 6,
                      _tcp(sport, 443, seq + 1, ack + 1, 0x10, b""), 20, False)
        hello = _client_hello(name, r)
        self.ip_frame(t + 0.0122, cmac, vlan, cip, sip, 6,
                      _tcp(sport, 443, seq + 1, ack + 1, 0x18, hello), 20 + len(hello), False)
        # bulk: 1460-byte segments down, one ACK up per two segments (plus uploads)
        n = max(1, int(mbps * 1e6 * seconds / 8 / 1460))
        start = t + 0.03
        for k in range(n):
            tk = start + seconds * k / n + r.uniform(0, seconds / n / 4)
            up = r.random() < upload_share
            seg = _tcp(443, sport, ack + 1 + k * 1460, seq + 1, 0x10, b"")
            if up:
                self.ip_frame(tk, cmac, vlan, cip, sip, 6, _tcp(sport, 443, seq, ack, 0x18,
                                                                  b""), 20 + 1460, False,
                              snap=True)
            else:
                self.ip_frame(tk, cmac, vlan, sip, cip, 6, seg, 20 + 1460, True, snap=True)
            if k % 2 == 1:
                self.ip_frame(tk + 0.0002, cmac, vlan, cip, sip, 6,
                              _tcp(sport, 443, seq + 1, ack + 1 + k * 1460, 0x10, b""), 20,
                              False)
        tf = start + seconds + 0.01
        self.ip_frame(tf, cmac, vlan, cip, sip, 6, _tcp(sport, 443, seq + 1, ack, 0x11, b""),
                      20, False)
        self.ip_frame(tf + 0.012, cmac, vlan, sip, cip, 6,
                      _tcp(443, sport, ack, seq + 2, 0x11, b""), 20, True)

    def quic_session(self, t0: float, cmac: bytes, vlan: int, cip: str, name: str,
                     mbps: float, seconds: float) -> None:
        """DNS lookup, the client's QUIC Initial (SNI inside, RFC 9001 protection), the
        server's first flight (opaque), then 1-RTT data at ``mbps`` over UDP 443."""
        r = self.rnd
        sip, sport = self.resolve(t0, cmac, vlan, cip, name)
        t = t0 + 0.006
        dcid = bytes(r.getrandbits(8) for _ in range(8))
        scid = bytes(r.getrandbits(8) for _ in range(8))
        for dg in quic_client_initials(name, r, dcid=dcid, scid=scid):
            self.ip_frame(t, cmac, vlan, cip, sip, 17, _udp(sport, 443, dg), 8 + len(dg),
                          False)
        flight = (bytes([0xE0]) + struct.pack(">I", 1) + bytes([8]) + scid + bytes([8])
                  + bytes(r.getrandbits(8) for _ in range(8)) + _varint(1150)
                  + bytes(r.getrandbits(8) for _ in range(1150)))
        self.ip_frame(t + 0.014, cmac, vlan, sip, cip, 17, _udp(443, sport, flight),
                      8 + len(flight), True)
        n = max(1, int(mbps * 1e6 * seconds / 8 / 1350))
        start = t + 0.03
        for k in range(n):  # short-header packets down, an acknowledgement up per four
            tk = start + seconds * k / n + r.uniform(0, seconds / n / 4)
            down = bytes([0x40 | r.getrandbits(5)]) + scid
            self.ip_frame(tk, cmac, vlan, sip, cip, 17, _udp(443, sport, down), 8 + 1350,
                          True, snap=True)
            if k % 4 == 3:
                up = bytes([0x40 | r.getrandbits(5)]) + dcid
                self.ip_frame(tk + 0.0003, cmac, vlan, cip, sip, 17, _udp(sport, 443, up),
                              8 + 40, False, snap=True)

    def teams_call(self, t0: float, cmac: bytes, vlan: int, cip: str, mbps: float,
                   seconds: float) -> None:
        """Signalling over TLS to teams.microsoft.com, media over UDP 3478 both ways."""
        self.tls_session(t0, cmac, vlan, cip, "teams.microsoft.com", 0.05, 1.0)
        r = self.rnd
        cport = r.randint(50000, 50059)
        n = max(1, int(mbps * 1e6 * seconds / 8 / 1100))
        for k in range(n):
            tk = t0 + 1.2 + seconds * k / n
            down = k % 2 == 0
            size = r.randint(900, 1200)
            if down:
                l4 = _udp(3478, cport, b"", size)
                self.ip_frame(tk, cmac, vlan, TEAMS_MEDIA, cip, 17, l4, 8 + size, True,
                              snap=True)
            else:
                l4 = _udp(cport, 3478, b"", size)
                self.ip_frame(tk, cmac, vlan, cip, TEAMS_MEDIA, 17, l4, 8 + size, False,
                              snap=True)


def _plan(b: _Builder) -> None:
    r = b.rnd
    secs = b.seconds
    devices: list[tuple[bytes, int, str, str]] = []
    for i in range(36):  # student Chromebooks
        devices.append((_mac(f"02:1c:00:00:{i // 256:02x}:{i % 256:02x}"), VLAN_STUDENT,
                        f"10.20.110.{20 + i}", f"chromebook-{i:03d}"))
    for i in range(8):  # staff laptops
        devices.append((_mac(f"02:5f:00:00:00:{i:02x}"), VLAN_STAFF, f"10.20.120.{20 + i}",
                        f"staff-laptop-{i:02d}"))
    # student devices: what each one does in this minute
    roles = (["web"] * 14 + ["video"] * 8 + ["testing"] * 8 + ["conference"] * 3
             + ["update"] * 3)
    r.shuffle(roles)
    web_sites = ["docs.google.com", "lakeview.instructure.com", "en.wikipedia.org"]
    n_video = 0
    for (mac, vlan, ip, _host), role in zip(devices[:36], roles, strict=True):
        t0 = r.uniform(0.5, secs * 0.5)
        if role == "web":
            for _ in range(2):
                b.tls_session(t0, mac, vlan, ip, r.choice(web_sites), r.uniform(0.3, 1.2),
                              r.uniform(0.5, 1.5), upload_share=0.1)
                t0 += r.uniform(3, 8)
        elif role == "video":
            b.tls_session(t0, mac, vlan, ip, "i.ytimg.com", 0.5, 0.5)
            # YouTube on a Chromebook mostly streams over QUIC; every third falls back
            n_video += 1
            stream = b.tls_session if n_video % 3 == 0 else b.quic_session
            stream(t0 + 0.6, mac, vlan, ip, "rr3---sn-video.googlevideo.com",
                   r.uniform(1.5, 4.0), r.uniform(1.5, 3.0))
        elif role == "testing":
            b.tls_session(t0, mac, vlan, ip, "student.testnav.com", r.uniform(0.04, 0.12),
                          r.uniform(10.0, 15.0), upload_share=0.3)
        elif role == "conference":
            b.teams_call(t0, mac, vlan, ip, r.uniform(1.0, 2.0), r.uniform(2.0, 4.0))
        else:
            b.tls_session(t0, mac, vlan, ip, "dl.google.com", r.uniform(6.0, 12.0),
                          r.uniform(1.0, 1.5))
    for mac, vlan, ip, _host in devices[36:]:  # staff: web, one presents video, one call
        t0 = r.uniform(0.5, secs * 0.5)
        b.tls_session(t0, mac, vlan, ip, r.choice(web_sites), r.uniform(0.3, 1.0),
                      r.uniform(0.5, 1.5), upload_share=0.15)
    b.teams_call(secs * 0.3, devices[37][0], VLAN_STAFF, devices[37][2], 2.0, 4.0)
    b.tls_session(secs * 0.2, devices[38][0], VLAN_STAFF, devices[38][2],
                  "rr3---sn-video.googlevideo.com", 3.0, 2.5)
    # building-management sensors on the IoT VLAN: small MQTT-over-TLS updates
    iot = [(_mac(f"02:10:7a:00:00:{i:02x}"), VLAN_IOT, f"10.20.130.{20 + i}", f"bms-sensor-{i}")
           for i in range(4)]
    for mac, vlan, ip, _host in iot:
        port = r.randint(40000, 60000)
        for k in range(int(secs // 5)):
            t = r.uniform(0, 1) + 5 * k
            l4 = _tcp(port, 8883, k * 200, 1, 0x18, b"")
            b.ip_frame(t, mac, vlan, ip, IOT_BROKER, 6, l4, 20 + r.randint(120, 260), False)
            b.ip_frame(t + 0.03, mac, vlan, IOT_BROKER, ip, 6,
                       _tcp(8883, port, 1, k * 200, 0x10, b""), 20, True)
    # DHCP: two students, a staff laptop and a sensor (re)join
    for k, (mac, vlan, ip, host) in enumerate([devices[0], devices[20], devices[40], iot[0]]):
        t = 2.0 + k * 9.0
        xid = r.getrandbits(32)
        for dt, op, mt, yi in ((0.0, 1, 1, "0.0.0.0"), (0.01, 2, 2, ip), (0.02, 1, 3, ip),
                               (0.03, 2, 5, ip)):
            payload = _dhcp(op, xid, mac, yi if op == 2 else "0.0.0.0", mt,
                            host if op == 1 else None, "10.20.0.1",
                            requested=ip if mt == 3 else None)
            src, dst = ("0.0.0.0", "255.255.255.255") if op == 1 else ("10.20.0.1", ip)
            ports = (68, 67) if op == 1 else (67, 68)
            l4 = _udp(ports[0], ports[1], payload)
            pkt = _ipv4(src, dst, 17, l4, len(l4), 0)
            smac, dmac = (mac, b"\xff" * 6) if op == 1 else (GATEWAY_MAC, mac)
            b.add(t + dt, _eth(dmac, smac, vlan, 0x0800, pkt))
    # control plane on interface 1 (the core's span session, microsecond clock)
    lldp_mc = _mac("01:80:c2:00:00:0e")
    for k, (name, descr, sw_port, sw_mac, mgmt) in enumerate(SWITCHES):
        for t in (1.0 + k, 31.0 + k):
            frame = _eth(lldp_mc, _mac(sw_mac), None, 0x88CC,
                         _lldp(name, descr, sw_port, sw_mac, mgmt, 1))
            b.add(t, frame + b"\0" * max(0, 60 - len(frame)), iface=1)
    core = SWITCHES[0]
    cdp = _llc_frame(_mac("01:00:0c:cc:cc:cc"), _mac(core[3]),
                     _cdp(core[0], core[2], core[1], core[4], 1))
    b.add(20.0, cdp, iface=1)
    stp = _llc_frame(_mac("01:80:c2:00:00:00"), _mac(core[3]), _rstp(core[3]))
    for k in range(int(secs // 2)):
        b.add(0.25 + 2 * k, stp + b"\0" * max(0, 60 - len(stp)), iface=1)


def _shb() -> bytes:
    opts = _opt(4, b"netstage synth") + struct.pack("<HH", 0, 0)
    body = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + opts
    return _block(0x0A0D0D0A, body)


def _opt(code: int, val: bytes) -> bytes:
    pad = (-len(val)) % 4
    return struct.pack("<HH", code, len(val)) + val + b"\0" * pad


def _block(btype: int, body: bytes) -> bytes:
    ln = 12 + len(body)
    return struct.pack("<II", btype, ln) + body + struct.pack("<I", ln)


def _idb(name: str, tsresol: int | None, snaplen: int) -> bytes:
    opts = _opt(2, name.encode())
    if tsresol is not None:
        opts += _opt(9, bytes([tsresol]))
    opts += struct.pack("<HH", 0, 0)
    return _block(1, struct.pack("<HHI", 1, 0, snaplen) + opts)


def _epb(rec: _Rec, ns_per_unit: int) -> bytes:
    units = (rec.ts_ns) // ns_per_unit
    pad = (-len(rec.data)) % 4
    body = struct.pack("<IIIII", rec.iface, units >> 32, units & 0xFFFFFFFF,
                       len(rec.data), rec.wirelen) + rec.data + b"\0" * pad
    return _block(6, body)


def write_synthetic_capture(path: str | Path, *, seed: int = 2026,
                            seconds: float = 40.0) -> Path:
    """Write the demo capture (pcapng, two interfaces) to ``path``; returns the path.

    Interface 0 is the distribution trunk span (802.1Q, nanosecond timestamps,
    bulk frames cut to :data:`SNAPLEN` bytes), interface 1 the core's span with the
    control-plane frames (microsecond timestamps). Deterministic for a given seed.
    """
    b = _Builder(seed, seconds)
    _plan(b)
    recs = sorted(b.recs, key=lambda x: (x.ts_ns, x.iface))
    out = bytearray(_shb())
    out += _idb("span-es-dist-trunk", 9, 65535)
    out += _idb("span-core", None, 65535)
    for rec in recs:
        out += _epb(rec, 1 if rec.iface == 0 else 1000)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(bytes(out))
    return p
