"""Long user-given names are shortened in chart titles and labels (a 20,000-character
district name used to make a 341,112-pixel-wide PNG); the HTML text keeps the full name."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from netstage.simulator.charts import TITLE_NAME_CHARS, short, stage_ladder
from netstage.simulator.io import load_district
from netstage.simulator.report import write_report
from netstage.simulator.study import Study

from .support import TOPOLOGIES

LONG = "Very Long Unified School District " * 600  # about 20,000 characters


def test_short_cuts_with_an_ellipsis_and_one_line() -> None:
    assert short("Lakeview ISD", 60) == "Lakeview ISD"
    cut = short(LONG, 60)
    assert len(cut) <= 60 and cut.endswith("\u2026") and cut.startswith("Very Long")
    assert short("a\nb\tc", 10) == "a b c"


def test_long_district_name_gives_normal_sized_charts(tmp_path: Path) -> None:
    d = load_district(TOPOLOGIES / "stage1-lab-era.yaml")
    d = d.model_copy(update={"district": d.district.model_copy(update={"name": LONG})})
    s = Study(d, n_scenarios=8, seed=1)
    fig = stage_ladder(s)
    t = fig.axes[0].get_title(loc="left")
    assert len(t) < TITLE_NAME_CHARS + 60 and "\u2026" in t
    paths = write_report(s, tmp_path, plans=[], formats=("html",), chart_formats=("png",))
    pngs = sorted(tmp_path.glob("chart-*.png"))
    assert pngs
    for p in pngs:
        with Image.open(io.BytesIO(p.read_bytes())) as im:
            assert im.width < 3000 and im.height < 3000, (p.name, im.size)
    html = paths["html"].read_text(encoding="utf-8")
    assert LONG.strip() in html  # the full name, in the report's text
