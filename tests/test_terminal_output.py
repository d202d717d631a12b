"""Terminal output: emoji codes stay text, piped tables use the full width, no progress
bars in pipes."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from netstage.cli.common import PIPE_WIDTH, make_console

from .support import ROOT


def _run(*args: str, columns: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env["PYTHONPATH"] = str(ROOT)
    if columns is not None:
        env["COLUMNS"] = columns
    return subprocess.run([sys.executable, "-m", "netstage", *args], capture_output=True,
                          text=True, timeout=120, env=env)


def test_every_console_prints_emoji_codes_as_text() -> None:
    for stderr in (False, True):
        c = make_console(stderr=stderr)
        buf = io.StringIO()
        c.file = buf
        c.print("d.yaml:100: links[0] :thumbs_up: :smile:")
        assert buf.getvalue().startswith("d.yaml:100: links[0] :thumbs_up: :smile:")


def test_line_100_in_an_error_is_not_an_emoji(tmp_path: Path) -> None:
    p = tmp_path / "d.yaml"
    p.write_text("district: {name: x}\n" + "\n" * 98 + "sites: 5\n")
    r = _run("validate", str(p))
    assert r.returncode == 1
    assert f"{p}:100: sites:" in r.stdout + r.stderr
    assert "\U0001f4af" not in r.stdout + r.stderr


def test_console_width_when_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    c = make_console()
    c.file = io.StringIO()
    monkeypatch.delenv("COLUMNS", raising=False)
    assert c.width == PIPE_WIDTH
    monkeypatch.setenv("COLUMNS", "132")
    assert c.width == 132


def test_piped_table_rows_do_not_wrap_at_80(tmp_path: Path) -> None:
    long_name = ("Lakeview Consolidated Independent School District of the Northern Valley "
                 "and the Southern Lakes Region")  # 104 characters: wraps at 80
    src = (ROOT / "netstage" / "topologies" / "stage3-emerging.yaml").read_text()
    p = tmp_path / "d.yaml"
    p.write_text(src.replace("name: Lakeview ISD", f"name: {long_name}", 1))
    assert long_name in p.read_text()
    r = _run("info", str(p))
    assert r.returncode == 0, r.stderr
    assert long_name in r.stdout  # on one line, not broken over several
    r = _run("info", str(p), columns="40")
    boxes = [line for line in r.stdout.splitlines() if line[:1] in "┌│└"]
    assert boxes and max(len(line) for line in boxes) <= 40  # COLUMNS is honoured


def test_no_progress_bar_when_piped() -> None:
    r = _run("classify", "example:stage2")
    assert r.returncode in (0, 1), r.stderr
    assert "\r" not in r.stderr and "\x1b[" not in r.stderr + r.stdout


def test_poll_reports_per_device_progress(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """poll_loop passes each device's completion to the progress callback (the CLI's bar,
    drawn only on a terminal), round after round."""
    from netstage.auditor.inventory import load_inventory
    from netstage.auditor.poll import run_poll
    from netstage.auditor.snmp.collector import ReplayCollector
    from netstage.auditor.store import HistoryStore
    from netstage.auditor.twin import export_twin, inventory_for_twin
    from netstage.simulator.io import load_district

    d = load_district(ROOT / "netstage" / "topologies" / "stage1-lab-era.yaml")
    paths = export_twin(d, tmp_path / "twin")
    text, env = inventory_for_twin("127.0.0.1", 161, [p.stem for p in paths])
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    (tmp_path / "inv.yaml").write_text(text)
    inv = load_inventory(tmp_path / "inv.yaml")
    calls: list[tuple[int, int]] = []
    with HistoryStore(tmp_path / "h.db") as store:
        done = run_poll(inv, store, 0.05, collector=ReplayCollector(tmp_path / "twin"),
                        rounds=2, handle_signals=False,
                        progress=lambda n, total, facts: calls.append((n, total)))
    assert len(done) == 2
    n = len(paths)
    assert calls.count((n, n)) == 2 and len(calls) == 2 * n
