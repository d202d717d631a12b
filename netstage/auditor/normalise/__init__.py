"""Normalisation: what an SNMP audit found, turned into the district model.

A package split along its seams (issue 13 item 6); the rules and the driver are in
:mod:`~netstage.auditor.normalise.core`. Every name importable from
``netstage.auditor.normalise`` before the split still is.
"""

from __future__ import annotations

from netstage.auditor.normalise.core import (
    Difference,
    HalfSeenLink,
    MergeResult,
    Mismatch,
    MismatchKind,
    NormaliseResult,
    PortRef,
    client_load_mbps,
    entity_stack,
    facts_to_district,
    merge_measured,
    merge_with_differences,
    name_variants,
    since_start_mbps,
    usable_address,
)
from netstage.auditor.normalise.core import _write_accepted as _write_accepted

__all__ = [
    "Difference",
    "HalfSeenLink",
    "MergeResult",
    "Mismatch",
    "MismatchKind",
    "NormaliseResult",
    "PortRef",
    "client_load_mbps",
    "entity_stack",
    "facts_to_district",
    "merge_measured",
    "merge_with_differences",
    "name_variants",
    "since_start_mbps",
    "usable_address",
]
