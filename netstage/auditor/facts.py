"""What an SNMP audit collected from each device (the collector contract's output).

A :class:`DeviceFacts` is one device's answer, or its failure: per Nornir, a device
that times out or refuses our keys is a *result* (``ok=False`` with a typed
:class:`FailureKind` and a human reason), never an exception, so that an audit of
200 switches goes on past the broken ones. An :class:`AuditResult` is the list of
them plus a :class:`AuditSummary` of measured facts for the stage rubric.

Units: speeds in Mb/s (``speed_mbps``), octet counters in octets, times in seconds
(``elapsed_s``) except SNMP TimeTicks, which keep their unit in the name
(``sys_uptime_ticks``, hundredths of a second). Everything round-trips through JSON
(:func:`load_audit`, :meth:`AuditResult.to_json`). No secret is ever stored here:
a credential is named by its inventory profile only.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from netstage.simulator.errors import ConfigError

__all__ = [
    "AuditResult",
    "AuditSummary",
    "DeviceFacts",
    "EntityInfo",
    "Failure",
    "FailureKind",
    "Interface",
    "IpAddress",
    "Neighbour",
    "SnmpTarget",
    "Timings",
    "Vlan",
    "load_audit",
    "summarise",
]

SnmpVersion = Literal["v1", "v2c", "v3"]
SecurityLevel = Literal["noAuthNoPriv", "authNoPriv", "authPriv"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FailureKind(StrEnum):
    """Why a device audit failed; each kind is something a user acts on differently."""

    timeout = "timeout"  # no answer: host down, port closed, ACL, or (v1/v2c) wrong community
    unknown_community = "unknown_community"  # an agent that says so (most just stay silent)
    wrong_auth_key = "wrong_auth_key"  # v3 usmStatsWrongDigests: auth password or protocol
    wrong_priv_key = "wrong_priv_key"  # v3 decryption failed: priv password or protocol
    unknown_user = "unknown_user"  # v3 usmStatsUnknownUserNames
    unknown_engine = "unknown_engine"  # v3 usmStatsUnknownEngineIDs / not in time window
    unsupported_security = "unsupported_security"  # v3 usmStatsUnsupportedSecLevels
    protocol_error = "protocol_error"  # it answered, but garbage / truncated / malformed BER
    config = "config"  # our side: missing env var, bad profile
    other = "other"


class Failure(_Model):
    """A typed failure and a one-line reason that says what to check."""

    kind: FailureKind
    reason: str


class SnmpTarget(_Model):
    """Where a device was queried (always a literal address, never a DNS name)."""

    address: str
    port: int = 161
    name: str | None = None  # inventory label, if any


class EntityInfo(_Model):
    """One row of ENTITY-MIB entPhysicalTable (1.3.6.1.2.1.47.1.1.1)."""

    index: int
    physical_class: int | None = None  # 3 = chassis, 9 = module, 10 = port, 11 = stack
    descr: str | None = None
    name: str | None = None
    model: str | None = None
    serial: str | None = None
    hardware_rev: str | None = None
    firmware_rev: str | None = None
    software_rev: str | None = None
    contained_in: int | None = None


class Interface(_Model):
    """One interface, joined from ifTable, ifXTable and EtherLike-MIB on ifIndex."""

    if_index: int
    name: str | None = None  # ifName (ifXTable), the name neighbours use
    descr: str | None = None  # ifDescr
    alias: str | None = None  # ifAlias (the operator's description)
    if_type: int | None = None  # IANAifType, 6 = ethernetCsmacd, 161 = ieee8023adLag
    admin_status: int | None = None  # 1 up, 2 down, 3 testing
    oper_status: int | None = None  # 1 up, 2 down, ..., 6 notPresent, 7 lowerLayerDown
    mtu: int | None = None
    mac: str | None = None  # ifPhysAddress as aa:bb:cc:dd:ee:ff
    speed_mbps: float | None = None  # ifHighSpeed, else ifSpeed / 1e6; None if neither
    speed_source: Literal["ifHighSpeed", "ifSpeed"] | None = None
    duplex: Literal["unknown", "half", "full"] | None = None  # dot3StatsDuplexStatus
    in_octets: int | None = None
    out_octets: int | None = None
    counters_64bit: bool | None = None  # True: ifHC*Octets; False: 32-bit ifIn/OutOctets
    in_errors: int | None = None
    out_errors: int | None = None
    in_discards: int | None = None
    out_discards: int | None = None
    counter_discontinuity_ticks: int | None = None  # ifCounterDiscontinuityTime (TimeTicks)
    # ifIndex of the link aggregate (LAG) this port is a member of: IEEE8023-LAG-MIB
    # dot3adAggPortAttachedAggID, else IF-MIB ifStackTable; None if none or unknown.
    lag_parent: int | None = None

    @property
    def label(self) -> str:
        """The best human name: ifName, else ifDescr, else ``ifIndex N``."""
        return self.name or self.descr or f"ifIndex {self.if_index}"


class Neighbour(_Model):
    """One LLDP or CDP neighbour as seen from this device's ``local_if_name``."""

    protocol: Literal["lldp", "cdp"]
    local_port_num: int | None = None  # lldpRemLocalPortNum / CDP ifIndex, as received
    local_if_index: int | None = None  # resolved ifIndex, when it could be
    local_if_name: str | None = None  # resolved local interface name
    remote_chassis_id: str | None = None
    remote_chassis_id_subtype: int | None = None  # LLDP: 4 = MAC, 5 = network addr, 7 = local
    remote_sysname: str | None = None  # lldpRemSysName / cdpCacheDeviceId
    remote_port_id: str | None = None
    remote_port_id_subtype: int | None = None  # LLDP: 3 = MAC, 5 = ifName, 7 = local
    remote_port_descr: str | None = None
    remote_platform: str | None = None  # cdpCachePlatform / first line of lldpRemSysDesc
    remote_sys_descr: str | None = None
    remote_mgmt_address: str | None = None
    # enabled capabilities, LLDP names (auditor/capabilities.py); None = not advertised
    remote_capabilities: list[str] | None = None


class IpAddress(_Model):
    """An IPv4/IPv6 address the device holds (ipAddrTable or ipAddressTable)."""

    address: str
    prefix_length: int | None = None
    if_index: int | None = None


class Vlan(_Model):
    """A VLAN from Q-BRIDGE-MIB dot1qVlanStaticName."""

    vlan_id: int
    name: str | None = None


class Timings(_Model):
    """How long the collection of one device took and how much it returned."""

    started_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    elapsed_s: float = 0.0
    n_requests: int = 0
    n_values: int = 0


class DeviceFacts(_Model):
    """Everything collected from one device, or why nothing could be."""

    target: SnmpTarget
    ok: bool
    failure: Failure | None = None
    credential_profile: str | None = None  # inventory profile name, never the secret
    snmp_version: SnmpVersion | None = None
    security_level: SecurityLevel | None = None
    sys_descr: str | None = None
    sys_object_id: str | None = None  # dotted, no leading dot
    sys_name: str | None = None
    sys_uptime_ticks: int | None = None  # TimeTicks, 1/100 s
    sys_contact: str | None = None
    sys_location: str | None = None
    entities: list[EntityInfo] = Field(default_factory=list)
    interfaces: list[Interface] = Field(default_factory=list)
    neighbours: list[Neighbour] = Field(default_factory=list)
    ip_addresses: list[IpAddress] = Field(default_factory=list)
    vlans: list[Vlan] = Field(default_factory=list)
    default_communities_accepted: list[str] | None = None  # None: not tested (opt-in)
    # opt-in write test (--check-write-communities): community -> "accepted",
    # "refused: REASON" or "inconclusive: REASON"; None: not tested
    write_community_check: dict[str, str] | None = None
    warnings: list[str] = Field(default_factory=list)  # e.g. "non-increasing OID at ..."
    timings: Timings = Field(default_factory=Timings)

    @classmethod
    def failed(cls, target: SnmpTarget, kind: FailureKind, reason: str,
               **extra: object) -> DeviceFacts:
        """A failed result: ``ok=False`` with a typed failure."""
        return cls.model_validate(
            {"target": target, "ok": False, "failure": Failure(kind=kind, reason=reason), **extra}
        )

    @property
    def write_result(self) -> str | None:
        """The write test of this device: accepted / refused / inconclusive, or None."""
        if self.write_community_check is None:
            return None
        from netstage.auditor.snmp.write_check import device_write_result

        return device_write_result(self.write_community_check)

    def chassis(self) -> EntityInfo | None:
        """The first chassis (entPhysicalClass 3) entity, else the first with a model."""
        for e in self.entities:
            if e.physical_class == 3:
                return e
        return next((e for e in self.entities if e.model), None)

    @property
    def model(self) -> str | None:
        """Hardware model from the chassis entity (entPhysicalModelName)."""
        c = self.chassis()
        return c.model if c else None

    @property
    def serial(self) -> str | None:
        c = self.chassis()
        return c.serial if c else None

    @property
    def firmware(self) -> str | None:
        """Software (else firmware) revision of the chassis entity."""
        c = self.chassis()
        return (c.software_rev or c.firmware_rev) if c else None

    def interface(self, if_index: int) -> Interface | None:
        return next((i for i in self.interfaces if i.if_index == if_index), None)

    def lag_members(self) -> dict[int, list[int]]:
        """Aggregate ifIndex -> member ifIndexes (sorted), from ``Interface.lag_parent``."""
        out: dict[int, list[int]] = {}
        for i in self.interfaces:
            if i.lag_parent is not None:
                out.setdefault(i.lag_parent, []).append(i.if_index)
        return {k: sorted(v) for k, v in sorted(out.items())}


class AuditSummary(_Model):
    """Measured facts over one audit, used by the rubric and printed by the CLI."""

    n_targets: int = 0
    n_ok: int = 0
    n_failed: int = 0
    failures_by_kind: dict[str, int] = Field(default_factory=dict)
    by_snmp_version: dict[str, int] = Field(default_factory=dict)  # answered devices only
    n_v3: int = 0
    n_v1_v2c: int = 0
    snmp_coverage: float = 0.0  # answered / targets, 0..1
    default_community_tested: int = 0
    default_community_accepted: int = 0
    write_community_tested: int = 0
    write_community_accepted: int = 0  # devices where private or public could write
    write_community_inconclusive: int = 0
    vendors: dict[str, int] = Field(default_factory=dict)  # sysObjectID enterprise -> count
    models: dict[str, int] = Field(default_factory=dict)
    firmware: dict[str, int] = Field(default_factory=dict)
    n_interfaces: int = 0
    n_neighbours: int = 0
    elapsed_s: float = 0.0


def _enterprise(sys_object_id: str | None) -> str | None:
    """``1.3.6.1.4.1.9.1.2134`` -> ``9`` (the IANA private enterprise number)."""
    prefix = "1.3.6.1.4.1."
    if not sys_object_id:
        return None
    oid = sys_object_id.lstrip(".")
    if not oid.startswith(prefix):
        return None
    return oid[len(prefix):].split(".", 1)[0]


def summarise(devices: list[DeviceFacts], elapsed_s: float = 0.0) -> AuditSummary:
    """Counts and diversity figures over ``devices`` (elapsed time in seconds)."""
    ok = [d for d in devices if d.ok]
    versions = Counter(d.snmp_version or "unknown" for d in ok)
    tested = [d for d in devices if d.default_communities_accepted is not None]
    writes = [d.write_result for d in devices if d.write_result is not None]
    return AuditSummary(
        n_targets=len(devices),
        n_ok=len(ok),
        n_failed=len(devices) - len(ok),
        failures_by_kind=dict(Counter(d.failure.kind.value for d in devices if d.failure)),
        by_snmp_version=dict(versions),
        n_v3=versions.get("v3", 0),
        n_v1_v2c=versions.get("v1", 0) + versions.get("v2c", 0),
        snmp_coverage=(len(ok) / len(devices)) if devices else 0.0,
        default_community_tested=len(tested),
        default_community_accepted=sum(1 for d in tested if d.default_communities_accepted),
        write_community_tested=len(writes),
        write_community_accepted=writes.count("accepted"),
        write_community_inconclusive=writes.count("inconclusive"),
        vendors=dict(Counter(e for d in ok if (e := _enterprise(d.sys_object_id)))),
        models=dict(Counter(m for d in ok if (m := d.model))),
        firmware=dict(Counter(f for d in ok if (f := d.firmware))),
        n_interfaces=sum(len(d.interfaces) for d in ok),
        n_neighbours=sum(len(d.neighbours) for d in ok),
        elapsed_s=elapsed_s,
    )


class AuditResult(_Model):
    """One audit run: every device's facts and a summary."""

    started_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    inventory: str | None = None  # path of the inventory file
    devices: list[DeviceFacts] = Field(default_factory=list)
    summary: AuditSummary = Field(default_factory=AuditSummary)

    def to_json(self) -> str:
        """JSON text; :func:`load_audit` reads it back to an equal object."""
        return self.model_dump_json(indent=2)

    @property
    def ok_devices(self) -> list[DeviceFacts]:
        return [d for d in self.devices if d.ok]

    @property
    def failed_devices(self) -> list[DeviceFacts]:
        return [d for d in self.devices if not d.ok]


def load_audit(path: str | Path) -> AuditResult:
    """Read an ``audit.json`` written by ``netstage audit --out``."""
    p = Path(path)
    try:
        return AuditResult.model_validate_json(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such file; run `netstage audit INVENTORY --out {p}` first") \
            from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "(top level)"
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        msg = "unknown field" if first["type"] == "extra_forbidden" else first["msg"]
        raise ConfigError(f"{p}: not an audit result written by `netstage audit --out`: "
                          f"{where}: {msg}{more}; give the audit JSON file") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{p}: cannot read the audit result: {exc}") from None
