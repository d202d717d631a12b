"""Charts for the stage report (matplotlib, no GUI: figures are built with
:class:`matplotlib.figure.Figure`, which renders with the Agg canvas).

Every chart is readable by a non-engineer: its title states the finding, axes carry
units. When an input is unknown (the simulation did not run, no N-1 analysis, ...)
the chart still renders and says plainly what is missing and how to get it.

Charts (name -> function):

``ladder``      :func:`stage_ladder`   each rule's highest allowed stage vs the district stage
``rates``       :func:`rate_cdf`       per-device bandwidth CDF per scenario vs app minimum rates
``network``     :func:`network_map`    the network coloured by p95 link utilisation, SPOFs marked
``growth``      :func:`growth_projection`  years -> p95 unserved and Mbps per student
``n1``          :func:`n1_worst`       the worst single failures (N-1) against the R-HA limit

:func:`render_charts` draws them all and writes PNG (and optionally SVG/PDF) files.

Every chart takes a :class:`~netstage.simulator.study.Study`: its classification (the
rules' verdicts and rubric), the district and the study's evidence (simulations,
redundancy, N-1, the arrays), so a chart never recomputes what the classification
already has, and what it has to compute (the redundancy report of a district R-HA did
not analyse, the arrays for the layout) lands in the same evidence, computed once.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

from netstage.simulator.element_ids import is_air, model_id
from netstage.simulator.errors import NetstageError
from netstage.simulator.model import NodeKind
from netstage.simulator.rules.target import district_internet_kbps_per_student

if TYPE_CHECKING:
    from netstage.simulator.simulate import SimulationResult
    from netstage.simulator.study import Study

__all__ = [
    "CHART_TITLES",
    "GROWTH_MAX_SCENARIOS",
    "growth_projection",
    "growth_series",
    "n1_worst",
    "network_map",
    "rate_cdf",
    "render_charts",
    "short",
    "stage_ladder",
]

STATUS_COLOURS = {"pass": "#2e7d32", "fail": "#c62828", "unknown": "#f9a825"}
STAGE_COLOURS = {1: "#c62828", 2: "#ef6c00", 3: "#f9a825", 4: "#2e7d32"}
CHART_TITLES = {
    "ladder": "Stage ladder",
    "rates": "Bandwidth per device",
    "network": "Network and link load",
    "growth": "Growth projection",
    "n1": "Single failures (N-1)",
}


# Longest user-given text (district name, node ids, application names) drawn in a chart.
# A longer one is cut with an ellipsis: charts are saved with a tight bounding box, so a
# 20,000-character name would make a 341,112-pixel-wide image. The HTML report's text
# carries the full name.
TITLE_NAME_CHARS = 60
LABEL_CHARS = 28


def short(text: object, limit: int = LABEL_CHARS) -> str:
    """``text`` cut to ``limit`` characters (ending in an ellipsis when cut), one line."""
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[:limit - 1].rstrip() + "\u2026"


def _note(fig: Figure, title: str, lines: list[str]) -> Figure:
    """A chart whose input is unknown: the title says so, the body says what to do."""
    ax = fig.add_subplot(1, 1, 1)
    ax.set_axis_off()
    ax.set_title(short(title, 100), fontsize=12, loc="left", color="#6d4c41")
    ax.text(0.02, 0.85, "\n".join(short(line, 110) for line in lines[:12]), va="top",
            ha="left", fontsize=10, wrap=True,
            transform=ax.transAxes)
    return fig


# -- 1. stage ladder ---------------------------------------------------------------------
def stage_ladder(s: Study) -> Figure:
    """One bar per rule: the highest stage it allows (colour = pass/fail/unknown)."""
    c = s.classify()
    rules = list(c.rules)
    fig = Figure(figsize=(8, 0.45 * len(rules) + 1.8), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    names = [short(r.rule_id) for r in rules][::-1]
    vals = [r.allows_stage for r in rules][::-1]
    cols = [STATUS_COLOURS.get(r.status, "#888888") for r in rules][::-1]
    y = np.arange(len(rules))
    ax.barh(y, vals, color=cols, height=0.6)
    for yi, r in zip(y, rules[::-1], strict=True):
        # at Stage 4 nothing holds the district back: no rule is "binding"
        label = r.status + (" - binding" if r.rule_id in c.binding and c.stage < 4 else "")
        ax.text(r.allows_stage + 0.05, float(yi), label, va="center", fontsize=9)
    ax.axvline(c.stage, color="#37474f", linestyle="--", linewidth=1.5)
    ax.set_yticks(y, names)
    ax.set_xlim(0, 5.2)
    ax.set_xticks([1, 2, 3, 4], ["Stage 1", "Stage 2", "Stage 3", "Stage 4"])
    ax.set_xlabel("highest stage the rule allows (dashed line: the district's stage)")
    binding = ", ".join(c.binding) if c.binding else "none"
    tail = ("every rule passes" if c.stage == 4
            else f"limited by {short(binding, TITLE_NAME_CHARS)}")
    ax.set_title(f"{short(c.district_name, TITLE_NAME_CHARS)} is at Stage {c.stage}; {tail}",
                 fontsize=12, loc="left")
    fig.tight_layout()
    return fig


# -- 2. per-device bandwidth CDF -----------------------------------------------------------
def _sims(s: Study) -> list[tuple[str, SimulationResult]]:
    s.classify()   # the rules run the simulations
    return list(s.evidence.simulated)


def rate_cdf(s: Study) -> Figure:
    """Distribution of allocated Mbps per active device per simulated scenario type, with
    the minimum usable rate of every application as a vertical line."""
    sims = [(scen, r) for scen, r in _sims(s)
            if getattr(r, "device_rates_sample", None) is not None
            and np.asarray(r.device_rates_sample).size]
    fig = Figure(figsize=(8, 4.5), dpi=100)
    if not sims:
        return _note(fig, "Bandwidth per device: not simulated", [
            "No simulation result is available for this district, so the per-device",
            "bandwidth cannot be shown. Run `netstage classify` with the simulator",
            "installed (netstage.simulator.simulate).",
        ])
    ax = fig.add_subplot(1, 1, 1)
    worst: tuple[float, str] = (-1.0, "")
    for scen, r in sims:
        rates = np.sort(np.asarray(r.device_rates_sample, dtype=float))
        y = np.arange(1, rates.size + 1) / rates.size
        ax.step(np.maximum(rates, 1e-3), y, where="post", label=f"'{short(scen)}' busy hour")
        # the simulator's definition of throttled (simulate.is_throttled), among the
        # sampled devices whose app has a minimum rate
        from netstage.simulator.simulate import throttled_devices

        mins = np.asarray(r.app_min_mbps, dtype=float)[np.asarray(r.device_app_sample)]
        dem = np.asarray(r.device_demand_sample, dtype=float)
        has_min = mins > 0
        got = np.asarray(r.device_rates_sample, dtype=float)
        below = (float(np.mean(throttled_devices(got[has_min], mins[has_min], dem[has_min])))
                 if has_min.any() else 0.0)
        if below > worst[0]:
            worst = (below, scen)
    r0 = sims[0][1]
    for name, m in zip(r0.app_names, np.asarray(r0.app_min_mbps, dtype=float), strict=True):
        if m > 0:
            ax.axvline(m, color="#90a4ae", linestyle=":", linewidth=1)
            ax.text(m, 0.02, f" {short(name)} min", rotation=90, fontsize=8, color="#546e7a",
                    va="bottom")
    ax.set_xscale("log")
    ax.set_xlabel("bandwidth allocated to an active device (Mbps, log scale)")
    ax.set_ylabel("share of active devices (cumulative)")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="upper left", fontsize=9)
    share, scen = worst
    ax.set_title(f"In the '{short(scen)}' busy hour {share:.0%} of active devices get less than "
                 "their app's minimum rate", fontsize=11, loc="left")
    fig.tight_layout()
    return fig


# -- 3. network map ----------------------------------------------------------------------
def _util_by_element(s: Study, scenario: str = "now"
                     ) -> tuple[dict[str, float], str | None]:
    sims = _sims(s)
    res = s.evidence.simulations.get(scenario)
    if res is None:
        for scen, r in sims:
            res, scenario = r, scen
            break
    if res is None:
        return {}, None
    out: dict[str, float] = {}
    for lid, u in zip(res.link_ids, np.asarray(res.link_util_p95, dtype=float), strict=True):
        if is_air(lid):
            continue
        key = model_id(lid)
        out[key] = max(out.get(key, 0.0), float(u))
    return out, scenario


def _layers(s: Study) -> dict[str, int]:
    """Hop distance of every node from the Internet (circuits' nodes are at 1; a node
    that reaches no circuit one layer below the deepest), by the routing's breadth-first
    search over every link of the study's arrays (air links are self-loops there)."""
    from netstage.simulator.routing import tree_parents

    a = s.evidence.district_arrays()
    n = len(a.node_ids)
    depth = tree_parents(n, a.link_a, a.link_b, a.link_capacity_mbps,
                         np.ones(a.n_links, dtype=bool))[1][:n]
    far = int(depth.max(initial=0)) + 1
    return {nid: int(x) if x > 0 else far for nid, x in zip(a.node_ids, depth, strict=True)}


def _layered_positions(g: Any) -> dict[str, tuple[float, float]]:
    """Layers top-down from the Internet; within a layer, nodes grouped by site and
    ordered by the mean position of their neighbours in the layer above (barycentre),
    which keeps each school's switches and APs together and avoids most crossings."""
    layers: dict[int, list[str]] = {}
    for n, data in g.nodes(data=True):
        layers.setdefault(int(data["layer"]), []).append(n)
    pos: dict[str, tuple[float, float]] = {}
    n_layers = max(layers) + 1 if layers else 1
    for li in sorted(layers):
        nodes = sorted(layers[li])

        def bary(n: str, li: int = li) -> float:
            xs = [pos[m][0] for m in g.neighbors(n) if m in pos and g.nodes[m]["layer"] < li]
            return float(np.mean(xs)) if xs else 0.0

        nodes.sort(key=lambda n: (g.nodes[n].get("site", -1), bary(n), n))
        k = len(nodes)
        for i, n in enumerate(nodes):
            x = 0.0 if k == 1 else -1.0 + 2.0 * i / (k - 1)
            pos[n] = (x, -li / max(n_layers - 1, 1))
    return pos


def network_map(s: Study, *, max_nodes: int = 400) -> Figure:
    """The district drawn in layers from the Internet; links coloured by p95 utilisation
    in the R-NOW busy hour; single points of failure (R-HA counted) in red."""
    import networkx as nx
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    d = s.district
    fig = Figure(figsize=(10, 6.5), dpi=100)
    if len(d.nodes) > max_nodes:
        return _note(fig, "Network drawing skipped: too many nodes", [
            f"The district has {len(d.nodes)} nodes; drawings above {max_nodes} are",
            "unreadable. See the busiest-links table in the report instead.",
        ])
    util, scen = _util_by_element(s)
    try:  # R-HA's report; computed here (into the evidence) only when R-HA did not run
        rep = s.evidence.redundancy_report()
    except NetstageError:  # a district the analysis rejects: drawn without SPOF marks
        rep = None
    spof_nodes: set[str] = set()
    spof_links: set[str] = set()
    if rep is not None:
        for sp in rep.counted_spofs:
            if sp.kind == "srlg":  # a whole shared-risk group: dash its member links
                spof_links.update(getattr(rep, "srlg_groups", {}).get(sp.element[5:], []))
            else:
                (spof_nodes if sp.kind == "node" else spof_links).add(sp.element)
    g = nx.MultiGraph()
    layers = _layers(s)
    g.add_node("Internet", layer=0)
    site_rank = {st.id: i for i, st in enumerate(d.sites)}
    for n in d.nodes:
        g.add_node(n.id, layer=layers[n.id], site=site_rank.get(n.site or "", -1))
    edges: list[tuple[str, str, str]] = []
    for lk in d.links:
        edges.append((lk.a, lk.b, lk.key))
    for ci in d.circuits:
        edges.append((ci.attach, "Internet", ci.id))
    for a, b, k in edges:
        g.add_edge(a, b, key=k)
    pos = _layered_positions(g)
    ax = fig.add_subplot(1, 1, 1)
    cmap = colormaps["RdYlGn_r"]
    norm = Normalize(0.0, 1.0)
    for a, b, k in edges:
        (x0, y0), (x1, y1) = pos[a], pos[b]
        u = util.get(k)
        col = cmap(norm(min(u, 1.0))) if u is not None else "#b0bec5"
        ax.plot([x0, x1], [y0, y1], color=col, linewidth=2.5 if u is not None else 1.2,
                linestyle="--" if k in spof_links else "-", zorder=1)
    kinds = {n.id: n.kind for n in d.nodes}
    for nid, (x, y) in pos.items():
        is_spof = nid in spof_nodes
        kind = kinds.get(nid)
        marker = "o" if kind == NodeKind.AP else ("D" if nid == "Internet" else "s")
        ax.scatter([x], [y], s=110 if kind != NodeKind.AP else 50, marker=marker,
                   color="#ffffff", edgecolors="#c62828" if is_spof else "#37474f",
                   linewidths=2.5 if is_spof else 1.0, zorder=2)
        if len(pos) <= 80:
            ax.text(x, y + 0.035, short(nid, 20), fontsize=7, ha="center", va="bottom", zorder=3)
    sm = __import__("matplotlib.cm", fromlist=["ScalarMappable"]).ScalarMappable(norm=norm,
                                                                                   cmap=cmap)
    cb = fig.colorbar(sm, ax=ax, fraction=0.03, pad=0.01)
    cb.set_label("p95 link utilisation (fraction of capacity)")
    ax.set_axis_off()
    bits = []
    if util:
        k_max = max(util, key=lambda k: util[k])
        bits.append(f"busiest link {short(k_max, 40)} at {util[k_max]:.0%} (p95, "
                    f"'{short(scen)}' busy hour)")
    else:
        bits.append("link load not simulated")
    if rep is not None:
        n_sp = len(rep.counted_spofs)  # a shared-risk group counts once, not per link
        bits.append(f"{n_sp} single point{'s' if n_sp != 1 else ''} of failure (red)")
    else:
        bits.append("redundancy not analysed")
    ax.set_title("; ".join(bits).capitalize(), fontsize=11, loc="left")
    ax.text(0.0, -0.04, "grey = not simulated; dashed/red outline = single point of failure "
            "counted by R-HA", transform=ax.transAxes, fontsize=8, color="#546e7a")
    fig.tight_layout()
    return fig


# -- 4. growth projection ----------------------------------------------------------------
#: Monte Carlo scenarios of each growth year at most (the report's and the web page's cap:
#: a year-by-year projection of the full count would cost as much as ten classifications)
GROWTH_MAX_SCENARIOS = 100


def growth_series(s: Study, *, years: list[float] | None = None,
                  n_scenarios: int | None = None) -> dict[str, Any]:
    """p95 unserved fraction and p95 demand per student of the grown 'future' busy hour
    for each year (0 = today's 1:1 peak), on the study's arrays and seed, with R-TARGET's
    Internet capacity per student (active circuits; None without students) in Mbps.
    ``n_scenarios`` defaults to the study's, capped at :data:`GROWTH_MAX_SCENARIOS`."""
    from netstage.simulator.simulate import simulate

    d = s.district
    g = d.district.growth
    horizon = g.horizon_years
    if years is None:
        top = max(5.0, math.ceil(horizon) + 2.0)
        years = [float(y) for y in np.arange(0.0, top + 0.5, 1.0)]
    n = min(s.n_scenarios, GROWTH_MAX_SCENARIOS) if n_scenarios is None else n_scenarios
    arr = s.evidence.district_arrays()
    students = max(d.total_students, 1)
    kbps = district_internet_kbps_per_student(d)
    unserved, demand = [], []
    for y in years:
        r = simulate(arr, scenario="future", n_scenarios=n, seed=s.seed, growth_years=y)
        unserved.append(float(np.percentile(r.unserved_fraction, 95)))
        demand.append(float(np.percentile(np.asarray(r.demand_mbps, dtype=float), 95))
                      / students)
    return {"years": years, "unserved_p95": unserved, "demand_mbps_per_student_p95": demand,
            "internet_mbps_per_student": None if kbps is None else kbps / 1000.0,
            "horizon_years": horizon, "growth_per_year": g.growth_per_year}


def growth_projection(s: Study, series: dict[str, Any] | None) -> Figure:
    """Years of demand growth -> p95 unserved (left) and Mbps per student (right);
    ``series`` is :func:`growth_series` of the same study."""
    fig = Figure(figsize=(8, 4.5), dpi=100)
    if series is None:   # the caller's projection failed (the report says why)
        return _note(fig, "Growth projection: not simulated", [
            "The growth projection could not be simulated for this district, so demand",
            "growth cannot be shown.",
        ])
    rub = s.classify().rubric
    limit = float(rub.value("R-FUTURE", "max_unserved_p95"))
    target_kbps = float(rub.value("R-TARGET", "min_internet_kbps_per_student_stage4"))
    yrs = np.asarray(series["years"], dtype=float)
    uns = np.asarray(series["unserved_p95"], dtype=float)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(yrs, uns * 100, marker="o", color="#c62828", label="p95 unserved (left)")
    ax.axhline(limit * 100, color="#c62828", linestyle="--", linewidth=1,
               label=f"Stage 4 limit: {limit:.0%} unserved (R-FUTURE)")
    ax.set_xlabel(f"years from today at {series['growth_per_year']:.0%} demand growth per year")
    ax.set_ylabel("p95 unserved demand (%)")
    ax.set_ylim(bottom=0)
    ax2 = ax.twinx()
    ax2.plot(yrs, series["demand_mbps_per_student_p95"], marker="s", color="#1565c0",
             label="p95 peak demand per student (right)")
    if series["internet_mbps_per_student"] is not None:   # None: no students
        ax2.axhline(series["internet_mbps_per_student"], color="#1565c0", linestyle=":",
                    label="Internet capacity per student, active circuits (right)")
    ax2.axhline(target_kbps / 1000.0, color="#2e7d32", linestyle="--",
                label=f"Stage 4 target {target_kbps / 1000:g} Mbps/student (R-TARGET)")
    ax2.set_ylabel("Mbps per student")
    ax2.set_ylim(bottom=0)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="upper left")
    over = [y for y, u in zip(yrs, uns, strict=True) if u > limit]
    if not over:
        title = (f"Demand growth stays within the Stage 4 limit for {yrs[-1]:g} years")
    elif over[0] == 0:
        # the growth rule's limit (R-FUTURE) is tighter than today's (R-NOW): say which
        now_limit = float(rub.value("R-NOW", "max_unserved_p95"))
        title = f"Today's peak leaves {uns[0]:.1%} unserved, above the {limit:.0%} growth limit"
        if uns[0] <= now_limit:
            title += f" (today's {now_limit:.0%} limit is met)"
    else:
        title = (f"At {series['growth_per_year']:.0%}/yr growth the network falls short in "
                 f"year {over[0]:g}")
    ax.set_title(title, fontsize=11, loc="left")
    fig.tight_layout()
    return fig


# -- 5. N-1 worst cases --------------------------------------------------------------------
def n1_worst(s: Study, *, top: int = 10) -> Figure:
    """The single failures that leave the most demand unserved, against the R-HA limit."""
    fig = Figure(figsize=(8, 4.5), dpi=100)
    c = s.classify()
    cont = s.evidence.contingency
    rows = list(getattr(cont, "contingencies", []) or []) if cont is not None else []
    if not rows:
        ha = next((r for r in c.rules if r.rule_id == "R-HA"), None)
        why = []
        if cont is None and ha is not None and any(ch.passed is False
                                                   for ch in ha.checks[:2]):
            why = ["Redundancy (R-HA) already fails on structure (too few Internet circuits",
                   "or independent paths), so the single-failure (N-1) simulation was not",
                   "needed to classify the district."]
        elif cont is None:
            why = ["The single-failure (N-1) simulation did not run for this report",
                   "(the rules in use did not need it, or it failed on this district);",
                   "`netstage contingency FILE` runs it on its own."]
        else:
            why = ["The contingency analysis returned no failure cases."]
        return _note(fig, "Single failures (N-1): not analysed", why)
    lim = float(c.rubric.value("R-HA", "max_n1_unserved_p95"))
    rows = rows[:top]
    names = [short(getattr(r, "element", "?")) for r in rows][::-1]
    vals = [float(getattr(r, "unserved_p95", 0.0)) * 100 for r in rows][::-1]
    ax = fig.add_subplot(1, 1, 1)
    cols = ["#c62828" if v > lim * 100 else "#2e7d32" for v in vals]
    ax.barh(np.arange(len(rows)), vals, color=cols)
    ax.set_yticks(np.arange(len(rows)), names)
    ax.axvline(lim * 100, color="#37474f", linestyle="--",
               label=f"R-HA limit {lim:.0%} (Stage 4)")
    ax.set_xlabel("p95 unserved demand with the element failed (%)")
    ax.legend(fontsize=8, loc="lower right")
    worst = rows[0]
    wv = float(getattr(worst, "unserved_p95", 0.0))
    verdict = "within" if wv <= lim else "over"
    ax.set_title(f"Worst single failure: {short(getattr(worst, 'element', '?'), 40)} leaves "
                 f"{wv:.1%} of demand unserved ({verdict} the {lim:.0%} Stage 4 limit)",
                 fontsize=11, loc="left")
    fig.tight_layout()
    return fig


# -- all ----------------------------------------------------------------------------------
def render_charts(s: Study, *, growth: dict[str, Any] | None = None) -> dict[str, Figure]:
    """Every chart of the study as a Figure, in report order (``growth``: a
    :func:`growth_series` already made, else it is made here). Each chart that fails to
    draw becomes a note chart naming the error, so one bad input never loses the whole
    report."""
    growth_err = ""
    if growth is None:
        try:
            growth = growth_series(s)
        except Exception as exc:
            growth = None
            growth_err = str(exc)
    makers: dict[str, Callable[[], Figure]] = {
        "ladder": lambda: stage_ladder(s),
        "rates": lambda: rate_cdf(s),
        "network": lambda: network_map(s),
        "growth": lambda: growth_projection(s, growth),
        "n1": lambda: n1_worst(s),
    }
    out: dict[str, Figure] = {}
    for name, make in makers.items():
        try:
            out[name] = make()
        except Exception as exc:
            out[name] = _note(Figure(figsize=(8, 3), dpi=100),
                              f"{CHART_TITLES[name]}: could not be drawn",
                              [f"{type(exc).__name__}: {exc}"])
    if growth_err:
        out["growth"] = _note(Figure(figsize=(8, 3), dpi=100),
                              "Growth projection: could not be simulated", [growth_err])
    return out


def figure_bytes(fig: Figure, fmt: str = "png", dpi: int = 100) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def save_charts(figs: dict[str, Figure], out_dir: str | Path,
                formats: tuple[str, ...] = ("png", "svg")) -> dict[str, list[Path]]:
    """Write each figure as ``<out_dir>/chart-<name>.<fmt>``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, list[Path]] = {}
    for name, fig in figs.items():
        for fmt in formats:
            p = out / f"chart-{name}.{fmt}"
            p.write_bytes(figure_bytes(fig, fmt))
            paths.setdefault(name, []).append(p)
    return paths
