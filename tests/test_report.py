"""The stage report: self-contained HTML, JSON with its documented schema, PDF; summary
first; overrides always printed; extra sections; everything-unknown districts; and a
headless Chromium check that the HTML really renders with every chart loaded."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from netstage.simulator.io import load_district
from netstage.simulator.report import write_report
from netstage.simulator.stage import classify
from netstage.simulator.study import Study

from .stage_support import build, expected_stage, small_district
from .support import IN_CI, CliRunner, example_districts

N = 30


def example(stage: int) -> Path:
    return next(p for p in example_districts() if expected_stage(p) == stage)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], Any]:
    out = tmp_path_factory.mktemp("report")
    s = Study(load_district(example(2)), n_scenarios=N, seed=0,
              overrides={"rules": {"R-NOW": {"max_unserved_p95": 0.04}}})
    c = s.classify()
    extra = {"audit": {"devices": 9, "answered": 8,
                       "failures": [{"device": "hs-sw2", "error": "timeout after 3 tries"}]},
             "capture": {"packets": 1234, "apps": {"video": 5.5e8, "web": 1.2e8}}}
    # the plan to the next stage only (the Stage 4 plan is exercised by test_plan.py)
    paths = write_report(s, out, plans=[s.plan(c.stage + 1)], extra=extra)
    return paths, c


def test_report_files(report: Any) -> None:
    paths, _ = report
    assert {"html", "json", "pdf"} <= set(paths)
    assert paths["pdf"].read_bytes()[:5] == b"%PDF-"
    charts = [k for k in paths if k.startswith("chart-")]
    assert len(charts) == 10   # five charts as PNG and SVG


def test_html_is_self_contained_and_summary_first(report: Any) -> None:
    paths, c = report
    html = paths["html"].read_text()
    # no external requests: no remote or relative URLs in src/href/url(), no scripts
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", html)
    assert "url(" not in html and "@import" not in html and "<script" not in html.lower()
    srcs = re.findall(r'<img[^>]+src="([^"]+)"', html)
    assert len(srcs) == 5 and all(s.startswith("data:image/png;base64,") for s in srcs)
    # summary (stage, binding rules, plan) before the evidence and the details
    i_stage = html.index("id='stage'")
    i_plan = html.index("Cheapest plan found to Stage 3")
    i_evidence = html.index("id='evidence'")
    i_details = html.index("id='details'")
    assert i_stage < i_plan < i_evidence < i_details
    assert f"Stage {c.stage}</span>" in html
    for b in c.binding:
        assert f"({b})</b>" in html[:i_evidence]
    # the user's override is printed with its default
    assert "R-NOW.max_unserved_p95 = 0.04 (default 0.05" in html
    # extra sections rendered as tables
    assert "id='extra-audit'" in html and "timeout after 3 tries" in html
    assert "id='extra-capture'" in html and "<td>packets</td>" in html


def test_json_schema(report: Any) -> None:
    paths, c = report
    data = json.loads(paths["json"].read_text())
    assert data["schema"] == "netstage.report/1"
    assert data["stage"] == c.stage == data["classification"]["stage"]
    assert [r["id"] for r in data["classification"]["rules"]] == [r.rule_id for r in c.rules]
    assert data["overrides"][0]["rule"] == "R-NOW" or "R-NOW" in json.dumps(data["overrides"])
    plan = data["plans"][0]
    assert plan["schema"] == "netstage.plan/1" and plan["stage_before"] == c.stage
    sims = data["evidence"]["simulations"]
    assert set(sims) == {"lab", "now", "future"}
    u = np.asarray(c.evidence.simulations["now"].unserved_fraction)
    assert sims["now"]["summary"]["unserved_fraction"]["p95"] == pytest.approx(
        float(np.percentile(u, 95)), rel=1e-6)
    assert data["extra"]["audit"]["answered"] == 8
    assert len(data["growth"]["years"]) == len(data["growth"]["unserved_p95"])


def test_no_overrides_is_stated(tmp_path: Path) -> None:
    d = build(small_district())
    c = classify(d, rules=("R-TARGET",))
    paths = write_report(Study.from_classification(d, c), tmp_path, plans=[], formats=("html",),
                         chart_formats=())
    assert "No rubric overrides" in paths["html"].read_text()


def test_everything_unknown_lists_what_to_measure(tmp_path: Path) -> None:
    data = small_district()
    for n in data["nodes"]:
        for k in ("vendor", "model", "firmware"):
            n.pop(k, None)
    d = build(data)
    c = classify(d, rules=("R-SECURITY", "R-MANAGE", "R-STANDARD"))
    assert c.stage == 2  # each rule at its own worst value (fail_allows 2), not stage 1
    paths = write_report(Study.from_classification(d, c), tmp_path, plans=[],
                         formats=("html", "json"), chart_formats=())
    html = paths["html"].read_text()
    assert "Nothing is known yet" in html
    text = re.sub(r"<[^>]+>", "", html).replace("&#x27;", "'")
    for r in c.rules:  # the IT appendix carries every step, commands as code
        for item in r.to_resolve:
            assert item.replace("`", "") in text
    assert json.loads(paths["json"].read_text())["to_measure"] == c.to_measure
    # per rule: every input's provenance and what would change the verdict
    assert html.count("What would change the verdict") == 3
    assert "not given" in html


def test_report_cli(run_cli: CliRunner, tmp_path: Path) -> None:
    r = run_cli("report", str(example(4)), "--out", str(tmp_path / "r"), "--scenarios", "30",
                "--format", "html", "--format", "json")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "r"
    assert (out / "report.html").exists() and not (out / "report.pdf").exists()
    data = json.loads((tmp_path / "r" / "report.json").read_text())
    assert data["stage"] == 4 and data["plans"] == []


# -- headless Chromium ---------------------------------------------------------------------
_PROBE = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; });
  document.body.setAttribute('data-imgs-total', String(imgs.length));
  document.body.setAttribute('data-imgs-ok', String(ok.length));
});
</script>"""


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if IN_CI:
            pytest.fail("chromium is missing: CI installs it (scripts/system-deps.sh)")
        pytest.skip("chromium not installed")
    return exe


def _run_chromium(exe: str, profile: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         f"--user-data-dir={profile}", *args],
        capture_output=True, timeout=120, check=False)


@pytest.mark.browser
def test_html_renders_in_headless_chromium(report: Any, tmp_path: Path) -> None:
    exe = _chromium()
    paths, c = report
    shot = tmp_path / "shot.png"
    r = _run_chromium(exe, tmp_path / "p1", f"--screenshot={shot}", "--window-size=1200,1600",
                      paths["html"].as_uri())
    assert shot.exists(), r.stderr.decode(errors="replace")[-2000:]
    from matplotlib.image import imread

    px = imread(str(shot))[..., :3]
    assert px.shape[0] >= 1000 and px.shape[1] >= 1000
    assert float(px.std()) > 0.05                      # not a blank page
    colours = np.unique((px.reshape(-1, 3) * 255).astype(np.uint8), axis=0)
    assert len(colours) > 50                            # text, badge and charts, not one fill
    # the same page with a probe script: every chart image decoded
    probe = tmp_path / "probe.html"
    probe.write_text(paths["html"].read_text().replace("</body>", _PROBE + "</body>"))
    r = _run_chromium(exe, tmp_path / "p2", "--dump-dom", "--virtual-time-budget=5000",
                      probe.as_uri())
    dom = r.stdout.decode(errors="replace")
    m = re.search(r'data-imgs-total="(\d+)"[^>]*data-imgs-ok="(\d+)"', dom)
    assert m, dom[:500]
    assert int(m.group(1)) == 5 and int(m.group(2)) == 5
    assert re.search(r'<h1 id="stage">[^<]*is at <span class="stage s\d">Stage '
                     f'{c.stage}</span>', dom)


# -- the board's PDF: the HTML printed by headless Chromium -----------------------------------
def _poppler(tool: str) -> str:
    exe = shutil.which(tool)
    if exe is None:
        if IN_CI:
            pytest.fail(f"{tool} is missing: CI installs poppler-utils (scripts/system-deps.sh)")
        pytest.skip(f"{tool} not installed (poppler-utils)")
    return exe


def _squash(s: str) -> str:
    return " ".join(s.replace("\u00ad", "").split())


@pytest.mark.browser
def test_pdf_is_the_printed_html_page(report: Any, tmp_path: Path) -> None:
    from netstage.simulator import wording

    _chromium()
    paths, c = report
    assert "pdf-fallback" not in paths
    pdf = paths["pdf"]
    text = _squash(subprocess.run([_poppler("pdftotext"), str(pdf), "-"], capture_output=True,
                                  text=True, check=True).stdout)
    d = load_district(example(2))
    assert _squash(wording.stage_sentence(c, d)) in text
    for r in c.rules:
        assert _squash(wording.rule_sentence(r, d)) in text, r.rule_id
    assert f"{d.district.name} - network stage report" in text   # the footer
    assert re.search(r"page 1 of \d+", text)
    fonts = subprocess.run([_poppler("pdffonts"), str(pdf)], capture_output=True, text=True,
                           check=True).stdout.splitlines()[2:]
    assert fonts and all(line.split()[-5] == "yes" for line in fonts), fonts   # embedded
    subprocess.run([_poppler("pdftoppm"), "-r", "30", "-png", str(pdf), str(tmp_path / "pg")],
                   check=True, capture_output=True)
    pages = sorted(tmp_path.glob("pg*.png"))
    assert len(pages) >= 3
    from matplotlib.image import imread

    for page in pages:
        px = imread(str(page))[..., :3]
        assert float((px < 0.9).mean()) > 0.001, page.name   # not a blank page


def test_pdf_falls_back_with_a_note_without_chromium(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETSTAGE_CHROMIUM", "")
    d = build(small_district())
    c = classify(d, rules=("R-TARGET",))
    paths = write_report(Study.from_classification(d, c), tmp_path, plans=[], formats=("pdf",),
                         chart_formats=())
    assert paths["pdf"].read_bytes()[:5] == b"%PDF-" and paths["pdf-fallback"] == paths["pdf"]
    assert not list(tmp_path.glob(".*"))   # no partial or print files left behind
    if shutil.which("pdftotext"):
        text = _squash(subprocess.run(["pdftotext", str(paths["pdf"]), "-"],
                                      capture_output=True, text=True, check=True).stdout)
        assert "Chromium was not found" in text and "plain fallback" in text
