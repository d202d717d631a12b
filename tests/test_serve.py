"""`netstage serve`: the what-if app's endpoints, knobs, bad input and safety rules.

The browser test (real Chromium) is tests/test_serve_browser.py.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from starlette.testclient import TestClient
from typer.testing import CliRunner

from netstage.simulator.examples import resolve_district
from netstage.simulator.io import load_district
from netstage.web.app import create_app
from netstage.web.knobs import (
    KnobError,
    _spread,
    apply_knobs,
    base_knobs,
    parse_knobs,
    upgrade_options,
)

SRC = "example:stage2"


@pytest.fixture(scope="module")
def client() -> Any:
    with TestClient(create_app(SRC), raise_server_exceptions=False) as c:
        yield c


def _stage(text: str) -> str:
    m = re.search(r'class="res" data-result="[^"]*" data-stage="(\d)"', text)
    assert m, text[:500]
    return m.group(1)


def test_page_renders_stage_knobs_and_only_local_assets(client: Any) -> None:
    r = client.get("/")
    assert r.status_code == 200
    page = r.text
    assert _stage(page) == "2"
    for name in ('name="dps"', 'name="growth"', 'name="horizon"', 'name="circuit:isp"',
                 'name="up:dot1x"', 'name="gen:', 'name="width:', 'name="apc:'):
        assert name in page, name
    assert "Scenario A" in page and "Scenario B" in page
    assert "never written" in page and "50 scenarios" in page
    # every asset from this server: no http(s) URL in the page, its script or its styles
    js = client.get("/static/app.js")
    css = client.get("/static/app.css")
    assert js.status_code == css.status_code == 200
    for text in (page, js.text, css.text):
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)
        assert "cdn" not in text.lower()


def test_knob_changes_the_stage_and_quick_runs_say_so(client: Any) -> None:
    full = client.post("/run", data={"source": SRC, "circuit:isp": "20"})
    assert full.status_code == 200
    assert _stage(full.text) == "1"
    assert "full count: 200 scenarios" in full.text
    assert "R-TARGET" in re.search(r"binding rules: <b>([^<]*)", full.text).group(1)
    quick = client.post("/run?quick=1", data={"source": SRC, "circuit:isp": "20"})
    assert quick.status_code == 200
    assert "quick preview: 50 scenarios" in quick.text
    assert "/chart/" not in quick.text  # charts wait for the full run
    chart = re.search(r'/chart/(\d+)/rates\.png', full.text)
    assert chart
    png = client.get(chart.group(0))
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"


def test_upgrade_switch_costs_from_the_catalogue(client: Any) -> None:
    d = load_district(resolve_district(SRC))
    opts = upgrade_options(d)
    r = client.post("/run", data={"source": SRC, "up:dot1x": "on", "up:config_backup": "on"})
    assert r.status_code == 200
    total = opts["dot1x"].cost_usd + opts["config_backup"].cost_usd
    assert f"${total:,.0f}" in r.text
    assert total > 0
    k = parse_knobs({"up:dot1x": "on"}, d, opts)
    after = apply_knobs(d, k, opts)
    assert after.declared.security.dot1x is True
    assert d.declared.security.dot1x is not True  # the opened district is untouched


BAD = [
    ({"dps": "-1"}, "dps", "out of range"),
    ({"dps": "1e308"}, "dps", "out of range"),
    ({"dps": "lots"}, "dps", "not a number"),
    ({"dps": "nan"}, "dps", "out of range"),
    ({"growth": "inf"}, "growth", "out of range"),
    ({"horizon": "999"}, "horizon", "out of range"),
    ({"circuit:isp": "-5"}, "circuit:isp", "out of range"),
    ({"circuit:isp": "9" * 400}, "circuit:isp", "out of range"),
    ({"circuit:nope": "100"}, "circuit:nope", "not a circuit"),
    ({"n": "100000000"}, "n", "out of range"),
    ({"up:gold_plating": "on"}, "up:gold_plating", "unknown upgrade"),
    ({"up:dot1x": "maybe"}, "up:dot1x", "send 'on'"),
    ({"<script>": "1"}, "<script>", "unknown knob"),
    ({"source": "/etc/passwd"}, "source", "not a district this server opened"),
    ({"dps_staff": "-1"}, "dps_staff", "out of range"),
    ({"dps_staff": "1e9"}, "dps_staff", "out of range"),
    ({"dps_staff": "two"}, "dps_staff", "not a number"),
    ({"active": "-5"}, "active", "out of range"),
    ({"active": "150"}, "active", "out of range"),
    ({"active": "half"}, "active", "not a number"),
    ({"active": "inf"}, "active", "out of range"),
    ({"mix": "netflix-party"}, "mix", "is not one of"),
    ({"mix": "<b>x</b>" * 50}, "mix", "is not one of"),
]


@pytest.mark.parametrize(("form", "field", "msg"), BAD, ids=[b[1] + ":" + b[2] for b in BAD])
@pytest.mark.parametrize("path", ["/run", "/run?quick=1", "/export/district.yaml",
                                  "/export/report.json"])
def test_bad_knobs_get_a_message_and_422(client: Any, form: dict[str, str], field: str,
                                         msg: str, path: str) -> None:
    r = client.post(path, data={"source": SRC, **form})
    assert r.status_code == 422, r.text[:300]
    assert "Check the knobs" in r.text and msg in html.unescape(r.text)
    assert "<script>" not in r.text  # escaped, never markup


def test_bad_wifi_knobs(client: Any) -> None:
    page = client.get("/").text
    sid = re.search(r'name="gen:([^"]+)"', page).group(1)
    for form, msg in (({f"gen:{sid}": "wifi99"}, "not one of"),
                      ({f"width:{sid}": "33"}, "not one of"),
                      ({f"apc:{sid}": "-1"}, "out of range"),
                      ({f"apc:{sid}": "abc"}, "not a number")):
        r = client.post("/run", data={"source": SRC, **form})
        assert r.status_code == 422 and msg in html.unescape(r.text), (form, r.text[:300])


def test_malformed_requests_are_4xx_never_500(client: Any) -> None:
    cases = [
        client.post("/run", content=b'{"dps": 1}', headers={"content-type": "application/json"}),
        client.post("/run", content=b"\xff\xfe\x00garbage",
                    headers={"content-type": "application/x-www-form-urlencoded"}),
        client.post("/run", content=b"dps=" + b"9" * 300_000,
                    headers={"content-type": "application/x-www-form-urlencoded"}),
        client.post("/run", files={"dps": ("x.txt", b"1")}),
        client.post("/run", content=b"&".join(b"x%d=1" % i for i in range(3000)),
                    headers={"content-type": "application/x-www-form-urlencoded"}),
        client.get("/run"),
        client.get("/?district=../../etc/passwd"),
        client.get("/chart/999999/rates.png"),
        client.get("/chart/1/secret.png"),
        client.post("/export/report.exe", data={"source": SRC}),
        client.get("/static/../knobs.py"),
    ]
    for r in cases:
        assert 400 <= r.status_code < 500, (r.request.url, r.status_code, r.text[:200])


def test_the_opened_file_is_never_written(tmp_path: Path) -> None:
    f = tmp_path / "district.yaml"
    shutil.copy(resolve_district(SRC), f)
    before = (f.read_bytes(), f.stat().st_mtime_ns)
    with TestClient(create_app(str(f))) as c:
        assert c.post("/run", data={"source": str(f), "dps": "2"}).status_code == 200
        y = c.post("/export/district.yaml", data={"source": str(f), "dps": "2",
                                                  "circuit:isp": "1000"})
        assert y.status_code == 200
        assert "attachment" in y.headers["content-disposition"]
    assert (f.read_bytes(), f.stat().st_mtime_ns) == before
    out = tmp_path / "whatif.yaml"
    out.write_text(y.text)
    d = load_district(out)
    assert d.district.devices_per_student == 2
    assert d.circuits[0].capacity_mbps == 1000


def test_untouched_knobs_export_the_same_district(client: Any, tmp_path: Path) -> None:
    y = client.post("/export/district.yaml", data={"source": SRC})
    out = tmp_path / "same.yaml"
    out.write_text(y.text)
    assert load_district(out) == load_district(resolve_district(SRC))


def test_aps_per_classroom_and_wifi_generation_apply_per_school() -> None:
    d = load_district(resolve_district(SRC))
    opts = upgrade_options(d)
    base = base_knobs(d)
    sid, w = next((s, w) for s, w in base.wifi.items() if w.classrooms)
    k = parse_knobs({f"apc:{sid}": "2", f"gen:{sid}": "wifi6", f"width:{sid}": "80"}, d, opts)
    after = apply_knobs(d, k, opts)
    aps = [n for n in after.nodes if n.kind == "ap" and n.site == sid]
    assert sum(n.count for n in aps) == round(2 * w.classrooms)
    assert all(n.wifi is not None and n.wifi.generation == "wifi6"
               and n.wifi.channel_width_mhz == 80 for n in aps)
    others = [n for n in after.nodes if n.kind == "ap" and n.site != sid]
    assert others == [n for n in d.nodes if n.kind == "ap" and n.site != sid]


def test_spread_keeps_the_total_and_one_per_entry() -> None:
    assert _spread(10, [1, 1]) == [5, 5]
    assert sum(_spread(7, [3, 1, 1])) == 7
    assert _spread(1, [4, 4]) == [1, 1]  # every AP entry keeps at least one AP


def test_parse_knobs_reports_every_bad_field_at_once() -> None:
    d = load_district(resolve_district(SRC))
    with pytest.raises(KnobError) as e:
        parse_knobs({"dps": "-1", "horizon": "x"}, d, upgrade_options(d))
    assert set(e.value.errors) == {"dps", "horizon"}


def test_concurrent_requests_are_safe(client: Any) -> None:
    forms = [{"source": SRC, "circuit:isp": v} for v in ("20", "300", "20", "300")] * 2
    got: list[tuple[str, int, str]] = []
    lock = threading.Lock()

    def go(form: dict[str, str]) -> None:
        r = client.post("/run?quick=1", data=form)
        with lock:
            got.append((form["circuit:isp"], r.status_code, _stage(r.text)))

    threads = [threading.Thread(target=go, args=(f,)) for f in forms]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(got) == len(forms)
    assert all(code == 200 for _, code, _ in got)
    assert {s for v, _, s in got if v == "20"} == {"1"}
    assert {s for v, _, s in got if v == "300"} == {"2"}


def test_cli_refuses_a_remote_host_without_the_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from netstage.cli import app

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda _app, **kw: calls.append(kw))
    runner = CliRunner()
    r = runner.invoke(app, ["serve", SRC, "--host", "0.0.0.0", "--port", "0"])
    assert r.exit_code == 1 and "--allow-remote" in str(r.exception)
    assert not calls
    r = runner.invoke(app, ["serve", SRC, "--host", "0.0.0.0", "--port", "0",
                            "--allow-remote"])
    assert r.exit_code == 0, r.output
    assert "warning" in r.output and "no login" in r.output
    assert calls[-1]["host"] == "0.0.0.0"
    r = runner.invoke(app, ["serve", SRC, "--port", "0"])
    assert r.exit_code == 0
    m = re.search(r"http://127\.0\.0\.1:(\d+)/", r.output)
    assert m and int(m.group(1)) > 0 and calls[-1]["port"] == int(m.group(1))
    assert calls[-1]["host"] == "127.0.0.1"


def test_cli_bad_district_fails_before_serving(tmp_path: Path) -> None:
    from netstage.cli import app

    r = CliRunner().invoke(app, ["serve", str(tmp_path / "missing.yaml"), "--port", "0"])
    assert r.exit_code != 0


def test_upload_opens_a_copy_and_bad_files_get_a_located_message(client: Any) -> None:
    text = resolve_district(SRC).read_bytes()
    r = client.post("/open", files={"district": ("mine.yaml", text)}, follow_redirects=False)
    assert r.status_code == 303
    label = r.headers["location"].split("district=")[1]
    assert label.startswith("upload:")
    page = client.get(r.headers["location"])
    assert page.status_code == 200 and _stage(page.text) == "2"
    run = client.post("/run", data={"source": label, "circuit:isp": "20"})
    assert run.status_code == 200 and _stage(run.text) == "1"
    bad = text.replace(b"capacity_mbps: 300", b"capacity_mbps: -300")
    r = client.post("/open", files={"district": ("bad.yaml", bad)})
    assert r.status_code == 422
    msg = html.unescape(r.text)
    line = text[:text.index(b"capacity_mbps: 300")].count(b"\n") + 1
    assert "capacity_mbps" in msg and re.search(rf"\.yaml:{line}\b", msg), msg  # file:line
    for files, data in (({"district": ("x.yaml", b"[unclosed")}, None),
                        ({"other": ("x.yaml", text)}, None),
                        (None, {"district": "not a file"})):
        r = client.post("/open", files=files, data=data)
        assert r.status_code == 422, r.text[:200]
    r = client.post("/open", files={"district": ("big.yaml", b"#" * (6 * 1024 * 1024))})
    assert r.status_code in (413, 422)
    r = client.post("/open", content=b"--x\r\ngarbage",
                    headers={"content-type": "multipart/form-data; boundary=x"})
    assert 400 <= r.status_code < 500


def test_n1_worst_cases_on_full_runs(client: Any) -> None:
    from netstage.simulator.contingency import run_contingency

    d = load_district(resolve_district(SRC))
    full = client.post("/run", data={"source": SRC, "dps": "1.5"})
    assert full.status_code == 200
    # R-HA fails on structure in this district, so the page runs the N-1 analysis itself
    # with the library call and settings R-HA uses; the worst element is the library's
    after = apply_knobs(d, parse_knobs({"dps": "1.5"}, d, upgrade_options(d)),
                        upgrade_options(d))
    worst = run_contingency(after, n_scenarios=200, seed=0).contingencies[0]
    # the result comes at once; its N-1 table follows from /n1/ID (the page fetches it)
    rid = re.search(r'data-result="(\d+)"', full.text).group(1)
    section = full.text.split("N-1: worst single failures")[1].split("<h3>")[0]
    assert f'data-n1="/n1/{rid}"' in section
    n1 = client.get(f"/n1/{rid}")
    assert n1.status_code == 200
    assert f"<td>{worst.element}</td><td>{worst.unserved_p95:.1%}</td>" in n1.text
    assert "the page ran it with the same library call" in n1.text
    assert client.get("/n1/999999").status_code == 404
    # the first page is complete without script: its N-1 table is already there
    first = client.get("/").text.split("N-1: worst single failures")[1].split("<h3>")[0]
    assert "data-n1=" not in first and "<td>" in first
    png = client.get(f"/chart/{rid}/n1.png")
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    quick = client.post("/run?quick=1", data={"source": SRC, "dps": "1.5"})
    assert "not analysed in the quick preview" in quick.text


def test_report_export_in_every_format(tmp_path: Path) -> None:
    import json

    from netstage.simulator.report import write_report
    from netstage.simulator.study import Study

    src = "example:stage4"  # Stage 4: no plans to make, so the report is quick
    with TestClient(create_app(src)) as c:
        got = {fmt: c.post(f"/export/report.{fmt}", data={"source": src})
               for fmt in ("json", "html", "pdf")}
    assert all(r.status_code == 200 for r in got.values())
    assert got["pdf"].content[:5] == b"%PDF-"
    assert "<html" in got["html"].text[:200].lower()
    assert "attachment" in got["json"].headers["content-disposition"]
    page = json.loads(got["json"].text)
    ref = write_report(Study(load_district(resolve_district(src))), tmp_path / "ref",
                       formats=("json",))
    lib = json.loads(ref["json"].read_text())
    for key in ("stage", "binding", "plans", "growth", "to_measure", "students"):
        assert page[key] == lib[key], key


def test_busy_hour_and_staff_knobs_become_district_fields_the_simulator_reads(
        client: Any, tmp_path: Path) -> None:
    import numpy as np

    from netstage.simulator.arrays import to_arrays
    from netstage.simulator.simulate import simulate

    d = load_district(resolve_district(SRC))
    opts = upgrade_options(d)
    base = base_knobs(d)
    assert (base.active_share, base.app_mix, base.devices_per_staff) == (0.4, "now", 1.0)
    form = {"active": "80", "mix": "update-storm", "dps_staff": "2"}
    after = apply_knobs(d, parse_knobs(form, d, opts), opts)
    info = after.district
    assert info.devices_per_staff == 2.0
    assert info.busy_hour is not None
    assert (info.busy_hour.active_share, info.busy_hour.app_mix) == (0.8, "update-storm")
    # the simulator reads them: twice the staff devices, twice the active devices
    a0, a1 = to_arrays(d), to_arrays(after)
    assert np.bincount(a1.device_class)[1] == 2 * np.bincount(a0.device_class)[1]
    r0 = simulate(a0, scenario="now", n_scenarios=50, seed=0)
    r1 = simulate(a1, scenario="now", n_scenarios=50, seed=0)
    assert np.mean(r1.active_devices) > 1.8 * np.mean(r0.active_devices)
    # the export carries them; the CLI's loader reads the same district back
    y = client.post("/export/district.yaml", data={"source": SRC, **form})
    assert y.status_code == 200
    assert "busy_hour:" in y.text and "app_mix: update-storm" in y.text
    out = tmp_path / "busy.yaml"
    out.write_text(y.text)
    assert load_district(out).district == info
    # the page: a busier hour lowers the bandwidth per device; A/B figures include the knobs
    full = client.post("/run", data={"source": SRC, **form})
    assert full.status_code == 200
    summary = json.loads(html.unescape(re.search(r"data-summary='([^']*)'", full.text)[1]))
    assert summary["busy hour"] == "80% active, update-storm mix"
    assert summary["devices per student / staff member"] == "1 / 2"
    plain = client.post("/run", data={"source": SRC})
    s0 = json.loads(html.unescape(re.search(r"data-summary='([^']*)'", plain.text)[1]))
    assert s0["busy hour"] == "40% active, now mix"
    assert s0["rate:now"] != summary["rate:now"]
    page = client.get("/").text
    assert 'name="active"' in page and 'name="dps_staff"' in page
    assert 'name="mix"' in page and "update-storm" in page and "testing" in page


def test_untouched_busy_hour_knobs_write_nothing() -> None:
    d = load_district(resolve_district(SRC))
    opts = upgrade_options(d)
    k = parse_knobs({"active": "40", "mix": "now", "dps_staff": "1"}, d, opts)
    after = apply_knobs(d, k, opts)
    assert after == d
    assert after.district.busy_hour is None


def test_uploaded_district_with_an_unknown_mix_gets_a_message_not_a_500(client: Any) -> None:
    text = Path(resolve_district(SRC)).read_text()
    bad = text.replace("district:\n", "district:\n  busy_hour: {app_mix: netflix}\n", 1)
    assert bad != text
    r = client.post("/open", files={"district": ("mix.yaml", bad.encode())},
                    follow_redirects=False)
    assert r.status_code == 303
    page = client.get(r.headers["location"])
    assert page.status_code == 422
    assert "netflix" in page.text and "now, testing, update-storm" in page.text
