"""The opt-in default write-community test (``netstage audit --check-write-communities``).

THIS IS A WRITE ATTEMPT. For each device and each of the two well-known communities
``private`` and ``public`` (never another one), over SNMPv2c:

1. GET ``sysLocation.0`` (1.3.6.1.2.1.1.6.0) with that community, one attempt;
2. if a string came back, SET ``sysLocation.0`` to exactly the octets just read, one
   attempt. No other OID is ever written and the value never changes.

Outcomes (:data:`OUTCOMES`): ``accepted`` (the agent accepted the SET: this community
can write), ``refused`` with the reason (``noAccess``, ``authorizationError``,
``readOnly``, ``noSuchName`` or ``timeout``: no answer to the GET or the SET, i.e. the
community is not accepted at all), or ``inconclusive`` (``notWritable``: the community
passed the access check but this agent keeps sysLocation read-only, e.g. net-snmp with
``sysLocation`` in snmpd.conf, so it may still write other objects; another error
status; or sysLocation.0 not readable with this community). A device whose communities
were all refused has no default write community; an inconclusive one leaves the fact
unknown (RFC 3416 section 4.2.5 orders the checks: noAccess before notWritable).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Literal, Protocol

from netstage.auditor.snmp import ber, oids
from netstage.auditor.snmp.collector import CollectTarget

__all__ = ["OUTCOMES", "WRITE_COMMUNITIES", "WriteOutcome", "device_write_result",
           "noop_set_syslocation"]

# The only communities ever tried for a write (the issue and docs/snmp-audit.md).
WRITE_COMMUNITIES = ("private", "public")
WriteOutcome = Literal["accepted", "refused", "inconclusive"]
OUTCOMES: tuple[WriteOutcome, ...] = ("accepted", "refused", "inconclusive")

# RFC 1157 / RFC 3416 error-status values.
_ERROR_NAMES = {1: "tooBig", 2: "noSuchName", 3: "badValue", 4: "readOnly", 5: "genErr",
                6: "noAccess", 7: "wrongType", 8: "wrongLength", 9: "wrongEncoding",
                10: "wrongValue", 11: "noCreation", 12: "inconsistentValue",
                13: "resourceUnavailable", 14: "commitFailed", 15: "undoFailed",
                16: "authorizationError", 17: "notWritable", 18: "inconsistentName"}
# error-status values that mean "this community may not write here".
_REFUSED = {2, 4, 6, 16}


class _Client(Protocol):
    async def exchange(self, target: CollectTarget,
                       encode: Callable[[int], bytes]) -> ber.Response: ...


def outcome_text(outcome: WriteOutcome, reason: str) -> str:
    return outcome if outcome == "accepted" else f"{outcome}: {reason}"


async def noop_set_syslocation(client: _Client, target: CollectTarget,
                               community: str) -> str:
    """Test one community on one device; returns ``accepted``, ``refused: REASON`` or
    ``inconclusive: REASON``. ``community`` must be one of :data:`WRITE_COMMUNITIES`."""
    from netstage.auditor.snmp.live import _DeviceFailed

    if community not in WRITE_COMMUNITIES:
        raise ValueError(f"the write test uses only {', '.join(WRITE_COMMUNITIES)}")
    once = replace(target, retries=0)  # one attempt per request, never a retried SET
    comm = community.encode("ascii")
    try:
        got = await client.exchange(
            once, lambda rid: ber.encode_request(1, comm, ber.GET, rid, (oids.SYS_LOCATION,)))
    except _DeviceFailed:
        return outcome_text("refused", "timeout (community not accepted for reads)")
    value = got.varbinds[0][1] if got.varbinds and not got.error_status else None
    if got.varbinds and got.varbinds[0][0] != oids.SYS_LOCATION:
        value = None
    if not isinstance(value, bytes):
        return outcome_text("inconclusive", "sysLocation.0 not readable with this community")
    try:
        res = await client.exchange(
            once, lambda rid: ber.encode_set_octets(1, comm, rid, oids.SYS_LOCATION, value))
    except _DeviceFailed:
        return outcome_text("refused", "timeout (no answer to the SET)")
    if res.error_status == 0:
        return "accepted"
    name = _ERROR_NAMES.get(res.error_status, f"error-status {res.error_status}")
    if res.error_status in _REFUSED:
        return outcome_text("refused", name)
    return outcome_text("inconclusive", name)


def device_write_result(per_community: dict[str, str]) -> WriteOutcome:
    """One device: accepted if any community was, refused if all were, else inconclusive."""
    kinds = {text.split(":", 1)[0] for text in per_community.values()}
    if "accepted" in kinds:
        return "accepted"
    if kinds and kinds <= {"refused"}:
        return "refused"
    return "inconclusive"
