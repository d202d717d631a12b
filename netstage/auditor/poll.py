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
from typing import Any

from netstage.auditor.audit import ProgressCallback, run_audit
from netstage.auditor.facts import AuditResult
from netstage.auditor.inventory import Inventory
from netstage.auditor.snmp import oids
from netstage.auditor.snmp.collector import Collector
from netstage.auditor.store import HistoryStore

__all__ = ["POLL_PLAN", "PollRound", "poll_loop", "run_poll"]

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
