"""`netstage twin --serve` writes what it prints (issue 18): the inventory that audits the
twin (--inventory-out, communities as env:VAR) and the variables (--env-out, NAME=value),
so a script can start it, audit it and stop it. A district with no background load warns
that its twin's counters will not move."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

from .support import TOPOLOGIES, CliRunner


def _read_env(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, _, value = line.partition("=")
        out[name] = value
    return out


def test_served_twin_writes_inventory_and_env_for_an_audit(run_cli: CliRunner,
                                                            tmp_path: Path) -> None:
    inv, env_file = tmp_path / "twin.yaml", tmp_path / "twin.env"
    proc = subprocess.Popen(
        [sys.executable, "-m", "netstage", "twin", str(TOPOLOGIES / "stage1-lab-era.yaml"),
         "--serve", "--inventory-out", str(inv), "--env-out", str(env_file)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"})
    try:
        deadline = time.monotonic() + 120
        while not inv.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert inv.exists(), proc.stderr.read() if proc.poll() is not None else "no inventory"
        env = _read_env(env_file)
        assert env and all(k.startswith("NETSTAGE_TWIN_COMMUNITY_") for k in env)
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
        text = inv.read_text(encoding="utf-8")
        assert text.count("community: env:") == len(env)  # secrets only as references
        r = run_cli("audit", str(inv), "--json", env=env)
        assert r.returncode == 0, r.stderr
        summary = json.loads(r.stdout)["summary"]
        assert summary["n_ok"] == summary["n_targets"] == len(env)
        # without the variables the inventory names them
        r = run_cli("audit", str(inv), "--json",
                    env={k: "" for k in env})
        assert r.returncode != 0 or json.loads(r.stdout)["summary"]["n_ok"] == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert f"wrote the inventory to {inv}" in err
    assert "background_mbps" in err  # stage 1 declares no background load


def test_inventory_out_needs_serve(run_cli: CliRunner, tmp_path: Path) -> None:
    r = run_cli("twin", str(TOPOLOGIES / "stage1-lab-era.yaml"), "--out", "t",
                "--inventory-out", "i.yaml")
    assert r.returncode == 2 and "--serve" in r.stderr
    assert not (tmp_path / "i.yaml").exists()


def test_twin_warns_when_nothing_carries_load(run_cli: CliRunner, tmp_path: Path) -> None:
    quiet = run_cli("twin", str(TOPOLOGIES / "stage1-lab-era.yaml"), "--out", "q")
    assert quiet.returncode == 0, quiet.stderr
    assert "0.000 Mb/s" in quiet.stderr and "background_mbps" in quiet.stderr
    loaded = run_cli("twin", str(TOPOLOGIES / "stage3-emerging.yaml"), "--out", "l")
    assert loaded.returncode == 0, loaded.stderr
    assert "warning" not in loaded.stderr
