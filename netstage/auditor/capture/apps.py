"""Application classification: TLS SNI, DNS answers and ports -> application class.

Only the few candidate frames are parsed one by one (TCP payloads that start like a
TLS ClientHello, UDP port 53 responses); the classification of flows is vectorised.
The mapping from names and ports to the simulator's application classes is data:
``auditor/data/app_mapping.yaml``, extendable with a user file (``--mapping``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from netstage.simulator.errors import ConfigError
from netstage.simulator.io import load_yaml_located

__all__ = ["AppMapping", "load_mapping", "parse_client_hello_sni", "parse_dns_answers",
           "parse_handshake_sni"]


def parse_client_hello_sni(payload: bytes) -> str | None:
    """The server_name of a TLS ClientHello at the start of a TCP payload, or None.

    Layout (RFC 8446 4.1.2 / RFC 6066 3): record header (5), handshake header (4),
    version (2), random (32), session id, cipher suites, compression methods,
    extensions; extension 0 holds a list of (type 0 = host_name, length, name).
    A hello cut by the segment or snaplen yields None unless the SNI is complete.
    """
    if len(payload) < 9 or payload[0] != 0x16 or payload[1] != 3 or payload[5] != 1:
        return None
    return _hello_sni(payload, 9)


def parse_handshake_sni(handshake: bytes) -> str | None:
    """The server_name of a ClientHello handshake message without a record header (as
    QUIC's CRYPTO frames carry it, RFC 9001 §4), or None while it is incomplete."""
    if len(handshake) < 4 or handshake[0] != 1:
        return None
    return _hello_sni(handshake, 4)


def _hello_sni(payload: bytes, p: int) -> str | None:
    """SNI of the ClientHello body starting at ``p`` (after the handshake header)."""
    try:
        p += 2 + 32
        p += 1 + payload[p]
        p += 2 + struct.unpack_from(">H", payload, p)[0]
        p += 1 + payload[p]
        ext_end = p + 2 + struct.unpack_from(">H", payload, p)[0]
        p += 2
        while p + 4 <= min(ext_end, len(payload)):
            etype, elen = struct.unpack_from(">HH", payload, p)
            p += 4
            if etype == 0:
                q = p + 2
                while q + 3 <= p + elen:
                    ntype, nlen = payload[q], struct.unpack_from(">H", payload, q + 1)[0]
                    name = payload[q + 3:q + 3 + nlen]
                    if ntype == 0 and len(name) == nlen:
                        return name.decode("ascii", "replace").lower()
                    q += 3 + nlen
                return None
            p += elen
    except (IndexError, struct.error):
        return None
    return None


def _dns_name(msg: bytes, p: int) -> tuple[str, int]:
    """Read a (possibly compressed) DNS name at p; returns (name, offset after it)."""
    labels: list[str] = []
    end = -1
    for _ in range(64):  # bounded: compression loops cannot hang the parser
        n = msg[p]
        if n == 0:
            p += 1
            break
        if n & 0xC0 == 0xC0:
            if end < 0:
                end = p + 2
            p = ((n & 0x3F) << 8) | msg[p + 1]
            continue
        labels.append(msg[p + 1:p + 1 + n].decode("ascii", "replace"))
        p += 1 + n
    return ".".join(labels).lower(), (end if end >= 0 else p)


def parse_dns_answers(msg: bytes) -> tuple[str | None, list[tuple[int, bytes]]]:
    """Question name and the A/AAAA answers (type, address bytes) of a DNS response.

    CNAME chains are folded into the question name: a client asked for that name, so
    every address in the answer belongs to it.
    """
    try:
        if len(msg) < 12 or not msg[2] & 0x80:
            return None, []
        qd, an = struct.unpack_from(">HH", msg, 4)
        p = 12
        qname = None
        read: set[int] = set()  # where a name was read without running off the message
        for _ in range(qd):
            read.add(p)
            name, p = _dns_name(msg, p)
            qname = qname or name
            p += 4
        out: list[tuple[int, bytes]] = []
        for _ in range(min(an, 64)):
            # The owner name is not used (the question names the answers). A pointer
            # to a name already read ends after 2 bytes and cannot fail: skip decoding
            # it (the usual 0xc00c); anything else is read as before.
            n = msg[p]
            if n & 0xC0 == 0xC0 and (((n & 0x3F) << 8) | msg[p + 1]) in read:
                p += 2
            else:
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


@dataclass
class AppMapping:
    """Names/ports -> application class. Classes are the simulator's app names."""

    classes: list[str]
    default: str
    domain_class: dict[str, str]  # domain suffix -> class
    port_class: dict[tuple[int, int], str]  # (ip proto, port) -> class

    def class_of_name(self, name: str | None) -> str | None:
        """Class of a host name by its longest matching domain suffix, or None."""
        if not name:
            return None
        parts = name.lower().rstrip(".").split(".")
        for i in range(len(parts)):
            c = self.domain_class.get(".".join(parts[i:]))
            if c is not None:
                return c
        return None

    def port_table(self) -> np.ndarray:
        """``[2, 65536]`` int16 class codes for (TCP, UDP) ports, -1 unknown."""
        t = np.full((2, 65536), -1, np.int16)
        for (proto, port), c in self.port_class.items():
            t[0 if proto == 6 else 1, port] = self.classes.index(c)
        return t


def _read_yaml(path: Path | Any) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise ConfigError(f"{path}: cannot read application mapping ({why}); check the "
                          "path") from None
    data, _lines = load_yaml_located(text, str(path))
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: application mapping must be a mapping with keys "
                          "'classes', 'domains', 'ports'")
    return data


def _merge(m: AppMapping, data: dict[str, Any], where: str) -> None:
    fmt = "(format: auditor/data/app_mapping.yaml)"
    classes = data.get("classes") or []
    domains = data.get("domains") or {}
    ports = data.get("ports") or []
    if not isinstance(classes, list) or not isinstance(domains, dict) \
            or not isinstance(ports, list):
        raise ConfigError(f"{where}: 'classes' and 'ports' must be lists and 'domains' a "
                          f"mapping of class -> list of names {fmt}")
    for c in classes:
        if str(c) not in m.classes:
            m.classes.append(str(c))
    if "default" in data:
        m.default = str(data["default"])
    for cls, names in domains.items():
        if cls not in m.classes:
            raise ConfigError(f"{where}: domains: unknown class {cls!r}; known: "
                              f"{', '.join(m.classes)} (add it under 'classes')")
        if not isinstance(names, list):
            raise ConfigError(f"{where}: domains: {cls}: expected a list of domain names "
                              f"{fmt}")
        for n in names:
            m.domain_class[str(n).lower().lstrip("*.").rstrip(".")] = cls
    for i, row in enumerate(ports):
        try:
            cls = row["class"]
            protos = [6] if row.get("proto") == "tcp" else [17] if row.get(
                "proto") == "udp" else [6, 17]
            for spec in row["ports"]:
                lo, _, hi = str(spec).partition("-")
                first, last = int(lo), int(hi or lo)
                if not 0 <= first <= last <= 65535:
                    raise ValueError(spec)
                for port in range(first, last + 1):
                    for pr in protos:
                        m.port_class[(pr, port)] = cls
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ConfigError(f"{where}: ports[{i}] needs 'class', 'ports' (numbers 0-65535 "
                              f"or 'lo-hi') and optional proto tcp/udp {fmt}") from None
        if cls not in m.classes:
            raise ConfigError(f"{where}: ports[{i}]: unknown class {cls!r}; add it under "
                              "'classes'")


def load_mapping(extra: str | Path | None = None) -> AppMapping:
    """The shipped mapping, extended/overridden by the user's file ``extra``."""
    ref = resources.files("netstage.auditor") / "data" / "app_mapping.yaml"
    m = AppMapping(classes=[], default="other", domain_class={}, port_class={})
    _merge(m, _read_yaml(ref), "app_mapping.yaml")
    if extra is not None:
        _merge(m, _read_yaml(Path(extra)), str(extra))
    if m.default not in m.classes:
        m.classes.append(m.default)
    return m
