"""`netstage serve` in real headless Chromium, driven over the DevTools protocol.

The test starts the server as a user does (`python -m netstage serve ... --port 0`),
opens the page in Chromium (DevTools protocol over `--remote-debugging-pipe`: no extra
Python package), drags the Internet-capacity slider of scenario A until the stage
changes, checks the new stage, the chart and the A/B highlight, sets the busy-hour knobs
of scenario B (share active, application mix) and sees them in the A/B figures and B's
exported district, exports scenario A
from the page and compares the exported report JSON with `netstage report` run on the
exported district YAML. Set NETSTAGE_SERVE_SCREENSHOT=path to keep a screenshot
(docs/serve.png is made this way).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

ROOT = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI") == "true"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1500,1900", "--hide-scrollbars"]


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if IN_CI:
            pytest.fail("chromium is missing: CI installs it (scripts/system-deps.sh)")
        pytest.skip("chromium not installed")
    return exe


class Chromium:
    """Headless Chromium with the DevTools protocol on a pipe (fd 3 in, fd 4 out)."""

    def __init__(self, exe: str, profile: Path) -> None:
        to_r, self._to_w = os.pipe()
        self._from_r, from_w = os.pipe()

        def fds() -> None:  # in the child: the protocol reads fd 3 and writes fd 4
            a, b = os.dup(to_r), os.dup(from_w)   # above 4, so the dup2s cannot collide
            os.dup2(a, 3)                         # dup2 copies are inheritable
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [exe, *FLAGS, "--remote-debugging-pipe", f"--user-data-dir={profile}",
             "about:blank"], close_fds=False, preexec_fn=fds,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_r)
        os.close(from_w)
        self._buf = b""
        self._id = 0
        self.session: str | None = None

    def send(self, method: str, params: dict[str, Any] | None = None,
             session: bool = True, timeout: float = 120.0) -> dict[str, Any]:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._to_w, json.dumps(msg).encode() + b"\0")
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            while b"\0" not in self._buf:
                chunk = os.read(self._from_r, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe")
                self._buf += chunk
            raw, self._buf = self._buf.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))
        raise TimeoutError(method)

    def open(self, url: str) -> None:
        tid = self.send("Target.createTarget", {"url": "about:blank"}, session=False)
        att = self.send("Target.attachToTarget", {"targetId": tid["targetId"], "flatten": True},
                        session=False)
        self.session = att["sessionId"]
        self.send("Page.enable")
        self.send("Page.navigate", {"url": url})

    def js(self, expr: str, timeout: float = 120.0) -> Any:
        r = self.send("Runtime.evaluate", {"expression": expr, "awaitPromise": True,
                                           "returnByValue": True}, timeout=timeout)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expr[:80]}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait(self, expr: str, timeout: float = 300.0) -> Any:
        """Poll ``expr`` until true (generous: the 2-core test machine is shared)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            v = self.js(expr)
            if v:
                return v
            time.sleep(0.2)
        state = self.js("(() => { const t = document.getElementById('result-A');"
                        " return t ? t.dataset.status + ' ' + t.className + ' '"
                        " + t.innerHTML.slice(0, 400) : document.title; })()")
        raise TimeoutError(f"never true: {expr}; result A: {state}")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.send("Browser.close", session=False, timeout=10)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self._to_w)
        os.close(self._from_r)


def _start_server(district: str) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "netstage", "serve", district, "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
    if not m:
        proc.kill()
        err = proc.stderr.read() if proc.stderr else ""
        raise AssertionError(f"no URL printed: {line!r} {err}")
    return proc, m.group(1)


TIMING_KEYS = {"generated_utc", "elapsed_s"}  # when it was written and how long it took


def _strip(x: Any) -> Any:
    """The report without the fields that name the moment it was written or its speed."""
    if isinstance(x, dict):
        return {k: _strip(v) for k, v in x.items() if k not in TIMING_KEYS}
    if isinstance(x, list):
        return [_strip(v) for v in x]
    return x


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(900)  # two full reports with plans (the page's and the CLI's)
def test_page_in_chromium_stage_changes_and_export_matches_cli(tmp_path: Path) -> None:
    exe = _chromium()
    server, url = _start_server("example:stage2")
    browser = Chromium(exe, tmp_path / "profile")
    try:
        browser.open(url)
        browser.wait("document.querySelector('#result-A .res[data-stage]') !== null")
        # the result is server-rendered; the slider listeners exist only once app.js ran
        # (on a loaded machine the first drag once came before it and nothing listened)
        browser.wait("typeof window.netstageRun === 'function'")
        before = browser.js("document.querySelector('#result-A .res').dataset.stage")
        assert before == "2"
        assert browser.js("document.querySelector('#result-A h2.stage').textContent") \
            .startswith("Stage 2")
        # drag the Internet slider of A down: quick runs while it moves, the full run on
        # release (the events a real drag fires)
        browser.js("""(() => {
          const r = document.querySelector(
            'form[data-slot=A] input[type=range][data-for="circuit:isp"]');
          for (const v of [200, 100, 50, 20]) {
            r.value = v; r.dispatchEvent(new Event('input', {bubbles: true}));
          }
          r.dispatchEvent(new Event('change', {bubbles: true}));
          return r.value; })()""")
        browser.wait("(() => { const r = document.querySelector('#result-A .res');"
                     " return r && r.dataset.stage === '1' &&"
                     " r.querySelector('[data-mode=full]') !== null; })()")
        text = browser.js("document.querySelector('#result-A h2.stage').textContent")
        assert text.startswith("Stage 1"), text
        assert "20 Mbps" not in text
        assert browser.js("document.querySelector('#result-A .mode').textContent") \
            .startswith("full count: 200 scenarios")
        # the bandwidth chart of the new result has loaded
        browser.wait("(() => { const i = document.querySelector('#result-A img[data-chart=rates]');"
                     " return i && i.complete && i.naturalWidth > 100; })()")
        # R-HA decided on structure: the page fetched the N-1 table after the result
        browser.wait("(() => { const n = document.querySelector('#result-A .n1');"
                     " return n && !n.hasAttribute('data-n1') &&"
                     " n.querySelector('table') !== null; })()")
        # A/B: the stage differs, and it is highlighted in the comparison
        assert browser.wait("document.querySelector('#diff tr.diff[data-key=stage]') !== null")
        assert browser.js("document.querySelector('#result-B .res').dataset.stage") == "2"
        # the busy-hour knobs of B: a busier hour running the OS-update mix (a menu change
        # runs the full scenario); the A/B figures show them and mark them as different.
        # (On B, so that A's report export below keeps its cost: plans for a busier hour
        # take the planner much longer.)
        browser.js("""(() => {
          const f = document.querySelector('form[data-slot=B]');
          f.elements.namedItem('active').value = '60';
          const m = f.elements.namedItem('mix');
          m.value = 'update-storm';
          m.dispatchEvent(new Event('change', {bubbles: true}));
          return m.value; })()""")
        browser.wait("(() => { const r = document.querySelector('#result-B .res');"
                     " return r && r.querySelector('[data-mode=full]') !== null &&"
                     " JSON.parse(r.dataset.summary)['busy hour'] ==="
                     " '60% active, update-storm mix'; })()")
        assert browser.wait("document.querySelector(\"#diff tr.diff[data-key='busy hour']\")"
                            " !== null")
        assert browser.js("document.querySelector('#diff tr[data-key=\"busy hour\"]"
                          " td:nth-child(2)').textContent") == "40% active, now mix"
        busy_yaml = browser.js("""(async () => {
          const f = document.querySelector('form[data-slot=B]');
          const body = new URLSearchParams(new FormData(f));
          const y = await fetch('/export/district.yaml', {method: 'POST', body});
          return await y.text(); })()""", timeout=120)
        shot = os.environ.get("NETSTAGE_SERVE_SCREENSHOT")
        if shot:
            browser.js("document.querySelector('#result-A details.charts').open = true")
            time.sleep(3)
            png = browser.send("Page.captureScreenshot", {"format": "png"})["data"]
            Path(shot).write_bytes(base64.b64decode(png))
        # export from the page, as its buttons do (POST of scenario A's form)
        exported = browser.js("""(async () => {
          const form = document.querySelector('form[data-slot=A]');
          const body = new URLSearchParams(new FormData(form));
          const y = await fetch('/export/district.yaml', {method: 'POST', body});
          const j = await fetch('/export/report.json', {method: 'POST', body});
          return {yaml: await y.text(), ys: y.status, json: await j.text(), js: j.status,
                  disp: y.headers.get('content-disposition')};
        })()""", timeout=280)
        assert exported["ys"] == 200 and exported["js"] == 200, exported
        assert "attachment" in exported["disp"]
    finally:
        browser.close()
        server.terminate()
        server.wait(timeout=20)
    yml = tmp_path / "whatif.yaml"
    yml.write_text(exported["yaml"])
    assert "capacity_mbps: 20" in exported["yaml"]
    # B's export carries the busy hour; the CLI's loader reads it
    assert "active_share: 0.6" in busy_yaml and "app_mix: update-storm" in busy_yaml
    from netstage.simulator.io import load_district

    (tmp_path / "busy.yaml").write_text(busy_yaml)
    busy = load_district(tmp_path / "busy.yaml").district.busy_hour
    assert busy is not None and (busy.active_share, busy.app_mix) == (0.6, "update-storm")
    out = tmp_path / "cli-report"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "netstage", "report", str(yml), "--out", str(out),
                        "--format", "json"], capture_output=True, text=True, env=env,
                       timeout=280, check=False)
    assert r.returncode == 0, r.stderr
    cli = json.loads((out / "report.json").read_text())
    page = json.loads(exported["json"])
    assert page["stage"] == cli["stage"] == 1
    assert _strip(page) == _strip(cli)
