"""Measured utilisation through the real path (issue 16 item 6), as root on a lab:
a constant-rate UDP flow crosses the rtr-core link while `netstage poll` reads the
kernel's counters through snmpd; the rate it computes must match the bytes sent within
2 %, and `normalise --base --history` must carry it into the link's background load."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from netstage.auditor.lab.plan import plan_lab
from netstage.auditor.lab.run import lab_down, lab_up
from netstage.auditor.store import HistoryStore
from netstage.simulator.io import load_district

from .support import ROOT
from .test_lab import needs_root

_COUNT = itertools.count()


@pytest.fixture
def lab() -> Iterator[tuple[str, dict[str, object]]]:
    prefix = f"np{os.getpid() % 100000}x{next(_COUNT)}-"
    try:
        yield prefix, lab_up(plan_lab(load_district("example:stage1"), prefix=prefix))
    finally:
        lab_down(prefix)


def _in(ns: str, *argv: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True,
                          text=True, check=True, timeout=120, **kw)  # type: ignore[call-overload]


@needs_root
def test_poll_measures_the_flow_and_normalise_carries_it(
        lab: tuple[str, dict[str, object]], tmp_path: Path) -> None:
    prefix, state = lab
    work = Path(str(state["workdir"]))
    devices = state["plan"]["devices"]  # type: ignore[index]
    # a data plane for this link only: addresses on rtr's port and core's bridge (a
    # private network that exists only inside these two namespaces)
    _in(f"{prefix}rtr", "ip", "addr", "add", "192.168.77.1/24", "dev", "port1")
    _in(f"{prefix}core", "ip", "addr", "add", "192.168.77.2/24", "dev", "br0")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1",
           "NETSTAGE_LAB_COMMUNITY": (work / "community").read_text().strip()}
    inv = tmp_path / "inv.yaml"
    inv.write_text(yaml.safe_dump({
        "concurrency": 4, "defaults": {"port": 161, "timeout_s": 2.0, "retries": 1},
        "credentials": {"lab": {"version": "v2c", "community": "env:NETSTAGE_LAB_COMMUNITY"}},
        "targets": [{"address": devices[n]["mgmt_address"], "name": n, "credentials": "lab"}
                    for n in ("rtr", "core")]}))
    # 400 kbit/s on a link shaped to 1 Mbit/s (100 Mb/s at scale 100): never queued
    rate = 400_000
    flow = subprocess.Popen(["ip", "netns", "exec", f"{prefix}rtr", sys.executable, "-m",
                             "netstage.auditor.lab.udpflow", "192.168.77.2", str(rate), "16"],
                            stdout=subprocess.PIPE, text=True, env=env)
    time.sleep(2.5)  # ARP and the first frames settle before the first poll
    db = tmp_path / "h.db"
    _in(f"{prefix}mgmt", sys.executable, "-m", "netstage", "poll", str(inv), "--every", "2",
        "--rounds", "6", "--db", str(db), env=env, cwd=tmp_path)
    out, _ = flow.communicate(timeout=60)
    assert flow.returncode == 0
    sent = json.loads(out)
    assert sent["wire_bps"] == pytest.approx(rate, rel=0.02)  # the generator kept its pace
    with HistoryStore(db, readonly=True) as store:
        rows = {(r["device"], r["name"]): r for r in store.utilisation(q=50)}
    for end in (("rtr", "port1"), ("core", "port1")):
        got = float(rows[end]["p50_mbps"]) * 1e6  # type: ignore[arg-type]
        # LLDP adds ~0.1 kbit/s; everything else on the wire is the flow
        print(f"{end}: polled {got:,.0f} bit/s, sent {sent['wire_bps']:,.0f} bit/s")
        assert got == pytest.approx(sent["wire_bps"], rel=0.02), (end, got, sent)
        assert int(rows[end]["intervals"]) >= 4  # type: ignore[call-overload]
    # the whole path into the model: audit (for the ports) + normalise with the history
    audit = tmp_path / "audit.json"
    _in(f"{prefix}mgmt", sys.executable, "-m", "netstage", "audit", str(inv), "--out",
        str(audit), env=env, cwd=tmp_path)
    merged = tmp_path / "merged.yaml"
    r = subprocess.run([sys.executable, "-m", "netstage", "normalise", str(audit), "--base",
                        "example:stage1", "--history", str(db), "--out", str(merged)],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    link = next(lk for lk in load_district(merged).links if {lk.a, lk.b} == {"rtr", "core"})
    # p95 of the interval rates; the flow was constant, so within the same 2 %
    assert link.background_mbps == pytest.approx(sent["wire_bps"] / 1e6, rel=0.02)
