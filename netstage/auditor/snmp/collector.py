"""The collector contract and the replay collector (recordings, no network).

Every collector turns a :class:`CollectTarget` into a :class:`DeviceFacts` and
never raises for a per-device problem: a timeout or a refused key is a failed
result. :class:`ReplayCollector` serves the same contract from ``.snmprec`` files,
through the same parser as the live :class:`~netstage.auditor.snmp.live.SnmpCollector`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from netstage.auditor.facts import DeviceFacts, FailureKind, SnmpTarget, Timings
from netstage.auditor.snmp import oids
from netstage.auditor.snmp.credentials import SnmpCredential
from netstage.auditor.snmp.parse import device_facts
from netstage.auditor.snmp.values import OidTree, read_recording

__all__ = ["CollectTarget", "Collector", "ReplayCollector"]


@dataclass(frozen=True)
class CollectTarget:
    """One device to collect: address, credential and per-target limits.

    ``timeout_s`` is per request (with ``retries``); ``device_timeout_s`` bounds the
    whole device. ``max_repetitions`` is the GETBULK max-repetitions per walked subtree.
    """

    address: str
    credential: SnmpCredential
    port: int = 161
    name: str | None = None
    timeout_s: float = 2.0
    retries: int = 1
    max_repetitions: int = 25
    device_timeout_s: float = 120.0
    plan: oids.WalkPlan = field(default=oids.FULL_PLAN)

    @property
    def snmp_target(self) -> SnmpTarget:
        return SnmpTarget(address=self.address, port=self.port, name=self.name)


@runtime_checkable
class Collector(Protocol):
    """Anything that can audit one device (live SNMP, replay of recordings, ...)."""

    async def collect(self, target: CollectTarget) -> DeviceFacts:
        """Facts of ``target``, or a failed :class:`DeviceFacts`; never raises for the
        device's own problems."""
        ...


class ReplayCollector:
    """Serves :class:`Collector` from recordings in a directory.

    The recording is chosen as snmpsim would: the v1/v2c community, else the v3
    context name, as ``<key>.snmprec`` (snmpsim format) or ``<key>.walk`` /
    ``<key>.snmpwalk`` (net-snmp ``snmpwalk -On`` output, e.g.
    ``snmpwalk -v2c -c COMMUNITY -On SWITCH .1 > sw1.walk``). A missing recording is a
    ``timeout`` failure, which is what snmpsim (and most agents) do for an unknown
    community.
    """

    SUFFIXES = (".snmprec", ".walk", ".snmpwalk")

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._cache: dict[str, OidTree] = {}

    def _tree(self, key: str) -> OidTree | None:
        if key not in self._cache:
            path = next((p for suffix in self.SUFFIXES
                         if (p := self.directory / f"{key}{suffix}").is_file()), None)
            if path is None:
                return None
            self._cache[key] = read_recording(path)
        return self._cache[key]

    async def collect(self, target: CollectTarget) -> DeviceFacts:
        started = time.perf_counter()
        cred = target.credential
        key = cred.community.reveal() if cred.community else cred.context
        tree = self._tree(key) if key else None
        meta = {"credential_profile": cred.profile, "snmp_version": cred.version,
                "security_level": cred.security_level}
        if tree is None:
            return DeviceFacts.failed(
                target.snmp_target, FailureKind.timeout,
                f"no recording answers for profile '{cred.profile}' in {self.directory}",
                **meta)
        # Keep only what a walk of the plan would have returned, like a live agent.
        walked = OidTree()
        for root in target.plan:
            walked.update(tree.subtree(root))
        walked.update((k, tree.get(k)) for k in oids.SYSTEM_SCALARS if k in tree)
        timings = Timings(elapsed_s=time.perf_counter() - started, n_values=len(walked))
        return device_facts(walked, target.snmp_target, timings=timings, **meta)
