"""Control plane: LLDP/CDP/STP/DHCP (and other Cisco LLC) frames selected per chunk,
deduplicated, and decoded with scapy (:mod:`.control`) at the end of the pass."""

from __future__ import annotations

from typing import Any

import numpy as np

from netstage.auditor.capture import control
from netstage.auditor.capture.decode import Decoded
from netstage.auditor.capture.reader import FrameBatch
from netstage.auditor.capture.state import _State

#: Distinct control-plane frames kept for decoding (beyond that they are only counted).
MAX_CONTROL_FRAMES = 20_000


def _mac_str(v: int) -> str:
    return ":".join(f"{(v >> s) & 0xFF:02x}" for s in range(40, -8, -8))


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
