"""CLI commands of the SNMP history/twin area: ``netstage twin``, ``poll``, ``discover``."""

from __future__ import annotations

import shlex
import signal
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from netstage.cli.common import console, err_console, progress

__all__ = ["register"]


def twin(
    district_file: Annotated[Path, typer.Argument(help="district YAML to export")],
    out: Annotated[Path | None,
                   typer.Option("--out", help="directory for the .snmprec files")] = None,
    serve: Annotated[bool,
                     typer.Option("--serve", help="serve with snmpsim until Ctrl-C")] = False,
    include_aps: Annotated[bool,
                           typer.Option("--include-aps", help="export APs as devices too")] = False,
    live: Annotated[bool, typer.Option("--live/--static",
                                       help="counters grow at each link's background_mbps")] = True,
    port: Annotated[int | None, typer.Option(
        "--port", min=1, max=65535,
        help="with --serve: UDP port on 127.0.0.1 (default: a free one)")] = None,
    inventory_out: Annotated[Path | None, typer.Option(
        "--inventory-out", help="with --serve: write the inventory that audits the twin here "
                                "(communities as env:VAR references)")] = None,
    env_out: Annotated[Path | None, typer.Option(
        "--env-out", help="with --serve: write the inventory's variables here, one NAME=value "
                          "a line (file mode 0600)")] = None,
) -> None:
    """Export a district as snmpsim recordings (a digital twin), and optionally serve it.

    With --serve the twin answers on 127.0.0.1 until Ctrl-C or SIGTERM; the inventory
    that audits it and the variables holding its communities are printed, and written
    to --inventory-out / --env-out once the twin answers (see docs/history-and-twin.md).
    """
    from netstage.auditor.twin import (
        export_twin,
        inventory_for_twin,
        serve_recordings,
        twin_warnings,
    )
    from netstage.cli.common import check_output_file, write_output
    from netstage.simulator.io import load_district

    if out is None and not serve:
        err_console.print("give --out DIR (export) or --serve (export to a temp dir and serve)")
        raise typer.Exit(2)
    for flag, given in (("--port", port), ("--inventory-out", inventory_out),
                        ("--env-out", env_out)):
        if given is not None and not serve:
            raise typer.BadParameter("only a served twin has a port to audit; add --serve",
                                     param_hint=flag)
    if inventory_out is not None and env_out is not None and inventory_out == env_out:
        raise typer.BadParameter("give --inventory-out and --env-out two different files",
                                 param_hint="--env-out")
    for path, flag in ((inventory_out, "--inventory-out"), (env_out, "--env-out")):
        if path is not None:
            check_output_file(path, flag, inputs=(district_file,))
    district = load_district(district_file)
    for note in twin_warnings(district):
        err_console.print(f"warning: {district_file}: {note}", highlight=False, markup=False,
                          soft_wrap=True)
    with tempfile.TemporaryDirectory(prefix="netstage-twin-") as tmp:
        target = out if out is not None else Path(tmp)
        paths = export_twin(district, target, include_aps=include_aps,
                            counters="live" if live else "static")
        if not paths:
            from netstage.simulator.errors import ConfigError

            raise ConfigError(f"{district_file}: no infrastructure device to export (edge, "
                              "firewall, core, distribution, access, wlc)"
                              + ("" if include_aps else "; add --include-aps to export APs"))
        err_console.print(f"wrote {len(paths)} recordings to {target}", markup=False)
        if not serve:
            for p in paths:
                console.print(str(p), highlight=False)
            return
        with serve_recordings(target, port=port) as (host, served_port):
            text, env = inventory_for_twin(host, served_port, [p.stem for p in paths])
            env_text = "".join(f"{var}={shlex.quote(value)}\n" for var, value in env.items())
            if env_out is not None:
                write_output(env_out, env_text, "--env-out")
                env_out.chmod(0o600)
            if inventory_out is not None:  # last: its presence says the twin is ready
                write_output(inventory_out, text, "--inventory-out")
            err_console.print(f"snmpsim serves {len(paths)} devices on {host}:{served_port} "
                              "(community = device id).", markup=False)
            if inventory_out is None:
                err_console.print("Inventory (save as twin.yaml):")
                console.print(text, highlight=False, markup=False)
            else:
                err_console.print(f"wrote the inventory to {inventory_out}", markup=False)
            inv_name = inventory_out or "twin.yaml"
            if env_out is None:
                err_console.print(f"and set these variables before `netstage audit "
                                  f"{inv_name}`:", markup=False)
                for var, value in env.items():
                    console.print(f"export {var}={shlex.quote(value)}", highlight=False,
                                  markup=False)
            else:
                err_console.print(f"wrote its variables to {env_out}; audit with: set -a; . "
                                  f"{env_out}; set +a; netstage audit {inv_name}",
                                  markup=False)
            err_console.print("serving until Ctrl-C")
            stop = {"now": False}

            def _handler(signum: int, frame: object) -> None:
                stop["now"] = True

            signal.signal(signal.SIGTERM, _handler)
            try:
                while not stop["now"]:
                    time.sleep(0.5)
            except KeyboardInterrupt:
                pass


def poll(
    inventory_file: Annotated[Path, typer.Argument(help="inventory YAML (targets, credentials)")],
    db: Annotated[Path, typer.Option("--db", help="SQLite history database (created if "
                                                  "missing, appended to otherwise)")],
    every: Annotated[float, typer.Option("--every", min=0.05,
                                         help="seconds between poll rounds")] = 300.0,
    rounds: Annotated[int | None, typer.Option(
        "--rounds", min=1, help="stop after this many rounds (default: run until stopped)")]
    = None,
    concurrency: Annotated[int | None, typer.Option(
        "--concurrency", min=1, max=1024, help="devices in flight (default: the inventory's)")]
    = None,
    replay: Annotated[Path | None, typer.Option(
        "--replay", help="poll .snmprec recordings in this directory instead of the network")]
    = None,
) -> None:
    """Poll interface counters every --every seconds into a history database.

    Runs until stopped (Ctrl-C / SIGTERM) or --rounds are done. Each round is committed
    in one transaction: killing the process at any moment loses at most the round in
    flight. Read the history with `netstage history --db FILE`.
    """
    from netstage.auditor.facts import AuditResult
    from netstage.auditor.inventory import load_inventory
    from netstage.auditor.poll import PollRound, run_poll
    from netstage.auditor.snmp.collector import Collector, ReplayCollector
    from netstage.auditor.store import HistoryStore
    from netstage.simulator.errors import ConfigError
    from netstage.simulator.wording import plural

    inv = load_inventory(inventory_file)
    if concurrency is not None:
        inv.concurrency = concurrency
    if replay is not None and not replay.is_dir():
        what = "not a directory" if replay.exists() else "no such directory"
        raise ConfigError(f"{replay}: {what}; give --replay the directory of .snmprec "
                          "recordings (netstage twin DISTRICT --static --out DIR writes one)")
    if replay is not None and not any(p.suffix in ReplayCollector.SUFFIXES
                                      for p in replay.iterdir()):
        raise ConfigError(f"{replay}: no recordings ({', '.join(ReplayCollector.SUFFIXES)}) in "
                          "this directory; give --replay the directory written by `netstage "
                          "twin DISTRICT --static --out DIR` (or of snmpwalk -On outputs)")
    if replay is not None and _has_variation_modules(replay):
        raise ConfigError(f"{replay}: these recordings use snmpsim variation modules "
                          "(e.g. '65:numeric', written by `netstage twin --live`), which only "
                          "a running snmpsim can serve; write static ones with `netstage twin "
                          "DISTRICT --static --out DIR`, or serve these with `netstage twin "
                          "--serve` and poll without --replay")
    collector: Collector | None = ReplayCollector(replay) if replay is not None else None
    n = sum(1 for _ in inv.iter_targets())
    with HistoryStore(db) as store:
        err_console.print(f"polling {n} devices every {every:g} s into {db} "
                          f"({plural(store.n_polls(), 'round')} already stored); Ctrl-C stops",
                          markup=False)

        reasons_shown: set[str] = set()

        def report(r: PollRound, result: AuditResult) -> None:
            failed = [d for d in result.devices if not d.ok]
            names = [d.target.name or f"{d.target.address}:{d.target.port}" for d in failed]
            err_console.print(
                f"round {r.number} (poll {r.poll_id}): {r.n_ok}/{r.n_devices} devices, "
                f"{r.n_samples} samples, {r.elapsed_s:.2f} s"
                + (f"; failed: {', '.join(names[:5])}" if failed else ""),
                highlight=False, markup=False)
            for dev, name in zip(failed, names, strict=True):  # each new reason once
                if (dev.failure is not None and dev.failure.reason not in reasons_shown
                        and len(reasons_shown) < 5):
                    reasons_shown.add(dev.failure.reason)
                    err_console.print(f"  {name}: {dev.failure.reason}", highlight=False,
                                      markup=False)

        with progress() as bar:  # drawn only on a terminal; the round lines stay
            task = bar.add_task(f"round 1: {n} devices", total=n)
            round_no = {"n": 1}

            def tick(done_devices: int, total: int, facts: Any) -> None:
                bar.update(task, completed=done_devices, total=total,
                           description=f"round {round_no['n']}: {done_devices}/{total} "
                                       "devices")

            def report_round(r: PollRound, result: AuditResult) -> None:
                report(r, result)
                round_no["n"] = r.number + 1
                bar.reset(task, total=n, description=f"round {round_no['n']}: waiting")

            done = run_poll(inv, store, every, collector=collector, rounds=rounds,
                            on_round=report_round, progress=tick)
        err_console.print(f"stopped after {plural(len(done), 'round')}; "
                          f"{plural(store.n_polls(), 'round')}, "
                          f"{store.n_samples()} samples in {db}", markup=False)
    if done and n and not any(r.n_ok for r in done):
        raise ConfigError(f"no device answered in {plural(len(done), 'round')}; check the "
                          "addresses "
                          "and credentials in the inventory (reasons above)")


def _has_variation_modules(recordings: Path) -> bool:
    """True if a .snmprec line has a ``TAG:module`` value (snmpsim variation modules)."""
    import re

    pattern = re.compile(r"^[0-9.]+\|[0-9]+[a-z]*:[a-z]", re.MULTILINE)
    for p in sorted(recordings.glob("*.snmprec"))[:3]:
        try:
            if pattern.search(p.read_text(encoding="utf-8", errors="replace")):
                return True
        except OSError:
            return False
    return False


def history(
    db: Annotated[Path, typer.Option("--db", help="history database written by netstage poll")],
    percentile: Annotated[float, typer.Option("--percentile", min=0, max=100,
                                              help="percentile of the interval rates")] = 95.0,
    top: Annotated[int, typer.Option("--top", min=1, help="rows to show")] = 20,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON on stdout")] = False,
) -> None:
    """Utilisation from a poll history: per interface the p95 (or --percentile) rate."""
    from rich.table import Table

    from netstage.auditor.store import HistoryStore
    from netstage.cli.common import print_json

    with HistoryStore(db, readonly=True) as store:
        rows = store.utilisation(percentile)
        info = {"db": str(db), "polls": store.n_polls(), "samples": store.n_samples(),
                "history_days": store.history_days(), "intervals": store.skip_counts(),
                "percentile": percentile, "interfaces": rows}
    if json_out:
        print_json(info)
        return
    key = f"p{percentile:g}_mbps"
    table = Table(title=f"{info['polls']} polls, {info['samples']} samples, "
                        f"{info['history_days']:.2f} days; intervals: "
                        + _counts(info["intervals"]))
    for col in ("device", "ifIndex", "name", "speed Mb/s", f"p{percentile:g} Mb/s", "util",
                "intervals"):
        table.add_column(col)
    for r in rows[:top]:
        util = r["utilisation"]
        table.add_row(escape(str(r["device"])), str(r["if_index"]), escape(str(r["name"] or "")),
                      f"{r['speed_mbps'] or 0:g}", f"{r[key]:.3f}",
                      "" if util is None else f"{float(str(util)):.1%}", _counts(r["intervals"]))
    console.print(table)


def discover(
    seeds: Annotated[list[str] | None, typer.Argument(
        help="seed addresses (default: the inventory's discovery.seeds)")] = None,
    inventory_file: Annotated[Path, typer.Option(
        "--inventory", help="inventory YAML with the credential profiles (and discovery "
                            "bounds: allowed_networks, max_devices, max_hops)")] = Path(
        "inventory.yaml"),
    out: Annotated[Path | None, typer.Option("--out", help="write the audit JSON here")] = None,
    write_inventory: Annotated[Path | None, typer.Option(
        "--write-inventory", help="write an inventory of the devices found here")] = None,
    max_devices: Annotated[int | None, typer.Option("--max-devices", min=1)] = None,
    max_hops: Annotated[int | None, typer.Option("--max-hops", min=0)] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the result JSON")] = False,
) -> None:
    """Discover the network from SEED addresses by following LLDP/CDP neighbours.

    Only addresses inside the inventory's discovery.allowed_networks (default: the
    seeds' /24) are queried; neighbours outside, without a management address or beyond
    --max-hops are listed, not contacted.
    """
    import asyncio

    from rich.table import Table

    from netstage.auditor.discover import run_discovery
    from netstage.auditor.inventory import load_inventory
    from netstage.cli.common import check_output_file, print_json, write_output

    if not inventory_file.exists():
        from netstage.simulator.errors import ConfigError

        raise ConfigError(f"{inventory_file}: no such inventory; give --inventory FILE with "
                          "the credential profiles (format: docs/snmp-audit.md)")
    inv = load_inventory(inventory_file)
    for path, opt in ((out, "--out"), (write_inventory, "--write-inventory")):
        if path is not None:  # before any device is queried
            check_output_file(path, opt)
    res = asyncio.run(run_discovery(inv, seeds or None, max_devices=max_devices,
                                    max_hops=max_hops))
    if out is not None:
        write_output(out, res.audit.to_json() + "\n")
    if write_inventory is not None and res.audit.ok_devices:  # never an empty inventory
        write_output(write_inventory, res.inventory_yaml(inv), "--write-inventory")
    if json_out:
        print_json(res.to_json())
    else:
        s = res.audit.summary
        table = Table(title=f"discovery: {s.n_ok} of {s.n_targets} addresses answered")
        for col in ("address", "hop", "status", "sysName", "neighbours"):
            table.add_column(col)
        for d in res.audit.devices:
            table.add_row(f"{d.target.address}:{d.target.port}",
                          str(res.hops.get(d.target.address, "")),
                          "ok" if d.ok else (d.failure.kind.value if d.failure else "failed"),
                          escape(d.sys_name or ""), str(len(d.neighbours)) if d.ok else "")
        console.print(table)
        for sk in res.skipped:
            console.print(f"not followed: {sk.neighbour} ({sk.address or 'no address'}) seen "
                          f"from {sk.seen_from}: {sk.reason}", highlight=False, markup=False)
        if res.stopped_by:
            console.print(f"stopped by {res.stopped_by}", highlight=False)
    if not res.audit.ok_devices:
        err_console.print("[bold red]error:[/] no device answered; check the seed addresses "
                          "and the inventory's credentials"
                          + (f" ({write_inventory} not written)" if write_inventory else ""),
                          highlight=False)
        raise typer.Exit(1)


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
    from netstage.auditor.facts import load_audit
    from netstage.auditor.normalise import Difference, facts_to_district, merge_with_differences
    from netstage.auditor.store import HistoryStore
    from netstage.cli.common import check_output_file, print_json, write_output
    from netstage.simulator.errors import ConfigError
    from netstage.simulator.io import dump_district, load_district

    for flag, given in (("--history", history_db is not None),
                        ("--clients-in-measurement", clients_in_measurement)):
        if given and base is None:
            raise typer.BadParameter(f"{flag} sets the background load of a declared "
                                     "district; give --base DISTRICT too", param_hint=flag)
    if out is not None:
        check_output_file(out, inputs=tuple(p for p in (audit_file, base) if p is not None))
    audit = load_audit(audit_file)
    declared = load_district(base) if base is not None else None
    if declared is None and not audit.ok_devices:
        raise ConfigError(f"{audit_file}: no device answered in this audit, so there is no "
                          "district to build; fix the audit first (see its failures), or give "
                          "--base DISTRICT to keep a declared topology")
    res = facts_to_district(audit, declared)
    district = res.district
    differences: list[Difference] = []
    if declared is not None:
        if history_db is not None:
            with HistoryStore(history_db, readonly=True, option="--history") as store:
                merged = merge_with_differences(declared, audit, store=store,
                                                clients_in_measurement=clients_in_measurement)
        else:
            merged = merge_with_differences(declared, audit,
                                            clients_in_measurement=clients_in_measurement)
        district, differences = merged.district, merged.differences
    if out is not None:
        write_output(out, dump_district(district))
    report = res.to_json()
    if declared is not None:
        report["differences"] = [x.to_json() for x in differences]
    if json_out:
        print_json(report)
    else:
        m = res.measured
        console.print(f"{report['nodes']} nodes, {report['links']} links, "
                      f"{report['circuits']} circuits; SNMP answered {m.answered} of "
                      f"{m.infrastructure_devices} infrastructure devices "
                      f"(v3: {m.v3_devices}, v1/v2c: {m.v1v2c_devices})", highlight=False)
        for mm in res.mismatches:
            console.print(f"mismatch {mm.kind} {mm.element}: {mm.detail}", highlight=False,
                          markup=False)
        for h in res.half_seen_links:
            console.print(f"half-seen {h.seen_from.label} -> {h.peer} ({h.reason})",
                          highlight=False, markup=False)
        for nid in res.named_by_description:
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
        if out is not None:
            console.print(f"wrote {out}", highlight=False, markup=False)
    from netstage.simulator.model import problems

    for prob in problems(district):
        err_console.print(f"warning: {'.'.join(str(x) for x in prob.loc)}: {prob.message}"
                          + (" (or label the WAN port's ifAlias 'internet:<id>')"
                             if prob.loc == ("circuits",) else ""),
                          highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    """Add ``twin``, ``poll``, ``history`` and ``discover`` to ``app``."""
    app.command("twin")(twin)
    app.command("poll")(poll)
    app.command("history")(history)
    app.command("discover")(discover)
    app.command("normalise")(normalise)


def _counts(x: object) -> str:
    """``{'ok': 125, 'skipped': 2}`` as ``125 ok, 2 skipped`` (never a Python repr)."""
    if isinstance(x, dict):
        return ", ".join(f"{v} {k}" for k, v in x.items()) or "none"
    return str(x)
