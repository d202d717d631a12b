"""District lab: the plan (no root needed) and, as root, a real lab that the audit
discovers and normalises back into the source district; teardown after a killed `up`."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from netstage.auditor.facts import load_audit
from netstage.auditor.lab.compare import compare_topology
from netstage.auditor.lab.plan import plan_lab
from netstage.auditor.lab.run import (
    LabError,
    existing_namespaces,
    lab_down,
    lab_status,
    lab_up,
    state_path,
)
from netstage.auditor.normalise import facts_to_district
from netstage.simulator.errors import ConfigError
from netstage.simulator.io import load_district
from netstage.simulator.model import NodeKind

from .support import IN_CI, ROOT, TOPOLOGIES

IS_ROOT = os.geteuid() == 0
TOOLS = all(shutil.which(t, path="/usr/sbin:/usr/bin:/sbin:/bin")
            for t in ("ip", "tc", "lldpd", "lldpcli", "snmpd"))
needs_root = pytest.mark.skipif(
    not IS_ROOT or not TOOLS,
    reason="the lab needs root (network namespaces) and lldpd, snmpd, iproute2 "
           "(scripts/system-deps.sh); CI runs as root")


_COUNT = itertools.count()


def test_ci_as_root_has_the_lab_tools() -> None:
    """CI runs as root: there the lab tests must run, not skip for a missing package."""
    if not (IN_CI and IS_ROOT):
        pytest.skip("only checked in CI as root")
    assert TOOLS, "lldpd/snmpd/iproute2 missing: make system-deps (scripts/system-deps.sh)"


def _prefix() -> str:
    return f"nt{os.getpid() % 100000}x{next(_COUNT)}-"


# --- the plan: pure, no root ---------------------------------------------------------

def test_plan_stage1_one_namespace_per_device_shaped_links() -> None:
    d = load_district(TOPOLOGIES / "stage1-lab-era.yaml")
    p = plan_lab(d, prefix="px-", scale=100)
    assert p.mgmt_ns == "px-mgmt" and p.inet_ns == "px-inet"
    assert set(p.namespaces) == {f"px-{n.id}" for n in d.nodes} | {"px-mgmt", "px-inet"}
    assert all(ns.startswith("px-") for ns in p.namespaces)
    managed = [x for x in p.devices if x.snmp]
    # switches, router: SNMP; APs are LLDP-only hosts
    assert {x.node for x in managed} == {"rtr", "core", "es-sw", "ms-sw", "hs-sw"}
    assert all(x.kind == NodeKind.AP for x in p.devices if not x.snmp)
    addrs = [x.mgmt_address for x in managed]
    assert len(set(addrs)) == len(addrs) and p.mgmt_address not in addrs
    # one veth pair per link, plus the circuit; 100 Mb/s / 100 = 1 Mbit/s
    assert len(p.links) == len(d.links) + len(d.circuits)
    core = p.device("core")
    assert core.ports == ["port1", "port2", "port3", "port4"] and core.bridge
    assert {lk.rate_mbit for lk in p.links if lk.element.startswith("link")} == {1.0}
    wan = [lk for lk in p.links if lk.element == "circuit dsl"]
    assert len(wan) == 1 and wan[0].rate_mbit == pytest.approx(0.2) and wan[0].wan
    assert p.device("rtr").aliases["wan1"] == "internet:dsl (Regional Telco)"
    assert not p.device("rtr").bridge  # routers route, switches bridge
    assert "router" in p.device("rtr").sys_descr
    assert p.device("rtr").sys_object_id == "1.3.6.1.4.1.9.1.1"  # Cisco's IANA PEN


def test_plan_scale_and_lag_members() -> None:
    d = load_district(TOPOLOGIES / "stage2-organic.yaml")
    p = plan_lab(d, prefix="px-", scale=50)
    assert {lk.rate_mbit for lk in p.links if lk.element.startswith("link")} == {20.0}
    first_lag = d.links[0].model_copy(update={"lag_members": 2})
    lagged = d.model_copy(update={"links": [first_lag, *d.links[1:]]})
    q = plan_lab(lagged, prefix="px-", scale=100)
    first = [lk for lk in q.links if lk.element == f"link {d.links[0].a}-{d.links[0].b}"]
    assert len(first) == 2 and {lk.rate_mbit for lk in first} == {5.0}


@pytest.mark.parametrize("kwargs, words", [
    ({"prefix": "Bad"}, "lab prefix"),
    ({"prefix": "ns"}, "lab prefix"),
    ({"scale": 0}, "--scale"),
    ({"subnet": "8.8.8.0/24"}, "private IPv4"),
    ({"subnet": "10.0.0.0/30"}, "larger"),
    ({"subnet": "nonsense"}, "--subnet"),
])
def test_plan_rejects_bad_options(kwargs: dict[str, object], words: str) -> None:
    d = load_district(TOPOLOGIES / "stage1-lab-era.yaml")
    with pytest.raises(ConfigError, match=words):
        plan_lab(d, **kwargs)  # type: ignore[arg-type]


def test_without_root_the_commands_say_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    d = load_district(TOPOLOGIES / "stage1-lab-era.yaml")
    for call in (lambda: lab_up(plan_lab(d, prefix="px-")), lambda: lab_down("px-"),
                 lambda: lab_status("px-")):
        with pytest.raises(LabError, match="needs root"):
            call()


@pytest.mark.skipif(not shutil.which("setpriv"), reason="setpriv (util-linux) not installed")
def test_cli_without_root_exits_1_with_message() -> None:
    if not IS_ROOT:
        cmd = [sys.executable, "-m", "netstage", "lab", "status"]
    else:  # drop to nobody to see what a user without root sees
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
               sys.executable, "-m", "netstage", "lab", "status"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd="/",
                       env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"})
    if IS_ROOT and "Permission denied" in r.stderr and "needs root" not in r.stderr:
        pytest.skip("the interpreter or the checkout is not readable by nobody")
    assert r.returncode == 1, r.stderr
    assert "needs root" in r.stderr


# --- a real lab (root) ---------------------------------------------------------------

def _leftovers(prefix: str, pids: list[int]) -> list[str]:
    left = [n for n in existing_namespaces() if n.startswith(prefix)]
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"lldpd" in cmd or b"snmpd" in cmd:
            left.append(f"pid {pid}")
    if state_path(prefix).exists():
        left.append(str(state_path(prefix)))
    if (state_path(prefix).parent / prefix).exists():
        left.append(str(state_path(prefix).parent / prefix))
    return left


@pytest.fixture
def lab_prefix() -> Iterator[str]:
    prefix = _prefix()
    yield prefix
    if IS_ROOT:
        lab_down(prefix)  # whatever the test did, leave nothing behind


def _discover_and_normalise(prefix: str, state: dict[str, object], tmp: Path) -> Path:
    work = Path(str(state["workdir"]))
    env = {**os.environ, "NETSTAGE_LAB_COMMUNITY": (work / "community").read_text().strip(),
           "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COLUMNS": "200"}
    audit = tmp / "audit.json"
    r = subprocess.run(["ip", "netns", "exec", f"{prefix}mgmt", sys.executable, "-m",
                        "netstage", "discover", "--inventory", str(work / "inventory.yaml"),
                        "--out", str(audit)], capture_output=True, text=True, timeout=120,
                       env=env, cwd=tmp)
    assert r.returncode == 0, r.stdout + r.stderr
    measured = tmp / "measured.yaml"
    r = subprocess.run([sys.executable, "-m", "netstage", "normalise", str(audit), "--out",
                        str(measured)], capture_output=True, text=True, timeout=120, env=env,
                       cwd=tmp)
    assert r.returncode == 0, r.stdout + r.stderr
    return measured


@needs_root
@pytest.mark.parametrize("example", ["stage1", "stage2", "stage3"])
def test_discover_rebuilds_the_district(example: str, lab_prefix: str, tmp_path: Path
                                        ) -> None:
    source = load_district(f"example:{example}")
    started = time.monotonic()
    state = lab_up(plan_lab(source, prefix=lab_prefix))
    assert time.monotonic() - started < 40
    measured = _discover_and_normalise(lab_prefix, state, tmp_path)
    rebuilt = load_district(measured)
    score = compare_topology(source, rebuilt)
    detail = json.dumps(score.to_json(), indent=1)
    assert score.node_recall >= 0.99, detail
    assert score.link_recall >= 0.99, detail
    assert not score.extra_nodes and not score.extra_links, detail
    assert not score.wrong_kind, detail
    assert not score.missing_circuits, detail
    # capacities come from the declared speeds of the ports snmpd serves
    want = {frozenset((lk.a, lk.b)): lk.capacity_mbps for lk in source.links}
    for lk in rebuilt.links:
        assert lk.capacity_mbps == pytest.approx(want[frozenset((lk.a, lk.b))]), lk
    # the audit itself: every managed device answered, LLDP rows carry local ports
    audit = load_audit(tmp_path / "audit.json")
    assert all(d.ok for d in audit.devices)
    assert len(audit.devices) == sum(1 for n in source.nodes if n.kind != NodeKind.AP)
    assert facts_to_district(audit).district.circuits[0].capacity_mbps == \
        source.circuits[0].capacity_mbps
    pids = [int(p["pid"]) for p in state["pids"]]  # type: ignore[index]
    lab_down(lab_prefix)
    assert _leftovers(lab_prefix, pids) == []


@needs_root
def test_links_are_shaped_and_status_reports(lab_prefix: str) -> None:
    source = load_district("example:stage1")
    lab_up(plan_lab(source, prefix=lab_prefix, scale=50))
    out = subprocess.run(["ip", "netns", "exec", f"{lab_prefix}core", "tc", "qdisc", "show",
                          "dev", "port1"], capture_output=True, text=True, check=True).stdout
    assert "tbf" in out and "2Mbit" in out, out  # 100 Mb/s / 50
    st = lab_status(lab_prefix)
    assert st["phase"] == "up"
    assert st["devices"]["core"]["lldp_neighbours"] == {
        "port1": "rtr", "port2": "es-sw", "port3": "ms-sw", "port4": "hs-sw"}
    assert all(all(v for v in d["daemons"].values()) for d in st["devices"].values())
    # nothing of the lab is in the host's namespace
    host = subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True,
                          check=True).stdout
    assert not any(x["ifname"].startswith(("port", "mgmt0", "mbr0"))
                   for x in json.loads(host))
    with pytest.raises(LabError, match="exists"):
        lab_up(plan_lab(source, prefix=lab_prefix))


@needs_root
def test_down_after_up_was_killed_leaves_nothing(lab_prefix: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "netstage", "lab", "up", "example:stage2",
                             "--prefix", lab_prefix], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    path = state_path(lab_prefix)
    deadline = time.monotonic() + 30
    pids: list[int] = []
    # kill it once some daemons run but before it finished
    while time.monotonic() < deadline:
        if path.exists():
            try:
                data = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                data = {}
            pids = [int(p["pid"]) for p in data.get("pids", [])]
            if len(pids) >= 3 or data.get("phase") == "up":
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert pids, "the lab never started a daemon"
    assert [n for n in existing_namespaces() if n.startswith(lab_prefix)]
    r = subprocess.run([sys.executable, "-m", "netstage", "lab", "down", "--prefix",
                        lab_prefix], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert _leftovers(lab_prefix, pids) == []
    # and a second down is harmless
    assert lab_down(lab_prefix)["namespaces"] == []


@needs_root
def test_down_without_state_file_finds_the_lab_by_prefix(lab_prefix: str) -> None:
    state = lab_up(plan_lab(load_district("example:stage1"), prefix=lab_prefix))
    pids = [int(p["pid"]) for p in state["pids"]]
    state_path(lab_prefix).unlink()  # as if the run dir had been wiped
    st = lab_status(lab_prefix)
    assert st["phase"] == "orphaned" and f"{lab_prefix}core" in st["namespaces"]
    res = lab_down(lab_prefix)
    assert f"{lab_prefix}mgmt" in res["namespaces"]
    assert _leftovers(lab_prefix, pids) == []


@needs_root
def test_a_failed_up_removes_what_it_built(lab_prefix: str) -> None:
    # no time to hear LLDP: the build fails at its last step, with daemons running
    with pytest.raises(LabError, match="timed out"):
        lab_up(plan_lab(load_district("example:stage1"), prefix=lab_prefix), wait_s=0.0)
    assert _leftovers(lab_prefix, []) == []
    assert not [p for p in Path("/proc").iterdir() if p.name.isdigit()
                and _ns_of(p) and lab_prefix in _ns_of(p)]


def _ns_of(proc: Path) -> str:
    try:
        return " ".join(x.decode(errors="replace")
                        for x in (proc / "cmdline").read_bytes().split(b"\0"))
    except OSError:
        return ""
