"""Every command a message names is a real command.

Hints, chart notes and rule texts tell a reader what to run next (`netstage contingency
FILE`, "run netstage poll ..."). tests/test_docs_run.py checks the docs; this checks
the strings in the package's own source, where a chart note once said `netstage n1`."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import typer

from netstage.cli import app

PKG = Path(__file__).resolve().parent.parent / "netstage"
# `netstage WORD` in backticks, or after an instruction verb ("run netstage WORD")
NAMED = re.compile(r"`(?:\S*/)?netstage ([a-z][a-z0-9-]*)"
                   r"|\b(?:[Rr]un|[Tt]ry|[Uu]se|[Ss]ee)[:]? +(?:\S*/)?netstage ([a-z][a-z0-9-]*)")


def _named(text: str) -> list[str]:
    return [m.group(1) or m.group(2) for m in NAMED.finditer(text)]


def test_pattern_finds_the_forms_messages_use() -> None:
    assert _named("run `netstage n1 FILE` when") == ["n1"]
    assert _named("Run netstage poll --inventory I") == ["poll"]
    assert _named("try .venv/bin/netstage validate x") == ["validate"]
    assert _named("netstage simulates every scenario") == []  # prose, not a command


def test_commands_named_in_messages_exist() -> None:
    known = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    wrong = []
    for f in sorted(PKG.rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                wrong += [f"{f.relative_to(PKG.parent)}:{node.lineno}: netstage {w}"
                          for w in _named(node.value) if w not in known]
    assert not wrong, "\n".join(wrong)
