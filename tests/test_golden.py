"""Golden districts (issue 12 item 8): every file in tests/golden/ is classified by the CLI,
as a user would (``python -m netstage classify FILE --json``), and must get exactly the stage
and the binding rules its hand derivation states in its header.

Each file was written with its derivation (from ../shared/docs/STAGES.md and the data files
netstage/simulator/data/*.yaml) before it was ever classified. Header lines:

    # expect-stage: 3
    # expect-binding: R-FUTURE, R-HA      (exactly these rules are binding; ``all`` = every rule,
                                           which is what stage 4 means)
    # expect-rule: R-TARGET=4             (optional, repeatable: the stage that rule allows)
    # expect-status: R-MANAGE=unknown     (optional, repeatable: pass / fail / unknown)

When a golden
disagrees with the model, the file is not edited to match: the derivation is re-checked
against STAGES.md and, if it holds, the model has a bug. Known ones are listed in
:data:`KNOWN_MODEL_BUGS` as strict xfails (an unexpected pass fails the run, so the entry is
removed as soon as the fix lands).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

GOLDEN_DIR = Path(__file__).parent / "golden"
GOLDEN = sorted(GOLDEN_DIR.glob("*.yaml"))

# file -> the model defect (issue 12 item) that makes the classification differ from the
# derivation on the current code; strict xfail
KNOWN_MODEL_BUGS: dict[str, str] = {}

_KEY = re.compile(r"^#\s*expect-(stage|binding|rule|status)\s*:\s*(.+?)\s*$")


@dataclass
class Expectation:
    stage: int
    binding: set[str] | None  # None = "all" (every rule)
    rules: dict[str, int] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)


def parse_header(path: Path) -> Expectation:
    """The ``# expect-...`` lines of the leading comment block of ``path``."""
    stage: int | None = None
    binding: set[str] | None = None
    binding_seen = False
    rules: dict[str, int] = {}
    status: dict[str, str] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.startswith("#"):
            break
        m = _KEY.match(line)
        if not m:
            continue
        key, value = m.groups()
        where = f"{path.name}:{n}"
        if key == "stage":
            stage = int(value)
        elif key == "binding":
            binding_seen = True
            binding = None if value == "all" else {v.strip() for v in value.split(",")}
        else:
            rid, _, v = value.partition("=")
            if not v:
                raise ValueError(f"{where}: expect-{key} needs RULE=VALUE, got {value!r}")
            if key == "rule":
                rules[rid.strip()] = int(v)
            else:
                status[rid.strip()] = v.strip()
    if stage is None or not binding_seen:
        raise ValueError(f"{path.name}: the header needs '# expect-stage:' and "
                         "'# expect-binding:' lines")
    return Expectation(stage, binding, rules, status)


def _param(path: Path) -> object:
    marks = []
    if path.name in KNOWN_MODEL_BUGS:
        marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_MODEL_BUGS[path.name]))
    return pytest.param(path, id=path.stem, marks=marks)


def test_the_golden_set_is_complete() -> None:
    """At least 12 districts, every one with a parseable header, every list entry a file."""
    assert len(GOLDEN) >= 12
    names = {p.name for p in GOLDEN}
    assert set(KNOWN_MODEL_BUGS) <= names
    stages = {parse_header(p).stage for p in GOLDEN}
    assert stages == {1, 2, 3, 4}


def test_header_parser_reads_every_key(tmp_path: Path) -> None:
    p = tmp_path / "x.yaml"
    p.write_text("# t\n# expect-stage: 3\n# expect-binding: R-HA, R-SECURITY\n"
                 "# expect-rule: R-TARGET=2\n# expect-status: R-MANAGE=unknown\n"
                 "district: {name: x}\n# expect-stage: 1\n")
    e = parse_header(p)
    assert (e.stage, e.binding, e.rules, e.status) == (
        3, {"R-HA", "R-SECURITY"}, {"R-TARGET": 2}, {"R-MANAGE": "unknown"})
    p.write_text("# expect-stage: 4\n")
    with pytest.raises(ValueError, match="expect-binding"):
        parse_header(p)


@pytest.mark.slow
@pytest.mark.parametrize("path", [_param(p) for p in GOLDEN])
def test_golden_district(path: Path) -> None:
    want = parse_header(path)
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    r = subprocess.run([sys.executable, "-m", "netstage", "classify", str(path), "--json"],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    allows = {x["id"]: x["allows_stage"] for x in got["rules"]}
    why = {x["id"]: f"{x['allows_stage']} {x['status']}: {x['explanation']}" for x in got["rules"]}
    assert got["stage"] == want.stage, why
    binding = set(allows) if want.binding is None else want.binding
    assert set(got["binding"]) == binding, why
    for rid, stage in want.rules.items():
        assert allows[rid] == stage, (rid, why[rid])
    status = {x["id"]: x["status"] for x in got["rules"]}
    for rid, st in want.status.items():
        assert status[rid] == st, (rid, why[rid])
