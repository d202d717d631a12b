"""Repeated interface polls into the history store (``netstage poll``).

:func:`poll_loop` audits the inventory's targets every ``every_s`` seconds with the
interface plan only (system group, the ifTable/ifXTable columns rates need) and writes each
round into a :class:`~netstage.auditor.store.HistoryStore` in one transaction. Rounds
start on a fixed grid (``start + k * every_s``); a round that overruns skips the ticks it
missed instead of bursting. It runs until ``rounds`` rounds are done or ``stop`` is set
(the CLI sets it on SIGTERM/SIGINT); a round in flight when it is stopped is abandoned,
never half-written. A ``kill -9`` loses at most that round: every committed round is in
the WAL on disk (see :mod:`netstage.auditor.store`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netstage.auditor.audit import ProgressCallback, run_audit
from netstage.auditor.facts import AuditResult
from netstage.auditor.inventory import Inventory
from netstage.auditor.snmp import oids
from netstage.auditor.snmp.collector import Collector, ReplayCollector
from netstage.auditor.store import HistoryStore

__all__ = ["POLL_PLAN", "PollRound", "poll_loop", "replay_collector", "run_poll"]

# Only the ifTable/ifXTable columns the parser reads (about half the values of the
# whole tables), as the audit fetches them.
POLL_PLAN: oids.WalkPlan = oids.INTERFACE_COLUMNS_PLAN


@dataclass(frozen=True)
class PollRound:
    """What one committed round stored."""

    number: int  # 1-based within this run
    poll_id: int  # row id in the store's polls table
    n_devices: int
    n_ok: int
    n_samples: int
    elapsed_s: float


async def poll_loop(inventory: Inventory, store: HistoryStore, every_s: float, *,
                    collector: Collector | None = None, rounds: int | None = None,
                    stop: asyncio.Event | None = None,
                    on_round: Callable[[PollRound, AuditResult], None] | None = None,
                    progress: ProgressCallback | None = None) -> list[PollRound]:
    """Poll every ``every_s`` seconds until ``rounds`` are done or ``stop`` is set.

    ``collector`` defaults to the live SNMP collector (one for the whole run, so pysnmp
    engines and sockets are reused). The default-community check is never repeated
    here (it belongs to ``netstage audit``). ``progress(done, total, facts)`` is called
    as each device of a round finishes.
    """
    if every_s <= 0:
        raise ValueError("every_s must be > 0")
    inv = inventory.model_copy(update={"default_community_check": False})
    stop = stop or asyncio.Event()
    own: Any = None
    if collector is None:
        from netstage.auditor.snmp.live import SnmpCollector

        own = collector = SnmpCollector(concurrency=inv.concurrency)
    done: list[PollRound] = []
    start = time.monotonic()
    tick = 0
    try:
        while not stop.is_set() and (rounds is None or len(done) < rounds):
            t0 = time.monotonic()
            task = asyncio.ensure_future(run_audit(inv, collector, progress, plan=POLL_PLAN))
            stopper = asyncio.ensure_future(stop.wait())
            finished, _ = await asyncio.wait({task, stopper},
                                             return_when=asyncio.FIRST_COMPLETED)
            if task not in finished:  # stopped mid-round: abandon it, write nothing
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                break
            stopper.cancel()
            result = task.result()
            before = store.n_samples()
            poll_id = store.record_poll(result.devices)
            rnd = PollRound(len(done) + 1, poll_id, len(result.devices),
                            sum(d.ok for d in result.devices), store.n_samples() - before,
                            time.monotonic() - t0)
            done.append(rnd)
            if on_round is not None:
                on_round(rnd, result)
            if rounds is not None and len(done) >= rounds:
                break
            # next grid tick after now (skip the ones an overrun missed)
            tick = max(tick + 1, int((time.monotonic() - start) / every_s) + 1)
            delay = start + tick * every_s - time.monotonic()
            if delay > 0:
                with contextlib.suppress(TimeoutError):  # not wait_for: see snmp/live.py
                    async with asyncio.timeout(delay):
                        await stop.wait()
    finally:
        if own is not None:
            own.close()
    return done


def run_poll(inventory: Inventory, store: HistoryStore, every_s: float, *,
             collector: Collector | None = None, rounds: int | None = None,
             on_round: Callable[[PollRound, AuditResult], None] | None = None,
             handle_signals: bool = True,
             progress: ProgressCallback | None = None) -> list[PollRound]:
    """Synchronous :func:`poll_loop`; SIGTERM/SIGINT stop it cleanly when
    ``handle_signals`` (the committed rounds stay, the round in flight is dropped)."""
    import signal

    async def main() -> list[PollRound]:
        stop = asyncio.Event()
        if handle_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
        return await poll_loop(inventory, store, every_s, collector=collector, rounds=rounds,
                               stop=stop, on_round=on_round, progress=progress)

    return asyncio.run(main())


def replay_collector(replay: Path) -> ReplayCollector:
    """A collector that polls the static .snmprec recordings in ``replay`` (``poll
    --replay``) instead of the network.

    Raises :class:`~netstage.simulator.errors.ConfigError` when ``replay`` is not a
    directory, holds no recordings, or holds recordings with snmpsim variation modules
    (``netstage twin --live`` writes those; only a running snmpsim serves them).
    """
    from netstage.simulator.errors import ConfigError

    if not replay.is_dir():
        what = "not a directory" if replay.exists() else "no such directory"
        raise ConfigError(f"{replay}: {what}; give --replay the directory of .snmprec "
                          "recordings (netstage twin DISTRICT --static --out DIR writes one)")
    if not any(p.suffix in ReplayCollector.SUFFIXES for p in replay.iterdir()):
        raise ConfigError(f"{replay}: no recordings ({', '.join(ReplayCollector.SUFFIXES)}) in "
                          "this directory; give --replay the directory written by `netstage "
                          "twin DISTRICT --static --out DIR` (or of snmpwalk -On outputs)")
    if _has_variation_modules(replay):
        raise ConfigError(f"{replay}: these recordings use snmpsim variation modules "
                          "(e.g. '65:numeric', written by `netstage twin --live`), which only "
                          "a running snmpsim can serve; write static ones with `netstage twin "
                          "DISTRICT --static --out DIR`, or serve these with `netstage twin "
                          "--serve` and poll without --replay")
    return ReplayCollector(replay)


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
