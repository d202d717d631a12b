"""The inference table: facts that follow from measured facts (provenance ``inferred``).

Each :class:`Inference` is one row: premises (fact names) => a conclusion (a fact name
and its value), a one-line reason and a citation. :func:`infer` returns the first row
whose premises hold on a district as an ``inferred`` :class:`RuleInput` that names the
facts it came from (``inferred_from``). Premises are *measured* facts only: a
declaration is already a statement of the conclusion's kind, and chaining declarations
would let one unverified line credit two facts.

Order of evidence for a fact (see :mod:`.declared_rules`): measured, then inferred,
then declared, else missing. The table is documented, with its citations, in
docs/stages.md ("Inferred facts").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from netstage.simulator.model import District, SnmpFacts
from netstage.simulator.rules.base import RuleInput

__all__ = [
    "INFERENCES",
    "Inference",
    "infer",
    "measured_no_default_read_community",
    "measured_snmp_v3_only_everywhere",
]


@dataclass(frozen=True)
class Inference:
    """premises => conclusion = value, because ``reason`` (``citation``)."""

    name: str
    premises: tuple[str, ...]
    conclusion: str
    value: bool
    reason: str
    citation: str
    holds: Callable[[District], bool]

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "premises": list(self.premises),
                "conclusion": self.conclusion, "value": self.value, "reason": self.reason,
                "citation": self.citation}


def _snmp(d: District) -> SnmpFacts | None:
    return d.measured.snmp if d.measured else None


def measured_snmp_v3_only_everywhere(d: District) -> bool:
    """Measured: every infrastructure device answered, all of them over SNMPv3, none over
    v1/v2c, and no default community was accepted where that was tested."""
    s = _snmp(d)
    return (s is not None and s.infrastructure_devices > 0
            and s.answered >= s.infrastructure_devices
            and s.v3_devices >= s.answered and s.v1v2c_devices == 0
            and not s.default_community_accepted)


def measured_no_default_read_community(d: District) -> bool:
    """Measured: the opt-in default-community read test (``--check-default-communities``)
    ran, no device accepted ``public`` or ``private``, and every infrastructure device
    answered the audit (so each was an audited target, and each was tested)."""
    s = _snmp(d)
    return (s is not None and s.default_community_accepted == 0
            and s.infrastructure_devices > 0 and s.answered >= s.infrastructure_devices)


_RW_READS = ("net-snmp snmpd.conf(5), rocommunity/rwcommunity: a community 'allowed "
             "read-only (GET and GETNEXT) or read-write (GET, GETNEXT and SET) access "
             "respectively'; Juniper Junos, 'Examples: Configuring the SNMP Community "
             "String': a read-write community answers Get, GetNext, GetBulk and Set; "
             "checked against net-snmp in tests/test_write_community.py")

INFERENCES: tuple[Inference, ...] = (
    Inference(
        name="v3-only-no-community",
        premises=("snmp_v3_only",),
        conclusion="default_write_communities_removed", value=True,
        reason="SNMPv3 only on all infrastructure (measured) => no community string is "
               "accepted => no default write community",
        citation="RFC 3414/3415: SNMPv3 access is granted to USM users, not to community "
                 "strings; a community (v1/v2c) is needed for a community write",
        holds=measured_snmp_v3_only_everywhere),
    Inference(
        name="no-read-no-write",
        premises=("default_read_communities_removed",),
        conclusion="default_write_communities_removed", value=True,
        reason="the default-community read test found public/private accepted by no "
               "device, every infrastructure device audited => neither is a write "
               "community (a read-write community can also read)",
        citation=_RW_READS,
        holds=measured_no_default_read_community),
)


def infer(d: District, fact: str) -> RuleInput | None:
    """``fact`` inferred from measured facts of ``d``, or None when no row applies."""
    for row in INFERENCES:
        if row.conclusion == fact and row.holds(d):
            return RuleInput(fact, row.value, "inferred", inferred_from=row.premises,
                             note=f"{row.reason} ({row.citation})")
    return None
