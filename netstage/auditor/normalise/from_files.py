"""``netstage normalise`` as one library call: an audit file (and optionally a declared
district and a poll history) in, the district to write and its report out.

:func:`normalise_files` reads the inputs, runs :func:`~.core.facts_to_district` and, with
a declared district, :func:`~.merge.merge_with_differences` (background load from the
poll history when one is given). The command only checks its options, calls it, writes
:attr:`Normalised.district` and prints :attr:`Normalised.report`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netstage.auditor.normalise.core import NormaliseResult, facts_to_district
from netstage.auditor.normalise.merge import Difference, merge_with_differences
from netstage.simulator.model import District, problems

__all__ = ["Normalised", "normalise_files"]


@dataclass
class Normalised:
    """What :func:`normalise_files` returns."""

    result: NormaliseResult  # the district the audit measured and what was noticed
    district: District  # the district to write: the measured one, or the merged declared one
    declared: bool  # a declared district (--base) was merged
    differences: list[Difference] = field(default_factory=list)

    @property
    def report(self) -> dict[str, Any]:
        """The report ``normalise --json`` prints: the normaliser's, plus the differences
        from the declared district when there was one."""
        report = self.result.to_json()
        if self.declared:
            report["differences"] = [x.to_json() for x in self.differences]
        return report

    def problem_lines(self) -> list[str]:
        """The consistency problems of :attr:`district`, one warning line each (a missing
        circuit also names the ifAlias convention that declares one)."""
        return [f"warning: {'.'.join(str(x) for x in prob.loc)}: {prob.message}"
                + (" (or label the WAN port's ifAlias 'internet:<id>')"
                   if prob.loc == ("circuits",) else "")
                for prob in problems(self.district)]


def normalise_files(audit_file: Path, *, base: Path | None = None,
                    history_db: Path | None = None,
                    clients_in_measurement: bool = False) -> Normalised:
    """The district an audit file measured, or the declared ``base`` with it laid over.

    Without ``base`` the district is built from the audit alone. With ``base`` the
    declared topology is kept and gets the measured vendors, capacities, background load
    (the p95 of ``history_db``'s stored rates when given, else the audit's counters;
    ``clients_in_measurement`` subtracts the district's own simulated load) and SNMP
    facts; every declared value replaced is a :class:`~.merge.Difference`.

    Raises :class:`~netstage.simulator.errors.ConfigError` when no device answered and
    there is no ``base`` (nothing to build), or when an input cannot be read.
    """
    from netstage.auditor.facts import load_audit
    from netstage.auditor.store import HistoryStore
    from netstage.simulator.errors import ConfigError
    from netstage.simulator.io import load_district

    audit = load_audit(audit_file)
    declared = load_district(base) if base is not None else None
    if declared is None and not audit.ok_devices:
        raise ConfigError(f"{audit_file}: no device answered in this audit, so there is no "
                          "district to build; fix the audit first (see its failures), or give "
                          "--base DISTRICT to keep a declared topology")
    res = facts_to_district(audit, declared)
    if declared is None:
        return Normalised(result=res, district=res.district, declared=False)
    if history_db is not None:
        with HistoryStore(history_db, readonly=True, option="--history") as store:
            merged = merge_with_differences(declared, audit, store=store,
                                            clients_in_measurement=clients_in_measurement)
    else:
        merged = merge_with_differences(declared, audit,
                                        clients_in_measurement=clients_in_measurement)
    return Normalised(result=res, district=merged.district, declared=True,
                      differences=merged.differences)
