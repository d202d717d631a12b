"""Small districts built in code for the stage, rule, plan and report tests."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from netstage.simulator.io import district_from_dict
from netstage.simulator.model import District


def small_district(**changes: Any) -> dict[str, Any]:
    """A two-site district as a dict: 400 students, one school behind a core switch."""
    d: dict[str, Any] = {
        "district": {"name": "Test USD"},
        "sites": [
            {"id": "do", "kind": "office", "staff": 5},
            {"id": "es", "students": 400, "staff": 20, "classrooms": 16},
        ],
        "nodes": [
            {"id": "edge", "kind": "edge", "site": "do", "vendor": "Cisco", "model": "ISR 4331",
             "firmware": "17.9"},
            {"id": "core", "kind": "core", "site": "do", "vendor": "Cisco",
             "model": "Catalyst 9300", "firmware": "17.9"},
            {"id": "es-sw", "kind": "access", "site": "es", "vendor": "Cisco",
             "model": "Catalyst 9200", "firmware": "17.9"},
            {"id": "es-ap", "kind": "ap", "site": "es", "count": 16, "vendor": "Cisco",
             "model": "CW9162", "wifi": {"generation": "wifi6", "channel_width_mhz": 80}},
        ],
        "links": [
            {"a": "edge", "b": "core", "capacity_mbps": 10000},
            {"a": "core", "b": "es-sw", "capacity_mbps": 10000},
            {"a": "es-sw", "b": "es-ap", "capacity_mbps": 1000},
        ],
        "circuits": [{"id": "isp", "attach": "edge", "capacity_mbps": 1000}],
        "declared": {},
    }
    for key, value in changes.items():
        d[key] = value
    return d


def build(data: dict[str, Any]) -> District:
    return district_from_dict(copy.deepcopy(data))


def expected_stage(path: Path) -> int:
    """The stage an example's comment block states ('expected stage: N')."""
    m = re.search(r"^#\s*expected stage:\s*([1-4])\b", path.read_text(), re.MULTILINE)
    assert m, f"{path} does not state 'expected stage: N'"
    return int(m.group(1))
