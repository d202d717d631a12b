"""History store benchmark: write one day of 5-minute polls for a district, then p95.

Writes 288 rounds x DEVICES devices x IFACES interfaces into a fresh SQLite WAL file
(one transaction per round, as ``netstage poll`` does), then computes every interface's
p95 with the vectorised :mod:`netstage.auditor.rates` and, as the named baseline, with a
plain Python loop over the same rows (per interface: successive deltas with wrap
handling, then ``statistics.quantiles``-style linear percentile). Prints figures, the
target (p95 of a day for a 100-switch district in under 5 s) and the ratio.

    .venv/bin/python benchmarks/bench_store.py [DEVICES] [IFACES]
"""

from __future__ import annotations

import itertools
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from netstage.auditor.facts import DeviceFacts, Interface, SnmpTarget, Timings
from netstage.auditor.rates import interval_rates, percentile_utilisation
from netstage.auditor.store import HistoryStore

ROUNDS = 288  # one day at --every 300
TARGET_S = 5.0


def _round(k: int, devices: int, ifaces: int, rng: np.random.Generator) -> list[DeviceFacts]:
    t = 1_700_000_000 + 300 * k
    out = []
    for d in range(devices):
        base = (d * 1_000_003 + 7) * 10**6
        out.append(DeviceFacts(
            target=SnmpTarget(address="127.0.0.1", port=10000 + d, name=f"sw{d}"), ok=True,
            sys_uptime_ticks=(10**6 + 300 * k) * 100,
            timings=Timings(started_at=datetime.fromtimestamp(t, UTC)),
            interfaces=[Interface(if_index=i + 1, name=f"p{i + 1}", speed_mbps=1000.0,
                                  in_octets=base + k * (i + 1) * 37_500_000,
                                  out_octets=base + k * (i + 1) * 1_000_000
                                  + int(rng.integers(0, 1000)),
                                  counters_64bit=True) for i in range(ifaces)]))
    return out


def _baseline_p95(rows: list[tuple[int, float, int, int]]) -> dict[int, float]:
    """Plain Python: per interface, rates between successive samples, p95 (linear)."""
    by_if: dict[int, list[tuple[float, int, int]]] = {}
    for iid, ts, a, b in rows:
        by_if.setdefault(iid, []).append((ts, a % 2**64, b % 2**64))
    out = {}
    for iid, samples in by_if.items():
        samples.sort()
        rates = []
        for (t0, a0, b0), (t1, a1, b1) in itertools.pairwise(samples):
            dt = t1 - t0
            rates.append(max(((a1 - a0) % 2**64) * 8 / dt, ((b1 - b0) % 2**64) * 8 / dt))
        rates.sort()
        pos = 0.95 * (len(rates) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(rates) - 1)
        out[iid] = rates[lo] + (rates[hi] - rates[lo]) * (pos - lo)
    return out


def main() -> None:
    devices = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    ifaces = int(sys.argv[2]) if len(sys.argv) > 2 else 48
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as tmp, HistoryStore(Path(tmp) / "h.db") as store:
        write_s = 0.0
        for k in range(ROUNDS):
            facts = _round(k, devices, ifaces, rng)  # building the facts is not timed
            t0 = time.perf_counter()
            store.record_poll(facts)
            write_s += time.perf_counter() - t0
        n = store.n_samples()
        t0 = time.perf_counter()
        p95 = store.percentile_bps(95.0)  # SQL fetch + vectorised rates + p95
        total_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        samples = store.samples()
        fetch_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        percentile_utilisation(interval_rates(samples), {}, 95.0)
        fast_s = time.perf_counter() - t0
        rows = store.conn.execute(
            "SELECT interface_id, ts, in_octets, out_octets FROM samples").fetchall()
        t0 = time.perf_counter()
        slow = _baseline_p95(rows)
        slow_s = time.perf_counter() - t0
        ifs = store.interfaces()
        worst = max(abs(p95[(ifs[k].device, ifs[k].if_index)] - v) / max(v, 1.0)
                    for k, v in slow.items())
        size_mb = (Path(tmp) / "h.db").stat().st_size / 1e6
    print(f"history: {ROUNDS} rounds x {devices} devices x {ifaces} interfaces = {n} samples")
    print(f"write: {write_s:.2f} s ({n / write_s:,.0f} samples/s, one transaction per round), "
          f"file {size_mb:.1f} MB (+WAL)")
    print(f"p95 of every interface, from the file: {total_s:.2f} s "
          f"(of which SQL fetch into numpy {fetch_s:.2f} s)")
    print(f"rates + p95 on the fetched samples: {fast_s:.3f} s vectorised vs {slow_s:.3f} s "
          f"baseline (plain Python loop over the same rows) -> {slow_s / fast_s:.1f}x; "
          f"max relative difference {worst:.1e}")
    print(f"target: p95 of a day for a 100-switch district < {TARGET_S:.0f} s -> "
          f"{'met' if total_s < TARGET_S else 'NOT met'} ({total_s / TARGET_S:.2f} of target)")


if __name__ == "__main__":
    main()
