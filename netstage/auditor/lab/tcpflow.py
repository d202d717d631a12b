"""Long-lived TCP flows for the lab: a sink that counts each flow's goodput in a window.

    ip netns exec <prefix>inet python tcpflow.py sink ADDR PORT N_FLOWS
    ip netns exec <prefix>h0   python tcpflow.py send ADDR PORT CC FLOW_ID [FLOW_ID ...]

Standard library only (run as a script, it imports nothing of netstage, so it starts fast
on a loaded machine). The orchestrator (:mod:`netstage.auditor.lab.tcpcheck`) drives both
over stdin/stdout with ``CLOCK_MONOTONIC`` times (:func:`time.monotonic`), which every
network namespace shares:

* the sink listens and prints ``listening``; it accepts ``N_FLOWS`` connections, reads
  ``MEASURE_FROM MEASURE_TO`` from stdin, counts the application bytes of each flow (its
  16-byte id excluded) received inside that window and prints ``{"window_s", "flows":
  {id: bytes}}``;
* a sender opens one TCP connection per flow id with congestion control ``CC`` (any the
  kernel has; ``-`` keeps the default), sends the id, prints ``ready``, reads ``START
  STOP`` from stdin and sends as fast as TCP lets it from START to STOP; it prints
  ``{"flows": {id: {"mss", "sent_bytes", "cc"}}}``.

Connecting before any data flows matters: a SYN sent into a drop-tail queue that other
flows keep full can be lost for seconds. Only private addresses, only in lab namespaces.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import selectors
import socket
import sys
import threading
import time
from typing import Any

__all__ = ["run_sender", "run_sink"]

ID_BYTES = 16
CHUNK = 64 * 1024
MAX_S = 120.0  # no flow, window or wait lasts longer


def _check(addr: str) -> None:
    if not ipaddress.ip_address(addr).is_private:
        raise SystemExit(f"{addr}: lab flows only use private addresses inside the lab")


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _read_times(what: str) -> tuple[float, float]:
    line = sys.stdin.readline().split()
    if len(line) != 2:
        raise SystemExit(f"expected '{what}' on stdin")
    a, b = float(line[0]), float(line[1])
    if not (0 < b - a <= MAX_S and b - time.monotonic() <= MAX_S):
        raise SystemExit(f"{what}: need a window of at most {MAX_S:.0f} s, starting soon")
    return a, b


def run_sink(addr: str, port: int, n_flows: int, *, linger_s: float = 3.0
             ) -> dict[str, Any]:
    """Accept ``n_flows`` connections; bytes per flow id inside the window from stdin."""
    _check(addr)
    if not 0 < n_flows <= 1000:
        raise SystemExit("need 1..1000 flows")
    sel = selectors.DefaultSelector()
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind((addr, port))
    lst.listen(n_flows)
    lst.setblocking(False)
    sel.register(lst, selectors.EVENT_READ, "listen")
    sel.register(sys.stdin, selectors.EVENT_READ, "stdin")
    _say("listening")
    ids: dict[socket.socket, str | None] = {}
    head: dict[socket.socket, bytes] = {}
    total: dict[socket.socket, int] = {}
    window: tuple[float, float] | None = None
    snaps: list[tuple[float, dict[str, int]]] = []
    deadline = time.monotonic() + MAX_S

    def snapshot() -> dict[str, int]:
        return {str(ids[c]): total[c] for c in ids if ids[c] is not None}

    while time.monotonic() < deadline:
        now = time.monotonic()
        if window is not None:
            if len(snaps) < 2 and now >= window[len(snaps)]:
                snaps.append((now, snapshot()))
            if len(snaps) == 2 and (not ids or now >= window[1] + linger_s):
                break
        for key, _ in sel.select(timeout=0.01):
            if key.data == "listen":
                with contextlib.suppress(BlockingIOError, InterruptedError):
                    c, _peer = lst.accept()
                    c.setblocking(False)
                    sel.register(c, selectors.EVENT_READ, "conn")
                    ids[c], head[c], total[c] = None, b"", 0
                continue
            if key.data == "stdin":
                sel.unregister(sys.stdin)
                window = _read_times("MEASURE_FROM MEASURE_TO")
                deadline = window[1] + linger_s + 1
                continue
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                data = sock.recv(CHUNK)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                sel.unregister(sock)
                sock.close()
                del ids[sock], head[sock], total[sock]
                continue
            if ids[sock] is None:
                h = head[sock] + data
                if len(h) < ID_BYTES:
                    head[sock] = h
                    continue
                ids[sock] = h[:ID_BYTES].decode().strip()
                data = h[ID_BYTES:]
            total[sock] += len(data)
    for c in list(ids):
        c.close()
    lst.close()
    if len(snaps) < 2:
        raise SystemExit("the sink ended before its measurement window closed")
    (t0, s0), (t1, s1) = snaps
    return {"window_s": t1 - t0, "flows": {k: v - s0.get(k, 0) for k, v in s1.items()}}


def _connect(addr: str, port: int, flow_id: str, cc: str) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if cc != "-":
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, cc.encode())
    s.settimeout(15)
    s.connect((addr, port))
    s.sendall(flow_id.encode().ljust(ID_BYTES)[:ID_BYTES])
    return s


def _one_flow(s: socket.socket, flow_id: str, start: float, stop: float,
              out: dict[str, dict[str, Any]]) -> None:
    time.sleep(max(0.0, start - time.monotonic()))
    buf = b"\0" * CHUNK
    sent = 0
    mss = 0
    with s:
        while time.monotonic() < stop:
            s.settimeout(max(0.05, stop - time.monotonic()))
            try:
                sent += s.send(buf)
            except TimeoutError:
                continue
            if not mss and sent > 10 * CHUNK:
                mss = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)
        used_cc = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16)
        out[flow_id] = {"mss": mss or s.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG),
                        "sent_bytes": sent, "cc": used_cc.rstrip(b"\0").decode()}


def run_sender(addr: str, port: int, cc: str, flow_ids: list[str]) -> dict[str, Any]:
    """One TCP connection per flow id, each sending as fast as TCP allows."""
    _check(addr)
    if not (flow_ids and len(flow_ids) <= 200):
        raise SystemExit("need 1..200 flow ids")
    socks = [_connect(addr, port, f, cc) for f in flow_ids]
    _say("ready")
    start, stop = _read_times("START STOP")
    out: dict[str, dict[str, Any]] = {}
    threads = [threading.Thread(target=_one_flow, args=(s, f, start, stop, out), daemon=True)
               for s, f in zip(socks, flow_ids, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(0.0, stop - time.monotonic()) + 15)
    return {"flows": out}


def main(argv: list[str]) -> None:
    if len(argv) == 4 and argv[0] == "sink":
        res = run_sink(argv[1], int(argv[2]), int(argv[3]))
    elif len(argv) >= 5 and argv[0] == "send":
        res = run_sender(argv[1], int(argv[2]), argv[3], argv[4:])
    else:
        raise SystemExit(__doc__)
    _say(json.dumps(res))


if __name__ == "__main__":
    main(sys.argv[1:])
