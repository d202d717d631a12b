"""The public API: the documented five-line use works, and docs/library.md's example runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import netstage as ns

from .support import ROOT


def test_load_classify_plan_cached(tmp_path: Path) -> None:
    s = ns.load("example:stage2", n_scenarios=40)
    c = s.classify()
    assert s.classify() is c, "a second classify is the cached result"
    assert s.stage == c.stage == 2
    p = s.plan(target=3)
    assert s.plan(target=3) is p
    assert p.stage_before == 2 and p.stage_after >= 3
    assert ns.load("example:stage2", n_scenarios=40).classify().to_json()["rules"] == \
        c.to_json()["rules"], "same seed, same answer"


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        _ = ns.does_not_exist  # type: ignore[attr-defined]


@pytest.mark.slow
def test_docs_library_example_runs(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "library.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", text, re.S)
    assert code is not None
    env = {**os.environ, "MPLBACKEND": "Agg"}
    run = subprocess.run([sys.executable, "-c", code.group(1)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "out" / "library-example" / "report.html").is_file()
    assert run.stdout.splitlines()[0].startswith("2 ")
