"""CLI: ``netstage poll`` -- interface counters into a history database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from netstage.cli.common import err_console, progress

__all__ = ["register"]


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
    from netstage.auditor.poll import PollRound, replay_collector, run_poll
    from netstage.auditor.store import HistoryStore
    from netstage.simulator.errors import ConfigError
    from netstage.simulator.wording import plural

    inv = load_inventory(inventory_file)
    if concurrency is not None:
        inv.concurrency = concurrency
    collector = replay_collector(replay) if replay is not None else None
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


def register(app: typer.Typer) -> None:
    """Add ``poll`` to ``app``."""
    app.command("poll")(poll)
