"""Digital twin: a district model exported as snmpsim recordings (``.snmprec``).

:func:`export_twin` writes one recording per exported node (infrastructure kinds: edge,
firewall, core, distribution, access, wlc; APs with ``include_aps=True``). The file name is
``<node id>.snmprec``, so the SNMP community (v1/v2c) or context (v3) that selects a device
on a shared snmpsim agent is the node id. Every recording is consistent with its neighbours:

* system group: ``sysName`` = node id, ``sysDescr`` = ``"<vendor> <model> <role>, software
  <firmware>"``, ``sysObjectID`` = ``1.3.6.1.4.1.<IANA PEN of the vendor>.1.1``,
  ``sysLocation`` = site id, ``sysServices`` (2 = bridge, 4 = router);
* ENTITY-MIB: one chassis row (class 3) with manufacturer, model, firmware/software rev;
  a redundant stack (``stack: {kind: stack}``) becomes a stack row (class 11) holding one
  such chassis row per member;
* IF-MIB ``ifTable`` + ``ifXTable``: one physical port per link end, named ``port<n>``
  (``ifIndex`` = 1000 + n, while the LLDP local port number is n: collectors must map
  through ``lldpLocPortTable``), ``ifAlias`` = ``"to <peer> <peer port>"``,
  ``ifHighSpeed`` = capacity in Mbps, ``ifSpeed`` = bit/s capped at 2^32-1, up/up, full
  duplex (EtherLike-MIB ``dot3StatsDuplexStatus``);
* LAG links (``lag_members: k``): k member ports of capacity/k each plus one aggregate
  interface ``lag<m>`` (ifType 161 ieee8023adLag, ``ifIndex`` = 2000 + m, speed = total)
  tied to its members through ``ifStackTable`` and IEEE8023-LAG-MIB
  ``dot3adAggPortAttachedAggID``. LLDP runs on the member ports (as on real switches),
  so a collector sees k parallel neighbour rows; the normaliser sums them;
* circuits: an uplink ``wan<k>`` (``ifIndex`` = 3000 + k) on the attach node with the
  circuit's speed and ``ifAlias`` = ``"internet:<circuit id>"`` (+ ``" (<provider>)"``);
  the normaliser turns that marker back into a circuit;
* LLDP-MIB: local system data and ``lldpLocPortTable`` on every exported node;
  ``lldpRemTable`` rows on both ends of every link, with remote ``sysName`` = neighbour
  id, remote port id (subtype 5, interfaceName) = neighbour's ``ifName`` and the
  neighbour's capabilities (APs: wlanAccessPoint). Nodes that are not exported (APs by
  default, servers) still appear as LLDP neighbours of the switches they hang off;
* counters: ``counters="static"`` writes fixed HC/32-bit octet counters consistent with a
  30-day uptime at the link's ``background_mbps``; ``counters="live"`` starts from the
  same values and uses snmpsim's ``numeric`` variation module so octets grow at
  ``background_mbps`` (both directions) and ``sysUpTime`` ticks on, which lets
  ``netstage poll`` measure real rates (and one audit the mean since "boot").

:func:`serve_recordings` (in :mod:`netstage.auditor.twin_agent`) serves a directory of
recordings with snmpsim on 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from netstage.auditor.twin_agent import inventory_for_twin, serve_recordings
from netstage.simulator.errors import ConfigError
from netstage.simulator.io import ensure_output_dir
from netstage.simulator.model import INFRASTRUCTURE_KINDS, District, NodeKind

__all__ = [
    "CIRCUIT_ALIAS_RE",
    "TwinPort",
    "export_twin",
    "export_twin_by_address",
    "inventory_for_twin",
    "load_device_kinds",
    "serve_recordings",
    "twin_community",
    "twin_ports",
    "twin_warnings",
    "with_loopback_addresses",
]

UPTIME_STATIC_S = 30 * 86400  # static recordings claim 30 days of uptime
COUNTER32_MAX = 2**32 - 1
CIRCUIT_ALIAS_RE = re.compile(r"^internet:(?P<id>[A-Za-z0-9_.:/@#\-]+)(?: \((?P<provider>.*)\))?$")

# LLDP-MIB capability bits (IEEE 802.1AB LldpSystemCapabilitiesMap): bit 0 is the MSB.
_CAP_BRIDGE, _CAP_WLAN_AP, _CAP_ROUTER, _CAP_STATION = 2, 3, 4, 7
_ROLE_WORDS = {
    NodeKind.EDGE: "router",
    NodeKind.FIREWALL: "firewall",
    NodeKind.CORE: "switch",
    NodeKind.DISTRIBUTION: "switch",
    NodeKind.ACCESS: "switch",
    NodeKind.WLC: "wireless LAN controller",
    NodeKind.AP: "access point",
    NodeKind.SERVER: "server",
}


@lru_cache(maxsize=1)
def load_device_kinds() -> dict[str, Any]:
    """``auditor/data/device_kinds.yaml``: vendor enterprise numbers and kind rules."""
    ref = resources.files("netstage.auditor") / "data" / "device_kinds.yaml"
    try:
        data: dict[str, Any] = yaml.safe_load(ref.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("shipped data file device_kinds.yaml is missing; reinstall") from None
    return data


@dataclass
class TwinPort:
    """One interface of one exported node (physical, LAG aggregate or circuit uplink)."""

    node: str
    if_index: int
    if_name: str
    if_alias: str
    speed_mbps: float
    background_mbps: float
    peer: str | None = None  # neighbour node id (None for aggregates and circuits)
    peer_port: str | None = None  # neighbour's ifName
    lldp_port_num: int | None = None  # LLDP local port number (None: no LLDP)
    if_type: int = 6  # ethernetCsmacd; 161 = ieee8023adLag
    members: list[int] = field(default_factory=list)  # aggregate: member ifIndexes


def _capabilities(kind: NodeKind) -> int:
    """LLDP capability bits as an int whose bit (7 - n) is capability n (one octet)."""
    bits = {
        NodeKind.EDGE: [_CAP_ROUTER],
        NodeKind.FIREWALL: [_CAP_ROUTER],
        NodeKind.AP: [_CAP_WLAN_AP],
        NodeKind.SERVER: [_CAP_STATION],
        NodeKind.WLC: [_CAP_BRIDGE],
    }.get(kind, [_CAP_BRIDGE])
    return sum(1 << (7 - b) for b in bits)


def twin_ports(d: District) -> dict[str, list[TwinPort]]:
    """Interfaces of every node (exported or not), consistent between link ends."""
    ports: dict[str, list[TwinPort]] = {n.id: [] for n in d.nodes}
    counters: dict[str, dict[str, int]] = {n.id: {"port": 0, "lag": 0, "wan": 0} for n in d.nodes}

    def new_port(node: str) -> tuple[int, str, int]:
        counters[node]["port"] += 1
        n = counters[node]["port"]
        return 1000 + n, f"port{n}", n

    for lk in d.links:
        members = lk.lag_members or 1
        member_mbps = lk.capacity_mbps / members
        member_bg = lk.background_mbps / members
        ends: dict[str, list[TwinPort]] = {lk.a: [], lk.b: []}
        for _ in range(members):
            pa, pb = new_port(lk.a), new_port(lk.b)
            for (idx, name, num), me, peer, (_, pname, _) in (
                (pa, lk.a, lk.b, pb),
                (pb, lk.b, lk.a, pa),
            ):
                p = TwinPort(me, idx, name, f"to {peer} {pname}", member_mbps, member_bg,
                             peer=peer, peer_port=pname, lldp_port_num=num)
                ports[me].append(p)
                ends[me].append(p)
        if lk.lag_members:
            for me, peer in ((lk.a, lk.b), (lk.b, lk.a)):
                counters[me]["lag"] += 1
                m = counters[me]["lag"]
                ports[me].append(TwinPort(
                    me, 2000 + m, f"lag{m}", f"to {peer} (LAG)", lk.capacity_mbps,
                    lk.background_mbps, if_type=161, members=[p.if_index for p in ends[me]]))
    for c in d.circuits:
        counters[c.attach]["wan"] += 1
        k = counters[c.attach]["wan"]
        alias = f"internet:{c.id}" + (f" ({c.provider})" if c.provider else "")
        ports[c.attach].append(TwinPort(c.attach, 3000 + k, f"wan{k}", alias[:64],
                                        c.capacity_mbps, c.background_mbps))
    return ports


def _str(value: str) -> str:
    """An OctetString value: plain when safe, hex (``4x``) otherwise."""
    if value.isascii() and value.isprintable() and "|" not in value:
        return f"4|{value}"
    return "4x|" + value.encode("utf-8").hex()


def _mac(node_id: str, port: int = 0) -> str:
    """A stable locally administered MAC for a node (and port), as 12 hex digits."""
    h = 0
    for ch in node_id:
        h = (h * 131 + ord(ch)) & 0xFFFFFFFF
    return f"02{h:08x}{port & 0xFF:02x}"


def _counter(tag: int, oid: str, bytes_per_s: float, live: bool) -> str:
    value = int(bytes_per_s * UPTIME_STATIC_S)  # what 30 days of uptime accumulated
    value = value % (COUNTER32_MAX + 1) if tag == 65 else value
    if live:
        wrap = ",wrap=1" if tag == 65 else ""
        return f"{oid}|{tag}:numeric|rate={bytes_per_s:.3f},initial={value}{wrap}"
    return f"{oid}|{tag}|{value}"


def _node_records(d: District, node_id: str, ports: dict[str, list[TwinPort]],
                  live: bool) -> list[tuple[tuple[int, ...], str]]:
    node = d.node(node_id)
    kinds = load_device_kinds()
    pen = kinds["enterprises"].get(node.vendor or "", kinds["enterprises"]["net-snmp"])
    descr = " ".join(x for x in (node.vendor, node.model, _ROLE_WORDS[node.kind]) if x)
    if node.firmware:
        descr += f", software {node.firmware}"
    recs: list[str] = []
    sys_ = "1.3.6.1.2.1.1"
    recs += [f"{sys_}.1.0|{_str(descr)[0:]}", f"{sys_}.2.0|6|1.3.6.1.4.1.{pen}.1.1"]
    recs.append(f"{sys_}.3.0|67:numeric|rate=100,initial={UPTIME_STATIC_S * 100}" if live
                else f"{sys_}.3.0|67|{UPTIME_STATIC_S * 100}")
    recs += [f"{sys_}.4.0|{_str('netstage twin')}", f"{sys_}.5.0|{_str(node.id)}",
             f"{sys_}.6.0|{_str(node.site or '')}",
             f"{sys_}.7.0|2|{4 if node.kind in (NodeKind.EDGE, NodeKind.FIREWALL) else 2}"]
    ent = "1.3.6.1.2.1.47.1.1.1.1"
    chassis = [1]
    if node.stack is not None and node.stack.redundant and node.stack.kind == "stack":
        # a stack entity (class 11) holding one chassis row per member, as Catalyst
        # stacks report it; the normaliser reads the members back (entity_stack)
        recs += [f"{ent}.2.1|{_str('stack')}", f"{ent}.4.1|2|0", f"{ent}.5.1|2|11",
                 f"{ent}.7.1|{_str(node.id)}"]
        chassis = [1000 * k + 1 for k in range(1, node.stack.members + 1)]
    for c in chassis:
        serial = "TWIN" + _mac(node.id)[4:].upper() + (f"-{c // 1000}" if c > 1 else "")
        recs += [f"{ent}.2.{c}|{_str(descr)}", f"{ent}.4.{c}|2|{0 if c == 1 else 1}",
                 f"{ent}.5.{c}|2|3", f"{ent}.7.{c}|{_str(node.id)}",
                 f"{ent}.9.{c}|{_str(node.firmware or '')}",
                 f"{ent}.10.{c}|{_str(node.firmware or '')}",
                 f"{ent}.11.{c}|{_str(serial)}",
                 f"{ent}.12.{c}|{_str(node.vendor or '')}",
                 f"{ent}.13.{c}|{_str(node.model or '')}"]
    mine = sorted(ports[node_id], key=lambda p: p.if_index)
    recs.append(f"1.3.6.1.2.1.2.1.0|2|{len(mine)}")
    ift, ifx = "1.3.6.1.2.1.2.2.1", "1.3.6.1.2.1.31.1.1.1"
    for p in mine:
        i = p.if_index
        bps = p.speed_mbps * 1e6
        rate = p.background_mbps * 1e6 / 8  # bytes/s, each direction
        recs += [f"{ift}.1.{i}|2|{i}", f"{ift}.2.{i}|{_str(p.if_name)}",
                 f"{ift}.3.{i}|2|{p.if_type}",
                 f"{ift}.4.{i}|2|1500", f"{ift}.5.{i}|66|{min(round(bps), COUNTER32_MAX)}",
                 f"{ift}.6.{i}|4x|{_mac(node_id, i)}", f"{ift}.7.{i}|2|1", f"{ift}.8.{i}|2|1",
                 f"{ift}.9.{i}|67|0", _counter(65, f"{ift}.10.{i}", rate, live),
                 f"{ift}.13.{i}|65|0", f"{ift}.14.{i}|65|0",
                 _counter(65, f"{ift}.16.{i}", rate, live), f"{ift}.19.{i}|65|0",
                 f"{ift}.20.{i}|65|0"]
        recs += [f"{ifx}.1.{i}|{_str(p.if_name)}", _counter(70, f"{ifx}.6.{i}", rate, live),
                 _counter(70, f"{ifx}.10.{i}", rate, live),
                 f"{ifx}.15.{i}|66|{round(p.speed_mbps)}",
                 f"{ifx}.18.{i}|{_str(p.if_alias)}", f"{ifx}.19.{i}|67|0"]
        if p.if_type == 6:
            recs.append(f"1.3.6.1.2.1.10.7.2.1.19.{i}|2|3")  # dot3StatsDuplexStatus fullDuplex
        for m in p.members:
            recs.append(f"1.3.6.1.2.1.31.1.2.1.3.{i}.{m}|2|1")  # ifStackStatus active
            recs.append(f"1.2.840.10006.300.43.1.2.1.1.13.{m}|2|{i}")  # dot3adAggPortAttachedAggID
    loc = "1.0.8802.1.1.2.1.3"
    caps = f"{_capabilities(node.kind):02x}00"
    recs += [f"{loc}.1.0|2|4", f"{loc}.2.0|4x|{_mac(node_id)}", f"{loc}.3.0|{_str(node.id)}",
             f"{loc}.4.0|{_str(descr)}", f"{loc}.5.0|4x|{caps}", f"{loc}.6.0|4x|{caps}"]
    rem = "1.0.8802.1.1.2.1.4.1.1"
    for p in mine:
        if p.lldp_port_num is None or p.peer is None:
            continue
        n = p.lldp_port_num
        recs += [f"{loc}.7.1.2.{n}|2|5", f"{loc}.7.1.3.{n}|{_str(p.if_name)}",
                 f"{loc}.7.1.4.{n}|{_str(p.if_alias)}"]
        peer = d.node(p.peer)
        if peer.kind == NodeKind.SERVER:
            continue  # servers are assumed not to speak LLDP
        pcaps = f"{_capabilities(peer.kind):02x}00"
        pdescr = " ".join(x for x in (peer.vendor, peer.model, _ROLE_WORDS[peer.kind]) if x)
        idx = f"0.{n}.1"
        if peer.mgmt_address and _ipv4(peer.mgmt_address):
            # lldpRemManAddrTable: index ... addrSubtype(1 = ipV4).addrLen(4).a.b.c.d
            man = f"1.0.8802.1.1.2.1.4.2.1.{{col}}.{idx}.1.4.{peer.mgmt_address}"
            recs += [man.format(col=3) + "|2|2", man.format(col=4) + "|2|0"]
        recs += [f"{rem}.4.{idx}|2|4", f"{rem}.5.{idx}|4x|{_mac(peer.id)}",
                 f"{rem}.6.{idx}|2|5", f"{rem}.7.{idx}|{_str(p.peer_port or '')}",
                 f"{rem}.8.{idx}|{_str('to ' + node_id)}", f"{rem}.9.{idx}|{_str(peer.id)}",
                 f"{rem}.10.{idx}|{_str(pdescr)}", f"{rem}.11.{idx}|4x|{pcaps}",
                 f"{rem}.12.{idx}|4x|{pcaps}"]
    out = []
    for line in recs:
        oid = line.split("|", 1)[0]
        out.append((tuple(int(x) for x in oid.split(".")), line))
    return out


def _ipv4(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == 4
    except ValueError:
        return False


def twin_warnings(d: District) -> list[str]:
    """What a twin of ``d`` will not show that its author may expect to measure.

    A district with no background load anywhere gives counters that never move: every
    poll and audit of its twin reads 0.000 Mb/s. The district's own advisories (a school
    without APs, populations that drop derived devices, ...) are listed too."""
    from netstage.simulator.io import format_loc
    from netstage.simulator.model import advisories

    out: list[str] = []
    loaded = [lk.key for lk in d.links if lk.background_mbps > 0]
    loaded += [c.id for c in d.circuits if c.background_mbps > 0]
    if not loaded:
        out.append("no link or circuit has background_mbps above 0, so the twin's interface "
                   "counters do not grow: every poll and audit of it measures 0.000 Mb/s; set "
                   "links[].background_mbps and circuits[].background_mbps to the load the "
                   "twin should carry")
    out += [f"{format_loc(a.loc)}: {a.message}" for a in advisories(d)]
    return out


def twin_community(node_id: str) -> str:
    """The file stem (= v1/v2c community, v3 context) of a node's recording.

    snmpsim reads ``/`` in a stem as a sub-directory and ``@`` as a context separator, so
    every character outside ``[A-Za-z0-9_.-]`` becomes ``_``.
    """
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", node_id)


def export_twin(d: District, out_dir: str | Path, *, include_aps: bool = False,
                counters: Literal["static", "live"] = "static") -> list[Path]:
    """Write ``<node id>.snmprec`` for every exported node of ``d`` into ``out_dir``.

    Returns the written paths (sorted by node id). Records are sorted by OID, as snmpsim
    needs for GETNEXT/GETBULK walks.
    """
    out = ensure_output_dir(out_dir, "--out", "recordings")
    ports = twin_ports(d)
    kinds = set(INFRASTRUCTURE_KINDS) | ({NodeKind.AP} if include_aps else set())
    written: list[Path] = []
    for node in sorted(d.nodes, key=lambda n: n.id):
        if node.kind not in kinds:
            continue
        records = sorted(_node_records(d, node.id, ports, counters == "live"))
        path = out / f"{twin_community(node.id)}.snmprec"
        path.write_text("".join(line + "\n" for _, line in records), encoding="utf-8")
        written.append(path)
    return written


def with_loopback_addresses(d: District, *, first: str = "127.0.1.1") -> District:
    """A copy of ``d`` whose infrastructure nodes get consecutive loopback management
    addresses from ``first`` (for a twin that answers per address, e.g. for discovery)."""
    start = ipaddress.ip_address(first)
    if not start.is_loopback:
        raise ConfigError(f"twin addresses must be loopback (127.0.0.0/8), not {first}")
    out = d.model_copy(deep=True)
    k = 0
    for node in sorted(out.nodes, key=lambda n: n.id):
        if node.kind in INFRASTRUCTURE_KINDS:
            node.mgmt_address = str(start + k)
            k += 1
    return out


def export_twin_by_address(d: District, out_dir: str | Path, *, community: str = "twin",
                           counters: Literal["static", "live"] = "static"
                           ) -> list[tuple[str, Path]]:
    """Recordings to be served one agent per management address, like real devices.

    Every infrastructure node needs a ``mgmt_address`` (see :func:`with_loopback_addresses`);
    its recording is written as ``<address>/<community>.snmprec``. Serve them with
    :func:`netstage.auditor.twin_agent.serve_by_address`. LLDP rows carry the neighbours'
    management addresses (lldpRemManAddrTable), so discovery can follow them. Returns
    ``(address, path)`` sorted by node id.
    """
    out = Path(out_dir)
    ports = twin_ports(d)
    written: list[tuple[str, Path]] = []
    for node in sorted(d.nodes, key=lambda n: n.id):
        if node.kind not in INFRASTRUCTURE_KINDS:
            continue
        if not node.mgmt_address or not _ipv4(node.mgmt_address):
            raise ConfigError(f"node '{node.id}' has no IPv4 mgmt_address; give every "
                              "infrastructure node one (with_loopback_addresses(d) does)")
        records = sorted(_node_records(d, node.id, ports, counters == "live"))
        folder = out / node.mgmt_address
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{twin_community(community)}.snmprec"
        path.write_text("".join(line + "\n" for _, line in records), encoding="utf-8")
        written.append((node.mgmt_address, path))
    return written
