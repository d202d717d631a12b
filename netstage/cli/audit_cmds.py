"""``netstage audit INVENTORY``: SNMP audit of the inventory's devices."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from netstage.cli.common import (
    check_output_file,
    console,
    err_console,
    print_json,
    progress,
    write_output,
)

__all__ = ["register"]


def audit(
    inventory_file: Annotated[Path, typer.Argument(help="inventory YAML (targets, credentials)")],
    out: Annotated[Path | None, typer.Option("--out", help="write the audit JSON here")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the audit JSON on stdout")]
    = False,
    concurrency: Annotated[int | None, typer.Option(
        "--concurrency", min=1, max=1024, help="devices in flight (default: the inventory's)")]
    = None,
    replay: Annotated[Path | None, typer.Option(
        "--replay", help="audit recordings in this directory instead of the network: "
                         "<community or v3 context>.snmprec, or .walk (snmpwalk -On output)")]
    = None,
    default_communities: Annotated[bool, typer.Option(
        "--check-default-communities",
        help="also test whether each inventory target accepts public/private (opt-in)")]
    = False,
    write_communities: Annotated[bool, typer.Option(
        "--check-write-communities",
        help="WRITE ATTEMPT (opt-in): per target, GET sysLocation.0 and SET it back to the "
             "very value read, with the v2c communities private and public only, one "
             "attempt each; no other OID, never a changed value. Reports whether a "
             "default community can write (docs/snmp-audit.md)")]
    = False,
) -> None:
    """Audit the inventory's devices over SNMP (v1/v2c/v3): system, ENTITY, interfaces,
    LLDP/CDP neighbours, addresses, VLANs.

    A device that times out or rejects the credentials is listed as failed with the
    reason; the others are audited anyway. Exit code 0 when at least one device
    answered (or there were no targets), 1 when none did or the inventory is invalid.
    """
    from netstage.auditor.audit import audit_inventory
    from netstage.auditor.facts import DeviceFacts
    from netstage.auditor.inventory import load_inventory
    from netstage.auditor.snmp.collector import Collector, ReplayCollector

    inv = load_inventory(inventory_file)
    if out is not None:  # before the audit: a bad --out is a one-line error, not lost work
        check_output_file(out, "--out", inputs=(inventory_file,))
    if concurrency is not None:
        inv.concurrency = concurrency
    if default_communities:
        inv.default_community_check = True
    if write_communities:
        inv.write_community_check = True
    collector: Collector | None = None
    if replay is not None:
        if not replay.is_dir():
            err_console.print(f"[bold red]error:[/] --replay {escape(str(replay))}: not a "
                              "directory of .snmprec / .walk recordings", highlight=False)
            raise typer.Exit(1)
        collector = ReplayCollector(replay)
    n = sum(1 for _ in inv.iter_targets())
    with progress() as bar:
        task = bar.add_task(f"auditing {n} devices", total=n)

        def tick(done: int, total: int, facts: DeviceFacts) -> None:
            label = facts.target.name or f"{facts.target.address}:{facts.target.port}"
            bar.update(task, completed=done,
                       description=f"{escape(label)}: {'ok' if facts.ok else 'failed'}")

        result = audit_inventory(inv, collector, tick)
    if out is not None:
        write_output(out, result.to_json() + "\n", "--out", inputs=(inventory_file,))
    if json_out:
        print_json(result.model_dump(mode="json"))
    else:
        _print_summary(result)
        if out is not None:
            console.print(f"wrote {out}", highlight=False, markup=False)
    if result.devices and not result.ok_devices:
        err_console.print("[bold red]error:[/] no device answered; see the failures above")
        raise typer.Exit(1)


def _print_summary(result: object) -> None:
    from netstage.auditor.facts import AuditResult

    assert isinstance(result, AuditResult)
    s = result.summary
    table = Table(title=f"SNMP audit: {s.n_ok}/{s.n_targets} devices answered "
                        f"in {s.elapsed_s:.1f} s")
    for col in ("device", "address", "status", "sysName", "model", "SNMP", "ifs", "nbrs",
                "time s"):
        table.add_column(col, overflow="fold")
    for d in result.devices:
        t = d.target
        table.add_row(
            escape(t.name or ""), escape(f"{t.address}:{t.port}"),
            "ok" if d.ok else
            f"[red]{escape(d.failure.kind.value) if d.failure else 'failed'}[/]",
            escape(d.sys_name or ""), escape(d.model or ""),
            escape(f"{d.snmp_version or ''} {d.security_level or ''}".strip()),
            str(len(d.interfaces)) if d.ok else "", str(len(d.neighbours)) if d.ok else "",
            f"{d.timings.elapsed_s:.2f}")
    console.print(table)
    failed = result.failed_devices
    if failed:
        console.print(f"[bold]{len(failed)} failed:[/]")
        for d in failed:
            label = d.target.name or f"{d.target.address}:{d.target.port}"
            reason = d.failure.reason if d.failure else "unknown"
            console.print(f"  {label} ({d.credential_profile or '-'}): {reason}",
                          highlight=False, markup=False)
    warned = [d for d in result.devices if d.warnings]
    for d in warned:
        label = d.target.name or f"{d.target.address}:{d.target.port}"
        for w in d.warnings:
            console.print(f"  warning {label}: {w}", highlight=False, markup=False)
    if s.default_community_tested:
        console.print(f"default communities accepted by {s.default_community_accepted} of "
                      f"{s.default_community_tested} devices", highlight=False)
        for d in result.devices:
            if d.default_communities_accepted:
                label = d.target.name or f"{d.target.address}:{d.target.port}"
                console.print(f"  {label} accepts {', '.join(d.default_communities_accepted)}"
                              " (change or disable these communities)",
                              highlight=False, markup=False)
    if s.write_community_tested:
        console.print(f"write test (no-op SET of sysLocation.0 with private/public): "
                      f"{s.write_community_accepted} of {s.write_community_tested} devices "
                      f"accept a default write community, {s.write_community_inconclusive} "
                      "inconclusive", highlight=False, markup=False)
        for d in result.devices:
            if d.write_community_check and d.write_result != "refused":
                label = d.target.name or f"{d.target.address}:{d.target.port}"
                per = "; ".join(f"{c}: {r}" for c, r in d.write_community_check.items())
                console.print(f"  {label} {d.write_result} ({per})", highlight=False,
                              markup=False)
    versions = ", ".join(f"{k}: {v}" for k, v in sorted(s.by_snmp_version.items()))
    console.print(f"SNMP versions: {versions or 'none answered'}; interfaces "
                  f"{s.n_interfaces}; neighbours {s.n_neighbours}", highlight=False,
                  markup=False)


def register(app: typer.Typer) -> None:
    """Add ``audit`` to ``app``."""
    app.command("audit")(audit)
