"""Normalisation: what an SNMP audit found, turned into the district model.

:func:`facts_to_district` builds a :class:`~netstage.simulator.model.District` from an
:class:`~netstage.auditor.facts.AuditResult`:

* **nodes** from the answering devices (id = ``sysName``, else the inventory name, else
  the address; vendor from the ``sysObjectID`` enterprise number, model and firmware from
  the ENTITY-MIB chassis; ``stack`` from the chassis under an ENTITY-MIB stack entity,
  see :func:`entity_stack`) and from LLDP/CDP neighbours that did not answer (APs, phones
  filtered out as endpoints);
* **links** from LLDP/CDP rows, grouped per pair of nodes and matched on both ends where
  both ends answered. Ports that the device reports as members of one aggregate
  (IF-MIB ifStackTable / IEEE8023-LAG-MIB, ``Interface.lag_parent``) make one LAG link
  with every configured member counted; without that, parallel physical links between
  one pair are inferred to be one LAG (``lag_members``); a link whose other end did not
  answer, or does not list us back, is kept and reported as *half-seen*;
* **capacity** from the interface speeds (ifHighSpeed, else ifSpeed): the slower end of
  each member, summed over members;
* **circuits** from interfaces whose ``ifAlias`` reads ``internet:<id> (<provider>)``
  (the convention the digital twin writes, documented in docs/history-and-twin.md);
* **kinds** from a base district, else from ``auditor/data/device_kinds.yaml`` patterns
  on ``sysDescr``/model, else from the topology (switch next to a router/firewall ->
  core, switch with switches further from the edge -> distribution, else access);
* a **mismatch report**: speed or duplex differing between the ends of a link, access
  uplinks slower than the sum of their active access ports, LAG members of unequal speed
  or seen in different numbers from the two ends;
* **measured facts** for the stage rubric (:class:`~netstage.simulator.model.SnmpFacts`
  plus diversity counts in ``measured.extra["snmp"]``).

:func:`merge_measured` keeps a declared district's topology and overlays what was
measured: vendor/model/firmware of matched nodes, link capacities and LAG members,
``background_mbps`` from utilisation, and ``measured.snmp``.

Utilisation comes from a :class:`~netstage.auditor.store.HistoryStore` (p95 over the
polled history) when one is given, else from one audit's counters as the mean rate since
the counters started (octets / (sysUpTime - ifCounterDiscontinuityTime), Counter64 only).

The package is split along its seams (issue 13 item 6), the builder's steps first:
:mod:`~netstage.auditor.normalise.identity` (one node per device: names, addresses,
vendor, stack), :mod:`~netstage.auditor.normalise.neighbours` (LLDP/CDP rows resolved
to nodes), :mod:`~netstage.auditor.normalise.lags` (links, LAG members, capacity),
:mod:`~netstage.auditor.normalise.kinds` (node kinds from patterns and topology) and
:mod:`~netstage.auditor.normalise.mismatches` (the mismatch report), each a mixin over
the state in :mod:`~netstage.auditor.normalise.state`;
:mod:`~netstage.auditor.normalise.core` runs them (:func:`facts_to_district`, circuits,
the measured facts); :mod:`~netstage.auditor.normalise.utilisation` (background load
from polls or one audit) and :mod:`~netstage.auditor.normalise.merge`
(:func:`merge_measured`, :func:`merge_with_differences`) use its result. Every name
importable from ``netstage.auditor.normalise`` before the split still is.
"""

from __future__ import annotations

from netstage.auditor.normalise.core import NormaliseResult, facts_to_district
from netstage.auditor.normalise.core import _write_accepted as _write_accepted
from netstage.auditor.normalise.from_files import Normalised, normalise_files
from netstage.auditor.normalise.identity import entity_stack, name_variants, usable_address
from netstage.auditor.normalise.merge import (
    Difference,
    MergeResult,
    merge_measured,
    merge_with_differences,
)
from netstage.auditor.normalise.mismatches import Mismatch, MismatchKind
from netstage.auditor.normalise.neighbours import HalfSeenLink, PortRef
from netstage.auditor.normalise.utilisation import client_load_mbps, since_start_mbps

__all__ = [
    "Difference",
    "HalfSeenLink",
    "MergeResult",
    "Mismatch",
    "MismatchKind",
    "NormaliseResult",
    "Normalised",
    "PortRef",
    "client_load_mbps",
    "entity_stack",
    "facts_to_district",
    "merge_measured",
    "merge_with_differences",
    "name_variants",
    "normalise_files",
    "since_start_mbps",
    "usable_address",
]
