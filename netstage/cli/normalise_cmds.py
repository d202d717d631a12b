"""CLI: ``netstage normalise`` -- an audit into a district model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from netstage.cli.common import console, err_console

if TYPE_CHECKING:
    from netstage.auditor.normalise import Normalised

__all__ = ["register"]


def normalise(
    audit_file: Annotated[Path, typer.Argument(help="audit JSON written by netstage audit --out")],
    out: Annotated[Path | None, typer.Option(
        "--out", help="write the district YAML here")] = None,
    base: Annotated[Path | None, typer.Option(
        "--base", help="declared district: keep its topology, overlay what was measured "
                       "(merge_measured); without it the district is built from the audit")]
    = None,
    history_db: Annotated[Path | None, typer.Option(
        "--history", help="poll history: background load = p95 of the stored rates")] = None,
    clients_in_measurement: Annotated[bool, typer.Option(
        "--clients-in-measurement",
        help="with --base: the utilisation was measured while the district's devices were "
             "in use, so subtract their simulated mean 'now' load from the measured "
             "background instead of counting it twice")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Turn an audit into a district model: nodes, links, capacities, mismatch report.

    Without --base the district is built from the audit alone (nodes from sysName, links
    from LLDP/CDP, capacities from interface speeds). With --base the declared district
    keeps its topology and gets measured vendors, capacities, background load and SNMP
    facts. The report lists speed/duplex mismatches, oversubscribed access uplinks, LAG
    problems and links seen from one end only.
    """
    from netstage.auditor.normalise import normalise_files
    from netstage.cli.common import check_output_file, print_json, write_output
    from netstage.simulator.io import dump_district

    for flag, given in (("--history", history_db is not None),
                        ("--clients-in-measurement", clients_in_measurement)):
        if given and base is None:
            raise typer.BadParameter(f"{flag} sets the background load of a declared "
                                     "district; give --base DISTRICT too", param_hint=flag)
    if out is not None:
        check_output_file(out, inputs=tuple(p for p in (audit_file, base) if p is not None))
    res = normalise_files(audit_file, base=base, history_db=history_db,
                          clients_in_measurement=clients_in_measurement)
    if out is not None:
        write_output(out, dump_district(res.district))
    if json_out:
        print_json(res.report)
    else:
        _print_report(res)
        if out is not None:
            console.print(f"wrote {out}", highlight=False, markup=False)
    for line in res.problem_lines():
        err_console.print(line, highlight=False, markup=False)


def _print_report(res: Normalised) -> None:
    """The normaliser's report as lines: counts, mismatches, half-seen links, the
    differences from the declared district."""
    report, r, differences = res.report, res.result, res.differences
    m = r.measured
    console.print(f"{report['nodes']} nodes, {report['links']} links, "
                  f"{report['circuits']} circuits; SNMP answered {m.answered} of "
                  f"{m.infrastructure_devices} infrastructure devices "
                  f"(v3: {m.v3_devices}, v1/v2c: {m.v1v2c_devices})", highlight=False)
    for mm in r.mismatches:
        console.print(f"mismatch {mm.kind} {mm.element}: {mm.detail}", highlight=False,
                      markup=False)
    for h in r.half_seen_links:
        console.print(f"half-seen {h.seen_from.label} -> {h.peer} ({h.reason})",
                      highlight=False, markup=False)
    for nid in r.named_by_description:
        console.print(f"named by description {nid}: the neighbour announced only a "
                      "system description over LLDP", highlight=False, markup=False)
    for x in differences:
        console.print(f"differs from declared: {x.sentence}", highlight=False,
                      markup=False)
    if differences:
        from netstage.simulator.wording import plural

        verb = "differs" if len(differences) == 1 else "differ"
        console.print(f"{plural(len(differences), 'declared value')} {verb} from what "
                      "the devices report; the merged district keeps the measured "
                      "values and lists the differences under measured.extra.snmp."
                      "differences", highlight=False, markup=False)

def register(app: typer.Typer) -> None:
    """Add ``normalise`` to ``app``."""
    app.command("normalise")(normalise)
