"""What a district lab consists of, decided from the district alone (no system calls).

:func:`plan_lab` turns a :class:`~netstage.simulator.model.District` into a
:class:`LabPlan`: one network namespace per device, one veth pair per physical link (per
LAG member), the rate each link end is shaped to, the management addresses and the
configuration text of every daemon. :mod:`netstage.auditor.lab.run` then carries the plan
out with iproute2. Keeping the decisions here makes them testable without root.

Naming (every name the lab creates starts with the plan's ``prefix``):

* namespace ``<prefix><node id>`` per edge router, firewall, core/distribution/access
  switch and WLC; APs (and servers) are modelled as hosts: a namespace with lldpd only
  (they announce themselves over LLDP, like an AP that is not polled), no snmpd;
* ``<prefix>mgmt``: the management network, a bridge ``mbr0`` with one veth ``m<k>`` to
  each SNMP-managed device, whose end is ``mgmt0`` carrying the device's management
  address; nothing of it is connected to the host's own interfaces;
* ``<prefix>inet``: the far end of every circuit (the "Internet"), one veth per circuit;
* inside a device: ``port<n>`` per link end (numbered in the district's link order),
  ``wan<k>`` per circuit, ``br0`` bridging the ports of a switch.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from netstage.auditor.twin import load_device_kinds
from netstage.simulator.errors import ConfigError
from netstage.simulator.model import District, Node, NodeKind

__all__ = ["PREFIX_RE", "LabDevice", "LabLink", "LabPlan", "plan_lab"]

#: a prefix is short (interface names are not built from it, namespace names are) and
#: ends in "-" so that ``<prefix>mgmt`` cannot be mistaken for another lab's namespace
PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{1,10}-$")
MGMT = "mgmt"
INET = "inet"
SNMP_KINDS = frozenset({NodeKind.EDGE, NodeKind.FIREWALL, NodeKind.CORE,
                        NodeKind.DISTRIBUTION, NodeKind.ACCESS, NodeKind.WLC})
SWITCH_KINDS = frozenset({NodeKind.CORE, NodeKind.DISTRIBUTION, NodeKind.ACCESS})
ROUTER_KINDS = frozenset({NodeKind.EDGE, NodeKind.FIREWALL})
#: words the normaliser's kind rules (auditor/data/device_kinds.yaml) recognise
_ROLE = {NodeKind.EDGE: "router", NodeKind.FIREWALL: "firewall", NodeKind.CORE: "switch",
         NodeKind.DISTRIBUTION: "switch", NodeKind.ACCESS: "switch",
         NodeKind.WLC: "wireless LAN controller", NodeKind.AP: "access point",
         NodeKind.SERVER: "server"}
#: LLDP capabilities each kind enables (lldpcli ``configure system capabilities``)
_CAPS = {NodeKind.EDGE: "router", NodeKind.FIREWALL: "router", NodeKind.CORE: "bridge",
         NodeKind.DISTRIBUTION: "bridge", NodeKind.ACCESS: "bridge", NodeKind.WLC: "router",
         NodeKind.AP: "bridge,wlan", NodeKind.SERVER: "station"}


@dataclass
class LabDevice:
    node: str
    kind: NodeKind
    netns: str
    snmp: bool
    mgmt_address: str | None  # None for hosts without snmpd
    sys_descr: str
    sys_object_id: str
    location: str
    ports: list[str] = field(default_factory=list)  # data interfaces inside the namespace
    speeds_mbps: dict[str, float] = field(default_factory=dict)  # port -> declared speed
    aliases: dict[str, str] = field(default_factory=dict)  # port -> ifAlias

    @property
    def bridge(self) -> bool:
        return self.kind in SWITCH_KINDS


@dataclass(frozen=True)
class LabLink:
    """One veth pair: ``a_ns/a_if`` <-> ``b_ns/b_if`` shaped to ``rate_mbit`` each way."""

    a_ns: str
    a_if: str
    b_ns: str
    b_if: str
    rate_mbit: float
    wan: bool  # a circuit or a leased line: gets the optional netem delay
    element: str  # "link a-b" / "circuit id", for messages


@dataclass
class LabPlan:
    district: str
    prefix: str
    scale: float
    wan_delay_ms: float
    subnet: str
    mgmt_ns: str
    mgmt_address: str  # the management station inside mgmt_ns
    inet_ns: str | None
    devices: list[LabDevice]
    links: list[LabLink]

    @property
    def namespaces(self) -> list[str]:
        out = [self.mgmt_ns] + [d.netns for d in self.devices]
        if self.inet_ns:
            out.append(self.inet_ns)
        return out

    def device(self, node: str) -> LabDevice:
        for d in self.devices:
            if d.node == node:
                return d
        raise KeyError(node)

    def to_json(self) -> dict[str, Any]:
        return {"district": self.district, "prefix": self.prefix, "scale": self.scale,
                "wan_delay_ms": self.wan_delay_ms, "subnet": self.subnet,
                "mgmt_ns": self.mgmt_ns, "mgmt_address": self.mgmt_address,
                "namespaces": self.namespaces,
                "devices": {d.node: {"netns": d.netns, "kind": str(d.kind), "snmp": d.snmp,
                                     "mgmt_address": d.mgmt_address, "ports": d.ports}
                            for d in self.devices},
                "links": [{"a": f"{lk.a_ns}/{lk.a_if}", "b": f"{lk.b_ns}/{lk.b_if}",
                           "rate_mbit": lk.rate_mbit, "wan": lk.wan,
                           "element": lk.element} for lk in self.links]}


def _descr(node: Node) -> str:
    words = " ".join(x for x in (node.vendor, node.model, _ROLE[node.kind]) if x)
    return f"{words} (netstage lab emulation on Linux)"


def _object_id(node: Node) -> str:
    """``sysObjectID`` under the vendor's IANA enterprise arc (as the twin writes it)."""
    pens = load_device_kinds()["enterprises"]
    pen = pens.get(node.vendor or "", pens["net-snmp"])
    return f"1.3.6.1.4.1.{pen}.1.1"


def capabilities(kind: NodeKind) -> str:
    return _CAPS[kind]


def plan_lab(district: District, *, prefix: str = "nslab-", scale: float = 100.0,
             wan_delay_ms: float = 0.0, subnet: str = "10.77.0.0/24") -> LabPlan:
    """The lab for ``district``: see the module docstring for the names it uses.

    ``scale`` divides every capacity (1 Gb/s at scale 100 is shaped to 10 Mbit/s), so a
    small machine can fill the links. ``subnet`` is the management network; it only ever
    exists inside the lab's namespaces.
    """
    if not PREFIX_RE.match(prefix):
        raise ConfigError(f"lab prefix {prefix!r}: use 2-11 lower-case letters/digits "
                          "starting with a letter, then '-' (e.g. nslab-)")
    if not scale > 0:
        raise ConfigError(f"--scale {scale}: must be > 0 (capacity is divided by it)")
    if wan_delay_ms < 0:
        raise ConfigError(f"--wan-delay-ms {wan_delay_ms}: must be >= 0")
    try:
        net = ipaddress.ip_network(subnet, strict=True)
    except ValueError as exc:
        raise ConfigError(f"--subnet {subnet}: {exc}; give a network like 10.77.0.0/24") from None
    if not isinstance(net, ipaddress.IPv4Network) or not net.is_private:
        raise ConfigError(f"--subnet {subnet}: the lab's management network must be a "
                          "private IPv4 network (e.g. 10.77.0.0/24); it never leaves the "
                          "lab's namespaces")
    hosts = list(net.hosts())
    managed = [n for n in district.nodes if n.kind in SNMP_KINDS]
    if len(managed) + 1 > len(hosts):
        raise ConfigError(f"--subnet {subnet}: {len(hosts)} addresses for {len(managed)} "
                          "managed devices + the management station; give a larger one")
    devices: dict[str, LabDevice] = {}
    k = 0
    for n in district.nodes:
        snmp = n.kind in SNMP_KINDS
        addr = None
        if snmp:
            addr = str(hosts[k])
            k += 1
        devices[n.id] = LabDevice(node=n.id, kind=n.kind, netns=f"{prefix}{n.id}",
                                  snmp=snmp, mgmt_address=addr, sys_descr=_descr(n),
                                  sys_object_id=_object_id(n),
                                  location=n.site or "")
    links: list[LabLink] = []

    def port(dev: LabDevice, speed: float, alias: str, stem: str = "port") -> str:
        name = f"{stem}{sum(1 for p in dev.ports if p.startswith(stem)) + 1}"
        dev.ports.append(name)
        dev.speeds_mbps[name] = speed
        dev.aliases[name] = alias
        return name

    for lk in district.links:
        a, b = devices[lk.a], devices[lk.b]
        members = lk.lag_members or 1
        each = lk.capacity_mbps / members
        wan = str(lk.medium) == "leased"
        for _ in range(members):
            pa = port(a, each, f"to {b.node}")
            pb = port(b, each, f"to {a.node}")
            links.append(LabLink(a.netns, pa, b.netns, pb, each / scale, wan,
                                 f"link {lk.a}-{lk.b}"))
    inet_ns = f"{prefix}{INET}" if district.circuits else None
    for c in district.circuits:
        dev = devices[c.attach]
        alias = f"internet:{c.id}" + (f" ({c.provider})" if c.provider else "")
        pw = port(dev, c.capacity_mbps, alias, stem="wan")
        assert inet_ns is not None
        links.append(LabLink(dev.netns, pw, inet_ns, f"c{len(links)}",
                             c.capacity_mbps / scale, True, f"circuit {c.id}"))
    for name in (f"{prefix}{MGMT}", f"{prefix}{INET}"):
        if any(d.netns == name for d in devices.values()):
            raise ConfigError(f"node id {name[len(prefix):]!r} collides with the lab's own "
                              f"namespace {name}; rename the node")
    return LabPlan(district=district.district.name, prefix=prefix, scale=scale,
                   wan_delay_ms=wan_delay_ms, subnet=str(net), mgmt_ns=f"{prefix}{MGMT}",
                   mgmt_address=str(hosts[-1]), inet_ns=inet_ns,
                   devices=list(devices.values()), links=links)
