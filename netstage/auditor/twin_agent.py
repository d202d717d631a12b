"""Serve snmprec recordings with a real snmpsim agent on 127.0.0.1.

:func:`serve_recordings` starts ``snmpsim-command-responder`` (from the running venv's
``bin`` directory, next to ``sys.executable``; then ``PATH``) on a free loopback UDP port,
waits (bounded) until it answers an SNMPv2c GET, yields ``(host, port)`` and stops it.
One agent serves every recording of the directory: the v1/v2c community (v3 context name)
selecting a device is its file name without ``.snmprec``.

:func:`inventory_for_twin` writes the inventory YAML text that audits such an agent.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from netstage.simulator.errors import CollectorError, MissingExtraError

__all__ = ["env_file_text", "inventory_for_twin", "serve_by_address", "serve_recordings",
           "snmpsim_command", "wait_until_stopped"]

LOOPBACK = "127.0.0.1"
_SYS_UPTIME = "1.3.6.1.2.1.1.3.0"


def snmpsim_command() -> list[str]:
    """The command that starts snmpsim's command responder.

    The running interpreter with snmpsim's own entry point when snmpsim is importable
    (works in any install, console scripts or not), else ``snmpsim-command-responder``
    from ``PATH``.
    """
    import importlib.util

    if importlib.util.find_spec("snmpsim") is not None:
        return [sys.executable, "-c",
                "import sys; from snmpsim.commands.responder import main; sys.exit(main())"]
    found = shutil.which("snmpsim-command-responder")
    if found is None:
        raise MissingExtraError("snmpsim (snmpsim-command-responder)", "twin")
    return [found]


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def probe_packet(community: str) -> bytes:
    """A BER-encoded SNMPv2c GET of sysUpTime.0 (any answer proves the agent is up)."""
    from pyasn1.codec.ber import encoder  # type: ignore[import-untyped]
    from pysnmp.proto.api import v2c

    pdu = v2c.GetRequestPDU()
    v2c.apiPDU.set_defaults(pdu)
    v2c.apiPDU.set_varbinds(pdu, [(v2c.ObjectIdentifier(_SYS_UPTIME), v2c.Null(""))])
    msg = v2c.Message()
    v2c.apiMessage.set_defaults(msg)
    v2c.apiMessage.set_community(msg, community)
    v2c.apiMessage.set_pdu(msg, pdu)
    return bytes(encoder.encode(msg))


def agent_answers(port: int, packet: bytes, host: str = LOOPBACK,
                  timeout_s: float = 0.3) -> bool:
    """True when ``packet`` (see :func:`probe_packet`) gets any UDP answer from host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout_s)
        try:
            s.sendto(packet, (host, port))
            s.recvfrom(65535)
        except (TimeoutError, ConnectionRefusedError, OSError):
            return False
    return True


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no output)"
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Stop an agent: SIGTERM, then SIGKILL after 5 s (bounded wait either way)."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


@contextmanager
def serve_recordings(
    data_dir: str | Path,
    *,
    port: int | None = None,
    startup_timeout_s: float = 60.0,
    extra_args: Sequence[str] = (),
    cache_dir: str | Path | None = None,
    addresses: Sequence[str] = (),
) -> Iterator[tuple[str, int]]:
    """Serve every ``*.snmprec`` of ``data_dir`` on ``127.0.0.1:<port>``; yields (host, port).

    ``port`` None picks a free port (retried if another process takes it first).
    ``addresses`` (loopback only) makes snmpsim listen on each of them, same port; it
    yields the first.
    ``startup_timeout_s`` bounds the wait for the first answer (snmpsim indexes every
    recording before it answers: about 1 s per MB). ``extra_args`` go to snmpsim as-is
    (e.g. ``--v3-user``...). Raises :class:`CollectorError` with the tail of snmpsim's
    output when it exits or does not answer in time.
    """
    data = Path(data_dir)
    stems = sorted(p.stem for p in data.glob("*.snmprec"))
    if not stems:
        raise CollectorError(f"{data}: no .snmprec recordings to serve; export a twin first "
                             "(netstage twin DISTRICT --out DIR)")
    hosts = list(addresses) if addresses else [LOOPBACK]
    for h in hosts:
        if not h.startswith("127."):
            raise CollectorError(f"the twin serves on loopback (127.0.0.0/8) only, not {h}")
    command = snmpsim_command()
    packet = probe_packet(stems[0])
    with tempfile.TemporaryDirectory(prefix="netstage-snmpsim-") as tmp:
        cache = Path(cache_dir) if cache_dir is not None else Path(tmp) / "cache"
        cache.mkdir(parents=True, exist_ok=True)
        log = Path(tmp) / "snmpsim.log"
        env = {**os.environ, "SNMPSIM_ALLOW_ROOT": "true"}
        proc: subprocess.Popen[bytes] | None = None
        chosen = 0
        for _attempt in range(3):
            chosen = port or _free_udp_port()
            cmd = [*command, f"--data-dir={data}", f"--cache-dir={cache}",
                   *(f"--agent-udpv4-endpoint={h}:{chosen}" for h in hosts),
                   "--log-level=error", *extra_args]
            with log.open("wb") as out:
                proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                        stdin=subprocess.DEVNULL)
            deadline = time.monotonic() + startup_timeout_s
            while proc.poll() is None and time.monotonic() < deadline:
                if agent_answers(chosen, packet, hosts[0]):
                    break
                time.sleep(0.1)
            else:
                if proc.poll() is None:
                    stop_process(proc)
                    raise CollectorError(
                        f"snmpsim serving {data} did not answer on {LOOPBACK}:{chosen} within "
                        f"{startup_timeout_s:.0f} s; its output ends with:\n{_tail(log)}")
                if port is None and "ddress already in use" in _tail(log):
                    continue  # lost the race for the free port: try another one
                raise CollectorError(
                    f"snmpsim-command-responder exited with code {proc.returncode} while "
                    f"starting on {data}; its output ends with:\n{_tail(log)}")
            break
        assert proc is not None
        try:
            yield hosts[0], chosen
        finally:
            stop_process(proc)


def inventory_for_twin(host: str, port: int, communities: Sequence[str], *,
                       env_prefix: str = "NETSTAGE_TWIN_COMMUNITY") -> tuple[str, dict[str, str]]:
    """Inventory YAML text auditing a served twin, and the environment it needs.

    Communities are secrets (inventory rule: secrets only as ``env:VAR``), so each
    device's community goes into an environment variable ``<env_prefix>_<n>``; the
    returned dict maps those variables to the communities. Set them in the environment
    of the process that runs the audit (the demo and the tests do).
    """
    if host != LOOPBACK:
        raise CollectorError(f"the twin inventory targets {LOOPBACK} only, not {host}")
    env: dict[str, str] = {}
    lines = ["# Inventory for a netstage digital twin served by snmpsim on loopback.",
             "credentials:"]
    for n, comm in enumerate(communities):
        var = f"{env_prefix}_{n}"
        env[var] = comm
        lines += [f"  twin-{n}:", "    version: v2c", f"    community: env:{var}"]
    lines.append("targets:")
    for n, comm in enumerate(communities):
        lines += [f"  - name: {comm}", f"    address: {host}", f"    port: {port}",
                  f"    credentials: twin-{n}"]
    return "\n".join(lines) + "\n", env


@contextmanager
def serve_by_address(data_dir: str | Path, *, startup_timeout_s: float = 60.0
                     ) -> Iterator[dict[str, int]]:
    """One snmpsim per ``<address>/`` folder of ``data_dir`` (written by
    :func:`netstage.auditor.twin.export_twin_by_address`), each on its loopback address,
    all on one free port. Yields ``{address: port}``; stops them all on exit."""
    from contextlib import ExitStack

    data = Path(data_dir)
    folders = sorted(p for p in data.iterdir() if p.is_dir() and any(p.glob("*.snmprec")))
    if not folders:
        raise CollectorError(f"{data}: no <address>/ folders with recordings to serve")
    for attempt in range(3):
        port = _free_udp_port()
        served: dict[str, int] = {}
        try:
            with ExitStack() as stack:
                for f in folders:
                    host, p = stack.enter_context(serve_recordings(
                        f, port=port, addresses=[f.name],
                        startup_timeout_s=startup_timeout_s))
                    served[host] = p
                yield served
                return
        except CollectorError as exc:
            if served or attempt == 2 or "ddress already in use" not in str(exc):
                raise


def env_file_text(env: Mapping[str, str]) -> str:
    """The variables of :func:`inventory_for_twin` as a file to source: one
    ``NAME=value`` a line, each value quoted for the shell."""
    import shlex

    return "".join(f"{var}={shlex.quote(value)}\n" for var, value in env.items())


def wait_until_stopped(poll_s: float = 0.5) -> None:
    """Block until SIGTERM or Ctrl-C (``twin --serve`` serving in the foreground).

    SIGTERM's handler is replaced for the rest of the process, so the caller's
    ``with serve_recordings(...)`` block exits normally and stops snmpsim.
    """
    stop = {"now": False}

    def _handler(signum: int, frame: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, _handler)
    try:
        while not stop["now"]:
            time.sleep(poll_s)
    except KeyboardInterrupt:
        pass
