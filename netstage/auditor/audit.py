"""Run an SNMP audit over an inventory: every device's facts, or why there are none.

:func:`run_audit` resolves the inventory's credentials from the environment (a
missing variable stops the audit before any packet is sent: it is our side's
mistake, named with file:line), then collects every target with at most
``inventory.concurrency`` devices in flight. A device that times out, refuses the
keys or even crashes the parser is a failed :class:`DeviceFacts` in the result;
the other devices go on. A target with several credential profiles tries them in
order until one answers. With ``default_community_check`` (opt-in) every inventory
target is also asked, with v2c ``public``/``private``, for sysObjectID only. With
``write_community_check`` (opt-in, a WRITE attempt) every target gets the no-op SET of
sysLocation.0 with ``private`` and ``public`` (:mod:`netstage.auditor.snmp.write_check`).

:func:`audit_inventory` is the synchronous wrapper used by the CLI and the demo.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from netstage.auditor.facts import AuditResult, DeviceFacts, FailureKind, SnmpTarget, summarise
from netstage.auditor.inventory import Inventory, ResolvedTarget
from netstage.auditor.snmp import oids
from netstage.auditor.snmp.collector import Collector, CollectTarget
from netstage.auditor.snmp.credentials import Secret, SnmpCredential
from netstage.simulator.errors import NetstageError

__all__ = ["ProgressCallback", "audit_inventory", "run_audit"]

# (devices done, devices total, the device just finished)
ProgressCallback = Callable[[int, int, DeviceFacts], None]

# Failures after which the next credential profile is worth trying.
_TRY_NEXT = {FailureKind.timeout, FailureKind.unknown_community, FailureKind.unknown_user,
             FailureKind.wrong_auth_key, FailureKind.wrong_priv_key,
             FailureKind.unknown_engine, FailureKind.unsupported_security}
_DEFAULT_CHECK_TIMEOUT_S = 1.0


def _collect_target(rt: ResolvedTarget, cred: SnmpCredential,
                    plan: oids.WalkPlan) -> CollectTarget:
    return CollectTarget(address=rt.address, port=rt.port, name=rt.name, credential=cred,
                         timeout_s=rt.timeout_s, retries=rt.retries,
                         max_repetitions=rt.max_repetitions,
                         device_timeout_s=rt.device_timeout_s, plan=plan)


async def _safe_collect(collector: Collector, target: CollectTarget) -> DeviceFacts:
    """``collector.collect`` that turns any unexpected exception into a failed result."""
    try:
        return await collector.collect(target)
    except NetstageError as exc:  # e.g. a recording it cannot read: its own located message
        return DeviceFacts.failed(
            target.snmp_target, FailureKind.other, str(exc),
            credential_profile=target.credential.profile,
            snmp_version=target.credential.version,
            security_level=target.credential.security_level)
    except Exception as exc:  # a bug or a parser crash on one device must not stop the rest
        return DeviceFacts.failed(
            target.snmp_target, FailureKind.other,
            f"internal error while auditing this device ({type(exc).__name__}: {exc}); "
            "please report it with the device's sysDescr",
            credential_profile=target.credential.profile,
            snmp_version=target.credential.version,
            security_level=target.credential.security_level)


def _pick_failure(tried: list[DeviceFacts]) -> DeviceFacts:
    """When every profile failed: the most telling failure (a key/user problem beats a
    timeout), with the other attempts appended to its reason."""
    best = next((f for f in tried if f.failure and f.failure.kind != FailureKind.timeout),
                tried[-1])
    if len(tried) > 1 and best.failure is not None:
        others = "; ".join(f"{f.credential_profile}: {f.failure.kind.value}"
                           for f in tried if f is not best and f.failure)
        best = best.model_copy(update={"failure": best.failure.model_copy(
            update={"reason": f"{best.failure.reason} (also tried {others})"})})
    return best


async def _audit_one(collector: Collector, rt: ResolvedTarget,
                     creds: dict[str, SnmpCredential], plan: oids.WalkPlan,
                     inventory: Inventory) -> DeviceFacts:
    tried: list[DeviceFacts] = []
    facts: DeviceFacts | None = None
    for profile in rt.profiles:
        f = await _safe_collect(collector, _collect_target(rt, creds[profile], plan))
        if f.ok:
            facts = f
            break
        tried.append(f)
        if f.failure is None or f.failure.kind not in _TRY_NEXT:
            break
    if facts is None:
        facts = _pick_failure(tried)
    if inventory.default_community_check:
        accepted = await _default_communities(collector, rt, inventory.default_communities)
        facts = facts.model_copy(update={"default_communities_accepted": accepted})
    if inventory.write_community_check:
        facts = await _write_communities(collector, rt, facts)
    return facts


async def _write_communities(collector: Collector, rt: ResolvedTarget,
                             facts: DeviceFacts) -> DeviceFacts:
    """The opt-in write test: one no-op SET of sysLocation.0 per community per device."""
    from netstage.auditor.snmp.write_check import WRITE_COMMUNITIES

    check = getattr(collector, "check_write_community", None)
    if check is None:  # recordings cannot be written to
        return facts.model_copy(update={"warnings": [
            *facts.warnings, "write-community test skipped: this collector (replay) "
            "cannot send SNMP SETs"]})
    target = CollectTarget(address=rt.address, port=rt.port, name=rt.name,
                           credential=SnmpCredential(profile="write-community-check",
                                                     version="v2c"),
                           timeout_s=min(rt.timeout_s, _DEFAULT_CHECK_TIMEOUT_S),
                           retries=0, device_timeout_s=rt.device_timeout_s, plan=())
    results: dict[str, str] = {}
    for comm in WRITE_COMMUNITIES:
        try:
            results[comm] = await check(target, comm)
        except OSError as exc:
            results[comm] = f"inconclusive: transport error ({exc})"
    return facts.model_copy(update={"write_community_check": results})


async def _default_communities(collector: Collector, rt: ResolvedTarget,
                               communities: list[str]) -> list[str]:
    """Which well-known v2c communities this inventory target accepts (system GET only)."""
    accepted = []
    for comm in communities:
        cred = SnmpCredential(profile=f"default-community-check:{comm}", version="v2c",
                              community=Secret(comm))
        target = CollectTarget(address=rt.address, port=rt.port, name=rt.name,
                               credential=cred, timeout_s=min(rt.timeout_s,
                                                              _DEFAULT_CHECK_TIMEOUT_S),
                               retries=0, device_timeout_s=rt.device_timeout_s, plan=())
        if (await _safe_collect(collector, target)).ok:
            accepted.append(comm)
    return accepted


async def run_audit(inventory: Inventory, collector: Collector | None = None,
                    progress: ProgressCallback | None = None, *,
                    plan: oids.WalkPlan = oids.FULL_PLAN) -> AuditResult:
    """Audit every inventory target; the result lists them in inventory order.

    ``collector`` defaults to the live :class:`~netstage.auditor.snmp.live.SnmpCollector`
    with the inventory's concurrency (closed at the end); pass a
    :class:`~netstage.auditor.snmp.collector.ReplayCollector` to audit recordings.
    Raises :class:`~netstage.simulator.errors.ConfigError` only for our own
    configuration (an unset ``env:`` variable); device problems are results.
    """
    targets = list(inventory.iter_targets())
    used = sorted({p for t in targets for p in t.profiles})
    creds = {p: inventory.resolve_credential(p) for p in used}  # fail fast, before any I/O
    own: Any = None
    if collector is None:
        from netstage.auditor.snmp.live import SnmpCollector

        own = collector = SnmpCollector(concurrency=inventory.concurrency)
    started = time.perf_counter()
    results: list[DeviceFacts | None] = [None] * len(targets)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(targets)):
        queue.put_nowait(i)
    done = 0

    async def worker() -> None:
        nonlocal done
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            facts = await _audit_one(collector, targets[i], creds, plan, inventory)
            results[i] = facts
            done += 1
            if progress is not None:
                progress(done, len(targets), facts)

    try:
        n_workers = max(1, min(inventory.concurrency, len(targets)))
        await asyncio.gather(*(worker() for _ in range(n_workers)))
    finally:
        if own is not None:
            own.close()
    devices = [r if r is not None else DeviceFacts.failed(
        SnmpTarget(address=t.address, port=t.port, name=t.name), FailureKind.other,
        "not audited") for r, t in zip(results, targets, strict=True)]
    elapsed = time.perf_counter() - started
    return AuditResult(inventory=inventory.source, devices=devices,
                       summary=summarise(devices, elapsed_s=elapsed))


def audit_inventory(inventory: Inventory, collector: Collector | None = None,
                    progress: ProgressCallback | None = None, *,
                    plan: oids.WalkPlan = oids.FULL_PLAN) -> AuditResult:
    """Synchronous :func:`run_audit` (runs its own event loop)."""
    return asyncio.run(run_audit(inventory, collector, progress, plan=plan))
