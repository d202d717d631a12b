"""The normaliser's working state, shared by the builder's steps.

:class:`_State` only declares the attributes (``core._Builder.__init__`` sets them all)
so that each step, a mixin in its own module (:mod:`.identity`, :mod:`.neighbours`,
:mod:`.lags`, :mod:`.kinds`, :mod:`.mismatches`), type-checks on its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from netstage.auditor.facts import AuditResult, DeviceFacts
    from netstage.auditor.normalise.mismatches import Mismatch
    from netstage.auditor.normalise.neighbours import HalfSeenLink
    from netstage.simulator.model import District, Node


class _State:
    audit: AuditResult
    base: District | None
    base_nodes: dict[str, Node]
    vendors: dict[str, str]
    nodes: dict[str, Node]
    answered: dict[str, DeviceFacts]
    device_node: dict[int, str]
    index: dict[str, str]  # name/address variant -> node id
    mac_index: dict[str, str]
    site_of: dict[str, str | None]
    endpoints: list[str]
    mismatches: list[Mismatch]
    half_seen: list[HalfSeenLink]
    _guessed_kind: dict[str, bool]
    remote_ports: dict[str, set[str]]
    unverified: set[str]
    named_by_description: list[str]
    remote_chassis: dict[str, str]
    chassis_node: dict[tuple[str, str], str]
    dist: dict[str, int]
    unique_ips: set[str]
    unique_address: set[str]
