"""Benchmark: per-host byte totals vs tshark, measured in the same run.

    .venv/bin/python benchmarks/bench_capture.py                # realistic + 1.2 GB synthetic
    .venv/bin/python benchmarks/bench_capture.py --big-gb 0     # realistic capture only
    .venv/bin/python benchmarks/bench_capture.py --big-gb 3     # multi-GB synthetic file

Baseline: ``tshark -n -r FILE -T fields -e frame.len -e ip.src -e ip.dst`` with the
per-host totals computed from its output (a frame's length counts once per distinct
address among its first ip.src/ip.dst). netstage: :func:`host_byte_totals` (reader +
vectorised decode + bincount), run in a fresh child process so that its peak RSS is
measured; the time is the child's own wall time for the analysis after a warm-up on
the file's first 64 KiB (interpreter start, imports and loading numba's compiled code
from its disk cache excluded; the whole-process time is printed too). Totals must be
identical.

Targets (issue 8): >= 15x faster than the tshark baseline, >= 500k packets/s, peak
memory <= 1 GB on a file bigger than that. The synthetic big file repeats the records
of ../shared/data/pcap/example.pcap with shifted timestamps (written to a temporary
directory and deleted afterwards).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data" / "pcap"
TARGET_RATIO = 15.0
TARGET_PPS = 500_000
TARGET_RSS = 1 << 30

_CHILD = r"""
import io, json, resource, sys, time
from netstage.auditor.capture.decode import decode_batch
from netstage.auditor.capture.hosts import host_byte_totals
from netstage.auditor.capture.reader import ReadState, iter_batches
# warm-up on the first 64 KiB: loads numba's compiled header walk from its disk cache
with open(sys.argv[1], "rb") as f:
    head = io.BytesIO(f.read(65536))
for b in iter_batches(head):
    decode_batch(b)
t0 = time.perf_counter()
c0 = time.process_time()
st = ReadState(path=sys.argv[1])
tot = host_byte_totals(sys.argv[1], state=st)
dt = time.perf_counter() - t0
json.dump({"seconds": dt, "cpu": time.process_time() - c0, "totals": tot,
           "complete": st.complete,
           "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}, sys.stdout)
"""

_COUNT = r"""
import sys
from netstage.auditor.capture.reader import iter_batches
print(sum(len(b) for b in iter_batches(sys.argv[1])))
"""


def tshark_totals(path: Path) -> tuple[dict[str, int], float, float]:
    """Totals, wall seconds, CPU seconds (tshark child + this parsing loop)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    c0 = time.process_time()
    t0 = time.perf_counter()
    proc = subprocess.Popen(["tshark", "-n", "-r", str(path), "-T", "fields", "-e",
                             "frame.len", "-e", "ip.src", "-e", "ip.dst"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    tot: dict[str, int] = {}
    for line in proc.stdout:
        parts = line.rstrip("\n").split("\t")
        if len(parts) < 3 or not parts[1]:
            continue
        n = int(parts[0])
        src, dst = parts[1].split(",")[0], parts[2].split(",")[0]
        tot[src] = tot.get(src, 0) + n
        if dst != src:
            tot[dst] = tot.get(dst, 0) + n
    proc.wait()
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime
           + time.process_time() - c0)
    return tot, wall, cpu


def ours(path: Path) -> dict[str, object]:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True,
                         text=True, check=True, cwd=ROOT).stdout
    res: dict[str, object] = json.loads(out)
    res["process_seconds"] = time.perf_counter() - t0
    return res


def count_packets(path: Path) -> int:
    out = subprocess.run([sys.executable, "-c", _COUNT, str(path)], capture_output=True,
                         text=True, check=True, cwd=ROOT).stdout
    return int(out)


def make_big(src: Path, out: Path, gb: float) -> int:
    """Repeat src's records (pcap, little-endian) with shifted timestamps up to gb GB."""
    data = src.read_bytes()
    hdr, body = data[:24], data[24:]
    recs = []
    p = 0
    while p + 16 <= len(body):
        sec, usec, cap, orig = struct.unpack_from("<IIII", body, p)
        recs.append((sec, usec, body[p + 16:p + 16 + cap], orig))
        p += 16 + cap
    span = recs[-1][0] - recs[0][0] + 1
    target = int(gb * 1e9)
    written = 24
    rounds = 0
    with out.open("wb") as f:
        f.write(hdr)
        while written < target:
            shift = rounds * span
            chunk = b"".join(struct.pack("<IIII", s + shift, u, len(d), o) + d
                             for s, u, d, o in recs)
            f.write(chunk)
            written += len(chunk)
            rounds += 1
    return written


def run(path: Path, label: str, packets: int) -> bool:
    # warm the page cache and numba's cache for both sides
    ours(path)
    want, t_ts, c_ts = tshark_totals(path)
    got = ours(path)
    same = got["totals"] == want
    secs = float(got["seconds"])  # type: ignore[arg-type]
    cpu = float(got["cpu"])  # type: ignore[arg-type]
    ratio = t_ts / secs
    pps = packets / secs
    rss = int(got["rss"])  # type: ignore[call-overload]
    size = path.stat().st_size
    print(f"== {label}: {path.name} ({size / 1e6:,.1f} MB, {packets:,} packets, "
          f"{len(want):,} IPv4 hosts)")
    print(f"tshark -T fields + totals : {t_ts:8.3f} s wall, {c_ts:8.3f} s CPU")
    print(f"netstage host_byte_totals : {secs:8.3f} s wall, {cpu:8.3f} s CPU "
          f"({packets / cpu:,.0f} packets/s per CPU second)")
    print(f"                            ({pps:,.0f} packets/s wall, "
          f"{size / secs / 1e6:,.0f} MB/s, peak RSS {rss / 2**20:,.0f} MiB)")
    cold = float(got["process_seconds"])  # type: ignore[arg-type]
    print(f"netstage, whole process    : {cold:8.3f} s   (interpreter start, imports and "
          f"numba cache load included: ratio {t_ts / cold:.1f}x)")
    print(f"CPU-time ratio {c_ts / cpu:.1f}x (robust to other load on the machine)")
    print(f"ratio {ratio:.1f}x (target >= {TARGET_RATIO:.0f}x: "
          f"{'met' if ratio >= TARGET_RATIO else 'NOT met'}); "
          f"packets/s target >= {TARGET_PPS:,}: per CPU second "
          f"{'met' if packets / cpu >= TARGET_PPS else 'NOT met'}, wall clock "
          f"{'met' if pps >= TARGET_PPS else 'NOT met'}; "
          f"peak RSS <= 1 GiB: {'met' if rss <= TARGET_RSS else 'NOT met'}; "
          f"totals identical: {same}")
    return same


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--file", type=Path, default=SHARED / "example.pcap",
                    help="realistic capture (default: ../shared/data/pcap/example.pcap)")
    ap.add_argument("--big-gb", type=float, default=1.2,
                    help="size of the synthetic big file in GB (0 = skip)")
    args = ap.parse_args()
    if shutil.which("tshark") is None:
        sys.exit("tshark is not installed (scripts/system-deps.sh)")
    if not args.file.exists():
        sys.exit(f"{args.file} not found (../shared beside the clone?)")
    ok = run(args.file, "realistic capture", count_packets(args.file))
    if args.big_gb > 0:
        with tempfile.TemporaryDirectory(dir=ROOT.parent if (ROOT.parent / "tmp").exists()
                                         else None) as tmp:
            big = Path(tmp) / "big.pcap"
            t0 = time.perf_counter()
            make_big(args.file, big, args.big_gb)
            print(f"(wrote {big.stat().st_size / 1e9:.2f} GB synthetic file in "
                  f"{time.perf_counter() - t0:.1f} s)")
            ok &= run(big, "synthetic big file", count_packets(big))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
