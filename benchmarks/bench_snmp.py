"""Benchmark: collect ifTable + ifXTable + LLDP from >= 50 local snmpsim agents.

    .venv/bin/python benchmarks/bench_snmp.py                  # 50 agents
    .venv/bin/python benchmarks/bench_snmp.py --agents 80 --concurrency 32
    .venv/bin/python benchmarks/bench_snmp.py --agents 10      # quick look

Agents: ``--agents`` separate ``snmpsim-command-responder`` processes on 127.0.0.1 (one
UDP port each), every one serving one real switch recording from
../shared/data/snmprec (cycled through switches that have ifTable, ifXTable and LLDP;
each copied under community ``bench``). When ../shared is absent, the digital twin of
netstage/topologies/stage4-transformational.yaml is served instead.

netstage: :class:`SnmpCollector` over all agents with ``--concurrency`` devices in
flight, twice: ``oids.BENCH_PLAN`` (the ifTable/ifXTable/LLDP columns the audit reads,
walked side by side) and ``oids.BENCH_TABLES_PLAN`` (whole ifTable, ifXTable,
lldpLocPortTable, lldpRemTable: the same values as the baseline); both plus the
system GET the collector always does.

``--latency-ms N`` puts a loopback UDP proxy (its own process) in front of every agent
that delays each request by N ms, as a switch across a district network would; with
0 (default) the agents are plain snmpsim, whose CPU (pure Python, ~1 ms per value) is
then the bottleneck on a small machine.

Baseline (same run, same agents): a sequential shell-style loop of Debian
``snmpbulkwalk -v2c -c bench -On HOST:PORT SUBTREE`` for the system group and each of
the same four subtrees (net-snmp defaults otherwise: max-repetitions 10; Debian's
snmp.conf loads no MIBs). Values = output lines.

``--agent snmpd`` (root; issue 16 item 4) serves C agents instead: ``--agents`` net-snmp
``snmpd`` processes (``/usr/sbin/snmpd``), each on its own 127.0.0.1 port, inside a
network namespace of their own (``nsbench-<pid>``, removed afterwards) that holds
``--interfaces`` veth interfaces, so every agent answers ifTable/ifXTable rows for
that many ports from the kernel (a 48-port switch by default; no LLDP rows). The whole
benchmark runs inside that namespace.

Target (issue 7): >= 10x the baseline's wall time. The collector's own CPU time is
compared with the agents' CPU time (psutil) to show the collector is not the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from netstage.auditor.snmp import oids  # noqa: E402
from netstage.auditor.snmp.collector import CollectTarget  # noqa: E402
from netstage.auditor.snmp.credentials import Secret, SnmpCredential  # noqa: E402
from netstage.auditor.snmp.live import SnmpCollector  # noqa: E402
from netstage.auditor.snmp.values import oid_str  # noqa: E402
from netstage.auditor.twin_agent import (  # noqa: E402
    agent_answers,
    probe_packet,
    snmpsim_command,
)

SHARED = ROOT.parent / "shared" / "data" / "snmprec"
TARGET_RATIO = 10.0
COMMUNITY = "bench"
# Switches with ifTable, ifXTable and LLDP rows (20-78 ports).
RECORDINGS = ["arubaos-cx_10.10", "dell-os10", "edgeswitch_us-8-v2", "edgeswitch_es-24-250w",
              "fortigate_60fospfv3", "boss_ers4950", "voss_7432cq", "junos_qfx5100",
              "nxos_n3k-3064pq", "arista_eos"]


def _sources(tmp: Path) -> list[Path]:
    if SHARED.is_dir():
        return [SHARED / f"{n}.snmprec" for n in RECORDINGS]
    from netstage.auditor.twin import export_twin
    from netstage.simulator.io import load_district

    d = load_district(ROOT / "netstage" / "topologies" / "stage4-transformational.yaml")
    return export_twin(d, tmp / "twin")


_PROXY = r"""
import asyncio, json, sys
delay = float(sys.argv[1]) / 1000.0
agent_ports = json.loads(sys.argv[2])

class Upstream(asyncio.DatagramProtocol):
    def __init__(self, front, client):
        self.front, self.client = front, client
    def datagram_received(self, data, addr):
        self.front.transport.sendto(data, self.client)

class Front(asyncio.DatagramProtocol):
    def __init__(self, agent_port):
        self.agent_port, self.up = agent_port, {}
    def connection_made(self, transport):
        self.transport = transport
    def datagram_received(self, data, client):
        asyncio.ensure_future(self.forward(data, client))
    async def forward(self, data, client):
        loop = asyncio.get_running_loop()
        up = self.up.get(client)
        if up is None:
            up, _ = await loop.create_datagram_endpoint(
                lambda: Upstream(self, client), remote_addr=("127.0.0.1", self.agent_port))
            self.up[client] = up
        loop.call_later(delay, up.sendto, data)  # the whole round trip's latency

async def main():
    loop = asyncio.get_running_loop()
    listen = []
    for agent in agent_ports:  # port 0: the kernel picks a free one, no race
        transport, _ = await loop.create_datagram_endpoint(
            lambda a=agent: Front(a), local_addr=("127.0.0.1", 0))
        listen.append(transport.get_extra_info("sockname")[1])
    print(json.dumps(listen), flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def start_latency_proxy(agent_ports: list[int],
                        latency_ms: float) -> tuple[subprocess.Popen[str], list[int]]:
    """A loopback UDP proxy (own process) adding ``latency_ms`` to every request."""
    import json

    proc = subprocess.Popen([sys.executable, "-c", _PROXY, str(latency_ms),
                             json.dumps(agent_ports)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        listen = [int(p) for p in json.loads(proc.stdout.readline())]
    except ValueError:
        proc.kill()
        raise SystemExit("latency proxy did not start") from None
    return proc, listen


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_agents(n: int, tmp: Path) -> list[tuple[subprocess.Popen[bytes], int]]:
    """``n`` snmpsim processes, started together, each serving one recording."""
    command = snmpsim_command()
    sources = _sources(tmp)
    env = {**os.environ, "SNMPSIM_ALLOW_ROOT": "true"}
    agents = []
    for i in range(n):
        data = tmp / f"agent{i}"
        data.mkdir()
        shutil.copyfile(sources[i % len(sources)], data / f"{COMMUNITY}.snmprec")
        port = _free_port()
        proc = subprocess.Popen(
            [*command, f"--data-dir={data}", f"--cache-dir={tmp / f'cache{i}'}",
             f"--agent-udpv4-endpoint=127.0.0.1:{port}", "--log-level=error"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            env=env)
        agents.append((proc, port))
    try:
        packet = probe_packet(COMMUNITY)
        deadline = time.monotonic() + 60 + 3 * n
        waiting = {port for _, port in agents}
        while waiting and time.monotonic() < deadline:
            waiting = {p for p in waiting if not agent_answers(p, packet, timeout_s=0.2)}
            if any(proc.poll() is not None for proc, _ in agents):
                raise SystemExit("an snmpsim agent exited during start-up")
        if waiting:
            raise SystemExit(f"{len(waiting)} agents did not answer in time")
    except BaseException:
        stop_agents(agents)  # never leave agents running behind a failed start
        raise
    return agents


def start_snmpd_agents(n: int, tmp: Path) -> list[tuple[subprocess.Popen[bytes], int]]:
    """``n`` net-snmp snmpd processes on 127.0.0.1 (inside the benchmark's namespace),
    each answering IF-MIB for the namespace's interfaces from the kernel."""
    agents = []
    for i in range(n):
        work = tmp / f"snmpd{i}"
        work.mkdir()
        conf = work / "snmpd.conf"
        conf.write_text(f"rocommunity {COMMUNITY} 127.0.0.1\n"
                        f"[snmp] persistentDir {work}\n")
        port = _free_port()
        proc = subprocess.Popen(
            ["/usr/sbin/snmpd", "-f", "-C", "-c", str(conf), "-m", "", "-Ln",
             "-I", "-smux", f"udp:127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            env={**os.environ, "SNMP_PERSISTENT_DIR": str(work), "MIBS": ""})
        agents.append((proc, port))
    try:
        packet = probe_packet(COMMUNITY)
        deadline = time.monotonic() + 30 + n
        waiting = {port for _, port in agents}
        while waiting and time.monotonic() < deadline:
            waiting = {p for p in waiting if not agent_answers(p, packet, timeout_s=0.2)}
            if any(proc.poll() is not None for proc, _ in agents):
                raise SystemExit("an snmpd agent exited during start-up")
        if waiting:
            raise SystemExit(f"{len(waiting)} snmpd agents did not answer in time")
    except BaseException:
        stop_agents(agents)
        raise
    return agents


def run_in_own_netns(interfaces: int) -> int:
    """Re-run this benchmark inside a new network namespace with ``interfaces`` veth
    interfaces; the namespace and everything in it is removed afterwards."""
    if os.geteuid() != 0:
        raise SystemExit("--agent snmpd needs root (it creates a network namespace)")
    ns = f"nsbench-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        lines = ["link set lo up"]
        for k in range(1, interfaces // 2 + 1):
            lines += [f"link add ge{2 * k - 1} type veth peer name ge{2 * k}",
                      f"link set ge{2 * k - 1} up", f"link set ge{2 * k} up"]
        subprocess.run(["ip", "-n", ns, "-batch", "-"], input="\n".join(lines) + "\n",
                       text=True, check=True)
        return subprocess.run(["ip", "netns", "exec", ns, sys.executable, *sys.argv],
                              env={**os.environ, "NETSTAGE_BENCH_NETNS": ns}).returncode
    finally:
        pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                              text=True).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), 9)
        subprocess.run(["ip", "netns", "del", ns], check=False)


def stop_agents(agents: list[tuple[subprocess.Popen[bytes], int]]) -> None:
    for proc, _ in agents:
        proc.terminate()
    for proc, _ in agents:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def agents_cpu(agents: list[tuple[subprocess.Popen[bytes], int]]) -> float:
    total = 0.0
    for proc, _ in agents:
        t = psutil.Process(proc.pid).cpu_times()
        total += t.user + t.system
    return total


def run_netstage(ports: list[int], concurrency: int,
                 plan: oids.WalkPlan = oids.BENCH_PLAN) -> tuple[float, float, int, int]:
    """(wall s, own CPU s, values, requests) for one collection of every agent."""
    targets = [CollectTarget(address="127.0.0.1", port=p, timeout_s=10, retries=2,
                             device_timeout_s=600, plan=plan,
                             credential=SnmpCredential(profile="bench", version="v2c",
                                                       community=Secret(COMMUNITY)))
               for p in ports]

    async def collect() -> list[object]:
        c = SnmpCollector(concurrency=concurrency)
        try:
            return list(await asyncio.gather(*(c.collect(t) for t in targets)))
        finally:
            c.close()

    cpu0, t0 = time.process_time(), time.perf_counter()
    results = asyncio.run(collect())
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    failed = [r for r in results if not r.ok]  # type: ignore[attr-defined]
    if failed:
        raise SystemExit(f"{len(failed)} devices failed: {failed[0]}")
    values = sum(r.timings.n_values for r in results)  # type: ignore[attr-defined]
    requests = sum(r.timings.n_requests for r in results)  # type: ignore[attr-defined]
    return wall, cpu, values, requests


def run_snmpbulkwalk(ports: list[int]) -> tuple[float, int, float]:
    """(wall s, values, CPU s of the snmpbulkwalk processes) for the sequential loop."""
    exe = shutil.which("snmpbulkwalk")
    if exe is None:
        raise SystemExit("snmpbulkwalk not installed (apt-get install snmp)")
    subtrees = [oid_str(oids.SYSTEM), *(oid_str(r) for r in oids.BENCH_TABLES_PLAN)]
    values = 0
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    for port in ports:
        for tree in subtrees:
            out = subprocess.run([exe, "-v2c", "-c", COMMUNITY, "-On", "-t", "10", "-r", "2",
                                  f"127.0.0.1:{port}", tree],
                                 capture_output=True, text=True, check=True)
            values += sum(1 for line in out.stdout.splitlines()
                          if line.startswith(".") and "No Such" not in line)
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    return wall, values, cpu


def measure(agents: list[tuple[subprocess.Popen[bytes], int]], concurrency: int,
            latency_ms: float) -> float:
    """One netstage-vs-baseline comparison; prints it and returns the column-walk ratio."""
    ports = [p for _, p in agents]
    proxy = None
    if latency_ms > 0:
        proxy, ports = start_latency_proxy(ports, latency_ms)
    try:
        run_netstage(ports[:2], 2)  # warm-up: imports, snmpsim first-request paths
        a0 = agents_cpu(agents)
        wall, cpu, values, requests = run_netstage(ports, concurrency)
        agent_cpu = agents_cpu(agents) - a0
        t_wall, t_cpu, t_values, t_requests = run_netstage(ports, concurrency,
                                                           oids.BENCH_TABLES_PLAN)
        a1 = agents_cpu(agents)
        base_wall, base_values, base_cpu = run_snmpbulkwalk(ports)
        base_agent_cpu = agents_cpu(agents) - a1
    finally:
        if proxy is not None:
            proxy.terminate()
    ratio, t_ratio = base_wall / wall, base_wall / t_wall
    n = len(agents)
    print(f"--- added round-trip latency {latency_ms:g} ms per request "
          f"(load average now {os.getloadavg()[0]:.1f})")
    print(f"netstage SnmpCollector, columns the audit reads: {n} agents, {values} "
          f"values, {requests} requests in {wall:.2f} s = {values / wall:,.0f} values/s "
          f"(concurrency {concurrency})")
    print(f"  collector CPU {cpu:.2f} s vs the agents' CPU {agent_cpu:.2f} s "
          f"({cpu / max(agent_cpu, 1e-9):.0%})")
    print(f"netstage SnmpCollector, whole tables: {t_values} values, {t_requests} requests in "
          f"{t_wall:.2f} s = {t_values / t_wall:,.0f} values/s; collector CPU {t_cpu:.2f} s")
    print(f"baseline sequential snmpbulkwalk, whole tables: {base_values} values in "
          f"{base_wall:.2f} s = {base_values / base_wall:,.0f} values/s; agents' CPU "
          f"{base_agent_cpu:.2f} s")
    print(f"CPU per value: netstage collector {1e6 * cpu / max(values, 1):.1f} us (columns), "
          f"{1e6 * t_cpu / max(t_values, 1):.1f} us (whole tables); snmpbulkwalk processes "
          f"{1e6 * base_cpu / max(base_values, 1):.1f} us")
    verdict = "MET" if ratio >= TARGET_RATIO else "NOT MET"
    print(f"ratio (wall, baseline / netstage): {ratio:.1f}x with column walks, {t_ratio:.1f}x "
          f"with whole tables (target >= {TARGET_RATIO:.0f}x: {verdict})")
    if abs(t_values - base_values) > 0.01 * base_values:
        print(f"warning: whole-table value counts differ (netstage {t_values}, "
              f"snmpbulkwalk {base_values})")
    bound = "the agents" if cpu < agent_cpu else "the collector"
    print(f"bottleneck: {bound} (collector CPU {cpu:.2f} s, agents' CPU {agent_cpu:.2f} s, "
          f"wall {wall:.2f} s on {os.cpu_count()} CPUs)")
    return ratio


def agent_cost(agents: list[tuple[subprocess.Popen[bytes], int]]) -> None:
    """What one value costs an snmpsim agent by request shape, and what idle agents cost:
    the two figures that bound the bare-loopback ratio on a small machine."""
    from netstage.auditor.snmp import ber
    from netstage.auditor.snmp.live import _CommunityClient

    proc, port = agents[0]
    ps = psutil.Process(proc.pid)
    target = CollectTarget(address="127.0.0.1", port=port, timeout_s=10, retries=0,
                           credential=SnmpCredential(profile="bench", version="v2c",
                                                     community=Secret(COMMUNITY)))
    if_table: tuple[int, ...] = (1, 3, 6, 1, 2, 1, 2, 2, 1)
    shapes: list[tuple[str, list[tuple[int, ...]], int, int]] = [
              ("GETBULK 1 column x 10 (snmpbulkwalk default)", [(*if_table, 2)], 10, 200),
              ("GETBULK 1 column x 50", [(*if_table, 2)], 50, 80),
              ("GETBULK 1 column x 200", [(*if_table, 2)], 200, 40),
              ("GETBULK 22 columns x 5", [(*if_table, c) for c in range(1, 23)], 5, 80),
              ("GETBULK 22 columns x 20", [(*if_table, c) for c in range(1, 23)], 20, 40)]

    def cpu() -> float:
        t = ps.cpu_times()
        return float(t.user + t.system)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        transport, client = await loop.create_datagram_endpoint(
            _CommunityClient, local_addr=("127.0.0.1", 0))
        try:
            for name, keys, reps, n in shapes:
                c0, values = cpu(), 0
                for _ in range(n):
                    r = await client.request(target, 1, COMMUNITY.encode(), ber.GETBULK,
                                             keys, reps)
                    values += len(r.varbinds)
                spent = cpu() - c0
                print(f"agent CPU, {name}: {spent * 1000 / values:.3f} ms per value, "
                      f"{spent * 1000 / n:.1f} ms per request ({values} values)")
        finally:
            transport.close()

    asyncio.run(run())
    c0 = agents_cpu(agents)
    time.sleep(10)
    idle = agents_cpu(agents) - c0
    print(f"{len(agents)} idle agents: {idle:.2f} s of CPU in 10 s "
          f"({idle / 10:.2f} of a core, out of {os.cpu_count()})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agents", type=int, default=50)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--latency-ms", default="0",
                    help="comma-separated round-trip latencies added per request by a "
                         "loopback UDP proxy (like switches across a district network); "
                         "0 = plain snmpsim. Example: 0,5")
    ap.add_argument("--agent-cost", action="store_true",
                    help="instead of the comparison: measure the agents' CPU per value by "
                         "request shape and the idle agents' CPU (the bare-loopback bound)")
    ap.add_argument("--agent", choices=["snmpsim", "snmpd"], default="snmpsim",
                    help="snmpsim (pure Python, recordings) or net-snmp snmpd (C, root: "
                         "runs in a network namespace of its own)")
    ap.add_argument("--interfaces", type=int, default=48,
                    help="with --agent snmpd: interfaces each agent reports")
    args = ap.parse_args()
    if args.agent == "snmpd" and not os.environ.get("NETSTAGE_BENCH_NETNS"):
        sys.exit(run_in_own_netns(args.interfaces))
    latencies = [float(x) for x in str(args.latency_ms).split(",") if x.strip()]
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="netstage-bench-snmp-") as tmp:
        t0 = time.perf_counter()
        starter = start_snmpd_agents if args.agent == "snmpd" else start_agents
        agents = starter(args.agents, Path(tmp))
        print(f"started {len(agents)} {args.agent} agents in {time.perf_counter() - t0:.1f} s "
              f"(load average before: {load:.1f} on {os.cpu_count()} CPUs)")
        try:
            if args.agent_cost:
                agent_cost(agents)
                return
            for latency in latencies:
                measure(agents, args.concurrency, latency)
        finally:
            stop_agents(agents)


if __name__ == "__main__":
    main()
