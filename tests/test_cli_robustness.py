"""The capture, audit and scale CLI with hostile input, through the real CLI:

- text from files and the network ('[/]', '[red]' in LLDP names, sysNames, district
  names) is printed as text, never read as rich markup (which crashed or hid it);
- an output path under a regular file is a one-line located error, not a traceback;
- ``audit --replay`` reads the snmpsim variation entries that ``twin --live`` writes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from netstage.auditor.capture.synth import _eth, _lldp, _mac

from .support import TOPOLOGIES, CliRunner, write_pcap

EVIL = "[/]ev[red]il"  # a closing tag with nothing open: rich raises MarkupError


def _pcap(path: Path, frames: list[bytes]) -> Path:
    return write_pcap(path, frames)


def _assert_clean(proc_err: str) -> None:
    assert "Traceback" not in proc_err and "MarkupError" not in proc_err, proc_err


def test_capture_prints_lldp_names_with_markup_as_text(run_cli: CliRunner,
                                                       tmp_path: Path) -> None:
    pytest.importorskip("scapy")
    frame = _eth(_mac("01:80:c2:00:00:0e"), _mac("02:00:00:00:00:01"), None, 0x88CC,
                 _lldp(EVIL, "[bold]descr", "[/]Gi1/0/1", "02:00:00:00:00:01", "10.0.0.1", 1))
    cap = _pcap(tmp_path / "[red]odd name.pcap", [frame, frame])
    proc = run_cli("capture", str(cap))
    _assert_clean(proc.stderr)
    assert proc.returncode == 0, proc.stderr
    assert EVIL in proc.stdout  # the LLDP system name, verbatim
    assert "[/]Gi1/0/1" in proc.stdout  # the port id
    assert "[red]odd name.pcap" in proc.stdout  # the file name in the heading


_REC = """\
1.3.6.1.2.1.1.1.0|4|descr [/] of a switch
1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.9.1.1
1.3.6.1.2.1.1.5.0|4|{name}
1.3.6.1.2.1.2.2.1.2.1|4|Gi0/1
1.3.6.1.2.1.31.1.1.1.1.1|4|Gi0/1
1.3.6.1.2.1.47.1.1.1.1.5.1|2|3
1.3.6.1.2.1.47.1.1.1.1.13.1|4|[/]model
"""


def _inventory(path: Path, targets: list[tuple[str, str]]) -> Path:
    """Inventory with one v2c target per (name, env var holding the community)."""
    creds = {f"c{i}": {"version": "v2c", "community": f"env:{var}"}
             for i, (_n, var) in enumerate(targets)}
    tgts = [{"name": n, "address": "127.0.0.1", "port": 16100 + i, "credentials": f"c{i}"}
            for i, (n, _v) in enumerate(targets)]
    path.write_text(yaml.safe_dump({"credentials": creds, "targets": tgts}), encoding="utf-8")
    return path


def test_audit_table_prints_names_with_markup_as_text(run_cli: CliRunner,
                                                      tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    rec.mkdir()
    (rec / "sw1.snmprec").write_text(_REC.format(name=EVIL), encoding="utf-8")
    inv = _inventory(tmp_path / "inv.yaml", [("[b]sw1[/b]", "RB_SW1"),
                                             ("[/]gone", "RB_GONE")])
    proc = run_cli("audit", str(inv), "--replay", str(rec),
                   env={"RB_SW1": "sw1", "RB_GONE": "nothing-recorded"})
    _assert_clean(proc.stderr)
    assert proc.returncode == 0, proc.stderr
    assert EVIL in proc.stdout and "[/]model" in proc.stdout
    assert "[b]sw1[/b]" in proc.stdout and "[/]gone" in proc.stdout


def test_audit_out_under_a_file_is_a_one_line_error(run_cli: CliRunner,
                                                    tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    rec.mkdir()
    (rec / "sw1.snmprec").write_text(_REC.format(name="sw1"), encoding="utf-8")
    inv = _inventory(tmp_path / "inv.yaml", [("sw1", "RB_SW1")])
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory\n", encoding="utf-8")
    proc = run_cli("audit", str(inv), "--replay", str(rec), "--out",
                   str(blocker / "audit.json"), env={"RB_SW1": "sw1"})
    _assert_clean(proc.stderr)
    assert proc.returncode == 1
    assert "--out" in proc.stderr and str(blocker) in proc.stderr
    assert blocker.read_text(encoding="utf-8") == "not a directory\n"
    # the inventory itself is refused as --out (it would be overwritten with JSON)
    same = run_cli("audit", str(inv), "--replay", str(rec), "--out", str(inv),
                   env={"RB_SW1": "sw1"})
    assert same.returncode == 1 and "input" in same.stderr
    assert "credentials" in inv.read_text(encoding="utf-8")
    # and a good --out still works
    good = run_cli("audit", str(inv), "--replay", str(rec), "--out",
                   str(tmp_path / "new" / "audit.json"), env={"RB_SW1": "sw1"})
    assert good.returncode == 0, good.stderr
    assert json.loads((tmp_path / "new" / "audit.json").read_text())["summary"]["n_ok"] == 1


def _audit_twin(run_cli: CliRunner, tmp_path: Path, mode: str) -> dict[str, dict[str, object]]:
    district = TOPOLOGIES / "stage3-emerging.yaml"  # links with background_mbps
    out = tmp_path / mode
    proc = run_cli("twin", str(district), "--out", str(out), f"--{mode}")
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.stem for p in out.glob("*.snmprec"))
    assert names
    env = {f"RB_{i}": n for i, n in enumerate(names)}
    inv = _inventory(tmp_path / f"{mode}.yaml", [(n, f"RB_{i}") for i, n in enumerate(names)])
    audit = run_cli("audit", str(inv), "--replay", str(out), "--json", env=env)
    assert audit.returncode == 0, audit.stderr
    data = json.loads(audit.stdout)
    return {d["target"]["name"]: d for d in data["devices"]}


def test_replay_of_a_live_twin_export(run_cli: CliRunner, tmp_path: Path) -> None:
    live = _audit_twin(run_cli, tmp_path, "live")
    assert any("numeric" in p.read_text(encoding="utf-8")
               for p in (tmp_path / "live").glob("*.snmprec"))  # it is a live export
    static = _audit_twin(run_cli, tmp_path, "static")
    assert set(live) == set(static)
    for name, d in live.items():
        assert d["ok"], (name, d.get("failure"))
        s = static[name]
        # a replay is the live twin at its start: exactly the static twin's counters
        assert d["sys_uptime_ticks"] == s["sys_uptime_ticks"]
        assert [(i["if_index"], i["in_octets"], i["out_octets"]) for i in d["interfaces"]] \
            == [(i["if_index"], i["in_octets"], i["out_octets"]) for i in s["interfaces"]]
    assert any(i["in_octets"] for d in live.values() for i in d["interfaces"])


def test_replay_of_an_unreplayable_variation_names_it(run_cli: CliRunner,
                                                      tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    rec.mkdir()
    (rec / "sw1.snmprec").write_text(
        _REC.format(name="sw1") + "1.3.6.1.2.1.2.2.1.10.1|65:sql|dbtype=sqlite3\n",
        encoding="utf-8")
    inv = _inventory(tmp_path / "inv.yaml", [("sw1", "RB_SW1")])
    proc = run_cli("audit", str(inv), "--replay", str(rec), env={"RB_SW1": "sw1"})
    _assert_clean(proc.stderr)
    assert proc.returncode == 1  # the only device failed
    assert "'sql'" in proc.stdout and "sw1.snmprec:8" in proc.stdout
    assert "please report" not in proc.stdout  # our message, not an internal error


def test_sweep_and_import_outputs_under_a_file(run_cli: CliRunner, tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("x\n", encoding="utf-8")
    district = TOPOLOGIES / "stage1-lab-era.yaml"
    sweep = run_cli("sweep", str(district), "--workers", "0", "--scenarios", "5",
                    "--no-plan", "--no-charts", "--out", str(blocker / "res"))
    _assert_clean(sweep.stderr)
    assert sweep.returncode == 1 and "--out" in sweep.stderr and "blocker" in sweep.stderr
    graphml = tmp_path / "g.graphml"
    graphml.write_text(_GRAPHML, encoding="utf-8")
    imp = run_cli("import", "graphml", str(graphml), "--out", str(blocker / "d.yaml"))
    _assert_clean(imp.stderr)
    assert imp.returncode == 1 and "--out" in imp.stderr and "blocker" in imp.stderr
    same = run_cli("import", "graphml", str(graphml), "--out", str(graphml))
    assert same.returncode == 1 and graphml.read_text(encoding="utf-8") == _GRAPHML


def test_sweep_table_prints_district_names_with_markup(run_cli: CliRunner,
                                                        tmp_path: Path) -> None:
    src = (TOPOLOGIES / "stage1-lab-era.yaml").read_text(encoding="utf-8")
    evil = tmp_path / "evil.yaml"
    evil.write_text(src.replace("name: Willow Creek USD", f"name: '{EVIL}'", 1),
                    encoding="utf-8")
    proc = run_cli("sweep", str(evil), str(tmp_path / "[/]missing.yaml"), "--workers", "0",
                   "--scenarios", "5", "--no-plan", "--no-charts", "--out",
                   str(tmp_path / "res"))
    _assert_clean(proc.stderr)
    assert proc.returncode == 1  # the missing file is a failed row
    assert EVIL in proc.stdout
    # '[/]missing.yaml' is the file 'missing.yaml' in a folder '[': its row is ']missing'
    # (a markup tag would have been swallowed or raised). The error column holds the whole
    # path cut to the column's width, so where it is cut depends on the temporary folder.
    assert "│ ]missing " in proc.stdout


_GRAPHML = """\
<?xml version="1.0" encoding="utf-8"?>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns">
  <key attr.name="label" attr.type="string" for="node" id="d0"/>
  <graph edgedefault="undirected">
    <node id="0"><data key="d0">A</data></node>
    <node id="1"><data key="d0">B</data></node>
    <edge source="0" target="1"/>
  </graph>
</graphml>
"""


def test_capture_outputs_checked_before_the_analysis(run_cli: CliRunner,
                                                     tmp_path: Path) -> None:
    frame = _eth(_mac("ff:ff:ff:ff:ff:ff"), _mac("02:00:00:00:00:01"), None, 0x0806, b"\0" * 28)
    cap = _pcap(tmp_path / "c.pcap", [frame])
    before = cap.read_bytes()
    blocker = tmp_path / "blocker"
    blocker.write_text("x\n", encoding="utf-8")
    under = run_cli("capture", str(cap), "--no-control-plane", "--calibrate",
                    str(blocker / "cal.yaml"))
    _assert_clean(under.stderr)
    assert under.returncode == 1 and "--calibrate" in under.stderr and "blocker" in under.stderr
    same = run_cli("capture", str(cap), "--no-control-plane", "--calibrate", str(cap))
    assert same.returncode == 1 and "input" in same.stderr
    assert cap.read_bytes() == before  # the capture is not overwritten with YAML
