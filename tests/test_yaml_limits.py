"""Input YAML limits: aliases bounded without expansion, depth and size limits, and
unquoted numbers in text fields read as text with a warning."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netstage.auditor.inventory import load_inventory
from netstage.cli import app
from netstage.simulator.errors import ConfigError, NetstageWarning, TopologyError
from netstage.simulator.io import MAX_DEPTH, load_district, load_yaml_located

from .support import TOPOLOGIES

STAGE1 = TOPOLOGIES / "stage1-lab-era.yaml"


def _laughs(levels: int = 9) -> str:
    letters = "abcdefghijklmnop"[:levels + 1]
    text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for p, c in itertools.pairwise(letters):
        text += f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n"
    return text


def test_alias_cycle_is_refused_with_its_line() -> None:
    with pytest.raises(ConfigError, match=r"^d\.yaml:2: alias \*a refers to a value that "
                                          r"contains it \(a cycle\); write the value out"):
        load_yaml_located("x: 1\na: &a [*a]\n", "d.yaml")


def test_billion_laughs_is_refused_quickly_without_expanding() -> None:
    start = time.process_time()
    with pytest.raises(ConfigError, match=r"d\.yaml:\d+: the aliases .* expand to more than "
                                          r"1,000,000 values; write the values out"):
        load_yaml_located(_laughs(), "d.yaml")
    assert time.process_time() - start < 2.0


def test_deep_nesting_is_refused_not_a_recursion_error() -> None:
    for text in ("x: " + "[" * 200 + "]" * 200, "".join("  " * i + "k:\n" for i in range(200))):
        with pytest.raises(ConfigError, match=rf"d\.yaml:\d+: nested more than {MAX_DEPTH} "
                                              "levels deep; flatten"):
            load_yaml_located(text, "d.yaml")
    with pytest.raises(ConfigError, match=r"d\.yaml:1"):  # the parser's own limit or ours
        load_yaml_located("x: " + "[" * 5000 + "]" * 5000, "d.yaml")


def test_reasonable_aliases_and_merge_keys_still_work() -> None:
    data, lines = load_yaml_located(
        "base: &b {timeout_s: 3, retries: 2}\nx:\n  <<: *b\n  retries: 5\ny: [*b, *b]\n",
        "d.yaml")
    assert data["x"] == {"timeout_s": 3, "retries": 5}
    assert data["y"] == [{"timeout_s": 3, "retries": 2}] * 2
    assert lines.line(("y", 1)) == 5


def test_undefined_alias_and_second_document_are_located() -> None:
    with pytest.raises(ConfigError, match=r"d\.yaml:2: alias \*nope has no anchor"):
        load_yaml_located("a: 1\nb: *nope\n", "d.yaml")
    with pytest.raises(ConfigError, match=r"d\.yaml:2: a second YAML document"):
        load_yaml_located("a: 1\n---\nb: 2\n", "d.yaml")


def test_size_limit_names_the_option_and_env(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "big.yaml"
    big.write_text(STAGE1.read_text() + "#" * 4000 + "\n")
    monkeypatch.setenv("NETSTAGE_MAX_INPUT_MB", "0.004")
    with pytest.raises(TopologyError, match=r"big\.yaml: the file is [\d,]+ bytes, over the "
                                            r"4,194-byte limit .*--max-input-mb or "
                                            "NETSTAGE_MAX_INPUT_MB"):
        load_district(big)
    monkeypatch.setenv("NETSTAGE_MAX_INPUT_MB", "1")
    assert load_district(big).district.name
    monkeypatch.setenv("NETSTAGE_MAX_INPUT_MB", "lots")
    with pytest.raises(ConfigError, match="NETSTAGE_MAX_INPUT_MB='lots': not a number"):
        load_district(big)


def test_cli_option_raises_the_size_limit(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NETSTAGE_MAX_INPUT_MB", raising=False)
    big = tmp_path / "big.yaml"
    big.write_text(STAGE1.read_text() + ("#" * 1000 + "\n") * 20)
    runner = CliRunner()
    r = runner.invoke(app, ["--max-input-mb", "0.01", "validate", str(big)])
    assert r.exit_code == 1 and "over the" in r.output and "--max-input-mb" in r.output
    r = runner.invoke(app, ["--max-input-mb", "1", "validate", str(big)])
    assert r.exit_code == 0, r.output


def test_unquoted_version_is_text_with_a_warning(tmp_path: Path) -> None:
    p = tmp_path / "fw.yaml"
    text = STAGE1.read_text()
    assert "model: ISR 1921}" in text
    p.write_text(text.replace("model: ISR 1921}", "model: ISR 1921, firmware: 17.10}"))
    line = next(i for i, s in enumerate(p.read_text().splitlines(), 1) if "17.10" in s)
    with pytest.warns(NetstageWarning, match=rf"fw\.yaml:{line}: nodes\[0\]\.firmware: the "
                                             r"number 17\.10 is read as the text '17\.10'; "
                                             "quote it"):
        d = load_district(p)
    assert d.nodes[0].firmware == "17.10"  # as written, not 17.1


def test_yes_in_a_text_field_says_to_quote(tmp_path: Path) -> None:
    p = tmp_path / "m.yaml"
    p.write_text(STAGE1.read_text().replace("model: ISR 1921}", "model: yes}"))
    with pytest.raises(TopologyError, match=r"nodes\[0\]\.model: .*put the value in quotes"):
        load_district(p)


def test_inventory_refuses_aliases_that_expand(tmp_path: Path) -> None:
    p = tmp_path / "inv.yaml"
    p.write_text(_laughs() + "targets: []\n")
    with pytest.raises(ConfigError, match=r"inv\.yaml:\d+: the aliases"):
        load_inventory(p)
