"""History store: schema, atomic rounds, unsigned 64-bit counters, rates and p95 from SQL."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from netstage.auditor.facts import DeviceFacts, FailureKind, Interface, SnmpTarget, Timings
from netstage.auditor.store import SCHEMA_VERSION, HistoryStore
from netstage.simulator.errors import ConfigError


def _dev(name: str, t: float, uptime_s: float, octets: dict[int, tuple[int, int]],
         speed: float = 1000.0, bits64: bool = True) -> DeviceFacts:
    return DeviceFacts(
        target=SnmpTarget(address="127.0.0.1", port=1161, name=name), ok=True,
        sys_name=name, sys_uptime_ticks=int(uptime_s * 100),
        timings=Timings(started_at=datetime.fromtimestamp(t, UTC), elapsed_s=0.0),
        interfaces=[Interface(if_index=i, name=f"p{i}", speed_mbps=speed, in_octets=a,
                              out_octets=b, counters_64bit=bits64)
                    for i, (a, b) in octets.items()])


def test_schema_wal_and_version(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    with HistoryStore(db) as s:
        assert s.n_polls() == 0
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"meta", "devices", "interfaces", "polls", "samples", "failures"} <= tables
    assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] \
        == str(SCHEMA_VERSION)
    conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(ConfigError, match="schema version 99"):
        HistoryStore(db)
    (tmp_path / "junk.db").write_text("not sqlite at all" * 100)
    with pytest.raises(ConfigError, match="not a netstage history database"):
        HistoryStore(tmp_path / "junk.db")
    with pytest.raises(ConfigError, match="no such history database"):
        HistoryStore(tmp_path / "missing.db", readonly=True)


def test_rates_p95_and_wrap_from_stored_history(tmp_path: Path) -> None:
    # Port 1: 10 Mb/s in every 60 s interval, starting just below 2^64 so that the
    # counter wraps (and values >= 2^63 must survive SQLite's signed INTEGER).
    # Port 2: i Mb/s in interval i (1..10) -> p95 (numpy linear) = 9 + 0.55 = 9.55 Mb/s.
    step = 10_000_000 * 60 // 8
    start = 2**64 - 3 * step
    with HistoryStore(tmp_path / "h.db") as s:
        acc2 = 0
        for k in range(11):
            if k:
                acc2 += k * 1_000_000 * 60 // 8
            s.record_poll([
                _dev("sw", 1000.0 + 60 * k, 5000 + 60 * k,
                     {1: ((start + k * step) % 2**64, 0), 2: (acc2, 0)}),
                DeviceFacts.failed(SnmpTarget(address="127.0.0.2", name="down"),
                                   FailureKind.timeout, "no answer")])
        assert s.n_polls() == 11
        assert s.n_samples() == 22
        raw = s.samples()
        assert int(raw.in_octets[0]) == start  # unsigned value read back exactly
        p = s.percentile_bps(95.0)
        assert p[("sw", 1)] == pytest.approx(10e6)
        assert p[("sw", 2)] == pytest.approx(9.55e6)
        assert s.history_days() == pytest.approx(600 / 86400)
        rows = {r["if_index"]: r for r in s.utilisation(95.0)}
        assert rows[1]["utilisation"] == pytest.approx(0.01)
        assert s.skip_counts() == {"ok": 20}
        n_fail = s.conn.execute("SELECT COUNT(*) FROM failures").fetchone()[0]
        assert n_fail == 11


def test_reboot_in_history_is_not_a_spike(tmp_path: Path) -> None:
    with HistoryStore(tmp_path / "h.db") as s:
        s.record_poll([_dev("sw", 0, 1000, {1: (0, 0)})])
        s.record_poll([_dev("sw", 300, 1300, {1: (3_750_000, 0)})])  # 100 kb/s
        s.record_poll([_dev("sw", 600, 20, {1: (10, 0)})])  # rebooted: dropped
        s.record_poll([_dev("sw", 900, 320, {1: (10 + 7_500_000, 0)})])  # 200 kb/s
        r = s.rates()
        assert r.counts() == {"ok": 2, "reboot": 1}
        assert s.percentile_bps(100.0)[("sw", 1)] == pytest.approx(200_000)


class _FailingConn:
    """Delegates to a sqlite3 connection; the n-th executemany raises (a crash mid-round)."""

    def __init__(self, conn: sqlite3.Connection, fail_at: int) -> None:
        self._conn, self._left = conn, fail_at

    def executemany(self, *a: object) -> object:
        self._left -= 1
        if self._left == 0:
            raise sqlite3.OperationalError("disk I/O error (simulated)")
        return self._conn.executemany(*a)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> object:
        return getattr(self._conn, name)

    def __enter__(self) -> object:
        return self._conn.__enter__()

    def __exit__(self, *exc: object) -> object:
        return self._conn.__exit__(*exc)  # type: ignore[arg-type]


def test_round_is_atomic(tmp_path: Path) -> None:
    with HistoryStore(tmp_path / "h.db") as s:
        s.record_poll([_dev("a", 0, 1000, {1: (0, 0)}), _dev("b", 0, 1000, {1: (0, 0)})])
        real = s.conn
        s.conn = _FailingConn(real, fail_at=2)  # type: ignore[assignment]
        with pytest.raises(sqlite3.OperationalError):
            # device a's samples are inserted, then device b's insert fails
            s.record_poll([_dev("a", 60, 1060, {1: (5, 5)}), _dev("b", 60, 1060, {1: (5, 5)})])
        s.conn = real
        assert (s.n_polls(), s.n_samples()) == (1, 2)  # nothing of the failed round
