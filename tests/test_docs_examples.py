"""Every YAML example in README.md and docs/ loads with the loader of its kind, so a doc
example cannot drift from the format (issue 18: the annotated district example did not
validate). Which loader: by the example's top-level keys."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .support import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _blocks() -> list[tuple[str, str]]:
    out = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for i, m in enumerate(re.finditer(r"```yaml\n(.*?)```", text, re.S)):
            out.append((f"{doc.relative_to(ROOT)}#{i + 1}", m.group(1)))
    return out


def _loader(text: str) -> Callable[[Path], Any]:
    from netstage.auditor.capture.apps import load_mapping
    from netstage.auditor.inventory import load_inventory
    from netstage.simulator.io import load_district
    from netstage.simulator.rules.rubric import load_overrides

    keys = set(re.findall(r"^([a-z_]+):", text, re.M))
    if not keys:
        return _comments_only
    if "district" in keys:
        return load_district
    if keys <= set(_FRAGMENT_ITEMS):
        return _district_fragment
    if "targets" in keys:
        return load_inventory
    if "rules" in keys:
        return load_overrides
    if keys & {"domains", "ports"}:
        return load_mapping
    raise AssertionError(f"no loader known for a YAML example with keys {sorted(keys)}")


# A fragment of a district (e.g. only `links:` and `circuits:`): each entry is checked
# against its model, so a field the model does not know (a typo, a renamed key) fails.
_FRAGMENT_ITEMS = {"sites": "Site", "nodes": "Node", "links": "Link", "circuits": "Circuit",
                   "declared": "Declared", "measured": "Measured"}


def _district_fragment(path: Path) -> None:
    import yaml

    from netstage.simulator import model

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for key, value in data.items():
        cls = getattr(model, _FRAGMENT_ITEMS[key])
        for item in value if isinstance(value, list) else [value]:
            cls.model_validate(item)


def _comments_only(path: Path) -> None:
    import yaml

    assert yaml.safe_load(path.read_text(encoding="utf-8")) is None


BLOCKS = _blocks()


def test_the_docs_have_yaml_examples() -> None:
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize(("where", "text"), BLOCKS, ids=[w for w, _ in BLOCKS])
def test_yaml_example_loads(where: str, text: str, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    # inventories name secrets as env:VAR; loading checks the syntax, not the values
    for var in set(re.findall(r"env:([A-Z_][A-Z0-9_]*)", text)):
        monkeypatch.setenv(var, "example-secret")
    f = tmp_path / "example.yaml"
    f.write_text(text, encoding="utf-8")
    _loader(text)(f)
