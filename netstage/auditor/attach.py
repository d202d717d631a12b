"""What was measured, attached to a stage report (``netstage report --audit --capture
--history``).

:func:`attach_measurements` goes through the calls ``netstage demo`` makes
(:func:`~netstage.auditor.normalise.merge_with_differences`,
:func:`~netstage.auditor.demo.audit_section`, :func:`~netstage.auditor.demo.capture_section`)
plus :func:`~netstage.auditor.demo.history_section` for a poll history, so a report made
from files shows what the demo's report shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from netstage.auditor.normalise import Difference
    from netstage.simulator.model import District

__all__ = ["Attached", "attach_measurements"]


@dataclass
class Attached:
    """What :func:`attach_measurements` returns."""

    district: District  # the declared district, with the audit merged when one was given
    extra: dict[str, Any] = field(default_factory=dict)  # the report's extra sections
    differences: list[Difference] = field(default_factory=list)  # declared values replaced


def attach_measurements(d: District, out: Path, *, audit_file: Path | None = None,
                        capture_file: Path | None = None,
                        history_db: Path | None = None) -> Attached:
    """The district with the audit merged, the report's extra sections, the differences.

    Every given input is read now, before any long work: a missing file or a directory
    is a :class:`~netstage.simulator.errors.ConfigError` naming the option. With a poll
    history the merged background load is its p95 and a ``poll_history`` section is
    added; an audit is merged (as ``normalise --base``) and gets an ``SNMP_audit``
    section; a capture is analysed, its full analysis written to ``out/capture.json``
    (``out`` is created) and summarised in a ``capture`` section.
    """
    import json
    from contextlib import ExitStack

    from netstage.simulator.errors import ConfigError

    extra: dict[str, Any] = {}
    differences: list[Difference] = []
    for path, flag, what in ((audit_file, "--audit", "the audit JSON written by `netstage "
                                                     "audit --out FILE`"),
                             (capture_file, "--capture", "a pcap or pcapng file"),
                             (history_db, "--history", "the database written by `netstage "
                                                       "poll --db FILE`")):
        if path is not None and not path.is_file():
            why = "is a directory" if path.is_dir() else "no such file"
            raise ConfigError(f"{path}: {why}; give {flag} {what}")
    with ExitStack() as stack:
        store = None
        if history_db is not None:
            from netstage.auditor.demo import history_section
            from netstage.auditor.store import HistoryStore

            store = stack.enter_context(HistoryStore(history_db, readonly=True,
                                                     option="--history"))
            extra["poll_history"] = history_section(store)
        if audit_file is not None:
            from netstage.auditor.demo import audit_section
            from netstage.auditor.facts import load_audit
            from netstage.auditor.normalise import merge_with_differences

            audit = load_audit(audit_file)
            merged = merge_with_differences(d, audit, store=store)
            d, differences = merged.district, merged.differences
            extra["SNMP_audit"] = audit_section(audit, full_facts=str(audit_file),
                                                differences=differences)
    if capture_file is not None:
        from netstage.auditor.capture import analyse_capture
        from netstage.auditor.demo import capture_section
        from netstage.simulator.io import ensure_output_dir

        data = analyse_capture(capture_file).to_json()
        ensure_output_dir(out)
        (out / "capture.json").write_text(json.dumps(data, indent=2, default=str) + "\n",
                                          encoding="utf-8")
        extra["capture"] = capture_section(data, full_analysis="capture.json in the "
                                                               "report folder")
    return Attached(district=d, extra=extra, differences=differences)
