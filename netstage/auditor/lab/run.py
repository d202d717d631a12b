"""Build, inspect and tear down a district lab with iproute2, tc, lldpd and snmpd.

:func:`lab_up` carries out a :class:`~netstage.auditor.lab.plan.LabPlan`; every resource
is recorded in the state file ``<run dir>/<prefix>.json`` *before* it is created, so
:func:`lab_down` removes everything even when ``up`` was killed half-way: it kills the
processes still running in each of the lab's namespaces (``ip netns pids``, so only
processes inside the lab), deletes the namespaces (which takes their veths, bridges and
qdiscs with them) and removes the work directory. Nothing is created in the host's own
network namespace: veth pairs are created directly inside the namespaces.

The run dir is ``/run/netstage-lab`` (``NETSTAGE_LAB_RUN`` overrides it); the work
directory ``<run dir>/<prefix>/`` holds each device's daemon configuration, sockets, logs
and the lab's generated inventory and community.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from netstage.auditor.lab.plan import (
    ROUTER_KINDS,
    LabDevice,
    LabPlan,
    capabilities,
)
from netstage.simulator.errors import NetstageError

__all__ = ["LabError", "community_env", "lab_down", "lab_status", "lab_up", "require_root",
           "run_dir", "state_path"]

COMMUNITY_ENV = "NETSTAGE_LAB_COMMUNITY"
SNMPD = "/usr/sbin/snmpd"
_IF_TYPE = "1.3.6.1.2.1.2.2.1.3"
_IF_ALIAS = "1.3.6.1.2.1.31.1.1.1.18"
# NET-SNMP-AGENT-MIB nsCacheTimeout, and its row for IF-MIB ifTable (which ifXTable's
# counters share): snmpd re-reads the kernel's counters only every 3 s by default, so a
# poll would see counters up to 3 s old; 0 makes every request read them afresh
_NS_CACHE = "1.3.6.1.4.1.8072.1.5.3"
_IF_TABLE_CACHE_TIMEOUT = "1.3.6.1.4.1.8072.1.5.3.1.2.1.3.6.1.2.1.2.2"
TOOLS = {"ip": "iproute2", "tc": "iproute2", "lldpd": "lldpd", "lldpcli": "lldpd",
         "snmpd": "snmpd", "snmpset": "snmp"}


class LabError(NetstageError):
    """The lab could not be built, inspected or removed."""


def community_env() -> str:
    return COMMUNITY_ENV


def run_dir() -> Path:
    return Path(os.environ.get("NETSTAGE_LAB_RUN", "/run/netstage-lab"))


def state_path(prefix: str) -> Path:
    return run_dir() / f"{prefix}.json"


def require_root(what: str = "netstage lab") -> None:
    """Raise a :class:`LabError` unless running as root (namespaces need CAP_SYS_ADMIN)."""
    if os.geteuid() != 0:
        raise LabError(f"{what}: needs root (it creates network namespaces, veth pairs and "
                       "qdiscs); run it with sudo, or use `netstage demo` (the snmpsim "
                       "twin) without root")


def _missing_tools() -> list[str]:
    out = []
    for tool, pkg in TOOLS.items():
        found = shutil.which(tool) or (tool == "snmpd" and Path(SNMPD).exists()) or (
            shutil.which(tool, path="/usr/sbin:/sbin"))
        if not found:
            out.append(pkg)
    return sorted(set(out))


def _run(argv: list[str], *, input_text: str | None = None, check: bool = True
         ) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, input=input_text, capture_output=True, text=True,
                          timeout=60, check=False)
    if check and proc.returncode != 0:
        raise LabError(f"`{' '.join(argv)}` failed (exit {proc.returncode}): "
                       f"{proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def _ip_batch(lines: list[str], netns: str | None = None) -> None:
    """Run iproute2 commands in one process (``ip -batch -``), optionally in ``netns``."""
    if not lines:
        return
    argv = ["ip"] + (["-n", netns] if netns else []) + ["-batch", "-"]
    _run(argv, input_text="\n".join(lines) + "\n")


def existing_namespaces() -> list[str]:
    proc = _run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]


class _State:
    """The state file: rewritten atomically after every change."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1))
        os.chmod(tmp, 0o600)
        tmp.replace(self.path)

    def add(self, key: str, value: Any) -> None:
        self.data.setdefault(key, []).append(value)
        self.save()


def _load_state(prefix: str) -> dict[str, Any] | None:
    p = state_path(prefix)
    if not p.exists():
        return None
    try:
        data: dict[str, Any] = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError):
        # a crash can leave a half-written file; the prefix still finds the namespaces
        return {"prefix": prefix, "namespaces": [], "workdir": str(run_dir() / prefix)}
    return data


def _netem_available(netns: str, dev: str) -> bool:
    probe = _run(["ip", "netns", "exec", netns, "tc", "qdisc", "replace", "dev", dev, "root",
                  "netem", "delay", "1ms"], check=False)
    return probe.returncode == 0


def _shape(netns: str, dev: str, rate_mbit: float, delay_ms: float) -> str | None:
    """Shape ``dev``'s egress to ``rate_mbit`` (tbf), with a netem delay when asked and
    available. Returns a warning when the delay could not be applied."""
    rate_kbit = max(8, round(rate_mbit * 1000))
    # burst: at least one 10 ms worth of data at the rate and a few full frames (tbf
    # needs burst >= rate / HZ to reach the rate)
    burst = max(16000, rate_kbit * 1000 // 8 // 100)
    if delay_ms > 0 and _netem_available(netns, dev):
        _run(["ip", "netns", "exec", netns, "tc", "qdisc", "replace", "dev", dev, "root",
              "netem", "delay", f"{delay_ms}ms", "rate", f"{rate_kbit}kbit"])
        return None
    _run(["ip", "netns", "exec", netns, "tc", "qdisc", "replace", "dev", dev, "root", "tbf",
          "rate", f"{rate_kbit}kbit", "burst", str(burst), "latency", "50ms"])
    if delay_ms > 0:
        return (f"{netns}/{dev}: netem is not available in this kernel (sch_netem); the "
                f"{delay_ms} ms WAN delay is not applied, only the rate")
    return None


def _ifindexes(netns: str) -> dict[str, int]:
    """``{interface name: ifIndex}`` in ``netns`` (snmpd's ifIndex is the kernel's)."""
    proc = _run(["ip", "-n", netns, "-j", "link", "show"])
    return {x["ifname"]: int(x["ifindex"]) for x in json.loads(proc.stdout or "[]")}


def _snmpd_conf(dev: LabDevice, work: Path, community: str, subnet: str,
                ifindex: dict[str, int]) -> str:
    lines = [
        # the management address for the audit; 127.0.0.1 inside the device only, for the
        # lab's own cache setting below
        f"agentaddress udp:{dev.mgmt_address}:161,udp:127.0.0.1:161",
        f"rocommunity {community} {subnet}",
        f"rwcommunity {community}-cache 127.0.0.1 {_NS_CACHE}",
        f"sysname {dev.node}",
        f"sysdescr {dev.sys_descr}",
        f"syslocation {dev.location}",
        f"sysobjectid {dev.sys_object_id}",
        "sysservices " + ("6" if dev.kind in ROUTER_KINDS else "2"),
        "master agentx",
        f"agentXSocket unix:{work / 'agentx.sock'}",
        f"[snmp] persistentDir {work / 'persist'}",
    ]
    for port, mbps in dev.speeds_mbps.items():
        # the veth driver reports no real speed: declare the link's (IF-MIB ifSpeed bit/s)
        lines.append(f"interface {port} 6 {int(mbps * 1_000_000)}")
        # snmpd does not read the kernel's ifalias: serve it (the "internet:<id>" marker
        # of a circuit port, "to <peer>" elsewhere) as IF-MIB ifAlias
        if port in ifindex:
            alias = dev.aliases[port].replace('"', "'")
            lines.append(f'override {_IF_ALIAS}.{ifindex[port]} octet_str "{alias}"')
    # the management port and the bridge are not access ports of the district: ifType
    # other(1) and bridge(209) (IANAifType) keep them out of the oversubscription count
    for name, if_type in (("mgmt0", 1), ("br0", 209)):
        if name in ifindex:
            lines.append(f"override {_IF_TYPE}.{ifindex[name]} integer {if_type}")
    return "\n".join(lines) + "\n"


def _lldpd_conf(dev: LabDevice) -> str:
    lines = [
        f"configure system hostname {dev.node}",
        f'configure system description "{dev.sys_descr}"',
        "configure system interface pattern port*,wan*",
        "configure lldp portidsubtype ifname",
        "configure lldp tx-interval 2",
        f"configure system capabilities enabled {capabilities(dev.kind)}",
    ]
    if dev.mgmt_address:
        lines.append(f"configure system ip management pattern {dev.mgmt_address}")
    return "\n".join(lines) + "\n"


def _spawn(netns: str, argv: list[str], log: Path, env: dict[str, str] | None = None) -> int:
    with open(log, "ab") as fh:
        proc = subprocess.Popen(["ip", "netns", "exec", netns, *argv], stdout=fh,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env=env)
    return proc.pid


def _wait_for(cond: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.2)
    raise LabError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def lldp_neighbours(netns: str, sock: Path) -> dict[str, str]:
    """``{local port: neighbour system name}`` as lldpd in ``netns`` sees it."""
    proc = _run(["ip", "netns", "exec", netns, "lldpcli", "-u", str(sock), "-f", "json",
                 "show", "neighbors"], check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        return {}
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return {}
    ifaces = (data.get("lldp") or {}).get("interface") or []
    if isinstance(ifaces, dict):  # lldpcli's JSON: a dict keyed by name, or a list
        ifaces = [{k: v} for k, v in ifaces.items()]
    out: dict[str, str] = {}
    for item in ifaces:
        for name, body in item.items():
            chassis = body.get("chassis") or {}
            sysname = next(iter(chassis), "?") if isinstance(chassis, dict) else "?"
            out[name] = sysname
    return out


def lab_up(plan: LabPlan, *, wait_s: float = 45.0,
           progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Build ``plan``; returns the state (also in :func:`state_path`).

    Waits until every lldpd has heard each neighbour that runs LLDP (bounded by
    ``wait_s``), so a discovery started right after sees the whole topology.
    """
    require_root("netstage lab up")
    missing = _missing_tools()
    if missing:
        raise LabError(f"netstage lab up: missing {', '.join(missing)}; install with "
                       f"apt-get install -y {' '.join(missing)} (scripts/system-deps.sh)")
    say = progress or (lambda _m: None)
    run_dir().mkdir(parents=True, exist_ok=True)
    # 0711: lldpcli is set-uid _lldpd and must reach the control sockets below; secrets
    # (community, snmpd.conf, state file) are 0600 themselves
    os.chmod(run_dir(), 0o711)
    taken = [n for n in existing_namespaces() if n.startswith(plan.prefix)]
    if state_path(plan.prefix).exists() or taken:
        what = ", ".join(taken) or f"state file {state_path(plan.prefix)}"
        raise LabError(f"a lab with prefix {plan.prefix} exists ({what}); run "
                       f"`netstage lab down --prefix {plan.prefix}` first")
    work = run_dir() / plan.prefix
    community = secrets.token_hex(8)
    st = _State(state_path(plan.prefix), {
        "prefix": plan.prefix, "phase": "building", "pid": os.getpid(),
        "workdir": str(work), "community": community, "plan": plan.to_json(),
        "namespaces": [], "pids": [], "warnings": [], "started": time.time()})
    st.save()
    try:
        return _build(plan, st, work, community, say, wait_s)
    except BaseException:
        # a failed build leaves nothing behind (a killed one: `netstage lab down`)
        with contextlib.suppress(Exception):
            lab_down(plan.prefix)
        raise


def _build(plan: LabPlan, st: _State, work: Path, community: str,
           say: Callable[[str], None], wait_s: float) -> dict[str, Any]:
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(mode=0o711)
    (work / "community").write_text(community + "\n")
    os.chmod(work / "community", 0o600)

    say(f"namespaces: {len(plan.namespaces)}")
    for ns in plan.namespaces:
        st.add("namespaces", ns)
        _run(["ip", "netns", "add", ns])
        routed = any(d.netns == ns and d.kind in ROUTER_KINDS for d in plan.devices)
        sysctl = ["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                  "net.ipv6.conf.default.disable_ipv6=1",
                  f"net.ipv4.ip_forward={1 if routed else 0}"]
        _run(["ip", "netns", "exec", ns, *sysctl])
        _ip_batch(["link set lo up"], ns)

    say("management network")
    prefixlen = plan.subnet.split("/")[1]
    _ip_batch(["link add mbr0 type bridge", "link set mbr0 up",
               f"addr add {plan.mgmt_address}/{prefixlen} dev mbr0"], plan.mgmt_ns)
    veths: list[str] = []
    mgmt_lines: list[str] = []
    managed = [d for d in plan.devices if d.snmp]
    for k, d in enumerate(managed, start=1):
        veths.append(f"link add m{k} netns {plan.mgmt_ns} type veth peer name mgmt0 "
                     f"netns {d.netns}")
        mgmt_lines += [f"link set m{k} master mbr0", f"link set m{k} up"]
    say(f"links: {len(plan.links)} veth pairs")
    for lk in plan.links:
        veths.append(f"link add {lk.a_if} netns {lk.a_ns} type veth peer name {lk.b_if} "
                     f"netns {lk.b_ns}")
    _ip_batch(veths)
    _ip_batch(mgmt_lines, plan.mgmt_ns)
    for d in plan.devices:
        lines = []
        if d.bridge:
            # STP on: a district with redundant links would otherwise loop; the shortest
            # forward delay the kernel accepts (2 s)
            lines += ["link add br0 type bridge stp_state 1 forward_delay 200",
                      "link set br0 up"]
        for p in d.ports:
            lines.append(f'link set {p} alias "{d.aliases[p]}"')
            if d.bridge and p.startswith("port"):
                lines.append(f"link set {p} master br0")
            lines.append(f"link set {p} up")
        if d.snmp:
            lines += [f"addr add {d.mgmt_address}/{prefixlen} dev mgmt0", "link set mgmt0 up"]
        _ip_batch(lines, d.netns)
    if plan.inet_ns:
        _ip_batch([f"link set {lk.b_if} up" for lk in plan.links if lk.b_ns == plan.inet_ns],
                  plan.inet_ns)
    for lk in plan.links:
        delay = plan.wan_delay_ms if lk.wan else 0.0
        for ns, dev in ((lk.a_ns, lk.a_if), (lk.b_ns, lk.b_if)):
            warn = _shape(ns, dev, lk.rate_mbit, delay)
            if warn and warn not in st.data["warnings"]:
                st.add("warnings", warn)

    say("daemons: snmpd, lldpd")
    env = dict(os.environ)
    for d in plan.devices:
        dw = work / d.node
        dw.mkdir()
        (dw / "persist").mkdir()
        if d.snmp:
            (dw / "snmpd.conf").write_text(_snmpd_conf(d, dw, community, plan.subnet,
                                                          _ifindexes(d.netns)))
            os.chmod(dw / "snmpd.conf", 0o600)
            env_d = {**env, "SNMP_PERSISTENT_DIR": str(dw / "persist"), "MIBS": ""}
            pid = _spawn(d.netns, [SNMPD, "-f", "-C", "-m", "", "-c", str(dw / "snmpd.conf"),
                                   "-Lf", str(dw / "snmpd.log"), "-p", str(dw / "snmpd.pid")],
                         dw / "snmpd.out", env_d)
            st.add("pids", {"pid": pid, "netns": d.netns, "daemon": "snmpd"})
    for d in plan.devices:
        dw = work / d.node
        if d.snmp:
            sock = dw / "agentx.sock"
            _wait_for(sock.exists, 15, f"snmpd's AgentX socket in {d.netns} ({dw}/snmpd.log)")
            fresh = _run(["ip", "netns", "exec", d.netns, "snmpset", "-v2c", "-c",
                          f"{community}-cache", "-t", "2", "-r", "2", "127.0.0.1:161",
                          _IF_TABLE_CACHE_TIMEOUT, "i", "0"], check=False)
            if fresh.returncode != 0:
                st.add("warnings", f"{d.netns}: could not turn off snmpd's 3 s interface "
                                   f"cache (snmpset: {fresh.stderr.strip() or 'missing'}); "
                                   "polled counters may be up to 3 s old")
        (dw / "lldpd.conf").write_text(_lldpd_conf(d))
        argv = ["lldpd", "-d", "-u", str(dw / "lldpd.sock"), "-O", str(dw / "lldpd.conf")]
        if d.snmp:
            argv += ["-x", "-X", f"unix:{dw / 'agentx.sock'}"]
        pid = _spawn(d.netns, argv, dw / "lldpd.log")
        st.add("pids", {"pid": pid, "netns": d.netns, "daemon": "lldpd"})

    expected = {d.node: sum(1 for p in d.ports if p.startswith("port")) for d in plan.devices}

    def heard() -> bool:
        for d in plan.devices:
            if len(lldp_neighbours(d.netns, work / d.node / "lldpd.sock")) < expected[d.node]:
                return False
        return True

    say("waiting for LLDP")
    _wait_for(heard, wait_s, "every device to hear its LLDP neighbours")
    inv = {"concurrency": 16,
           "defaults": {"port": 161, "timeout_s": 2.0, "retries": 1},
           "credentials": {"lab": {"version": "v2c", "community": f"env:{COMMUNITY_ENV}"}},
           "discovery": {"seeds": [core_address(plan)], "allowed_networks": [plan.subnet],
                         "max_hops": 16, "max_devices": 250}}
    (work / "inventory.yaml").write_text(
        "# Inventory of the netstage lab (community: export "
        f"{COMMUNITY_ENV}=$(cat {work / 'community'}))\n" + yaml.safe_dump(inv, sort_keys=False))
    st.data["phase"] = "up"
    st.save()
    return st.data


def core_address(plan: LabPlan) -> str:
    """The management address discovery starts from: the core switch (else the first
    managed device)."""
    managed = [d for d in plan.devices if d.snmp]
    for d in managed:
        if str(d.kind) == "core":
            return str(d.mgmt_address)
    if not managed:
        raise LabError("the district has no SNMP-managed device")
    return str(managed[0].mgmt_address)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ns_pids(ns: str) -> list[int]:
    proc = _run(["ip", "netns", "pids", ns], check=False)
    return [int(x) for x in proc.stdout.split() if x.isdigit()]


def _is_lab_daemon(pid: int) -> bool:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    names = {os.path.basename(c.decode(errors="replace")) for c in cmd[:8]}
    return bool(names & {"lldpd", "snmpd"})


def lab_down(prefix: str) -> dict[str, Any]:
    """Remove the lab ``prefix``: processes, namespaces, work directory, state file.

    Safe to run on a half-built lab and more than once. Returns what was removed.
    """
    require_root("netstage lab down")
    state = _load_state(prefix) or {"prefix": prefix, "namespaces": [],
                                    "workdir": str(run_dir() / prefix)}
    present = existing_namespaces()
    names = [n for n in state.get("namespaces", []) if n in present]
    names += [n for n in present if n.startswith(prefix) and n not in names]
    killed: list[int] = []
    # the processes the lab started, by id: those inside its namespaces, and the recorded
    # daemon pids (checked to still be lldpd/snmpd, so a reused pid is left alone)
    targets: set[int] = set()
    for ns in names:
        targets.update(_ns_pids(ns))
    for rec in state.get("pids", []):
        pid = int(rec.get("pid", 0))
        if pid > 1 and _alive(pid) and _is_lab_daemon(pid):
            targets.add(pid)
    targets.discard(os.getpid())
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in sorted(targets):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
                killed.append(pid)
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline and any(_alive(p) for p in targets):
            time.sleep(0.05)
        targets = {p for p in targets if _alive(p)}
        if not targets:
            break
    errors = []
    for ns in names:
        proc = _run(["ip", "netns", "del", ns], check=False)
        if proc.returncode != 0:
            errors.append(f"{ns}: {proc.stderr.strip()}")
    work = Path(state.get("workdir") or run_dir() / prefix)
    if work.exists() and work.parent == run_dir():
        shutil.rmtree(work, ignore_errors=True)
    state_path(prefix).unlink(missing_ok=True)
    state_path(prefix).with_suffix(".tmp").unlink(missing_ok=True)
    if errors:
        raise LabError("netstage lab down: could not delete " + "; ".join(errors))
    return {"prefix": prefix, "namespaces": names, "killed": sorted(set(killed))}


def lab_status(prefix: str) -> dict[str, Any]:
    """The lab as it is now: namespaces present, daemons alive, LLDP neighbours heard."""
    require_root("netstage lab status")
    state = _load_state(prefix)
    present = existing_namespaces()
    if state is None:
        stray = [n for n in present if n.startswith(prefix)]
        return {"prefix": prefix, "phase": "absent" if not stray else "orphaned",
                "namespaces": stray}
    work = Path(state["workdir"])
    devices: dict[str, Any] = {}
    for node, d in (state.get("plan") or {}).get("devices", {}).items():
        alive = {rec["daemon"]: _alive(rec["pid"]) for rec in state.get("pids", [])
                 if rec["netns"] == d["netns"]}
        nb = (lldp_neighbours(d["netns"], work / node / "lldpd.sock")
              if d["netns"] in present else {})
        devices[node] = {"netns": d["netns"], "present": d["netns"] in present,
                         "mgmt_address": d["mgmt_address"], "daemons": alive,
                         "lldp_neighbours": nb}
    return {"prefix": prefix, "phase": state.get("phase"), "workdir": str(work),
            "mgmt_ns": (state.get("plan") or {}).get("mgmt_ns"),
            "seed": (yaml.safe_load((work / "inventory.yaml").read_text())["discovery"]
                     ["seeds"][0] if (work / "inventory.yaml").exists() else None),
            "inventory": str(work / "inventory.yaml"),
            "namespaces": [n for n in state.get("namespaces", []) if n in present],
            "warnings": state.get("warnings", []), "devices": devices}
