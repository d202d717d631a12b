"""Bad input gets one clear error and loses nothing.

Every case checks the user-facing contract: exit code 1 (2 for usage errors), one message
naming what is wrong, where (file:line / field / option) and what to do, no Python
traceback, and no output file left behind that could pass for a result. A representative
subset runs the real CLI as a subprocess (``run_cli``); the rest goes through the library
functions or typer's CliRunner in-process, which is much faster.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner as TyperRunner

from netstage.auditor.facts import load_audit
from netstage.auditor.store import HistoryStore
from netstage.cli import app
from netstage.cli.common import atomic_output, write_output
from netstage.simulator.arrays import MAX_DEVICES, to_arrays
from netstage.simulator.errors import ConfigError, NetstageError, SimulationError, TopologyError
from netstage.simulator.io import district_from_dict, load_district
from netstage.simulator.plan import load_catalog
from netstage.simulator.profiles import load_apps, load_scenarios, scenario_params
from netstage.simulator.rules.rubric import load_overrides
from netstage.simulator.study import Study

from .support import ROOT, TOPOLOGIES, CliRunner

STAGE1 = TOPOLOGIES / "stage1-lab-era.yaml"
SHIPPED = ROOT / "netstage" / "simulator" / "data"


def _variant(tmp_path: Path, name: str, old: str, new: str, src: Path = STAGE1) -> Path:
    """``src`` with one textual change (asserted to apply) written to ``tmp_path/name``."""
    text = src.read_text()
    assert old in text, old
    p = tmp_path / name
    p.write_text(text.replace(old, new, 1))
    return p


def _line_of(path: Path, needle: str) -> int:
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(needle)


def _clean_failure(r: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """Assert a clean failure (exit code, no traceback, nothing on stdout); return stderr."""
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    assert r.stdout == "", r.stdout
    return r.stderr


def _invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run the CLI in-process; NetstageError is mapped as main() does (exit 1, message)."""
    result = TyperRunner().invoke(app, list(args), env=env)
    exc = result.exception
    if isinstance(exc, NetstageError):
        return 1, str(exc)
    if exc is not None and not isinstance(exc, SystemExit):
        raise exc
    return result.exit_code, result.output


# -- district files (library) ----------------------------------------------------------------
@pytest.mark.parametrize(("text", "needle"), [
    ("", "the file is empty"),
    ("# only a comment\n", "the file is empty"),
    ("- a\n- b\n", ":1: expected a mapping ('key: value' lines) at the top level, got a list"),
    ("just some text\n", "got a plain text"),
    ("district:\n\tname: x\n", ":2:1: malformed YAML"),
    ("district: {name: x\nsites: []\n", ":2:6: malformed YAML"),
    ("district:\n  name: x\nsites: 5\n", ":3: sites: Input should be a valid list"),
    ("district:\n  name: x\n  name: y\n", ":3: duplicate key 'name' (first at line 2)"),
])
def test_malformed_district_files_name_file_and_line(tmp_path: Path, text: str,
                                                     needle: str) -> None:
    f = tmp_path / "d.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_district(f)
    assert str(f) in str(e.value) and needle in str(e.value), str(e.value)


def test_unknown_field_negative_capacity_unknown_node_and_no_path(tmp_path: Path) -> None:
    cases = [
        (_variant(tmp_path, "a.yaml", "  devices_per_student: 1.0\n",
                  "  devices_per_student: 1.0\n  colour: red\n"),
         "colour: red", "district.colour: unknown field (check the spelling; see `netstage "
                        "schema`)"),
        (_variant(tmp_path, "b.yaml", "{a: core, b: rtr, capacity_mbps: 100",
                  "{a: core, b: rtr, capacity_mbps: -100"),
         "capacity_mbps: -100", "links[0].capacity_mbps: Input should be greater than 0"),
        (_variant(tmp_path, "c.yaml", "{a: es-sw, b: core,", "{a: es-sw, b: nowhere,"),
         "b: nowhere", "names unknown node 'nowhere'"),
        (_variant(tmp_path, "c2.yaml", "attach: rtr,", "attach: rtx,"),
         "attach: rtx", "attaches to unknown node 'rtx'; did you mean 'rtr'?"),
        (_variant(tmp_path, "d.yaml",
                  "  - {a: hs-sw, b: core, capacity_mbps: 100, medium: leased}\n", ""),
         "id: hs, name:", "site 'hs' has no path to the Internet edge"),
        (_variant(tmp_path, "e.yaml", "capacity_mbps: 20}", "capacity_mbps: .nan}"),
         "capacity_mbps: .nan", "circuits[0].capacity_mbps: Input should be a finite number"),
        (_variant(tmp_path, "f.yaml", "capacity_mbps: 20}", "capacity_mbps: .inf}"),
         "capacity_mbps: .inf", "Input should be a finite number"),
        (_variant(tmp_path, "g.yaml", "students: 450", "students: 45000000000"),
         "students: 45000000000", "sites[1].students: Input should be less than or equal to"),
    ]
    for path, line_needle, msg in cases:
        with pytest.raises(TopologyError) as e:
            load_district(path)
        assert f"{path}:{_line_of(path, line_needle)}: " in str(e.value), str(e.value)
        assert msg in str(e.value), str(e.value)


def test_directory_binary_and_graphml_given_as_district(tmp_path: Path) -> None:
    (tmp_path / "dir.yaml").mkdir()
    binary = tmp_path / "capture.yaml"
    binary.write_bytes(b"\n\xd4\xc3\xb2\xa1\x02\x00\x04\x00\xff\xfe")
    graphml = tmp_path / "net.graphml"
    graphml.write_text("<graphml/>")
    for path, needle in ((tmp_path / "dir.yaml", "is a directory"),
                         (binary, "not a UTF-8 text file"),
                         (graphml, "netstage import graphml")):
        with pytest.raises(ConfigError) as e:
            load_district(path)
        assert needle in str(e.value)


def test_too_many_devices_is_refused_before_allocating() -> None:
    data: dict[str, Any] = load_district(STAGE1).model_dump(mode="json")
    data["district"]["devices_per_student"] = 10
    for s in data["sites"]:
        if s.get("students"):
            s["students"] = 2_000_000  # the per-site maximum; 3 schools x 10 devices > 5M
    d = district_from_dict(data)
    with pytest.raises(TopologyError) as e:
        to_arrays(d)
    assert f"more than {MAX_DEVICES:,} client devices" in str(e.value)


def test_district_with_zero_students_simulates_and_classifies(tmp_path: Path) -> None:
    text = re.sub(r"students: \d+", "students: 0", STAGE1.read_text())
    f = tmp_path / "zero.yaml"
    f.write_text(text)
    code, out = _invoke("simulate", str(f), "--scenarios", "10", "--json")
    assert code == 0, out
    res = json.loads(out)
    assert res["n_scenarios"] == 10
    code, out = _invoke("classify", str(f), "--scenarios", "10", "--json")
    assert code == 0, out
    c = json.loads(out)
    by_id = {r["id"]: r for r in c["rules"]}
    assert by_id["R-NOW"]["status"] == "unknown"


# -- profile, reliability, rubric and catalog files ----------------------------------------------
def test_profile_files_with_bad_values(tmp_path: Path) -> None:
    apps = _variant(tmp_path, "apps.yaml", "median_mbps: 0.5", "median_mbps: .inf",
                    SHIPPED / "apps.yaml")
    with pytest.raises(ConfigError) as e:
        load_apps(apps)
    assert f"{apps}:{_line_of(apps, '.inf')}: apps.web.median_mbps: Input should be a finite" \
        in str(e.value)
    scen = _variant(tmp_path, "scen.yaml", "      lab:\n", "      labs:\n",
                    SHIPPED / "scenarios.yaml")
    with pytest.raises(ConfigError) as e:
        load_scenarios(scen)
    assert "scenarios.lab.classes.labs: key 'labs' is not allowed here" in str(e.value)
    # an unknown field outside a district file does not point to `netstage schema`
    odd = tmp_path / "odd.yaml"
    odd.write_text("version: 1\napps: {}\ncolour: red\n")
    with pytest.raises(ConfigError) as e:
        load_apps(odd)
    assert f"{odd}:3: colour: unknown field (check the spelling)" in str(e.value)
    assert "netstage schema" not in str(e.value)
    # profiles without an app the shipped scenario types use: one message, not one per use
    renamed = _variant(tmp_path, "renamed.yaml", "  web:\n", "  webb:\n", SHIPPED / "apps.yaml")
    with pytest.raises(ConfigError) as e:
        load_scenarios(apps=load_apps(renamed))
    assert "the application profiles lack 'web'" in str(e.value) and "\n" not in str(e.value)
    # a district file given where profiles are expected is named as such
    with pytest.raises(ConfigError) as e:
        load_apps(STAGE1)
    assert "looks like a district file" in str(e.value)


def test_runaway_growth_is_a_simulation_error() -> None:
    with pytest.raises(SimulationError) as e:
        scenario_params("future", growth_years=1000)
    assert "multiplies demand" in str(e.value)
    assert scenario_params("future", growth_years=10).growth_factor > 1


@pytest.mark.parametrize(("text", "needle"), [
    ("rules:\n  R-NWO: {max_unserved_p95: 0.1}\n", ":2: rules.R-NWO: unknown rule id 'R-NWO'"),
    ("rules:\n  R-NOW: {max_unservd_p95: 0.1}\n",
     ":2: rules.R-NOW.max_unservd_p95: unknown threshold"),
    ("rules:\n  R-NOW: {max_unserved_p95: .nan}\n", ":2: rules.R-NOW.max_unserved_p95: expected "
                                                    "a number"),
    ("rules:\n  R-NOW: {max_unserved_p95: 7}\n", "7 is out of range [0.0, 1.0]"),
    ("rules: 5\n", ":1: rules: expected a mapping of rule ids"),
])
def test_rubric_override_typos_are_located(tmp_path: Path, text: str, needle: str) -> None:
    f = tmp_path / "rubric.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_overrides(f)
    assert str(f) in str(e.value) and needle in str(e.value), str(e.value)


@pytest.mark.parametrize(("old", "new", "at", "needle"), [
    ("capex_usd: 10000", "capex_usd: -10000", "-10000",
     "actions.second_circuit.capex_usd: must be a number >= 0, got -10000"),
    ("  second_circuit:\n    title:", "  second_circuit:\n    titel: x\n    title:", "titel",
     "actions.second_circuit.titel: unknown key"),
    ("cost_years: 3", "cost_years: three", "cost_years: three",
     "cost_years: must be a number >= 0, got 'three'"),
    ("link_tiers_mbps: [100,", "link_tiers_mbps: [-100,", "-100,",
     "link_tiers_mbps[0]: must be a number > 0"),
    ("  second_circuit:\n", "  second_circuitt:\n", "second_circuitt",
     "unknown action(s) second_circuitt"),
])
def test_catalog_problems_are_located(tmp_path: Path, old: str, new: str, at: str,
                                      needle: str) -> None:
    f = _variant(tmp_path, "cat.yaml", old, new, SHIPPED / "upgrades.yaml")
    with pytest.raises(ConfigError) as e:
        load_catalog(f)
    assert f"{f}:{_line_of(f, at)}: " in str(e.value), str(e.value)
    assert needle in str(e.value), str(e.value)


# -- history DB, audit JSON ------------------------------------------------------------------
def test_history_db_that_is_not_ours_is_left_untouched(tmp_path: Path) -> None:
    foreign = tmp_path / "app.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE users (id INTEGER)")
    conn.commit()
    conn.close()
    text = tmp_path / "notes.db"
    text.write_text("not a database at all\n")
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (foreign, text)}
    for p, needle in ((foreign, "an SQLite database of another program (tables: users)"),
                      (text, "not a netstage history database")):
        for ro in (False, True):
            with pytest.raises(ConfigError) as e:
                HistoryStore(p, readonly=ro)
            assert str(p) in str(e.value)
            if not ro:
                assert needle in str(e.value)
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (foreign, text)}
    assert after == before
    assert not (tmp_path / "app.db-wal").exists()
    with pytest.raises(ConfigError, match="is a directory"):
        HistoryStore(tmp_path)
    with pytest.raises(ConfigError, match="is a file, not a directory"):
        HistoryStore(text / "h.db")


@pytest.mark.parametrize(("content", "needle"), [
    ('{"hello": 1}', "hello: unknown field"),
    ("nonsense", "Invalid JSON"),
    ('{"devices": [{"x": 1}]}', "devices.0.target: Field required (and"),
])
def test_audit_json_that_is_not_an_audit(tmp_path: Path, content: str, needle: str) -> None:
    f = tmp_path / "audit.json"
    f.write_text(content)
    with pytest.raises(ConfigError) as e:
        load_audit(f)
    msg = str(e.value)
    assert "not an audit result" in msg and needle in msg and "\n" not in msg, msg
    with pytest.raises(ConfigError, match="cannot read the audit result"):
        load_audit(tmp_path)


# -- output paths ------------------------------------------------------------------------------
def test_atomic_output_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.yaml"
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert list((tmp_path / "sub").iterdir()) == []
    write_output(target, "whole\n")
    assert target.read_text() == "whole\n"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="is a file, not a directory; give --out"):
        write_output(blocker / "out.yaml", "x")
    with pytest.raises(ConfigError, match="is a directory; give --out a file name"):
        write_output(tmp_path, "x")


def test_output_options_checked_in_process(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for args in (("schema", "--out", str(blocker / "s.json")),
                 ("generate", "--out", str(blocker / "g.yaml")),
                 ("twin", str(STAGE1), "--out", str(blocker)),
                 ("demo", "--out", str(blocker), "--no-snmp", "--no-capture-analysis")):
        code, msg = _invoke(*args)
        assert code == 1 and str(blocker) in msg, (args, msg)
    assert blocker.read_text() == "x"
    code, msg = _invoke("generate", "--schools", "10", "--students", "3")
    assert code == 1 and "--students 3 is fewer than --schools 10" in msg
    code, _ = _invoke("generate", "--seed", "-1")
    assert code == 2
    code, msg = _invoke("normalise", str(tmp_path / "a.json"), "--history", "h.db")
    assert code == 2 and "--base" in msg
    code, msg = _invoke("simulate", str(STAGE1), "--per-scenario")
    assert code == 2 and "add --json" in msg
    # an output that is also the input would lose the input's comments: refused
    own = tmp_path / "own.yaml"
    own.write_text(STAGE1.read_text())
    for args in (("export", str(own), "--out", str(own)),
                 ("plan", str(own), "--write-district", str(tmp_path / "." / "own.yaml"))):
        code, msg = _invoke(*args)
        assert code == 1 and "is also an input of this command" in msg, (args, msg)
    assert own.read_text() == STAGE1.read_text()


def test_poll_replay_must_be_static_recordings(tmp_path: Path) -> None:
    from netstage.auditor.twin import export_twin, inventory_for_twin

    d = load_district(STAGE1)
    live = export_twin(d, tmp_path / "live", counters="live")
    text, env = inventory_for_twin("127.0.0.1", 161, [p.stem for p in live])
    inv = tmp_path / "inv.yaml"
    inv.write_text(text)
    db = tmp_path / "h.db"
    for replay, needle in ((tmp_path / "missing", "no such directory"),
                           (inv, "not a directory"),
                           (tmp_path, "no recordings (.snmprec"),
                           (tmp_path / "live", "snmpsim variation modules")):
        code, msg = _invoke("poll", str(inv), "--db", str(db), "--rounds", "1",
                            "--replay", str(replay), env=env)
        assert code == 1 and needle in msg, (replay, msg)
    assert not db.exists()  # refused before the history database was created


# -- the real CLI (subprocess) -----------------------------------------------------------------
def test_cli_missing_and_malformed_district(run_cli: CliRunner, tmp_path: Path) -> None:
    err = _clean_failure(run_cli("info", "missing.yaml"))
    assert err.count("error:") == 1 and "missing.yaml: no such file" in err
    bad = tmp_path / "tab.yaml"
    bad.write_text("district:\n\tname: x\n")
    err = _clean_failure(run_cli("simulate", str(bad), "--scenarios", "10", "--json"))
    assert f"{bad}:2:1: malformed YAML" in err


def test_cli_validate_reports_every_file(run_cli: CliRunner, tmp_path: Path) -> None:
    neg = _variant(tmp_path, "neg.yaml", "{a: core, b: rtr, capacity_mbps: 100",
                   "{a: core, b: rtr, capacity_mbps: -100")
    r = run_cli("validate", str(STAGE1), str(neg), "--json")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    rows = json.loads(r.stdout)
    assert [row["ok"] for row in rows] == [True, False]
    assert f"{neg}:{_line_of(neg, '-100')}: links[0].capacity_mbps" in rows[1]["error"]


def test_cli_graphml_that_is_not_graphml(run_cli: CliRunner, tmp_path: Path) -> None:
    f = tmp_path / "net.graphml"
    f.write_text("this is not xml\n")
    err = _clean_failure(run_cli("redundancy", str(f), "--json"))
    assert "not readable as GraphML" in err


def test_cli_rubric_typo_and_catalog_negative_cost(run_cli: CliRunner, tmp_path: Path) -> None:
    rubric = tmp_path / "rubric.yaml"
    rubric.write_text("rules:\n  R-NOW:\n    max_unservd_p95: 0.1\n")
    err = _clean_failure(run_cli("classify", str(STAGE1), "--rubric", str(rubric),
                                 "--scenarios", "10"))
    assert f"{rubric}:3: rules.R-NOW.max_unservd_p95: unknown threshold" in err
    cat = _variant(tmp_path, "cat.yaml", "capex_usd: 10000", "capex_usd: -10000",
                   SHIPPED / "upgrades.yaml")
    out = tmp_path / "after.yaml"
    err = _clean_failure(run_cli("plan", str(STAGE1), "--catalog", str(cat), "--scenarios",
                                 "10", "--write-district", str(out)))
    assert f"{cat}:{_line_of(cat, '-10000')}: " in err and "capex_usd" in err
    assert not out.exists()


def test_cli_unwritable_outputs_fail_before_work(run_cli: CliRunner, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("keep me\n")
    err = _clean_failure(run_cli("plan", str(STAGE1), "--scenarios", "10",
                                 "--write-district", str(blocker / "up.yaml")))
    assert "--write-district" in err
    err = _clean_failure(run_cli("report", str(STAGE1), "--scenarios", "10", "--no-plans",
                                 "--out", str(blocker)))
    assert "exists and is not a directory" in err
    err = _clean_failure(run_cli("export", str(STAGE1), "--out", str(blocker / "x.graphml")))
    assert "is a file, not a directory" in err
    assert blocker.read_text() == "keep me\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_cli_history_and_normalise_of_wrong_files(run_cli: CliRunner, tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    db.write_text("garbage\n")
    err = _clean_failure(run_cli("history", "--db", str(db), "--json"))
    assert "not a netstage history database" in err
    audit = tmp_path / "audit.json"
    audit.write_text('{"hello": 1}')
    err = _clean_failure(run_cli("normalise", str(audit), "--out", str(tmp_path / "d.yaml")))
    assert err.count("\n") == 1 and "not an audit result" in err
    assert not (tmp_path / "d.yaml").exists()


def test_cli_usage_errors_exit_2(run_cli: CliRunner) -> None:
    r = run_cli("simulate", str(STAGE1), "--scenarios", "1000000000")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "--scenarios" in r.stderr
    r = run_cli("export", str(STAGE1), "--out", "x.txt")
    assert r.returncode == 2 and "name the file .graphml, .json or .yaml" in r.stderr


@pytest.mark.skipif(sys.platform != "linux", reason="pseudo-terminal")
def test_progress_on_a_terminal_and_pure_json_on_stdout(tmp_path: Path) -> None:
    """stderr a TTY: the rich bar is drawn there, stdout (a pipe) is still pure JSON."""
    import pty

    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "netstage", "simulate", str(STAGE1), "--scenarios", "400",
             "--json"], stdout=subprocess.PIPE, stderr=slave, cwd=tmp_path,
            env={**os.environ, "TERM": "xterm", "COLUMNS": "120"})
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        out, _ = proc.communicate(timeout=120)
    finally:
        os.close(master)
    assert proc.returncode == 0
    assert json.loads(out)["n_scenarios"] == 400
    tty = b"".join(chunks).decode("utf-8", "replace")
    assert "simulating 'now'" in tty and "/400" in tty, tty[:500]


@pytest.mark.parametrize("printer", ["chromium", "fallback"])
def test_report_failure_leaves_no_report_files(tmp_path: Path, printer: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure while writing the PDF (printed by Chromium, or the matplotlib fallback
    when Chromium is missing): no report.html/json that looks finished."""
    from netstage.simulator import report

    def disk_full(path: Path, *args: Any, **kwargs: Any) -> None:
        path.write_bytes(b"%PDF-half")
        raise OSError(28, "No space left on device", str(path))

    if printer == "chromium":
        monkeypatch.setattr(report, "print_pdf", lambda html, pdf, **kw: disk_full(pdf))
    else:
        monkeypatch.setattr(report, "print_pdf", lambda html, pdf, **kw: "Chromium was not found")
        monkeypatch.setattr(report, "_write_pdf", disk_full)
    out = tmp_path / "rep"
    with pytest.raises(ConfigError) as e:
        report.write_report(Study(load_district(STAGE1), n_scenarios=10), out, plans=[],
                            chart_formats=())
    assert "No space left on device" in str(e.value) and "--out" in str(e.value)
    assert sorted(p.name for p in out.iterdir()) == []


def test_nothing_to_build_or_export_is_an_error_not_an_empty_file(tmp_path: Path) -> None:
    audit = tmp_path / "audit.json"
    audit.write_text("{}")  # a valid audit in which no device answered
    out = tmp_path / "district.yaml"
    code, msg = _invoke("normalise", str(audit), "--out", str(out))
    assert code == 1 and "no device answered in this audit" in msg and "--base" in msg
    assert not out.exists()
    aps_only = tmp_path / "aps.yaml"
    aps_only.write_text("district: {name: x}\nsites: [{id: s, students: 10}]\n"
                        "nodes: [{id: ap, kind: ap, site: s}]\n"
                        "circuits: [{id: c, attach: ap, capacity_mbps: 100}]\n")
    code, msg = _invoke("twin", str(aps_only), "--out", str(tmp_path / "twin"))
    assert code == 1 and "--include-aps" in msg
    code, _ = _invoke("twin", str(aps_only), "--out", str(tmp_path / "twin"), "--include-aps")
    assert code == 0 and (tmp_path / "twin" / "ap.snmprec").exists()
    db = tmp_path / "h.db"
    db.write_text("garbage")
    code, msg = _invoke("normalise", str(audit), "--base", str(STAGE1), "--history", str(db))
    assert code == 1 and "give --history the database written by `netstage poll`" in msg


def test_json_output_is_valid_json_even_with_nan(capsys: pytest.CaptureFixture[str]) -> None:
    from netstage.cli.common import print_json

    print_json({"p95": float("nan"), "rows": [1.5, float("inf")], "name": "x"})
    out = capsys.readouterr().out
    assert json.loads(out, parse_constant=lambda c: pytest.fail(f"non-JSON {c}")) == {
        "p95": None, "rows": [1.5, None], "name": "x"}


def test_read_only_output_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests may run as root (who can write anywhere), so the permission check is simulated."""
    from netstage.cli import common

    monkeypatch.setattr(common.os, "access", lambda path, mode: False)
    with pytest.raises(ConfigError, match="the output directory is not writable; give --out"):
        common.write_output(tmp_path / "x.yaml", "x")
    assert list(tmp_path.iterdir()) == []


def test_brackets_in_a_path_are_text_not_markup(run_cli: CliRunner) -> None:
    """rich would read '[/]' in an error message as markup and crash with a traceback."""
    err = _clean_failure(run_cli("info", "[/]missing.yaml"))
    assert "[/]missing.yaml: no such file" in err


def test_brackets_in_a_district_name_are_printed_as_written(tmp_path: Path) -> None:
    f = _variant(tmp_path, "br.yaml", "name: Willow Creek USD", 'name: "Willow [North] [/]"')
    for args in (("info", str(f)), ("redundancy", str(f)),
                 ("classify", str(f), "--scenarios", "10")):
        code, out = _invoke(*args)
        assert code == 0 and "Willow [North] [/]" in out, (args, out)


def test_file_system_errors_are_one_line_not_a_traceback(tmp_path: Path) -> None:
    """An OSError the commands do not expect (here: stdout on a full disk) is one line."""
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "netstage", "schema"], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 1
    assert "No space left on device" in proc.stderr
    assert "Traceback" not in proc.stderr
