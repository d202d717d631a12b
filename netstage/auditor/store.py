"""History store: interface counter samples in SQLite (WAL mode), and rates from them.

One database file holds every poll round of ``netstage poll``. A poll round is written
in ONE transaction (:meth:`HistoryStore.record_poll`), so a ``kill -9`` at any moment
leaves either the whole round or none of it; committed rounds are never lost (WAL with
``synchronous=FULL``: a commit returns only after the WAL is on disk).

Schema (version 1; ``meta.schema_version``) - documented in docs/history-and-twin.md::

    meta(key TEXT PRIMARY KEY, value TEXT)
    devices(id INTEGER PRIMARY KEY, key TEXT UNIQUE NOT NULL,   -- inventory name or addr:port
            address TEXT, port INTEGER, sys_name TEXT)
    interfaces(id INTEGER PRIMARY KEY, device_id INTEGER NOT NULL REFERENCES devices(id),
               if_index INTEGER NOT NULL, name TEXT, speed_mbps REAL,
               UNIQUE(device_id, if_index))
    polls(id INTEGER PRIMARY KEY, started_at REAL NOT NULL,    -- unix seconds (UTC)
          finished_at REAL NOT NULL, n_devices INTEGER, n_ok INTEGER, n_failed INTEGER)
    samples(interface_id INTEGER NOT NULL REFERENCES interfaces(id),
            ts REAL NOT NULL,             -- unix seconds of the device's answer
            poll_id INTEGER NOT NULL REFERENCES polls(id),
            uptime_cs INTEGER,            -- sysUpTime, TimeTicks (1/100 s)
            in_octets INTEGER, out_octets INTEGER,  -- raw unsigned counters, stored as
                                          -- signed 64-bit (two's complement above 2^63)
            counter_bits INTEGER,         -- 64: ifHC*Octets, 32: ifIn/OutOctets
            discontinuity_cs INTEGER,     -- ifCounterDiscontinuityTime (TimeTicks)
            speed_mbps REAL, oper_status INTEGER,
            in_errors INTEGER, out_errors INTEGER, in_discards INTEGER, out_discards INTEGER,
            PRIMARY KEY (interface_id, ts)) WITHOUT ROWID
    failures(poll_id INTEGER NOT NULL REFERENCES polls(id), device_id INTEGER NOT NULL
             REFERENCES devices(id), ts REAL NOT NULL, kind TEXT NOT NULL, reason TEXT)

Rates and percentiles are computed by :mod:`netstage.auditor.rates` on the whole history
at once (one query, one vectorised pass).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np

from netstage.auditor.facts import DeviceFacts, Interface, SnmpTarget
from netstage.auditor.rates import IntervalRates, Samples, interval_rates, percentile_utilisation
from netstage.simulator.errors import ConfigError

__all__ = ["SCHEMA_VERSION", "HistoryStore", "InterfaceInfo", "device_key", "history_summary"]

SCHEMA_VERSION = 1
_2_63 = 2**63
_2_64 = 2**64

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS devices(
    id INTEGER PRIMARY KEY, key TEXT UNIQUE NOT NULL, address TEXT, port INTEGER,
    sys_name TEXT);
CREATE TABLE IF NOT EXISTS interfaces(
    id INTEGER PRIMARY KEY, device_id INTEGER NOT NULL REFERENCES devices(id),
    if_index INTEGER NOT NULL, name TEXT, speed_mbps REAL, UNIQUE(device_id, if_index));
CREATE TABLE IF NOT EXISTS polls(
    id INTEGER PRIMARY KEY, started_at REAL NOT NULL, finished_at REAL NOT NULL,
    n_devices INTEGER, n_ok INTEGER, n_failed INTEGER);
CREATE TABLE IF NOT EXISTS samples(
    interface_id INTEGER NOT NULL REFERENCES interfaces(id), ts REAL NOT NULL,
    poll_id INTEGER NOT NULL REFERENCES polls(id), uptime_cs INTEGER,
    in_octets INTEGER, out_octets INTEGER, counter_bits INTEGER, discontinuity_cs INTEGER,
    speed_mbps REAL, oper_status INTEGER, in_errors INTEGER, out_errors INTEGER,
    in_discards INTEGER, out_discards INTEGER,
    PRIMARY KEY (interface_id, ts)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS failures(
    poll_id INTEGER NOT NULL REFERENCES polls(id),
    device_id INTEGER NOT NULL REFERENCES devices(id), ts REAL NOT NULL, kind TEXT NOT NULL,
    reason TEXT);
CREATE INDEX IF NOT EXISTS samples_poll ON samples(poll_id);
"""


def device_key(target: SnmpTarget) -> str:
    """How the store names a device: the inventory name, else ``address:port``."""
    return target.name or f"{target.address}:{target.port}"


def _signed(v: int | None) -> int | None:
    """An unsigned 64-bit counter as SQLite's signed INTEGER (two's complement)."""
    if v is None:
        return None
    return v - _2_64 if v >= _2_63 else v


@dataclass(frozen=True)
class InterfaceInfo:
    """One stored interface: its store id, device key, ifIndex, name, last speed."""

    id: int
    device: str
    if_index: int
    name: str | None
    speed_mbps: float | None


class HistoryStore:
    """A SQLite history database (created if missing). Use as a context manager.

    ``readonly=True`` opens an existing file without writing (for reports while a poller
    is running: WAL readers do not block the writer).
    """

    def __init__(self, path: str | Path, *, readonly: bool = False,
                 option: str = "--db") -> None:
        self.path = Path(path)
        self._option = option  # the CLI option that named the file, for messages
        if readonly and not self.path.exists():
            raise ConfigError(f"{self.path}: no such history database; run "
                              f"`netstage poll INVENTORY --db {self.path}` first")
        if self.path.is_dir():
            raise ConfigError(f"{self.path}: is a directory; give {self._option} a database "
                              "file name")
        if self.path.parent.exists() and not self.path.parent.is_dir():
            raise ConfigError(f"{self.path}: {self.path.parent} is a file, not a directory; "
                              f"give {self._option} a path inside a directory")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot create its directory ({exc.strerror}); "
                              f"give {self._option} a path in a writable directory") from None
        try:
            if readonly:
                self.conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                            timeout=30.0)
            else:
                self.conn = sqlite3.connect(self.path, timeout=30.0)
                self._refuse_foreign_database()
                self.conn.execute("PRAGMA journal_mode=WAL")
                self.conn.execute("PRAGMA synchronous=FULL")
                self.conn.executescript(_SCHEMA)
                self.conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                                  (str(SCHEMA_VERSION),))
                self.conn.commit()
            row = self.conn.execute(
                "SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            what = ("the database written by `netstage poll`" if readonly
                    else "a new file name")
            raise ConfigError(f"{self.path}: not a netstage history database ({exc}); give "
                              f"{self._option} {what}") from None
        if row is None or int(row[0]) != SCHEMA_VERSION:
            raise ConfigError(f"{self.path}: history schema version {row[0] if row else '?'}, "
                              f"this netstage reads version {SCHEMA_VERSION}")
        self.conn.execute("PRAGMA foreign_keys=ON")
        # (device id, ifIndex) -> (interface id, name, speed): saves two statements per
        # interface and round once an interface is known
        self._if_cache: dict[tuple[int, int], tuple[int, str | None, float | None]] = {
            (r[1], r[2]): (r[0], r[3], r[4]) for r in self.conn.execute(
                "SELECT id, device_id, if_index, name, speed_mbps FROM interfaces")}
        self._dev_cache: dict[tuple[str, str | None], int] = {}

    def _refuse_foreign_database(self) -> None:
        """Leave another program's SQLite file untouched (no WAL switch, no tables added)."""
        tables = {r[0] for r in self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "meta" not in tables:
            self.conn.close()
            shown = ", ".join(sorted(tables)[:5]) + (" ..." if len(tables) > 5 else "")
            raise ConfigError(f"{self.path}: an SQLite database of another program (tables: "
                              f"{shown}), not a netstage history; give {self._option} a new "
                              "file name")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- writing ----------------------------------------------------------------------
    def _device_id(self, dev: DeviceFacts) -> int:
        key = device_key(dev.target)
        cached = self._dev_cache.get((key, dev.sys_name))
        if cached is not None:
            return cached
        self.conn.execute(
            "INSERT INTO devices(key, address, port, sys_name) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET sys_name=COALESCE(excluded.sys_name, sys_name)",
            (key, dev.target.address, dev.target.port, dev.sys_name))
        row = self.conn.execute("SELECT id FROM devices WHERE key=?", (key,)).fetchone()
        self._dev_cache[(key, dev.sys_name)] = int(row[0])
        return int(row[0])

    def _interface_id(self, dev_id: int, i: Interface) -> int:
        name = i.name or i.descr
        known = self._if_cache.get((dev_id, i.if_index))
        if known is not None and known[1] == name and known[2] == i.speed_mbps:
            return known[0]
        self.conn.execute(
            "INSERT INTO interfaces(device_id, if_index, name, speed_mbps) "
            "VALUES (?, ?, ?, ?) ON CONFLICT(device_id, if_index) DO UPDATE SET "
            "name=excluded.name, speed_mbps=excluded.speed_mbps",
            (dev_id, i.if_index, name, i.speed_mbps))
        iid = int(self.conn.execute(
            "SELECT id FROM interfaces WHERE device_id=? AND if_index=?",
            (dev_id, i.if_index)).fetchone()[0])
        self._pending[(dev_id, i.if_index)] = (iid, name, i.speed_mbps)
        return iid

    def record_poll(self, devices: Iterable[DeviceFacts], *, started_at: float | None = None,
                    finished_at: float | None = None) -> int:
        """Store one poll round atomically; returns its poll id.

        Each answered device contributes one sample per interface that has octet
        counters, time-stamped with the device's ``timings.started_at``. Failed devices
        are recorded in ``failures``.
        """
        devs = list(devices)
        now = time.time()
        start = started_at if started_at is not None else min(
            (d.timings.started_at.timestamp() for d in devs), default=now)
        end = finished_at if finished_at is not None else now
        self._pending: dict[tuple[int, int], tuple[int, str | None, float | None]] = {}
        dev_cache = dict(self._dev_cache)
        try:
            poll_id = self._write_round(devs, start, end)
        except BaseException:
            self._dev_cache = dev_cache  # the rollback undid the rows these point to
            raise
        self._if_cache.update(self._pending)  # committed: now safe to remember
        return poll_id

    def _write_round(self, devs: list[DeviceFacts], start: float, end: float) -> int:
        with self.conn:  # one transaction: all of this round or nothing
            cur = self.conn.execute(
                "INSERT INTO polls(started_at, finished_at, n_devices, n_ok, n_failed) "
                "VALUES (?, ?, ?, ?, ?)",
                (start, end, len(devs), sum(d.ok for d in devs), sum(not d.ok for d in devs)))
            poll_id = int(cur.lastrowid or 0)
            for dev in devs:
                dev_id = self._device_id(dev)
                ts = dev.timings.started_at.timestamp() + dev.timings.elapsed_s / 2
                if not dev.ok:
                    self.conn.execute(
                        "INSERT INTO failures VALUES (?, ?, ?, ?, ?)",
                        (poll_id, dev_id, ts, dev.failure.kind.value if dev.failure else "other",
                         dev.failure.reason if dev.failure else None))
                    continue
                rows = []
                for i in dev.interfaces:
                    if i.in_octets is None and i.out_octets is None:
                        continue
                    iid = self._interface_id(dev_id, i)
                    rows.append((iid, ts, poll_id, dev.sys_uptime_ticks, _signed(i.in_octets),
                                 _signed(i.out_octets), 32 if i.counters_64bit is False else 64,
                                 i.counter_discontinuity_ticks, i.speed_mbps, i.oper_status,
                                 i.in_errors, i.out_errors, i.in_discards, i.out_discards))
                self.conn.executemany(
                    "INSERT OR REPLACE INTO samples VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        return poll_id

    # -- reading ----------------------------------------------------------------------
    def interfaces(self) -> dict[int, InterfaceInfo]:
        """Store interface id -> :class:`InterfaceInfo`."""
        q = ("SELECT i.id, d.key, i.if_index, i.name, i.speed_mbps FROM interfaces i "
             "JOIN devices d ON d.id = i.device_id")
        return {r[0]: InterfaceInfo(r[0], r[1], r[2], r[3], r[4])
                for r in self.conn.execute(q)}

    def samples(self, *, since: float | None = None) -> Samples:
        """Every stored sample (optionally from unix time ``since``) as :class:`Samples`."""
        q = ("SELECT interface_id, ts, COALESCE(in_octets, 0), COALESCE(out_octets, 0), "
             "COALESCE(uptime_cs, -1), COALESCE(discontinuity_cs, -1), "
             "COALESCE(counter_bits, 64), COALESCE(speed_mbps, -1.0) FROM samples"
             + (" WHERE ts >= ?" if since is not None else "") + " ORDER BY interface_id, ts")
        dtype = np.dtype([("k", np.int64), ("ts", np.float64), ("i", np.int64),
                          ("o", np.int64), ("up", np.int64), ("disc", np.int64),
                          ("bits", np.int64), ("speed", np.float64)])
        cur = self.conn.execute(q, (since,) if since is not None else ())
        a = np.fromiter(cur, dtype=dtype)
        speed = a["speed"].copy()
        speed[speed < 0] = np.nan
        return Samples(a["k"].copy(), a["ts"].copy(), a["i"].view(np.uint64).copy(),
                       a["o"].view(np.uint64).copy(), a["up"].copy(), a["disc"].copy(),
                       a["bits"].copy(), speed)

    def rates(self, *, since: float | None = None) -> IntervalRates:
        """Interval rates over the stored history (wraps and resets handled)."""
        return interval_rates(self.samples(since=since))

    def percentile_bps(self, q: float = 95.0, *, since: float | None = None
                       ) -> dict[tuple[str, int], float]:
        """(device key, ifIndex) -> p``q`` of max(in, out) bit/s over the history."""
        ifs = self.interfaces()
        stats = percentile_utilisation(self.rates(since=since),
                                       {k: v.speed_mbps or float("nan") for k, v in ifs.items()},
                                       q)
        return {(ifs[k].device, ifs[k].if_index): bps for k, (bps, _u, _n) in stats.items()}

    def utilisation(self, q: float = 95.0) -> list[dict[str, object]]:
        """One row per interface with rates: device, ifIndex, name, speed, p``q``, share."""
        ifs = self.interfaces()
        r = self.rates()
        stats = percentile_utilisation(r, {k: v.speed_mbps or float("nan")
                                           for k, v in ifs.items()}, q)
        out: list[dict[str, object]] = []
        for k, (bps, util, n) in sorted(stats.items(), key=lambda kv: -kv[1][0]):
            i = ifs[k]
            out.append({"device": i.device, "if_index": i.if_index, "name": i.name,
                        "speed_mbps": i.speed_mbps, f"p{q:g}_mbps": round(bps / 1e6, 6),
                        "utilisation": None if util != util else round(util, 6),
                        "intervals": n})
        return out

    def n_polls(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM polls").fetchone()[0])

    def n_samples(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0])

    def history_days(self) -> float:
        """Days between the first and the last stored sample (0 when fewer than two)."""
        lo, hi = self.conn.execute("SELECT MIN(ts), MAX(ts) FROM samples").fetchone()
        return 0.0 if lo is None else (hi - lo) / 86400.0

    def skip_counts(self) -> dict[str, int]:
        """How many intervals were used or dropped (reboot, wrap ambiguity, ...)."""
        return self.rates().counts()


def history_summary(db: str | Path, percentile: float = 95.0) -> dict[str, object]:
    """What ``netstage history`` shows of a poll history, as a dict: the database,
    polls, samples, days covered, interval counts (used / dropped and why), the
    percentile and one row per interface (:meth:`HistoryStore.utilisation`).

    Opens ``db`` read-only; a missing file is a :class:`ConfigError`.
    """
    with HistoryStore(db, readonly=True) as store:
        rows = store.utilisation(percentile)
        return {"db": str(db), "polls": store.n_polls(), "samples": store.n_samples(),
                "history_days": store.history_days(), "intervals": store.skip_counts(),
                "percentile": percentile, "interfaces": rows}
