"""Charts: every chart draws, titles state findings that match the evidence, and charts
whose input is unknown say so instead of failing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from netstage.simulator.charts import render_charts, save_charts
from netstage.simulator.io import load_district
from netstage.simulator.stage import classify
from netstage.simulator.study import Study

from .stage_support import build, expected_stage, small_district
from .support import ROOT, example_districts

N = 40


def title(fig: Any) -> str:
    return next(ax.get_title(loc="left") for ax in fig.axes if ax.get_title(loc="left"))


@pytest.fixture(scope="module")
def stage3() -> tuple[Any, Any, dict[str, Any]]:
    path = next(p for p in example_districts() if expected_stage(p) == 3)
    s = Study(load_district(path), n_scenarios=N, seed=2)
    return s.district, s.classify(), render_charts(s)


def test_all_charts_render_with_findings_in_titles(stage3: Any) -> None:
    _d, c, figs = stage3
    assert list(figs) == ["ladder", "rates", "network", "growth", "n1"]
    lad = title(figs["ladder"])
    assert f"Stage {c.stage}" in lad and all(b in lad for b in c.binding)
    # rates: the share below the app minimum in the title is the evidence's own share
    shares = {}
    for scen in ("lab", "now", "future"):
        r = c.evidence.simulations[scen]
        # throttled as simulate.py defines it: apps with a minimum rate only, and a
        # device asking for less than the minimum is throttled only below its demand
        mins = np.asarray(r.app_min_mbps)[np.asarray(r.device_app_sample)]
        floor = np.minimum(mins, np.asarray(r.device_demand_sample))
        m = mins > 0
        shares[scen] = float(np.mean(np.asarray(r.device_rates_sample)[m] < floor[m] * (1 - 1e-6)))
    worst = max(shares, key=lambda k: shares[k])
    assert f"'{worst}' busy hour {shares[worst]:.0%}" in title(figs["rates"])
    # network: the busiest link named is the one with the highest p95 utilisation
    r = c.evidence.simulations["now"]
    phys = [(u, i.split("#")[0]) for i, u in zip(r.link_ids, r.link_util_p95, strict=True)
            if not i.startswith("air:")]
    assert f"busiest link {max(phys)[1]} at" in title(figs["network"]).lower()
    # axes carry units
    assert "Mbps" in figs["rates"].axes[0].get_xlabel()
    assert "%" in figs["growth"].axes[0].get_ylabel()
    # R-HA fails on structure for this district: the N-1 chart says why it is empty
    assert "not analysed" in title(figs["n1"])


def test_charts_degrade_with_a_note_when_inputs_are_unknown() -> None:
    d = build(small_district())
    c = classify(d, rules=("R-TARGET", "R-SECURITY"))   # nothing simulated
    growth = {"years": [0.0], "unserved_p95": [0.0], "demand_mbps_per_student_p95": [0.1],
              "internet_mbps_per_student": 2.5, "horizon_years": 3, "growth_per_year": 0.5}
    figs = render_charts(Study.from_classification(d, c), growth=growth)
    assert "not simulated" in title(figs["rates"])
    assert "not simulated" in title(figs["network"]).lower()
    assert "not analysed" in title(figs["n1"])
    assert "within the Stage 4 limit" in title(figs["growth"])


def test_save_charts_writes_png_and_svg(stage3: Any, tmp_path: Path) -> None:
    paths = save_charts(stage3[2], tmp_path, ("png", "svg"))
    for ps in paths.values():
        png, svg = ps
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
        assert b"<svg" in svg.read_bytes()[:500]


def test_n1_chart_names_the_worst_failure() -> None:
    from netstage.simulator.charts import n1_worst

    path = next(p for p in example_districts() if expected_stage(p) == 4)
    s = Study(load_district(path), n_scenarios=N, seed=2)
    cont = s.classify().evidence.contingency
    worst = cont.contingencies[0]
    assert float(worst.unserved_p95) == max(float(r.unserved_p95) for r in cont.contingencies)
    fig = n1_worst(s)
    t = title(fig)
    assert f"{worst.element} leaves {float(worst.unserved_p95):.1%}" in t
    assert ("within" if float(worst.unserved_p95) <= 0.05 else "over") in t
    assert "%" in fig.axes[0].get_xlabel()


def test_growth_counts_internet_per_student_as_r_target_does() -> None:
    """One definition (R-TARGET's: active circuits only, None without students) for the
    rule, the growth chart and `netstage info`; this district has a standby circuit."""
    from netstage.simulator.charts import growth_projection, growth_series
    from netstage.simulator.summary import summarise_district

    d = load_district(ROOT / "tests" / "golden" / "circuits-active-standby.yaml")
    assert d.active_internet_capacity_mbps < d.internet_capacity_mbps
    s = Study(d, n_scenarios=10, seed=1)
    target = s.classify().rule("R-TARGET").measured_value
    series = growth_series(s, years=[0.0])
    assert series["internet_mbps_per_student"] == pytest.approx(target / 1000.0)
    assert summarise_district(d)["internet_kbps_per_student"] == pytest.approx(target)
    line = next(ln for ln in growth_projection(s, series).axes[1].get_lines()
                if "Internet capacity per student" in str(ln.get_label()))
    assert "active circuits" in str(line.get_label())
    assert float(line.get_ydata()[0]) == pytest.approx(target / 1000.0)

    no_students = build(small_district()).model_copy(deep=True)
    for site in no_students.sites:
        site.students = 0
    assert growth_series(Study(no_students, n_scenarios=10), years=[0.0])[
        "internet_mbps_per_student"] is None
    assert summarise_district(no_students)["internet_kbps_per_student"] is None
