"""Captures from a FIFO stop at --max-packets / --max-seconds; implausible pcapng
timestamps are warned about, naming the interface."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from netstage.auditor.capture import analyse_capture
from netstage.auditor.capture.reader import ReadState, iter_batches

from .support import ROOT, udp_frame
from .test_capture_reader import _blk, _opt

A, B = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
FRAME = udp_frame(A, B, 5000, 53, b"x" * 40)
PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")


def _record(i: int) -> bytes:
    return struct.pack("<IIII", 1_766_000_000 + i // 1000, i % 1000, len(FRAME),
                       len(FRAME)) + FRAME


class Writer:
    """Writes a pcap header to a FIFO, then records forever (or nothing: ``silent``)."""

    def __init__(self, path: Path, *, silent: bool = False) -> None:
        self.path, self.silent = path, silent
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            with open(self.path, "wb", buffering=0) as f:
                f.write(PCAP_HEADER)
                i = 0
                while not self.stop.is_set():
                    if self.silent:
                        time.sleep(0.05)
                        continue
                    f.write(b"".join(_record(i + k) for k in range(64)))
                    i += 64
        except (BrokenPipeError, OSError):
            pass  # the reader stopped: expected


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    p = tmp_path / "endless.pcap"
    os.mkfifo(p)
    yield p


def _stop(w: Writer, fifo: Path) -> None:
    w.stop.set()
    # a writer still blocked in open() needs a reader to return
    if w.thread.is_alive():
        try:
            fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
            os.close(fd)
        except OSError:
            pass
    w.thread.join(timeout=5)


def test_endless_fifo_stops_at_max_packets(fifo: Path) -> None:
    w = Writer(fifo)
    try:
        started = time.monotonic()
        s = analyse_capture(fifo, control_plane=False, max_packets=5000)
    finally:
        _stop(w, fifo)
    assert time.monotonic() - started < 30
    assert s.packets == 5000 and not s.complete
    assert s.stop_reason is not None and "--max-packets" in s.stop_reason
    assert s.size_bytes == 0  # a pipe has no size


def test_silent_fifo_stops_at_max_seconds(fifo: Path) -> None:
    w = Writer(fifo, silent=True)
    try:
        started = time.monotonic()
        st = ReadState(path=str(fifo))
        batches = list(iter_batches(fifo, st, max_seconds=1.0))
        took = time.monotonic() - started
    finally:
        _stop(w, fifo)
    assert 0.9 <= took < 10
    assert st.streaming and st.format == "pcap" and not batches
    assert st.stop_reason is not None and "--max-seconds" in st.stop_reason


def test_fifo_that_ends_is_read_completely(fifo: Path) -> None:
    def write() -> None:
        with open(fifo, "wb") as f:
            f.write(PCAP_HEADER + b"".join(_record(i) for i in range(300)))

    t = threading.Thread(target=write, daemon=True)
    t.start()
    s = analyse_capture(fifo, control_plane=False)
    t.join(timeout=5)
    assert s.packets == 300 and s.complete


def test_cli_max_packets_on_a_fifo(fifo: Path) -> None:
    w = Writer(fifo)
    try:
        r = subprocess.run([sys.executable, "-m", "netstage", "capture", str(fifo),
                            "--no-control-plane", "--json", "--max-packets", "1000"],
                           capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
    finally:
        _stop(w, fifo)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["packets"] == 1000 and out["complete"] is False
    assert "--max-packets" in r.stderr and "Traceback" not in r.stderr


def _pcapng_with_bad_timestamps(path: Path) -> Path:
    e = "<"
    out = bytearray(_blk(e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1)))
    opts = _opt(e, 2, b"eth-test") + b"\0\0\0\0"
    out += _blk(e, 1, struct.pack(e + "HHI", 1, 0, 0) + opts)
    good = 1_766_000_000 * 10**6
    for ts in (good, 0xFFFF_0000_0000_0000, good + 5, 1 << 62):  # 2: year 586524; 4: overflow
        body = struct.pack(e + "IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(FRAME), len(FRAME))
        out += _blk(e, 6, body + FRAME + b"\0" * (-len(FRAME) % 4))
    path.write_bytes(out)
    return path


def test_implausible_pcapng_timestamps_are_warned_naming_the_interface(tmp_path: Path) -> None:
    s = analyse_capture(_pcapng_with_bad_timestamps(tmp_path / "t.pcapng"),
                        control_plane=False)
    assert s.packets == 4
    warn = [w for w in s.warnings if "implausible" in w]
    assert len(warn) == 1, s.warnings
    assert warn[0].startswith("interface 0 (eth-test): 2 packets with an implausible "
                              "timestamp; the first is packet 2 (year 58")
    assert "if_tsresol" in warn[0]
    assert s.first_ts_ns == 1_766_000_000 * 10**9
    assert s.max_ts_ns == 1_766_000_000 * 10**9 + 5000
