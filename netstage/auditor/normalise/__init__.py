"""Normalisation: what an SNMP audit found, turned into the district model.

A package split along its seams (issue 13 item 6); the rules and the driver are in
:mod:`~netstage.auditor.normalise.core`. Every name importable from
``netstage.auditor.normalise`` before the split still is.
"""

from __future__ import annotations

from netstage.auditor.normalise.core import (
    HalfSeenLink,
    Mismatch,
    MismatchKind,
    NormaliseResult,
    PortRef,
    entity_stack,
    facts_to_district,
    name_variants,
    usable_address,
)
from netstage.auditor.normalise.core import _write_accepted as _write_accepted
from netstage.auditor.normalise.merge import (
    Difference,
    MergeResult,
    merge_measured,
    merge_with_differences,
)
from netstage.auditor.normalise.utilisation import client_load_mbps, since_start_mbps

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
