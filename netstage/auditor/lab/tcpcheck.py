"""The simulator checked against real TCP (issue 16 item 5; docs/validation.md).

A *case* is a small district (a :class:`~netstage.simulator.model.District`: circuit,
switches, links, wired devices behind switches). The simulator's own pipeline turns it
into paths (:func:`~netstage.simulator.arrays.to_arrays`) and its max-min kernel
(:func:`~netstage.simulator.maxmin.allocate`) gives every device its fair share for a
demand larger than any link (a long-lived bulk flow). The same arrays are then built as a
lab of network namespaces: one per node (a Linux bridge joins its ports), a veth pair per
link and per circuit (the circuit's far end is ``<prefix>inet``, where the server runs),
``tc tbf`` on both ends of every veth at capacity / scale, and one host namespace per
attachment point, behind its switch on an unshaped veth, that opens one TCP connection
per device to the server. Every namespace carries the case's prefix, so
``netstage lab down --prefix P`` (or :func:`~netstage.auditor.lab.run.lab_down`) removes
it all; :func:`run_case` does so itself in a ``finally``.

Goodput and the shaped rate: ``tbf`` counts each packet as the kernel hands it to the
veth, i.e. the Ethernet frame without preamble, FCS or inter-frame gap. A full TCP
segment is an MTU-sized IP packet (1500 B) carrying ``MSS`` bytes of payload (1448 with
the timestamp option Linux uses by default; read from the sender's socket,
``TCP_MAXSEG``), so the application can get at most ``MSS / (MTU + 14)`` of the shaped
rate (1448 / 1514 = 95.6 %). The predicted goodput of a flow is its max-min share /
scale x that fraction. ACKs flow the other way through the other end's qdisc and do not
take from the data direction.
"""

from __future__ import annotations

import contextlib
import json
import selectors
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from netstage.auditor.lab.run import _ip_batch, _run, existing_namespaces, lab_down, require_root
from netstage.simulator.arrays import DistrictArrays, to_arrays
from netstage.simulator.demand import DemandBatch
from netstage.simulator.maxmin import allocate
from netstage.simulator.model import District

__all__ = ["CASES", "Case", "CaseResult", "FlowResult", "Prediction", "bottlenecks", "predict",
           "run_case", "shape_district"]

MTU = 1500
ETH_HEADER = 14
SERVER = "10.200.0.1"
PORT = 5201
BULK_DEMAND_MBPS = 1e6  # a long-lived bulk flow wants more than any link carries
SUBNET_LEN = 24
LIMIT_MS = 100.0  # each shaped link's drop-tail queue: this long at the link's rate,
MIN_FRAMES = 30  # and at least this many full frames


@dataclass(frozen=True)
class Case:
    """One comparison: a shape and how many devices sit at each switch."""

    name: str
    shape: str  # one-bottleneck | nested | parking-lot
    devices: dict[str, int]  # node id -> wired devices there


def shape_district(case: Case) -> District:
    """The district of ``case`` (capacities in real Mbps; the lab divides by scale)."""
    if case.shape == "one-bottleneck":
        # the circuit (1 Gb/s) limits everyone; switch links are 10x larger
        nodes = ["edge", "core", "acc1", "acc2"]
        links = [("core", "edge", 10000), ("acc1", "core", 10000), ("acc2", "core", 10000)]
        circuit = 1000.0
    elif case.shape == "nested":
        # acc1's 200 Mb/s uplink is nested inside the 1 Gb/s circuit
        nodes = ["edge", "core", "acc1", "acc2"]
        links = [("core", "edge", 10000), ("acc1", "core", 200), ("acc2", "core", 10000)]
        circuit = 1000.0
    elif case.shape == "parking-lot":
        # a chain acc -> dist -> core -> circuit with devices entering at every hop: the
        # flows from acc cross three loaded links, those from dist two, core's one
        nodes = ["edge", "core", "dist", "acc"]
        links = [("core", "edge", 10000), ("dist", "core", 700), ("acc", "dist", 300)]
        circuit = 1200.0
    else:
        raise ValueError(f"unknown shape {case.shape!r}")
    kinds = {"edge": "edge", "core": "core", "dist": "distribution"}
    pops = [{"device_class": "lab", "count": n, "attach": [node], "connection": "wired"}
            for node, n in case.devices.items() if n > 0]
    return District.model_validate({
        "district": {"name": f"tcp-{case.name}"},
        "sites": [{"id": "s", "kind": "office", "staff": 1, "populations": pops}],
        "nodes": [{"id": n, "kind": kinds.get(n, "access"), "site": "s"} for n in nodes],
        "links": [{"a": a, "b": b, "capacity_mbps": c} for a, b, c in links],
        "circuits": [{"id": "isp", "attach": "edge", "capacity_mbps": circuit}],
    })


CASES: tuple[Case, ...] = (
    Case("1bn-2", "one-bottleneck", {"acc1": 1, "acc2": 1}),
    Case("1bn-4", "one-bottleneck", {"acc1": 2, "acc2": 2}),
    Case("1bn-8", "one-bottleneck", {"acc1": 4, "acc2": 4}),
    Case("nested-2+2", "nested", {"acc1": 2, "acc2": 2}),
    Case("nested-2+6", "nested", {"acc1": 2, "acc2": 6}),
    Case("nested-4+4", "nested", {"acc1": 4, "acc2": 4}),
    Case("parking-1x3", "parking-lot", {"acc": 1, "dist": 1, "core": 1}),
    Case("parking-2x3", "parking-lot", {"acc": 2, "dist": 2, "core": 2}),
    Case("parking-3x3", "parking-lot", {"acc": 3, "dist": 3, "core": 3}),
)


@dataclass
class Prediction:
    arrays: DistrictArrays
    rate_mbps: dict[int, float]  # attachment point -> per-device max-min share (Mbps)
    link_used_mbps: np.ndarray
    kernel_bottlenecks: set[str]  # links where the kernel froze devices


def predict(d: District) -> Prediction:
    """Per-device max-min share of every attachment point, from the project's kernel."""
    arrays = to_arrays(d)
    n_p = len(arrays.attach_ids)
    counts = np.bincount(arrays.device_attach, minlength=n_p)
    starts = np.zeros((1, n_p + 1), dtype=np.int64)
    starts[0, 1:] = np.cumsum(counts)
    n = int(counts.sum())
    batch = DemandBatch(
        scenario="bulk-tcp", seed=0, first_scenario=0, n_scenarios=1, group_start=starts,
        group_assoc=counts.astype(np.int32).reshape(1, n_p),
        device=np.argsort(arrays.device_attach, kind="stable").astype(np.int32),
        app=np.zeros(n, dtype=np.int8),
        demand_mbps=np.full(n, BULK_DEMAND_MBPS, dtype=np.float32),
        app_min_mbps=np.zeros(1), app_names=("bulk",))
    alloc = allocate(batch, arrays)
    rate = {p: float(alloc.rate_mbps[starts[0, p]]) for p in range(n_p) if counts[p]}
    bn = {arrays.link_ids[i] for i in np.flatnonzero(alloc.link_bottleneck_devices[0])}
    return Prediction(arrays, rate, np.asarray(alloc.link_used_mbps[0], dtype=np.float64), bn)


def bottlenecks(paths: dict[str, list[str]], saturated: set[str]) -> dict[str, str]:
    """Each flow's bottleneck: the first saturated link on its path, from the device.

    In a tree with one circuit this is the max-min bottleneck: every flow that crosses a
    link also crosses every link after it (all go to the same circuit), so a link further
    up with a smaller share would limit all the flows of the earlier link, and the earlier
    link could not be full. The same rule names the predicted bottlenecks (links the
    kernel fills) and the measured ones (queues that dropped packets or sent at >= 95 %
    of their rate during the window), so both are named the same way."""
    return {f: next((lk for lk in path if lk in saturated), "-") for f, path in paths.items()}


@dataclass
class FlowResult:
    flow: str
    attach: str
    predicted_mbps: float  # goodput, lab Mbit/s
    measured_mbps: float
    predicted_bottleneck: str
    measured_bottleneck: str

    @property
    def error(self) -> float:
        return abs(self.measured_mbps - self.predicted_mbps) / self.predicted_mbps


@dataclass
class CaseResult:
    case: Case
    scale: float
    seconds: float
    payload_fraction: float
    flows: list[FlowResult] = field(default_factory=list)
    link_wire_mbps: dict[str, float] = field(default_factory=dict)
    link_shaped_mbps: dict[str, float] = field(default_factory=dict)
    link_drops: dict[str, int] = field(default_factory=dict)
    cc: str = ""
    repeats: int = 1

    @property
    def mean_error(self) -> float:
        return float(np.mean([f.error for f in self.flows]))

    @property
    def max_error(self) -> float:
        return float(np.max([f.error for f in self.flows]))

    @property
    def switch_error(self) -> float:
        """Mean abs. error of the mean goodput per attachment point (the flows of one
        switch share one path and one predicted share: this leaves out how TCP splits a
        switch's total between identical flows)."""
        groups: dict[str, list[FlowResult]] = {}
        for f in self.flows:
            groups.setdefault(f.attach, []).append(f)
        errs = [abs(np.mean([f.measured_mbps for f in g]) - g[0].predicted_mbps)
                / g[0].predicted_mbps for g in groups.values()]
        return float(np.mean(errs))

    @property
    def same_bottlenecks(self) -> bool:
        return all(f.predicted_bottleneck == f.measured_bottleneck for f in self.flows)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CaseResult:
        """The result written by :meth:`to_json` (the case looked up in :data:`CASES`)."""
        case = next(c for c in CASES if c.name == data["case"])
        keys = ("flow", "attach", "predicted_mbps", "measured_mbps", "predicted_bottleneck",
                "measured_bottleneck")
        return cls(case, data["scale"], data["seconds"], data["payload_fraction"],
                   flows=[FlowResult(**{k: f[k] for k in keys}) for f in data["flows"]],
                   link_wire_mbps=data["link_wire_mbps"],
                   link_shaped_mbps=data["link_shaped_mbps"], link_drops=data["link_drops"],
                   cc=data["cc"], repeats=data["repeats"])

    def to_json(self) -> dict[str, Any]:
        return {"case": self.case.name, "shape": self.case.shape, "scale": self.scale,
                "seconds": self.seconds, "payload_fraction": self.payload_fraction,
                "mean_error": self.mean_error, "max_error": self.max_error,
                "switch_error": self.switch_error,
                "same_bottlenecks": self.same_bottlenecks,
                "link_wire_mbps": self.link_wire_mbps,
                "link_shaped_mbps": self.link_shaped_mbps, "link_drops": self.link_drops,
                "cc": self.cc, "repeats": self.repeats,
                "flows": [{**f.__dict__, "error": f.error} for f in self.flows]}


def _tbf(ns: str, dev: str, rate_mbit: float) -> None:
    rate_kbit = max(8, round(rate_mbit * 1000))
    # burst: 10 ms at the rate, at least a few full frames; the queue (drop-tail, like a
    # switch port) holds LIMIT_MS at the rate, at least MIN_FRAMES full frames
    burst = max(4 * (MTU + ETH_HEADER), rate_kbit * 1000 // 8 // 100)
    limit = max(MIN_FRAMES * (MTU + ETH_HEADER), round(rate_kbit * LIMIT_MS / 8))
    _run(["ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", dev, "root", "handle",
          "1:", "tbf", "rate", f"{rate_kbit}kbit", "burst", str(burst), "limit", str(limit)])


def _qdisc_stats(ns: str, dev: str) -> tuple[int, int, float]:
    """(bytes sent, packets dropped, when) of the root qdisc on ``dev``."""
    proc = _run(["ip", "netns", "exec", ns, "tc", "-s", "-j", "qdisc", "show", "dev", dev])
    root = [q for q in json.loads(proc.stdout or "[]") if q.get("root")]
    return (sum(int(q.get("bytes", 0)) for q in root), sum(int(q.get("drops", 0)) for q in root),
            time.monotonic())


@dataclass
class _Lab:
    prefix: str
    namespaces: list[str]
    up_egress: dict[str, tuple[str, str]]  # link id -> (netns, dev) towards the Internet
    shaped_mbit: dict[str, float]
    hosts: dict[int, tuple[str, str]]  # attachment point -> (netns, address)
    paths: dict[int, list[str]]  # attachment point -> link ids, device first


def _build(prefix: str, arrays: DistrictArrays, scale: float) -> _Lab:
    root = arrays.root
    ns_of = {i: f"{prefix}{nid}" for i, nid in enumerate(arrays.node_ids)}
    ns_of[root] = f"{prefix}inet"
    n_circuits = sum(1 for b in arrays.link_b.tolist() if b == root)
    if n_circuits != 1:
        raise ValueError("the TCP check builds shapes with exactly one circuit")
    lab = _Lab(prefix, [], {}, {}, {}, {})
    points = sorted({int(p) for p in arrays.device_attach.tolist()})
    host_ns = {p: f"{prefix}h{p}" for p in points}
    for ns in [*ns_of.values(), *host_ns.values()]:
        lab.namespaces.append(ns)
        _run(["ip", "netns", "add", ns])
        _run(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
              "net.ipv6.conf.default.disable_ipv6=1"])
        _ip_batch(["link set lo up"], ns)
    veths = []
    ends: dict[int, list[tuple[str, str]]] = {}
    for lk in range(arrays.n_links):
        a, b = int(arrays.link_a[lk]), int(arrays.link_b[lk])
        veths.append(f"link add l{lk}a netns {ns_of[a]} type veth peer name l{lk}b "
                     f"netns {ns_of[b]}")
        ends[lk] = [(ns_of[a], f"l{lk}a"), (ns_of[b], f"l{lk}b")]
    for p in points:
        node = int(arrays.attach_node[p])
        veths.append(f"link add h{p} netns {ns_of[node]} type veth peer name eth0 "
                     f"netns {host_ns[p]}")
    _ip_batch(veths)
    for i in range(len(arrays.node_ids)):
        ports = [dev for lk in ends for ns, dev in ends[lk] if ns == ns_of[i]]
        ports += [f"h{p}" for p in points if int(arrays.attach_node[p]) == i]
        _ip_batch(["link add br0 type bridge", "link set br0 up"]
                  + [x for dev in ports for x in (f"link set {dev} master br0",
                                                   f"link set {dev} up")], ns_of[i])
    circuit_dev = next(dev for lk in ends for ns, dev in ends[lk] if ns == ns_of[root])
    _ip_batch([f"addr add {SERVER}/{SUBNET_LEN} dev {circuit_dev}",
               f"link set {circuit_dev} up"], ns_of[root])
    for k, p in enumerate(points):
        addr = f"10.200.0.{10 + k}"
        # one segment per packet: a 64 KB GSO burst dropped whole at a full queue would
        # cost a flow dozens of segments at once (timeouts, not congestion control)
        _ip_batch([f"addr add {addr}/{SUBNET_LEN} dev eth0", "link set eth0 gso_max_segs 1",
                   "link set eth0 up"], host_ns[p])
        lab.hosts[p] = (host_ns[p], addr)
    for lk in range(arrays.n_links):
        rate = float(arrays.link_capacity_mbps[lk]) / scale
        lab.shaped_mbit[arrays.link_ids[lk]] = rate
        for ns, dev in ends[lk]:
            _tbf(ns, dev, rate)
    for p in points:
        cur = int(arrays.attach_node[p])
        path = []
        for lk in arrays.path_links[p, : arrays.path_len[p]].tolist():
            a, b = int(arrays.link_a[lk]), int(arrays.link_b[lk])
            up = ends[lk][0] if a == cur else ends[lk][1]
            lab.up_egress[arrays.link_ids[lk]] = up
            path.append(arrays.link_ids[lk])
            cur = b if a == cur else a
        lab.paths[p] = path
    return lab


_FLOW_SCRIPT = str(Path(__file__).with_name("tcpflow.py"))


def _spawn(ns: str, argv: list[str]) -> subprocess.Popen[str]:
    # the flow script alone (standard library only): starts fast on a loaded machine
    return subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, _FLOW_SCRIPT, *argv],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _expect(proc: subprocess.Popen[str], word: str, timeout_s: float) -> None:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout=timeout_s):
            raise RuntimeError(f"flow process did not say {word!r} within {timeout_s:.0f} s")
    line = proc.stdout.readline().strip()
    if line != word:
        err = proc.stderr.read() if proc.stderr and proc.poll() is not None else ""
        raise RuntimeError(f"flow process said {line!r}, not {word!r}: {err.strip()[-500:]}")


def _tell(proc: subprocess.Popen[str], a: float, b: float) -> None:
    assert proc.stdin is not None
    proc.stdin.write(f"{a!r} {b!r}\n")
    proc.stdin.flush()


def _session(lab: _Lab, flows: dict[str, int], cc: str, port: int, warmup_s: float,
             seconds: float) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any],
                                      dict[str, Any]]:
    """One run of every flow: (sink result, sender results, qdisc stats before, after)."""
    procs: list[subprocess.Popen[str]] = []
    try:
        sink = _spawn(f"{lab.prefix}inet", ["sink", SERVER, str(port), str(len(flows))])
        procs.append(sink)
        _expect(sink, "listening", 30)
        senders = []
        for p, (ns, _addr) in lab.hosts.items():
            ids = [f for f, q in flows.items() if q == p]
            senders.append(_spawn(ns, ["send", SERVER, str(port), cc, *ids]))
        procs += senders
        for s in senders:
            _expect(s, "ready", 30)
        t0 = time.monotonic() + 0.2
        m_from, m_to = t0 + warmup_s, t0 + warmup_s + seconds
        _tell(sink, m_from, m_to)
        for s in senders:
            _tell(s, t0, m_to + 0.5)
        time.sleep(max(0.0, m_from - time.monotonic()))
        b0 = {lk: _qdisc_stats(*e) for lk, e in lab.up_egress.items()}
        time.sleep(max(0.0, m_to - time.monotonic()))
        b1 = {lk: _qdisc_stats(*e) for lk, e in lab.up_egress.items()}
        sent: dict[str, Any] = {}
        for s in senders:
            out, err = s.communicate(timeout=30)
            if s.returncode != 0:
                raise RuntimeError(f"sender failed: {err.strip()[-500:]}")
            sent.update(json.loads(out)["flows"])
        out, err = sink.communicate(timeout=30)
        if sink.returncode != 0:
            raise RuntimeError(f"sink failed: {err.strip()[-500:]}")
        return json.loads(out), sent, b0, b1
    finally:
        for pr in procs:
            if pr.poll() is None:
                pr.kill()
                with contextlib.suppress(Exception):
                    pr.wait(timeout=5)


def run_case(case: Case, *, prefix: str, scale: float = 100.0, warmup_s: float = 2.0,
             seconds: float = 8.0, cc: str = "reno", repeats: int = 1) -> CaseResult:
    """Build ``case`` as a lab, run its flows, compare with the max-min prediction.

    Every device's connection is set up before any data flows; all then start together,
    run ``warmup_s + seconds`` and are measured over the last ``seconds``. With
    ``repeats`` > 1 this is done again with fresh connections on the same lab, and each
    flow's goodput is the mean over the runs. Removes everything it created
    (``lab_down(prefix)``) before returning or raising."""
    require_root("the TCP check")
    if not (0 < seconds <= 30 and 0 <= warmup_s <= 10 and 1 <= repeats <= 10):
        raise ValueError("seconds must be in (0, 30], warmup_s in [0, 10], repeats in 1..10")
    if any(n.startswith(prefix) for n in existing_namespaces()):
        raise RuntimeError(f"namespaces with prefix {prefix} exist; lab down --prefix first")
    pred = predict(shape_district(case))
    arrays = pred.arrays
    runs = []
    try:
        lab = _build(prefix, arrays, scale)
        flows: dict[str, int] = {}  # flow id -> attachment point
        for p in lab.hosts:
            for j in range(int(np.sum(arrays.device_attach == p))):
                flows[f"{arrays.attach_ids[p]}.{j}"] = p
        for r in range(repeats):
            runs.append(_session(lab, flows, cc, PORT + r, warmup_s, seconds))
    finally:
        lab_down(prefix)
    mss = min(int(v["mss"]) for run in runs for v in run[1].values())
    frac = mss / (MTU + ETH_HEADER)
    window = float(np.mean([run[0]["window_s"] for run in runs]))
    links = list(lab.up_egress)
    wire = {lk: float(np.mean([(b1[lk][0] - b0[lk][0]) * 8 / (b1[lk][2] - b0[lk][2]) / 1e6
                               for _g, _s, b0, b1 in runs])) for lk in links}
    drops = {lk: sum(b1[lk][1] - b0[lk][1] for _g, _s, b0, b1 in runs) for lk in links}
    measured = {f: float(np.mean([g["flows"].get(f, 0) * 8 / g["window_s"] / 1e6
                                  for g, _s, _b0, _b1 in runs])) for f in flows}
    predicted = {f: pred.rate_mbps[p] / scale * frac for f, p in flows.items()}
    paths = {f: lab.paths[p] for f, p in flows.items()}
    full_pred = {arrays.link_ids[i] for i in range(arrays.n_links)
                 if pred.link_used_mbps[i] >= (1 - 1e-6) * arrays.link_capacity_mbps[i]}
    full_meas = {lk for lk in links if drops[lk] > 0 or wire[lk] >= 0.95 * lab.shaped_mbit[lk]}
    bn_pred = bottlenecks(paths, full_pred)
    bn_meas = bottlenecks(paths, full_meas)
    if set(bn_pred.values()) != pred.kernel_bottlenecks:
        raise AssertionError(f"bottleneck rule {set(bn_pred.values())} disagrees with the "
                             f"kernel's {pred.kernel_bottlenecks}")
    res = CaseResult(case, scale, window, frac, link_wire_mbps=wire,
                     link_shaped_mbps=dict(lab.shaped_mbit), link_drops=drops,
                     cc=",".join(sorted({str(v["cc"]) for run in runs
                                         for v in run[1].values()})), repeats=repeats)
    for f, p in flows.items():
        res.flows.append(FlowResult(f, arrays.attach_ids[p], predicted[f], measured[f],
                                    bn_pred[f], bn_meas[f]))
    return res
