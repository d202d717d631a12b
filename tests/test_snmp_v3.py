"""SNMPv3 against two real implementations: snmpsim (pysnmp) and Debian snmpd (net-snmp).

Right keys work for every auth/priv protocol pair the agent supports; a wrong auth key,
a wrong priv key, an unknown user and a silent port each give their own failure kind,
and the other devices of the same audit complete. No secret appears in any output.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from netstage.auditor.audit import audit_inventory
from netstage.auditor.facts import AuditResult, FailureKind
from netstage.auditor.inventory import load_inventory

from .snmp_fixtures import (
    SNMPD_USERS,
    SNMPSIM_USERS,
    Agent,
    V3User,
    silent_udp_port,
    snmpd_agent,
    snmpsim_agent,
)
from .support import ROOT, CliRunner

# A tiny recording of our own (no ../shared needed): system group + two interfaces.
_RECORDING = """\
1.3.6.1.2.1.1.1.0|4|netstage v3 test agent
1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.8072.3.2.10
1.3.6.1.2.1.1.3.0|67|123456
1.3.6.1.2.1.1.5.0|4|v3-sw
1.3.6.1.2.1.2.2.1.1.1|2|1
1.3.6.1.2.1.2.2.1.1.2|2|2
1.3.6.1.2.1.2.2.1.2.1|4|GigabitEthernet1/0/1
1.3.6.1.2.1.2.2.1.2.2|4|GigabitEthernet1/0/2
1.3.6.1.2.1.2.2.1.8.1|2|1
1.3.6.1.2.1.2.2.1.8.2|2|2
1.3.6.1.2.1.31.1.1.1.1.1|4|Gi1/0/1
1.3.6.1.2.1.31.1.1.1.1.2|4|Gi1/0/2
1.3.6.1.2.1.31.1.1.1.15.1|66|1000
1.3.6.1.2.1.31.1.1.1.15.2|66|10000
"""
_CONTEXT = "v3sw"


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    d = tmp_path_factory.mktemp("v3rec")
    (d / f"{_CONTEXT}.snmprec").write_text(_RECORDING, encoding="utf-8")
    with snmpsim_agent(d, v3_users=SNMPSIM_USERS) as agent:
        yield agent


@pytest.fixture(scope="module")
def netsnmp() -> Iterator[Agent]:
    with snmpd_agent(SNMPD_USERS) as agent:
        yield agent


def _profile(name: str, u: V3User, env: dict[str, str], *, context: str = "",
             wrong: str | None = None, user: str | None = None) -> list[str]:
    """Inventory lines of one v3 profile; its secrets go into ``env``."""
    lines = [f"  {name}:", "    version: v3", f"    user: {user or u.name}"]
    if context:
        lines.append(f"    context: {context}")
    if u.auth_protocol != "none":
        var = f"T_{name.upper().replace('-', '_')}_AUTH"
        env[var] = "wrong-auth-key-9x" if wrong == "auth" else str(u.auth_key)
        lines += [f"    auth_protocol: {u.auth_protocol}", f"    auth_key: env:{var}"]
    if u.priv_protocol != "none":
        var = f"T_{name.upper().replace('-', '_')}_PRIV"
        env[var] = "wrong-priv-key-9x" if wrong == "priv" else str(u.priv_key)
        lines += [f"    priv_protocol: {u.priv_protocol}", f"    priv_key: env:{var}"]
    return lines


def _inventory(tmp: Path, agent: Agent, users: list[V3User], *, context: str = "",
               failures: V3User | None = None) -> tuple[Path, dict[str, str]]:
    env: dict[str, str] = {}
    creds = ["credentials:"]
    targets = ["targets:"]
    for u in users:
        creds += _profile(u.name, u, env, context=context)
        targets.append(f"  - {{name: ok-{u.name}, address: {agent.host}, port: {agent.port}, "
                       f"credentials: {u.name}}}")
    if failures is not None:
        u = failures
        creds += _profile("bad-auth", u, env, context=context, wrong="auth")
        creds += _profile("bad-priv", u, env, context=context, wrong="priv")
        creds += _profile("no-user", u, env, context=context, user="nobody-here")
        sock, silent = silent_udp_port()
        sock.close()  # nothing listens there any more: requests go unanswered
        creds += _profile("silent", u, env, context=context)
        for prof, port in (("bad-auth", agent.port), ("bad-priv", agent.port),
                           ("no-user", agent.port), ("silent", silent)):
            targets.append(f"  - {{name: {prof}, address: {agent.host}, port: {port}, "
                           f"credentials: {prof}, timeout_s: 1, retries: 0}}")
    path = tmp / "inventory.yaml"
    path.write_text("\n".join(["concurrency: 16", *creds, *targets]) + "\n", encoding="utf-8")
    return path, env


def _audit(path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> AuditResult:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return audit_inventory(load_inventory(path))


def _assert_failures(result: AuditResult) -> None:
    by_name = {d.target.name: d for d in result.devices}
    want = {"bad-auth": FailureKind.wrong_auth_key, "bad-priv": FailureKind.wrong_priv_key,
            "no-user": FailureKind.unknown_user, "silent": FailureKind.timeout}
    for name, kind in want.items():
        d = by_name[name]
        assert not d.ok and d.failure is not None, name
        assert d.failure.kind == kind, (name, d.failure)
    assert len({by_name[n].failure.kind for n in want}) == 4  # type: ignore[union-attr]
    for d in result.devices:
        if d.target.name and d.target.name.startswith("ok-"):
            assert d.ok, (d.target.name, d.failure)


def test_snmpsim_every_protocol_and_distinct_failures(
        sim: Agent, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, env = _inventory(tmp_path, sim, SNMPSIM_USERS, context=_CONTEXT,
                           failures=sim.user("sha256-aes128"))
    result = _audit(path, env, monkeypatch)
    _assert_failures(result)
    ok = [d for d in result.devices if d.ok]
    assert len(ok) == len(SNMPSIM_USERS)
    for d in ok:
        assert d.snmp_version == "v3" and d.sys_name == "v3-sw"
        assert [(i.name, i.speed_mbps) for i in d.interfaces] == \
            [("Gi1/0/1", 1000.0), ("Gi1/0/2", 10000.0)]
    levels = {d.security_level for d in ok}
    assert levels == {"noAuthNoPriv", "authNoPriv", "authPriv"}
    assert result.summary.n_v3 == len(ok)


def test_snmpd_every_protocol_and_distinct_failures(
        netsnmp: Agent, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, env = _inventory(tmp_path, netsnmp, SNMPD_USERS,
                           failures=netsnmp.user("nd-sha-aes"))
    result = _audit(path, env, monkeypatch)
    _assert_failures(result)
    ok = [d for d in result.devices if d.ok]
    assert len(ok) == len(SNMPD_USERS)
    for d in ok:
        assert d.sys_name == "netstage-snmpd"
        assert any(i.name == "lo" for i in d.interfaces)  # the host's own loopback


def test_wrong_priv_protocol_is_a_priv_failure(
        sim: Agent, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Blumenthal vs Reeder AES-256 key extension: same key, other variant, must fail.

    (With SHA-1 the localised key is 20 bytes, so AES-256 needs the extension where the
    variants differ; with SHA-384/512 both give the same key, correctly.)"""
    u = sim.user("sha-aes256c")
    other = V3User(u.name, u.auth_protocol, u.auth_key, "aes256", u.priv_key)
    path, env = _inventory(tmp_path, sim, [other], context=_CONTEXT)
    result = _audit(path, env, monkeypatch)
    d = result.devices[0]
    assert not d.ok and d.failure is not None
    assert d.failure.kind == FailureKind.wrong_priv_key


def test_cli_never_prints_or_writes_a_secret(sim: Agent, tmp_path: Path,
                                             run_cli: CliRunner) -> None:
    path, env = _inventory(tmp_path, sim, SNMPSIM_USERS[:4], context=_CONTEXT,
                           failures=sim.user("sha-des"))
    out = tmp_path / "audit.json"
    proc = run_cli("audit", str(path), "--out", str(out), env=env)  # table + failure list
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["summary"]["n_failed"] == 4 and data["summary"]["n_ok"] == 4
    assert "wrong_priv_key" in proc.stdout and "check the priv key" in proc.stdout
    texts = [proc.stdout, proc.stderr, out.read_text(encoding="utf-8"),
             path.read_text(encoding="utf-8")]
    secrets = [v for v in env.values() if len(v) >= 8]
    assert secrets
    for secret in secrets:
        for text in texts:
            assert secret not in text
    # nothing else was written beside the output either
    for f in tmp_path.rglob("*"):
        if f.is_file():
            body = f.read_text(encoding="utf-8", errors="replace")
            assert not any(s in body for s in secrets), f
    assert not any(s in p.read_text(errors="replace") for s in secrets
                   for p in ROOT.glob("*.log"))
