"""The audit runner and ``netstage audit``: per-device failures are results, the rest
goes on; credential fallbacks; the opt-in default-community check; CLI output."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from netstage.auditor.audit import audit_inventory, run_audit
from netstage.auditor.facts import DeviceFacts, FailureKind, load_audit
from netstage.auditor.inventory import load_inventory
from netstage.auditor.snmp.collector import CollectTarget, ReplayCollector
from netstage.simulator.errors import ConfigError

from .snmp_fixtures import silent_udp_port, snmpsim_agent
from .support import CliRunner

_SW = """\
1.3.6.1.2.1.1.1.0|4|{descr}
1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.9.1.{model}
1.3.6.1.2.1.1.5.0|4|{name}
1.3.6.1.2.1.2.2.1.2.1|4|Gi0/1
1.3.6.1.2.1.31.1.1.1.1.1|4|Gi0/1
1.3.6.1.2.1.31.1.1.1.15.1|66|1000
1.3.6.1.2.1.47.1.1.1.1.5.1|2|3
1.3.6.1.2.1.47.1.1.1.1.13.1|4|{model_name}
1.3.6.1.2.1.47.1.1.1.1.10.1|4|15.2(7)E
"""


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    d = tmp_path / "rec"
    d.mkdir()
    for i, model in enumerate(["C9300-48P", "C9300-48P", "WS-C2960X"]):
        (d / f"sw{i}.snmprec").write_text(
            _SW.format(descr=f"switch {i}", model=1000 + i, name=f"sw{i}", model_name=model),
            encoding="utf-8")
    (d / "public.snmprec").write_text(_SW.format(descr="x", model=1, name="x", model_name="x"),
                                      encoding="utf-8")
    return d


def _inventory(tmp_path: Path, port: int, *, extra: str = "", silent_port: int = 9) -> Path:
    text = f"""\
concurrency: 4
defaults: {{timeout_s: 1, retries: 0}}
credentials:
  c0: {{version: v2c, community: env:AT_C0}}
  c1: {{version: v2c, community: env:AT_C1}}
  c2: {{version: v2c, community: env:AT_C2}}
  wrong: {{version: v2c, community: env:AT_WRONG}}
targets:
  - {{name: sw0, address: 127.0.0.1, port: {port}, credentials: c0}}
  - {{name: dead, address: 127.0.0.1, port: {silent_port}, credentials: c1}}
  - {{name: sw1, address: 127.0.0.1, port: {port}, credentials: [wrong, c1]}}
  - {{name: sw2, address: 127.0.0.1, port: {port}, credentials: c2}}
{extra}"""
    p = tmp_path / "inv.yaml"
    p.write_text(text, encoding="utf-8")
    return p


_ENV = {"AT_C0": "sw0", "AT_C1": "sw1", "AT_C2": "sw2", "AT_WRONG": "no-such-community"}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for k, v in _ENV.items():
        monkeypatch.setenv(k, v)
    return _ENV


def test_replay_audit_order_failures_and_fallback(tmp_path: Path, recordings: Path,
                                                  env: dict[str, str]) -> None:
    seen: list[tuple[int, int]] = []
    result = audit_inventory(load_inventory(_inventory(tmp_path, 161)),
                             ReplayCollector(recordings),
                             progress=lambda done, total, f: seen.append((done, total)))
    assert [d.target.name for d in result.devices] == ["sw0", "dead", "sw1", "sw2"]
    assert [d.ok for d in result.devices] == [True, True, True, True]  # replay: no network
    sw1 = result.devices[2]
    assert sw1.credential_profile == "c1" and sw1.sys_name == "sw1"  # after 'wrong' failed
    assert sorted(seen) == [(i, 4) for i in range(1, 5)]
    s = result.summary
    # replay ignores the address: 'dead' (community sw1) answers as sw1 does
    assert s.models == {"C9300-48P": 3, "WS-C2960X": 1}
    assert s.vendors == {"9": 4} and s.firmware == {"15.2(7)E": 4}


def test_missing_env_stops_before_any_io(tmp_path: Path, recordings: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    for k in _ENV:
        monkeypatch.delenv(k, raising=False)

    class Exploding:
        async def collect(self, target: CollectTarget) -> DeviceFacts:
            raise AssertionError("no collection may start")

    with pytest.raises(ConfigError, match="AT_C0"):
        audit_inventory(load_inventory(_inventory(tmp_path, 161)), Exploding())


def test_a_crashing_device_does_not_stop_the_audit(tmp_path: Path, recordings: Path,
                                                   env: dict[str, str]) -> None:
    replay = ReplayCollector(recordings)

    class Flaky:
        async def collect(self, target: CollectTarget) -> DeviceFacts:
            if target.name == "sw2":
                raise ValueError("parser exploded")
            return await replay.collect(target)

    result = audit_inventory(load_inventory(_inventory(tmp_path, 161)), Flaky())
    by = {d.target.name: d for d in result.devices}
    assert not by["sw2"].ok and by["sw2"].failure is not None
    assert by["sw2"].failure.kind == FailureKind.other
    assert "parser exploded" in by["sw2"].failure.reason
    assert by["sw0"].ok and by["sw1"].ok and result.summary.n_failed == 1


def test_live_audit_with_snmpsim(tmp_path: Path, recordings: Path,
                                 env: dict[str, str]) -> None:
    sock, silent = silent_udp_port()
    try:
        with snmpsim_agent(recordings) as agent:
            inv = load_inventory(_inventory(
                tmp_path, agent.port, silent_port=silent,
                extra="default_community_check: true\n"))
            result = asyncio.run(run_audit(inv))
    finally:
        sock.close()
    by = {d.target.name: d for d in result.devices}
    assert by["dead"].failure is not None and by["dead"].failure.kind == FailureKind.timeout
    assert by["sw0"].ok and by["sw1"].ok and by["sw2"].ok
    assert by["sw1"].credential_profile == "c1"
    assert [i.speed_mbps for i in by["sw0"].interfaces] == [1000.0]
    # the recording named 'public' makes the agent accept the default community
    assert by["sw0"].default_communities_accepted == ["public"]
    assert by["dead"].default_communities_accepted == []
    assert result.summary.default_community_tested == 4
    assert result.summary.default_community_accepted == 3
    assert result.summary.snmp_coverage == pytest.approx(0.75)


def test_cli_audit_json_out_and_exit_codes(tmp_path: Path, recordings: Path,
                                           run_cli: CliRunner) -> None:
    sock, silent = silent_udp_port()
    try:
        with snmpsim_agent(recordings) as agent:
            inv = _inventory(tmp_path, agent.port, silent_port=silent)
            out = tmp_path / "out" / "audit.json"
            proc = run_cli("audit", str(inv), "--json", "--out", str(out), env=_ENV)
            assert proc.returncode == 0, proc.stderr
            data: dict[str, Any] = json.loads(proc.stdout)  # stdout is pure JSON
            assert data["summary"]["n_ok"] == 3 and data["summary"]["n_failed"] == 1
            assert load_audit(out).summary.n_ok == 3
            table = run_cli("audit", str(inv), "--check-default-communities", env=_ENV)
            assert table.returncode == 0
            assert "1 failed" in table.stdout and "dead (c1): no answer" in table.stdout
            assert "sw0 accepts public" in table.stdout  # the agent serves 'public'
            assert "accepted by 3 of 4 devices" in table.stdout
            # nobody answers: exit 1 with a message
            only_dead = tmp_path / "dead.yaml"
            only_dead.write_text(
                "credentials:\n  c: {version: v2c, community: env:AT_C0}\ntargets:\n"
                f"  - {{address: 127.0.0.1, port: {silent}, credentials: c, timeout_s: 0.5, "
                "retries: 0}\n", encoding="utf-8")
            none = run_cli("audit", str(only_dead), env=_ENV)
            assert none.returncode == 1 and "no device answered" in none.stderr
    finally:
        sock.close()
