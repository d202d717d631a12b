"""Bounded live capture with ``dumpcap`` (Wireshark's capture engine, installed with
tshark): capture one interface for N seconds into a pcapng file, then analyse it.

The capture always stops: dumpcap's own ``-a duration:N`` autostop, plus a hard
timeout here that terminates it. Capturing needs the privileges dumpcap needs
(root or the ``wireshark`` group on Debian).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from netstage.simulator.errors import CollectorError

__all__ = ["MAX_SECONDS", "capture_live"]

MAX_SECONDS = 3600


def capture_live(iface: str, seconds: float, out: str | Path, *,
                 snaplen: int | None = None) -> Path:
    """Capture ``iface`` for ``seconds`` (1..3600) into the pcapng file ``out``."""
    if not 1 <= seconds <= MAX_SECONDS:
        raise CollectorError(f"--seconds must be between 1 and {MAX_SECONDS}, got {seconds}")
    exe = shutil.which("dumpcap")
    if exe is None:
        raise CollectorError("dumpcap is not installed; install Wireshark's capture tools "
                             "(Debian: apt-get install tshark) or capture elsewhere and "
                             "pass the file")
    out = Path(out)
    cmd = [exe, "-q", "-i", iface, "-a", f"duration:{round(seconds)}", "-w", str(out)]
    if snaplen is not None:
        cmd[2:2] = ["-s", str(int(snaplen))]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        raise CollectorError(f"dumpcap on {iface} did not stop within {seconds + 30:.0f} s; "
                             "capture aborted") from None
    if proc.returncode != 0 or not out.exists():
        msg = " ".join(line.strip() for line in proc.stderr.splitlines() if line.strip())
        raise CollectorError(f"live capture on interface {iface!r} failed (dumpcap exit "
                             f"{proc.returncode}): {msg or 'no message'}")
    return out
