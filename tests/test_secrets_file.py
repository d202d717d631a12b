"""Secrets-file references (``file:PATH#NAME``): one file of secrets for a large
inventory, refused when group/others can read it, never echoed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from netstage.auditor.inventory import load_inventory
from netstage.simulator.errors import ConfigError

SECRET = "x7-Not-Public-42"


def _inventory(tmp_path: Path, ref: str) -> Path:
    p = tmp_path / "inv.yaml"
    p.write_text(f"""\
credentials:
  core: {{version: v2c, community: "{ref}"}}
  v3:
    version: v3
    user: auditor
    auth_protocol: sha256
    auth_key: "{ref.replace('core-community', 'auth')}"
targets:
  - {{address: 10.0.0.1, credentials: core}}
  - {{address: 10.0.0.2, credentials: v3}}
""", encoding="utf-8")
    return p


def _secrets(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    s = tmp_path / "secrets.yaml"
    s.write_text(text, encoding="utf-8")
    os.chmod(s, mode)
    return s


def test_file_reference_reads_the_named_entry(tmp_path: Path) -> None:
    _secrets(tmp_path, f"core-community: '{SECRET}'\nauth: 12345678\n")
    inv = load_inventory(_inventory(tmp_path, "file:secrets.yaml#core-community"))
    cred = inv.resolve_credential("core")
    assert cred.community is not None and cred.community.reveal() == SECRET
    assert SECRET not in repr(cred) and SECRET not in str(cred.community)
    v3 = inv.resolve_credential("v3")
    assert v3.auth_key is not None and v3.auth_key.reveal() == "12345678"  # number as text
    absolute = _inventory(tmp_path, f"file:{tmp_path / 'secrets.yaml'}#core-community")
    cred = load_inventory(absolute).resolve_credential("core")
    assert cred.community is not None and cred.community.reveal() == SECRET


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o666])
def test_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    s = _secrets(tmp_path, f"core-community: '{SECRET}'\n", mode)
    inv = load_inventory(_inventory(tmp_path, "file:secrets.yaml#core-community"))
    with pytest.raises(ConfigError, match=rf"inv\.yaml:2: credentials\.core\.community: "
                                          rf"secrets file .*secrets\.yaml can be read or "
                                          rf"written by group or others \(mode 0{mode:o}\); "
                                          rf"restrict it: chmod 600 {s}") as err:
        inv.resolve_credential("core")
    assert SECRET not in str(err.value)


def test_missing_entry_file_and_bad_yaml_never_echo_values(tmp_path: Path) -> None:
    inv = load_inventory(_inventory(tmp_path, "file:secrets.yaml#core-community"))
    with pytest.raises(ConfigError, match=r"secrets file .* does not exist; create it"):
        inv.resolve_credential("core")
    _secrets(tmp_path, f"other: '{SECRET}'\n")
    inv = load_inventory(_inventory(tmp_path, "file:secrets.yaml#core-community"))
    with pytest.raises(ConfigError, match=r"no such entry; add 'core-community: \.\.\.'") as err:
        inv.resolve_credential("core")
    assert SECRET not in str(err.value)
    _secrets(tmp_path, f"core-community: [{SECRET}\n")
    inv = load_inventory(_inventory(tmp_path, "file:secrets.yaml#core-community"))
    with pytest.raises(ConfigError, match=r"not valid YAML near .*secrets\.yaml:\d+") as err:
        inv.resolve_credential("core")
    assert SECRET not in str(err.value)
    _secrets(tmp_path, "core-community: 2001-13-45\n")  # the parser would quote it
    inv = load_inventory(_inventory(tmp_path, "file:secrets.yaml#core-community"))
    with pytest.raises(ConfigError) as err:
        inv.resolve_credential("core")
    assert "2001-13-45" not in str(err.value)


@pytest.mark.parametrize("ref", ["file:", "file:secrets.yaml", "file:#name", "file:x.yaml#"])
def test_malformed_file_reference_is_a_located_error(tmp_path: Path, ref: str) -> None:
    with pytest.raises(ConfigError, match=r"inv\.yaml:2: .*file:PATH#NAME"):
        load_inventory(_inventory(tmp_path, ref))


def test_literal_secret_is_still_refused_without_echo(tmp_path: Path) -> None:
    with pytest.raises(ConfigError,
                       match="env:NETSTAGE_AUTH_KEY or secrets-file references like file:") \
            as err:
        load_inventory(_inventory(tmp_path, SECRET))
    assert SECRET not in str(err.value)
