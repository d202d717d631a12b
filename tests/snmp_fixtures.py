"""Real SNMP agents on 127.0.0.1 for tests: snmpsim serving recordings, Debian snmpd for v3.

Reusable by every SNMP test module (import the fixtures you use)::

    from tests.snmp_fixtures import snmpsim_factory, snmpd_v3  # noqa: F401

* :func:`snmpsim_agent` (context manager) / fixture ``snmpsim_factory``: starts
  ``snmpsim-command-responder`` on a free loopback UDP port serving the given ``.snmprec``
  files (copied into a temp dir so that snmpsim indexes only those), optionally with
  SNMPv3 users (:class:`V3User`), waits until it answers and stops it afterwards. The v2c
  community / v3 context of each recording is its file name without ``.snmprec``.
* :func:`snmpd_agent` / fixture ``snmpd_v3``: Debian ``snmpd`` (net-snmp, a second,
  independent SNMP implementation) on a free loopback port with the :data:`SNMPD_USERS`,
  its own config and persistent dir in a temp dir; skipped when ``snmpd`` is not installed
  (failed in CI).
* :data:`SNMPSIM_USERS` covers every auth protocol and every priv protocol pysnmp and
  snmpsim share (MD5/SHA-1/SHA-2, DES, 3DES, AES-128, AES-192/256 in both the Blumenthal
  and the Reeder/"Cisco" key localisation).

The keys here are test-only values for throw-away local agents.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from netstage.auditor.twin_agent import (
    agent_answers,
    probe_packet,
    serve_recordings,
    stop_process,
)

from .support import IN_CI, free_udp_port

__all__ = [
    "SNMPD_USERS",
    "SNMPSIM_USERS",
    "Agent",
    "V3User",
    "snmpd_agent",
    "snmpd_v3",
    "snmpsim_agent",
    "snmpsim_factory",
]

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class V3User:
    """An SNMPv3 USM user; protocol names are netstage inventory names
    (``md5``, ``sha256``, ``aes192``, ``aes256-cisco``, ...)."""

    name: str
    auth_protocol: str = "none"
    auth_key: str | None = None
    priv_protocol: str = "none"
    priv_key: str | None = None

    @property
    def level(self) -> str:
        if self.auth_protocol == "none":
            return "noAuthNoPriv"
        return "authNoPriv" if self.priv_protocol == "none" else "authPriv"


@dataclass
class Agent:
    """A running agent: where it listens, what it serves and to whom."""

    host: str
    port: int
    kind: str  # "snmpsim" or "snmpd"
    communities: list[str] = field(default_factory=list)  # v2c communities (= v3 contexts)
    v3_users: list[V3User] = field(default_factory=list)
    data_dir: Path | None = None

    def user(self, name: str) -> V3User:
        return next(u for u in self.v3_users if u.name == name)


# snmpsim protocol names for netstage inventory names.
_SIM_AUTH = {"none": "NONE", "md5": "MD5", "sha": "SHA", "sha224": "SHA224",
             "sha256": "SHA256", "sha384": "SHA384", "sha512": "SHA512"}
_SIM_PRIV = {"none": "NONE", "des": "DES", "3des": "3DES", "aes128": "AES128",
             "aes192": "AES192BLMT", "aes256": "AES256BLMT",
             "aes192-cisco": "AES192", "aes256-cisco": "AES256"}
# net-snmp (Debian) names; Debian's build has no 3DES and no Reeder AES variants.
_NETSNMP_AUTH = {"md5": "MD5", "sha": "SHA", "sha224": "SHA-224", "sha256": "SHA-256",
                 "sha384": "SHA-384", "sha512": "SHA-512"}
_NETSNMP_PRIV = {"des": "DES", "aes128": "AES", "aes192": "AES-192", "aes256": "AES-256"}

SNMPSIM_USERS: list[V3User] = [
    V3User("noauth"),
    V3User("md5-none", "md5", "md5-auth-key-1"),
    V3User("sha-des", "sha", "sha-auth-key-1", "des", "des-priv-key-1"),
    V3User("sha224-3des", "sha224", "sha224-auth-key", "3des", "3des-priv-key-1"),
    V3User("sha256-aes128", "sha256", "sha256-auth-key", "aes128", "aes128-priv-key"),
    V3User("sha384-aes192", "sha384", "sha384-auth-key", "aes192", "aes192-priv-key"),
    V3User("sha512-aes256", "sha512", "sha512-auth-key", "aes256", "aes256-priv-key"),
    V3User("md5-aes192c", "md5", "md5-auth-key-2", "aes192-cisco", "aes192c-priv-key"),
    V3User("sha-aes256c", "sha", "sha-auth-key-2", "aes256-cisco", "aes256c-priv-key"),
]

SNMPD_USERS: list[V3User] = [
    V3User("nd-md5-des", "md5", "nd-md5-auth-key", "des", "nd-des-priv-key"),
    V3User("nd-sha-aes", "sha", "nd-sha-auth-key", "aes128", "nd-aes-priv-key"),
    V3User("nd-sha256-none", "sha256", "nd-sha256-auth-key"),
    V3User("nd-sha512-aes256", "sha512", "nd-sha512-auth-k", "aes256", "nd-aes256-priv-k"),
    V3User("nd-sha384-aes192", "sha384", "nd-sha384-auth-k", "aes192", "nd-aes192-priv-k"),
]


def _snmpsim_user_args(users: Sequence[V3User]) -> list[str]:
    args: list[str] = []
    for u in users:
        args += [f"--v3-user={u.name}"]
        if u.auth_protocol != "none":
            args += [f"--v3-auth-key={u.auth_key}", f"--v3-auth-proto={_SIM_AUTH[u.auth_protocol]}"]
        if u.priv_protocol != "none":
            args += [f"--v3-priv-key={u.priv_key}", f"--v3-priv-proto={_SIM_PRIV[u.priv_protocol]}"]
    return args


@contextmanager
def snmpsim_agent(recordings: Path | Iterable[Path], *, v3_users: Sequence[V3User] = (),
                  extra_args: Sequence[str] = (),
                  startup_timeout_s: float = 60.0) -> Iterator[Agent]:
    """snmpsim on 127.0.0.1 serving ``recordings`` (a directory or ``.snmprec`` files).

    The files are copied into a temp dir, so snmpsim indexes only them (about 1 s/MB
    on the first start). Stopped on exit, whatever happened.
    """
    files = (sorted(recordings.glob("*.snmprec")) if isinstance(recordings, Path)
             else [Path(p) for p in recordings])
    if not files:
        raise ValueError(f"no .snmprec recordings given ({recordings})")
    with tempfile.TemporaryDirectory(prefix="netstage-test-snmpsim-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        for f in files:
            shutil.copyfile(f, data / f.name)  # not a symlink: snmpsim names it by real path
        args = [*_snmpsim_user_args(v3_users), *extra_args]
        with serve_recordings(data, extra_args=args,
                              startup_timeout_s=startup_timeout_s) as (host, port):
            yield Agent(host=host, port=port, kind="snmpsim",
                        communities=[f.stem for f in files], v3_users=list(v3_users),
                        data_dir=data)


@pytest.fixture
def snmpsim_factory() -> Iterator[Callable[..., Agent]]:
    """``start(recordings, v3_users=(), extra_args=()) -> Agent``; all stopped at teardown."""
    with ExitStack() as stack:

        def start(recordings: Path | Iterable[Path], *, v3_users: Sequence[V3User] = (),
                  extra_args: Sequence[str] = ()) -> Agent:
            return stack.enter_context(
                snmpsim_agent(recordings, v3_users=v3_users, extra_args=extra_args))

        yield start


def snmpd_binary() -> str | None:
    return shutil.which("snmpd") or (
        "/usr/sbin/snmpd" if Path("/usr/sbin/snmpd").exists() else None)


def _answers_udp(port: int, community: str = "netstage-probe", timeout_s: float = 0.3) -> bool:
    """True when something answers an SNMPv2c GET of sysUpTime.0 on 127.0.0.1:port."""
    return agent_answers(port, probe_packet(community), LOOPBACK, timeout_s)


@contextmanager
def snmpd_agent(users: Sequence[V3User] = tuple(SNMPD_USERS), *,
                sys_name: str = "netstage-snmpd",
                sys_location: str | None = "netstage test lab",
                extra_lines: Sequence[str] = (),
                startup_timeout_s: float = 20.0) -> Iterator[Agent]:
    """Debian ``snmpd`` on 127.0.0.1:<free port> with ``users`` (read-only, whole tree).

    Its config, persistent state and log live in a temp dir; it never reads /etc/snmp
    nor /var/lib/snmp. A read-only v2c community ``netstage-probe`` is enabled so that
    readiness can be probed without v3. ``extra_lines`` are appended to its snmpd.conf
    (e.g. ``rwcommunity private 127.0.0.1``); ``sys_location=None`` leaves sysLocation
    out of the config, which keeps it writable over SNMP (net-snmp makes a configured
    sysLocation read-only).
    """
    binary = snmpd_binary()
    if binary is None:
        if IN_CI:
            pytest.fail("snmpd is missing: CI installs it (scripts/system-deps.sh)")
        pytest.skip("Debian snmpd is not installed")
    with tempfile.TemporaryDirectory(prefix="netstage-test-snmpd-") as tmp:
        d = Path(tmp)
        (d / "state").mkdir()
        lines = [f"sysName {sys_name}", "sysContact tests@example.org",
                 "rocommunity netstage-probe 127.0.0.1", *extra_lines]
        if sys_location is not None:
            lines.append(f"sysLocation {sys_location}")
        for u in users:
            line = f'createUser {u.name}'
            if u.auth_protocol != "none":
                line += f' {_NETSNMP_AUTH[u.auth_protocol]} "{u.auth_key}"'
                if u.priv_protocol != "none":
                    line += f' {_NETSNMP_PRIV[u.priv_protocol]} "{u.priv_key}"'
            lines += [line, f"rouser {u.name} {_netsnmp_level(u)}"]
        conf = d / "snmpd.conf"
        conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
        env = {**os.environ, "SNMP_PERSISTENT_DIR": str(d / "state"),
               "SNMPCONFPATH": str(d), "MIBS": "", "MIBDIRS": str(d)}
        log = d / "snmpd.log"
        proc: subprocess.Popen[bytes] | None = None
        port = 0
        for _attempt in range(3):
            port = free_udp_port()
            cmd = [binary, "-f", "-C", "-c", str(conf), "-Lf", str(log),
                   "-p", str(d / "snmpd.pid"), "-I", "-smux", f"udp:{LOOPBACK}:{port}"]
            proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + startup_timeout_s
            while proc.poll() is None and time.monotonic() < deadline:
                if _answers_udp(port):
                    break
                time.sleep(0.1)
            if proc.poll() is None and _answers_udp(port):
                break
            stop_process(proc)
            text = log.read_text(errors="replace") if log.exists() else ""
            if "in use" in text:
                continue
            raise RuntimeError(f"snmpd did not start on {LOOPBACK}:{port}: {text[-800:]}")
        assert proc is not None
        try:
            yield Agent(host=LOOPBACK, port=port, kind="snmpd", v3_users=list(users))
        finally:
            stop_process(proc)


def _netsnmp_level(u: V3User) -> str:
    return {"noAuthNoPriv": "noauth", "authNoPriv": "auth", "authPriv": "priv"}[u.level]


@pytest.fixture(scope="module")
def snmpd_v3() -> Iterator[Agent]:
    """One Debian snmpd with :data:`SNMPD_USERS` for the whole test module."""
    with snmpd_agent() as agent:
        yield agent


def silent_udp_port() -> tuple[socket.socket, int]:
    """A bound loopback UDP socket that never answers (for timeout tests); close it after."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((LOOPBACK, 0))
    return s, int(s.getsockname()[1])
