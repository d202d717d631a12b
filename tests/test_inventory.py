"""Inventory file: validation with located errors, env:VAR secrets, ranges, defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from netstage.auditor.inventory import MAX_RANGE_ADDRESSES, load_inventory
from netstage.simulator.errors import ConfigError


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "inv.yaml"
    p.write_text(text, encoding="utf-8")
    return p


GOOD = """\
concurrency: 4
defaults: {timeout_s: 3, retries: 2}
credentials:
  v3:
    version: v3
    user: auditor
    auth_protocol: sha256
    auth_key: env:INV_AUTH
    priv_protocol: aes256-cisco
    priv_key: env:INV_PRIV
  legacy: {version: v2c, community: env:INV_COMM}
targets:
  - {name: core, address: 10.0.0.1, credentials: v3, timeout_s: 5}
  - {range: 10.0.1.0/30, credentials: [v3, legacy]}
  - {range: 10.0.2.10-10.0.2.12, credentials: legacy, port: 1161}
  - {address: "10.0.0.1", credentials: v3}
discovery: {seeds: [10.0.0.1], credentials: [v3], allowed_networks: [10.0.0.0/8]}
"""


def test_good_inventory_expands_targets(tmp_path: Path) -> None:
    inv = load_inventory(_write(tmp_path, GOOD))
    targets = list(inv.iter_targets())
    assert [(t.address, t.port) for t in targets] == [
        ("10.0.0.1", 161), ("10.0.1.1", 161), ("10.0.1.2", 161),
        ("10.0.2.10", 1161), ("10.0.2.11", 1161), ("10.0.2.12", 1161)]  # duplicate dropped
    core = targets[0]
    assert core.name == "core" and core.timeout_s == 5 and core.retries == 2
    assert targets[1].profiles == ("v3", "legacy") and targets[1].timeout_s == 3
    assert core.line == 13
    assert inv.discovery is not None and inv.discovery.seeds == ["10.0.0.1"]
    assert inv.source == str(tmp_path / "inv.yaml")


def test_secrets_resolve_from_env_and_never_print(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    inv = load_inventory(_write(tmp_path, GOOD))
    monkeypatch.setenv("INV_AUTH", "s3cret-auth-value")
    monkeypatch.setenv("INV_PRIV", "s3cret-priv-value")
    cred = inv.resolve_credential("v3")
    assert cred.auth_key is not None and cred.auth_key.reveal() == "s3cret-auth-value"
    assert cred.security_level == "authPriv" and cred.priv_protocol == "aes256-cisco"
    text = repr(cred) + str(cred) + inv.model_dump_json()
    assert "s3cret" not in text


def test_missing_env_variable_is_located(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INV_COMM", raising=False)
    inv = load_inventory(_write(tmp_path, GOOD))
    with pytest.raises(ConfigError, match=r"inv\.yaml:11: .*INV_COMM.*not set"):
        inv.resolve_credential("legacy")


@pytest.mark.parametrize(("snippet", "message"), [
    ("  x: {version: v2c, community: public-literal}", "environment references"),
    ("  x: {version: v3, user: u, auth_protocol: sha, auth_key: hunter2secret}",
     "environment references"),
    ("  x: {version: v3, user: u, priv_protocol: des, priv_key: env:P}", "privacy needs"),
    ("  x: {version: v3, user: u, auth_protocol: sha}", "go together"),
    ("  x: {version: v3, user: u, auth_protocol: sha1, auth_key: env:A}", "auth_protocol"),
    ("  x: {version: v2c}", "needs community"),
    ("  x: {version: v2c, community: env:C, user: u}", "only a community"),
    ("  x: {version: v2c, community: env:C, colour: red}", "unknown field"),
])
def test_bad_credentials_are_located_and_never_echo_secrets(tmp_path: Path, snippet: str,
                                                            message: str) -> None:
    text = f"credentials:\n{snippet}\ntargets:\n  - {{address: 10.0.0.1, credentials: x}}\n"
    with pytest.raises(ConfigError) as err:
        load_inventory(_write(tmp_path, text))
    msg = str(err.value)
    assert message in msg and "inv.yaml:2" in msg
    assert "public-literal" not in msg and "hunter2secret" not in msg


@pytest.mark.parametrize(("target", "message"), [
    ("{address: switch1.example.org, credentials: c}", "not an IPv4/IPv6 address"),
    ("{range: 10.0.0.0/8, credentials: c}", f"at most {MAX_RANGE_ADDRESSES}"),
    ("{range: 10.0.0.9-10.0.0.1, credentials: c}", "LAST must be >= FIRST"),
    ("{address: 10.0.0.1, range: 10.0.0.0/30, credentials: c}", "exactly one of"),
    ("{address: 10.0.0.1, credentials: nope}", "unknown credential profile"),
    ("{address: 10.0.0.1, credentials: c, timeout_s: 0}", "greater than 0"),
])
def test_bad_targets(tmp_path: Path, target: str, message: str) -> None:
    text = f"credentials:\n  c: {{version: v2c, community: env:C}}\ntargets:\n  - {target}\n"
    with pytest.raises(ConfigError, match=message):
        load_inventory(_write(tmp_path, text))


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_inventory(tmp_path / "absent.yaml")


def test_twin_inventory_is_valid(tmp_path: Path) -> None:
    """The inventory the digital twin writes (auditor/twin_agent.py) loads here."""
    from netstage.auditor.twin_agent import inventory_for_twin

    text, env = inventory_for_twin("127.0.0.1", 16161, ["core", "edge-1", "edge-2"])
    inv = load_inventory(_write(tmp_path, text))
    assert len(list(inv.iter_targets())) == 3  # same address:port, other communities
    assert set(env) == {f"NETSTAGE_TWIN_COMMUNITY_{i}" for i in range(3)}
