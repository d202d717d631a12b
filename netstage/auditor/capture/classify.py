"""Classification: each flow's application class, and the talkers and devices by class.

The client is the private side of a flow (else the side with the higher port); the class
comes from the server port (:class:`~.apps.AppMapping`), overridden by the DNS name of
the server address and then by the flow's TLS/QUIC SNI (:mod:`.names`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import numpy as np

from netstage.auditor.capture.aggregate import KeyedSums, reduce_keyed
from netstage.auditor.capture.apps import AppMapping
from netstage.auditor.capture.state import _State
from netstage.auditor.capture.volumes import TOP_N


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
