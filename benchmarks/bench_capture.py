"""Benchmark: per-host byte totals vs tshark, measured in the same run.

    .venv/bin/python benchmarks/bench_capture.py                # realistic + 1.2 GB synthetic
    .venv/bin/python benchmarks/bench_capture.py --big-gb 0     # realistic capture only
    .venv/bin/python benchmarks/bench_capture.py --big-gb 3     # multi-GB synthetic file
    .venv/bin/python benchmarks/bench_capture.py --whole-process [FILE]   # issue 15 item 4

``--whole-process`` times what a user waits for: ``netstage capture FILE --json`` as a
subprocess (start-up, imports, numba cache load, analysis, control-plane decoding, JSON)
beside the whole ``tshark -T fields -e frame.len -e ip.src -e ip.dst`` process on the
same >= 1 GB, >= 2 M-packet file, wall clock and CPU time, best of --repeat.

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


def make_big_mix(srcs: list[Path], out: Path, gb: float) -> tuple[int, int]:
    """Records of several little-endian pcap files (same link type), in turn, re-timed
    to follow each other, repeated up to ``gb`` GB. Returns (bytes, packets).

    Mixing example.pcap (823 B per record) with tls2.pcap (383 B) and DnsPackets.pcap
    (141 B) gives the >= 2 M packets per >= 1 GB that issue 15 item 4 asks for.
    """
    per_src = []
    hdr = b""
    for src in srcs:
        data = src.read_bytes()
        hdr = hdr or data[:24]
        if struct.unpack_from("<I", data, 20) != struct.unpack_from("<I", hdr, 20):
            raise SystemExit(f"{src}: another link type than {srcs[0]}")
        body = data[24:]
        recs = []
        p = 0
        while p + 16 <= len(body):
            sec, usec, cap, orig = struct.unpack_from("<IIII", body, p)
            recs.append((sec, usec, body[p + 16:p + 16 + cap], orig))
            p += 16 + cap
        per_src.append(recs)
    target = int(gb * 1e9)
    written, packets, clock = 24, 0, 1_700_000_000
    with out.open("wb") as f:
        f.write(hdr)
        while written < target:
            for recs in per_src:
                first = recs[0][0]
                chunk = b"".join(struct.pack("<IIII", s - first + clock, u, len(d), o) + d
                                 for s, u, d, o in recs)
                f.write(chunk)
                written += len(chunk)
                packets += len(recs)
                clock += recs[-1][0] - first + 1
    return written, packets


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


def tshark_fields_process(path: Path) -> tuple[float, float]:
    """Issue 15's baseline, whole process: ``tshark -T fields -e frame.len -e ip.src
    -e ip.dst`` with its output discarded (wall s, CPU s)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(["tshark", "-n", "-r", str(path), "-T", "fields", "-e", "frame.len",
                    "-e", "ip.src", "-e", "ip.dst"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime


def cli_process(path: Path) -> tuple[float, float]:
    """``netstage capture FILE --json`` as a user runs it, whole process (wall s, CPU s):
    interpreter start, imports, numba cache load, the analysis, control-plane decoding
    and the JSON output (written to a pipe and discarded)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "netstage", "capture", str(path), "--json"],
                   check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime


def run_whole_process(path: Path, packets: int, repeat: int) -> None:
    """Issue 15 item 4: the whole CLI process beside the whole tshark process."""
    cli_process(path)  # warm-up: page cache, numba's disk cache
    ts_wall, ts_cpu = tshark_fields_process(path)
    runs = [cli_process(path) for _ in range(repeat)]
    wall, cpu = min(runs)
    size = path.stat().st_size
    print(f"== whole process: {path.name} ({size / 1e9:.2f} GB, {packets:,} packets)")
    print(f"tshark -T fields -e frame.len -e ip.src -e ip.dst : {ts_wall:8.2f} s wall, "
          f"{ts_cpu:8.2f} s CPU")
    print(f"netstage capture FILE --json (best of {repeat})    : {wall:8.2f} s wall, "
          f"{cpu:8.2f} s CPU  (runs {[round(w, 2) for w, _ in runs]})")
    ratio = ts_wall / wall
    print(f"ratio {ratio:.1f}x wall, {ts_cpu / cpu:.1f}x CPU (target >= {TARGET_RATIO:.0f}x "
          f"whole process: {'met' if ratio >= TARGET_RATIO else 'NOT met'} by wall clock, "
          f"{'met' if ts_cpu / cpu >= TARGET_RATIO else 'NOT met'} by CPU time)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--file", type=Path, default=SHARED / "example.pcap",
                    help="realistic capture (default: ../shared/data/pcap/example.pcap)")
    ap.add_argument("--big-gb", type=float, default=1.2,
                    help="size of the synthetic big file in GB (0 = skip)")
    ap.add_argument("--whole-process", type=Path, nargs="?", const=Path("-"), default=None,
                    metavar="FILE",
                    help="issue 15 item 4 only: time `netstage capture FILE --json` whole "
                         "beside tshark on FILE, or without FILE on a 1.1 GB file of "
                         ">= 2 M packets mixed from example.pcap, tls2.pcap and "
                         "DnsPackets.pcap (written to a temporary directory)")
    ap.add_argument("--repeat", type=int, default=3, help="netstage runs (best of)")
    args = ap.parse_args()
    if args.whole_process is not None:
        if shutil.which("tshark") is None:
            sys.exit("tshark is not installed (scripts/system-deps.sh)")
        if args.whole_process != Path("-"):
            run_whole_process(args.whole_process, count_packets(args.whole_process),
                              args.repeat)
            return
        with tempfile.TemporaryDirectory() as tmp:
            big = Path(tmp) / "mix.pcap"
            srcs = [SHARED / n for n in ("example.pcap", "tls2.pcap", "tls2.pcap",
                                         "DnsPackets.pcap")]
            _size, packets = make_big_mix(srcs, big, 1.1)
            run_whole_process(big, packets, args.repeat)
        return
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
