"""scripts/compare-results.py's compare mode (issue 13: a refactor shows it changes no
verdict, figure or plan): volatile fields are ignored, any real difference fails."""

from __future__ import annotations

import base64
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from .support import ROOT


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("compare_results",
                                                  ROOT / "scripts" / "compare-results.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


CMP = _script()
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x01IDAT\x07" + b"\x00" * 4
                       + b"\x00\x00\x00\x05tEXtabcde" + b"\x00" * 4).decode()


def _record(root: Path, *, stage: int = 2, generated: str = "2026-12-07T05:27:05Z",
            text: str = "The district is at Stage 2.", png: str = PNG, exit_plan: int = 0,
            cost: float = 1234.5) -> Path:
    ex = root / "stage2-organic"
    (ex / "report").mkdir(parents=True)
    (ex / "classify.json").write_text(json.dumps({"stage": stage, "rules": [
        {"id": "R-NOW", "measured_value": 0.25}]}))
    (ex / "plan.json").write_text(json.dumps({"cost_usd": cost, "elapsed_s": 3.2}))
    (ex / "report" / "report.json").write_text(json.dumps(
        {"generated_utc": generated, "out": str(root / "x"), "stage": stage}))
    (ex / "report" / "report.html").write_text(
        f"<html><style>p {{}}</style><p>{text}</p><p>made {generated[:10]} "
        f"{generated[11:16]}</p><img alt='chart' src=\"data:image/png;base64,{png}\"></html>")
    (ex / "report" / "chart-n1.svg").write_text("<svg/>")
    runs: dict[str, Any] = {
        "checkout": str(root), "revision": "abc", "seed": 0, "scenarios": None,
        "commands": ["classify", "plan", "report"],
        "runs": {f"stage2-organic/{c}": {"exit": exit_plan if c == "plan" else 0}
                 for c in ("classify", "plan", "report")}}
    (root / "runs.json").write_text(json.dumps(runs))
    return root


def test_same_results_at_other_times_and_paths_compare_equal(tmp_path: Path) -> None:
    a = _record(tmp_path / "a")
    b = _record(tmp_path / "b", generated="2026-12-08T11:02:00Z")
    assert CMP.compare(a, b, 0.0, 20) == 0


@pytest.mark.parametrize("change", [
    {"stage": 3}, {"text": "The district is at Stage 3."}, {"exit_plan": 1},
    {"cost": 1234.6},
    {"png": base64.b64encode(base64.b64decode(PNG).replace(b"IDAT\x07", b"IDAT\x08"))
     .decode()}])
def test_a_changed_verdict_figure_plan_or_chart_is_a_difference(
        tmp_path: Path, change: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    a = _record(tmp_path / "a")
    b = _record(tmp_path / "b", **change)
    assert CMP.compare(a, b, 0.0, 20) == 1
    assert "DIFFERENT" in capsys.readouterr().out


def test_float_tolerance_is_opt_in(tmp_path: Path) -> None:
    a = _record(tmp_path / "a")
    b = _record(tmp_path / "b", cost=1234.5000001)
    assert CMP.compare(a, b, 0.0, 20) == 1
    assert CMP.compare(a, b, 1e-6, 20) == 0


def test_png_text_chunks_are_ignored() -> None:
    raw = base64.b64decode(PNG)
    other = raw.replace(b"tEXtabcde", b"tEXtxyzzy")
    assert CMP._png_content(raw) == CMP._png_content(other)
