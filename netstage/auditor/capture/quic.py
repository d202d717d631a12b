"""QUIC client Initial packets -> the TLS ClientHello they carry (for its SNI).

Most video, Google Workspace and Meet traffic from school Chromebooks runs over QUIC
(UDP 443), so port numbers alone would leave a large share of a capture unclassified.
A client's first packets are QUIC *Initial* packets, whose protection keys are derived
from the connection id in the clear (RFC 9001 §5.2): any observer can remove that
protection and read the ClientHello, which is what on-path tools such as Wireshark do.

Steps (RFC 9000 §17.2.2, RFC 9001 §5, RFC 9369 §3 for QUIC version 2):

1. long header with the fixed bit, version 1 (``0x00000001``) or 2 (``0x6b3343cf``),
   packet type Initial (0 in v1, 1 in v2);
2. ``initial_secret = HKDF-Extract(salt(version), DCID)``, ``client_secret =
   HKDF-Expand-Label(initial_secret, "client in", "", 32)``, then key (16), iv (12) and
   header-protection key (16) with the labels ``quic key``/``quic iv``/``quic hp``
   (v2: ``quicv2 key``/``quicv2 iv``/``quicv2 hp``);
3. header protection: ``mask = AES-ECB(hp, sample)`` with the 16 bytes 4 after the
   packet-number offset; unmask the low 4 bits of the first byte and the packet number;
4. AES-128-GCM with ``nonce = iv XOR packet number`` and the unprotected header as
   associated data;
5. frames: PADDING, PING, ACK and CRYPTO (offset, data) are read, CONNECTION_CLOSE ends
   the packet; anything else is not allowed in an Initial and ends it too.

A ClientHello with a post-quantum key share (Chrome, 2024 on) is longer than one
Initial, and Chrome scatters its CRYPTO frames out of order, so the data is reassembled
by offset per connection (:class:`HelloAssembler`) before the SNI is read. Only the
handful of candidate datagrams selected by the vectorised path come here.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass, field
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["QUIC_V1", "QUIC_V2", "HelloAssembler", "client_initial_keys", "header_mask",
           "packet_nonce", "read_client_initials"]

QUIC_V1 = 0x00000001
QUIC_V2 = 0x6B3343CF
# version -> (initial salt, HKDF label prefix, Initial packet type)
# RFC 9001 §5.2 and RFC 9369 §3.3.1 / §3.2
_VERSIONS: dict[int, tuple[bytes, bytes, int]] = {
    QUIC_V1: (bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a"), b"quic ", 0),
    QUIC_V2: (bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9"), b"quicv2 ", 1),
}
#: how much ClientHello data one connection may buffer before it is given up
MAX_HELLO_BYTES = 16 * 1024  # a ClientHello is one TLS handshake message, < 16 kB in practice


def _expand_label(secret: bytes, label: bytes, length: int) -> bytes:
    """TLS 1.3 HKDF-Expand-Label (RFC 8446 §7.1) with SHA-256 and an empty context."""
    full = b"tls13 " + label
    info = struct.pack(">HB", length, len(full)) + full + b"\x00"
    out, block, i = b"", b"", 1
    while len(out) < length:  # HKDF-Expand (RFC 5869 §2.3)
        block = hmac.new(secret, block + info + bytes([i]), hashlib.sha256).digest()
        out += block
        i += 1
    return out[:length]


@lru_cache(maxsize=4096)
def client_initial_keys(dcid: bytes, version: int = QUIC_V1) -> tuple[bytes, bytes, bytes]:
    """(key, iv, header-protection key) of a client's Initial packets for ``dcid``."""
    salt, prefix, _ = _VERSIONS[version]
    initial = hmac.new(salt, dcid, hashlib.sha256).digest()  # HKDF-Extract
    client = _expand_label(initial, b"client in", 32)
    return (_expand_label(client, prefix + b"key", 16),
            _expand_label(client, prefix + b"iv", 12),
            _expand_label(client, prefix + b"hp", 16))


def header_mask(hp: bytes, sample: bytes) -> bytes:
    """Header-protection mask: AES-ECB of the 16-byte ciphertext sample (RFC 9001 §5.4.3);
    the same mask protects and unprotects."""
    encryptor = Cipher(algorithms.AES(hp), modes.ECB()).encryptor()
    return encryptor.update(sample) + encryptor.finalize()


def packet_nonce(iv: bytes, pn: bytes) -> bytes:
    """AEAD nonce: the IV XOR the packet number, left-padded (RFC 9001 §5.3)."""
    return bytes(a ^ b for a, b in zip(iv, pn.rjust(len(iv), b"\x00"), strict=True))


def _varint(buf: bytes, p: int) -> tuple[int, int]:
    """RFC 9000 §16 variable-length integer at ``p``: (value, offset after it)."""
    first = buf[p]
    n = 1 << (first >> 6)
    if p + n > len(buf):
        raise IndexError("varint past the end")
    value = first & 0x3F
    for b in buf[p + 1:p + n]:
        value = value << 8 | b
    return value, p + n


def _frames(plain: bytes) -> list[tuple[int, bytes]]:
    """CRYPTO fragments (offset, data) of a decrypted Initial payload."""
    out: list[tuple[int, bytes]] = []
    q = 0
    while q < len(plain):
        t = plain[q]
        if t in (0x00, 0x01):  # PADDING, PING
            q += 1
        elif t in (0x02, 0x03):  # ACK (and with ECN counts)
            q += 1
            _largest, q = _varint(plain, q)
            _delay, q = _varint(plain, q)
            n_ranges, q = _varint(plain, q)
            _first, q = _varint(plain, q)
            for _ in range(2 * n_ranges + (3 if t == 0x03 else 0)):
                _v, q = _varint(plain, q)
        elif t == 0x06:  # CRYPTO
            offset, q = _varint(plain, q + 1)
            length, q = _varint(plain, q)
            if q + length > len(plain):
                break
            out.append((offset, plain[q:q + length]))
            q += length
        else:  # CONNECTION_CLOSE or a frame an Initial may not carry: stop
            break
    return out


def _one_initial(d: bytes, p: int) -> tuple[bytes | None, list[tuple[int, bytes]], int]:
    """Decrypt the long-header packet at ``p``: (DCID or None, CRYPTO fragments, offset of
    the next packet in the datagram, or -1 when there is none to read)."""
    b0 = d[p]
    if b0 & 0xC0 != 0xC0 or p + 7 > len(d):
        return None, [], -1
    version = int.from_bytes(d[p + 1:p + 5], "big")
    spec = _VERSIONS.get(version)
    if spec is None:
        return None, [], -1
    q = p + 5
    dcid_len = d[q]
    if dcid_len > 20:
        return None, [], -1
    dcid = bytes(d[q + 1:q + 1 + dcid_len])
    q += 1 + dcid_len
    q += 1 + d[q]  # source connection id
    ptype = (b0 >> 4) & 3
    if ptype == spec[2]:
        token_len, q = _varint(d, q)
        q += token_len
    length, pn_off = _varint(d, q)
    end = pn_off + length
    if end > len(d):
        return None, [], -1
    if ptype != spec[2]:  # 0-RTT / Handshake coalesced after the Initial: skip it
        return None, [], end if end < len(d) else -1
    if length < 20:  # too short for the header-protection sample
        return None, [], -1
    key, iv, hp = client_initial_keys(dcid, version)
    mask = header_mask(hp, bytes(d[pn_off + 4:pn_off + 20]))
    first = b0 ^ (mask[0] & 0x0F)
    pn_len = (first & 0x03) + 1
    pn = bytes(d[pn_off + i] ^ mask[1 + i] for i in range(pn_len))
    header = bytes([first]) + bytes(d[p + 1:pn_off]) + pn
    try:
        plain = AESGCM(key).decrypt(packet_nonce(iv, pn), bytes(d[pn_off + pn_len:end]), header)
    except InvalidTag:  # not a client Initial (a server's, or not QUIC at all)
        return None, [], -1
    return dcid, _frames(plain), end if end < len(d) else -1


def read_client_initials(datagram: bytes) -> list[tuple[bytes, list[tuple[int, bytes]]]]:
    """(DCID, CRYPTO fragments) of every client Initial packet in one UDP datagram.

    Returns [] for anything else (short-header packets, server Initials whose keys
    differ, other UDP). Never raises on malformed input.
    """
    out: list[tuple[bytes, list[tuple[int, bytes]]]] = []
    p = 0
    try:
        for _ in range(8):  # a datagram coalesces at most a few packets
            dcid, frags, nxt = _one_initial(datagram, p)
            if dcid is not None:
                out.append((dcid, frags))
            if nxt < 0:
                break
            p = nxt
    except (IndexError, ValueError):
        pass
    return out


@dataclass
class HelloAssembler:
    """CRYPTO fragments of one connection, joined by offset into the ClientHello."""

    fragments: dict[int, bytes] = field(default_factory=dict)
    size: int = 0

    def add(self, fragments: list[tuple[int, bytes]]) -> bytes | None:
        """Add fragments; the contiguous data from offset 0 (None when there is none, or
        when the connection has buffered more than :data:`MAX_HELLO_BYTES`)."""
        for offset, data in fragments:
            if data and offset not in self.fragments:
                self.fragments[offset] = data
                self.size += len(data)
        if self.size > MAX_HELLO_BYTES or 0 not in self.fragments:
            return None
        out = bytearray()
        for offset in sorted(self.fragments):
            data = self.fragments[offset]
            if offset > len(out):
                break
            out += data[len(out) - offset:]
        return bytes(out)
