"""A constant-rate UDP flow for the lab: known bytes on the wire, to check measurements.

    ip netns exec <prefix>rtr python -m netstage.auditor.lab.udpflow 192.168.77.2 400000 10

sends ``rate`` bit/s of Ethernet frames (counted as the kernel's interface counters count
them: Ethernet header + IPv4 + UDP + payload, no preamble or FCS) to ``dest`` port 9
(discard) for ``seconds`` seconds, paced on a monotonic clock, and prints a JSON line
``{"frames", "wire_bytes", "seconds", "wire_bps"}``. Only ever run inside a lab namespace:
the destination must be a private address.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import sys
import time

__all__ = ["send_flow"]

FRAME_BYTES = 1000
OVERHEAD = 14 + 20 + 8  # Ethernet header, IPv4 header, UDP header


def send_flow(dest: str, rate_bps: float, seconds: float) -> dict[str, float]:
    if not ipaddress.ip_address(dest).is_private:
        raise SystemExit(f"{dest}: the lab flow only goes to private addresses in the lab")
    if not (rate_bps > 0 and 0 < seconds <= 3600):
        raise SystemExit("rate must be > 0 bit/s and seconds in (0, 3600]")
    payload = b"\0" * (FRAME_BYTES - OVERHEAD)
    gap = FRAME_BYTES * 8 / rate_bps
    n = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        t0 = time.monotonic()
        while True:
            now = time.monotonic()
            if now - t0 >= seconds:
                break
            s.sendto(payload, (dest, 9))
            n += 1
            wait = t0 + n * gap - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        elapsed = time.monotonic() - t0
    return {"frames": n, "wire_bytes": n * FRAME_BYTES, "seconds": elapsed,
            "wire_bps": n * FRAME_BYTES * 8 / elapsed}


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit("usage: python -m netstage.auditor.lab.udpflow DEST RATE_BPS SECONDS")
    print(json.dumps(send_flow(sys.argv[1], float(sys.argv[2]), float(sys.argv[3]))))
