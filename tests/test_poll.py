"""`netstage poll` against a live twin served by snmpsim: kill -9 loses no committed
round, restarts append, and the stored history gives the twin's configured loads."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from netstage.auditor.store import HistoryStore
from netstage.auditor.twin import export_twin, inventory_for_twin, serve_recordings
from netstage.simulator.io import load_district

from .support import TOPOLOGIES

LOADS = {"core--rtr": 40.0, "es-sw--core": 12.0}  # Mb/s per link of stage1 (each direction)


def _committed(db: Path) -> tuple[int, int]:
    """(polls, samples) as another process sees them now (read-only)."""
    if not db.exists():
        return 0, 0
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return (conn.execute("SELECT COUNT(*) FROM polls").fetchone()[0],
                conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0])
    except sqlite3.OperationalError:  # schema not created yet
        return 0, 0
    finally:
        conn.close()


def _start(inv: Path, db: Path, env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "netstage", "poll", str(inv), "--db", str(db), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **env, "NO_COLOR": "1"}, cwd=inv.parent)


def test_kill_9_loses_no_committed_round_and_rates_match_the_twin(tmp_path: Path) -> None:
    d = load_district(TOPOLOGIES / "stage1-lab-era.yaml")
    for lk in d.links:
        lk.background_mbps = LOADS.get(lk.key, 0.0)
    twin_dir = tmp_path / "twin"
    paths = export_twin(d, twin_dir, counters="live")
    db = tmp_path / "history.db"
    rng = random.Random(7)
    with serve_recordings(twin_dir) as (host, port):
        text, env = inventory_for_twin(host, port, [p.stem for p in paths])
        inv = tmp_path / "twin.yaml"
        inv.write_text(text)
        seen_before_kill = []
        for _run in range(2):  # kill it twice, at different moments
            proc = _start(inv, db, env, "--every", "0.5")
            try:
                target = _committed(db)[0] + 2
                deadline = time.monotonic() + 90
                while _committed(db)[0] < target:
                    assert proc.poll() is None, proc.communicate()[1]
                    assert time.monotonic() < deadline, "poller too slow"
                    time.sleep(0.05)
                time.sleep(rng.uniform(0.0, 0.5))  # somewhere within a round
                seen = _committed(db)
                proc.kill()  # SIGKILL: no cleanup, no handler
                proc.wait(timeout=10)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            assert proc.returncode == -9
            seen_before_kill.append(seen)
            after = _committed(db)
            assert after[0] >= seen[0] and after[1] >= seen[1]  # nothing committed was lost
        # SIGTERM: a clean stop after the rounds committed so far, exit code 0
        proc = _start(inv, db, env, "--every", "0.5")
        target = _committed(db)[0] + 2
        deadline = time.monotonic() + 90
        while _committed(db)[0] < target and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "round 2" in err and "stopped after" in err
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    per_poll = [r[0] for r in conn.execute(
        "SELECT COUNT(s.ts) FROM polls p LEFT JOIN samples s ON s.poll_id = p.id "
        "GROUP BY p.id ORDER BY p.id")]
    conn.close()
    # every stored round is complete: 5 devices, every interface with counters
    n_ifaces = sum(1 for p in paths for line in p.read_text().splitlines()
                   if line.startswith("1.3.6.1.2.1.31.1.1.1.6."))
    assert per_poll and all(n == n_ifaces for n in per_poll)
    assert len(per_poll) >= seen_before_kill[-1][0] + 2  # appended after the restarts
    with HistoryStore(db, readonly=True) as s:
        p50 = s.percentile_bps(50.0)
        counts = s.skip_counts()
    # core's port1 carries core--rtr; es-sw's port1 carries es-sw--core (twin_ports order)
    assert p50[("core", 1001)] / 1e6 == pytest.approx(40.0, rel=0.15)
    assert p50[("es-sw", 1001)] / 1e6 == pytest.approx(12.0, rel=0.15)
    assert p50[("hs-sw", 1001)] == pytest.approx(0.0, abs=1.0)
    assert counts.get("ok", 0) > 0 and counts.get("reboot", 0) == 0


def test_poll_replay_rounds_and_history_cli(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    d = load_district(TOPOLOGIES / "stage1-lab-era.yaml")
    twin_dir = tmp_path / "twin"
    paths = export_twin(d, twin_dir)
    text, env = inventory_for_twin("127.0.0.1", 161, [p.stem for p in paths])
    (tmp_path / "inv.yaml").write_text(text)
    r = run_cli("poll", "inv.yaml", "--db", "h.db", "--every", "0.1", "--rounds", "3",
                "--replay", str(twin_dir), env=env)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("5/5 devices") == 3
    r = run_cli("history", "--db", "h.db", "--json")
    assert r.returncode == 0, r.stderr
    import json

    info = json.loads(r.stdout)
    assert info["polls"] == 3
    # static recordings: counters do not move, so every interval rate is 0
    assert info["interfaces"] and all(row["p95_mbps"] == 0 for row in info["interfaces"])
    r = run_cli("history", "--db", "missing.db")
    assert r.returncode == 1 and "no such history database" in r.stderr


def test_poll_plan_reads_the_same_interfaces_from_fewer_values(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    import asyncio

    from netstage.auditor.audit import run_audit
    from netstage.auditor.inventory import load_inventory
    from netstage.auditor.poll import POLL_PLAN
    from netstage.auditor.snmp import oids
    from netstage.auditor.snmp.collector import ReplayCollector

    d = load_district(TOPOLOGIES / "stage3-emerging.yaml")
    paths = export_twin(d, tmp_path / "twin")
    text, env = inventory_for_twin("127.0.0.1", 161, [p.stem for p in paths])
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    (tmp_path / "inv.yaml").write_text(text)
    inv = load_inventory(tmp_path / "inv.yaml")
    replay = ReplayCollector(tmp_path / "twin")
    cols = asyncio.run(run_audit(inv, replay, plan=POLL_PLAN))
    tables = asyncio.run(run_audit(inv, replay, plan=oids.INTERFACE_PLAN))
    assert len(cols.devices) == len(paths) and all(x.ok for x in cols.devices)
    for a, b in zip(cols.devices, tables.devices, strict=True):
        assert a.interfaces == b.interfaces and a.interfaces
        assert a.timings.n_values < b.timings.n_values  # whole tables carry unused columns
