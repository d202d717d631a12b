"""Neighbour-following discovery: from seed addresses, audit, follow LLDP/CDP neighbours.

:func:`run_discovery` audits the seeds (hop 0), takes every neighbour's management
address (LLDP ``lldpRemManAddrTable``, CDP ``cdpCacheAddress``) that lies inside the
allowed networks, audits those (hop 1), and so on, breadth first, until no new address
turns up, ``max_hops`` is reached or ``max_devices`` devices were tried. Safety bounds:

* only addresses inside ``allowed_networks`` are ever contacted (default: the seeds'
  /24 networks), so a neighbour announcing a public or foreign address is reported, not
  queried;
* one device reachable under several addresses is kept once (same sysName);
* every step is an ordinary audit (:func:`netstage.auditor.audit.run_audit`) with the
  inventory's discovery credential profiles tried in order, so timeouts and wrong keys
  are per-device results, and no secret leaves the environment.

The result is an :class:`~netstage.auditor.facts.AuditResult` (feed it to
:func:`netstage.auditor.normalise.facts_to_district`) plus the hop of every address and
the neighbours not followed, with the reason; :meth:`DiscoveryResult.inventory_yaml`
writes an inventory of what answered, for later ``netstage audit``/``poll`` runs.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from netstage.auditor.audit import run_audit
from netstage.auditor.facts import AuditResult, DeviceFacts, summarise
from netstage.auditor.inventory import Discovery, Inventory, Target
from netstage.auditor.snmp.collector import Collector
from netstage.simulator.errors import ConfigError

__all__ = ["DiscoveryResult", "Skipped", "parse_seed", "run_discovery"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Skipped:
    """A neighbour that was not followed, and why."""

    seen_from: str  # device label
    neighbour: str  # remote name or chassis id
    address: str | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"seen_from": self.seen_from, "neighbour": self.neighbour,
                "address": self.address, "reason": self.reason}


@dataclass
class DiscoveryResult:
    audit: AuditResult
    hops: dict[str, int]  # address -> hop at which it was first queried
    skipped: list[Skipped] = field(default_factory=list)
    duplicates: dict[str, str] = field(default_factory=dict)  # address -> address kept
    stopped_by: str | None = None  # "max_devices" / "max_hops" when a bound cut it short

    def to_json(self) -> dict[str, Any]:
        return {"hops": self.hops, "skipped": [s.to_json() for s in self.skipped],
                "duplicates": self.duplicates, "stopped_by": self.stopped_by,
                "summary": self.audit.summary.model_dump()}

    def inventory_yaml(self, inventory: Inventory) -> str:
        """An inventory listing the devices that answered (same credential profiles
        referenced by name: secrets stay ``env:`` references)."""
        import yaml

        creds = {name: p.model_dump(exclude_none=True, exclude_defaults=True)
                 for name, p in inventory.credentials.items()}
        for name, p in inventory.credentials.items():
            creds[name]["version"] = p.version
        targets = []
        for d in self.audit.devices:
            if not d.ok:
                continue
            t: dict[str, Any] = {"address": d.target.address, "port": d.target.port,
                                 "credentials": d.credential_profile}
            if d.sys_name:
                t["name"] = d.sys_name
            targets.append(t)
        body = {"concurrency": inventory.concurrency, "credentials": creds,
                "targets": targets}
        return ("# Devices found by `netstage discover` (one target per answering device)\n"
                + yaml.safe_dump(body, sort_keys=False))


def _networks(disc: Discovery, seeds: list[str]) -> list[Network]:
    if disc.allowed_networks:
        return [ipaddress.ip_network(n, strict=False) for n in disc.allowed_networks]
    out: list[Network] = []
    for s in seeds:
        ip = ipaddress.ip_address(s)
        out.append(ipaddress.ip_network(f"{ip}/{24 if ip.version == 4 else 64}", strict=False))
    return out


def _allowed(addr: str, nets: list[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in n for n in nets)


def parse_seed(text: str, where: str = "seed") -> tuple[str, int | None]:
    """``ADDR``, ``ADDR:PORT`` or ``[IPv6]:PORT`` as (address, port or None)."""
    raw = text.strip()
    host, port_text = raw, None
    if raw.startswith("[") and "]" in raw:
        host, _, rest = raw[1:].partition("]")
        port_text = rest.removeprefix(":") or None
    elif raw.count(":") == 1:
        host, port_text = raw.split(":")
    try:
        address = str(ipaddress.ip_address(host))
    except ValueError:
        raise ConfigError(f"{where}: seed '{text}' is not an IP address (or ADDR:PORT); give "
                          "the management address of a switch, e.g. 10.0.0.1 or "
                          "127.0.0.1:1161") from None
    if port_text is None:
        return address, None
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ConfigError(f"{where}: seed '{text}': port '{port_text}' is not 1-65535")
    return address, int(port_text)


def _label(d: DeviceFacts) -> str:
    return d.sys_name or d.target.name or f"{d.target.address}:{d.target.port}"


async def run_discovery(inventory: Inventory, seeds: list[str] | None = None,
                        collector: Collector | None = None, *,
                        max_devices: int | None = None, max_hops: int | None = None,
                        progress: Callable[[int, int, DeviceFacts], None] | None = None
                        ) -> DiscoveryResult:
    """Discover from ``seeds`` (default: the inventory's ``discovery.seeds``).

    Credentials: ``discovery.credentials`` (default: every profile of the inventory, in
    file order). Port, timeouts and retries: the inventory's ``defaults``.
    """
    disc = inventory.discovery or Discovery()
    where = "command line" if seeds else inventory.where()
    parsed = [parse_seed(s, where) for s in (seeds or disc.seeds)]
    seed_list = [a for a, _ in parsed]
    ports = {p for _, p in parsed if p is not None}
    if len(ports) > 1:
        raise ConfigError(f"seeds name different ports ({', '.join(map(str, sorted(ports)))}); "
                          "one discovery uses one SNMP port: give seeds with the same port")
    if ports:
        # A seed's port is the port of this whole discovery: a twin or a lab serves every
        # device on one port, and a live network answers on the inventory's port anyway.
        inventory = inventory.model_copy(update={"defaults": inventory.defaults.model_copy(
            update={"port": ports.pop()})})
    if not seed_list:
        raise ConfigError(f"{inventory.where()}: no discovery seeds; give SEED addresses or "
                          "discovery.seeds in the inventory")
    profiles = disc.credentials or list(inventory.credentials)
    if not profiles:
        raise ConfigError(f"{inventory.where()}: no credential profiles to discover with")
    limit = max_devices if max_devices is not None else disc.max_devices
    hop_limit = max_hops if max_hops is not None else disc.max_hops
    nets = _networks(disc, seed_list)
    started = time.perf_counter()
    hops: dict[str, int] = {}
    devices: list[DeviceFacts] = []
    skipped: list[Skipped] = []
    duplicates: dict[str, str] = {}
    by_name: dict[str, str] = {}
    frontier = []
    for s in seed_list:
        if s not in frontier:
            frontier.append(s)
    stopped_by: str | None = None
    hop = 0
    while frontier:
        room = limit - len(hops)
        if room <= 0:
            stopped_by = "max_devices"
            for a in frontier:
                skipped.append(Skipped("-", a, a, "max_devices reached"))
            break
        batch, rest = frontier[:room], frontier[room:]
        for a in rest:
            skipped.append(Skipped("-", a, a, "max_devices reached"))
        if rest:
            stopped_by = "max_devices"
        for a in batch:
            hops[a] = hop
        step = inventory.model_copy(update={
            "targets": [Target(address=a, credentials=profiles) for a in batch],
            "default_community_check": False})
        result = await run_audit(step, collector, progress)
        nxt: list[str] = []
        for d in result.devices:
            key = (d.sys_name or "").strip().lower()
            if d.ok and key and key in by_name:
                duplicates[d.target.address] = by_name[key]
                continue
            if d.ok and key:
                by_name[key] = d.target.address
            devices.append(d)
            if not d.ok:
                continue
            for nb in d.neighbours:
                who = nb.remote_sysname or nb.remote_chassis_id or "?"
                addr = nb.remote_mgmt_address
                if not addr:
                    skipped.append(Skipped(_label(d), who, None, "no management address "
                                                                 "announced"))
                elif addr in hops or addr in nxt or addr in frontier:
                    continue
                elif (who.strip().lower() in by_name):
                    continue  # already audited under another address
                elif not _allowed(addr, nets):
                    skipped.append(Skipped(_label(d), who, addr,
                                           "outside the allowed networks "
                                           f"({', '.join(str(n) for n in nets)})"))
                elif hop + 1 > hop_limit:
                    skipped.append(Skipped(_label(d), who, addr, f"beyond max_hops "
                                                                 f"({hop_limit})"))
                    stopped_by = stopped_by or "max_hops"
                else:
                    nxt.append(addr)
        frontier = nxt
        hop += 1
    audit = AuditResult(inventory=inventory.source, devices=devices,
                        summary=summarise(devices, elapsed_s=time.perf_counter() - started))
    return DiscoveryResult(audit, hops, skipped, duplicates, stopped_by)
