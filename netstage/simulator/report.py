"""The stage report: one self-contained HTML file, JSON (schema ``netstage.report/1``,
docs/stages.md) and PDF, with the charts of :mod:`netstage.simulator.charts`.

Order (for a school board first, for engineers after): summary (stage, binding rules,
the cheapest plan to the next stage and to Stage 4, rubric overrides), what to measure
when rules are unknown, the charts, the evidence of every rule, the plans with
before/after, then details (simulation, redundancy, N-1) and any ``extra`` sections
the caller passes (the auditor's audit and capture summaries, as plain dicts: the
simulator never imports the auditor).

Everything here takes a :class:`~netstage.simulator.study.Study`: the report shows the
study's classification and plans (computed once, cached by the study) and reads its
evidence, so ``Study.report`` is :func:`write_report` of the study itself.

The HTML makes no external requests: styles are inline, charts are inline PNG
(``data:`` URIs), there are no scripts, fonts or links to other files.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

from netstage.simulator import wording
from netstage.simulator.charts import (
    CHART_TITLES,
    TITLE_NAME_CHARS,
    figure_bytes,
    growth_series,
    render_charts,
    short,
)
from netstage.simulator.errors import ConfigError, NetstageError
from netstage.simulator.io import ensure_output_dir
from netstage.simulator.model import District
from netstage.simulator.rules.capacity import CapacityDetails
from netstage.simulator.stage import Classification

if TYPE_CHECKING:
    from netstage.simulator.study import Study

__all__ = ["REPORT_SCHEMA", "build_report_json", "render_html", "write_report"]

REPORT_SCHEMA = "netstage.report/1"
FORMATS = ("html", "json", "pdf")


def _jsonable(x: Any) -> Any:
    """Plain JSON types for numpy scalars/arrays, dataclasses with to_json, paths."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple | set):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, float) and not np.isfinite(x):
        return None
    if isinstance(x, str | int | float | bool) or x is None:
        return x
    if hasattr(x, "to_json"):
        return _jsonable(x.to_json())
    return str(x)


def build_report_json(s: Study, plans: list[Any], growth: dict[str, Any] | None,
                      extra: dict[str, Any] | None, charts: Iterable[str]) -> dict[str, Any]:
    """The report of study ``s`` as plain JSON (schema ``netstage.report/1``, see
    docs/stages.md)."""
    d, c = s.district, s.classify()
    return _jsonable({
        "schema": REPORT_SCHEMA,
        "generated_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "district": d.district.name,
        "students": d.total_students,
        "stage": c.stage,
        "stage_name": c.stage_name,
        "binding": c.binding,
        "rubric_version": c.rubric.version,
        "overrides": [o.to_json() for o in c.rubric.overrides],
        "to_measure": c.to_measure,
        "classification": c.to_json(),
        "plans": [p.to_json() for p in plans],
        "growth": growth,
        "evidence": s.evidence.to_json(),
        "charts": list(charts),
        "extra": extra or {},
    })


# -- HTML ---------------------------------------------------------------------------------
_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;margin:0;
 color:#263238;background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:24px 32px 64px;background:#fff}
h1{font-size:28px;margin:8px 0 4px} h2{margin-top:36px;border-bottom:2px solid #eceff1;
 padding-bottom:4px} h3{margin-top:24px}
.stage{display:inline-block;padding:6px 14px;border-radius:6px;color:#fff;font-weight:700}
.s1{background:#c62828}.s2{background:#ef6c00}.s3{background:#f9a825;color:#263238}
.s4{background:#2e7d32}
.pass{color:#2e7d32;font-weight:600}.fail{color:#c62828;font-weight:600}
.unknown{color:#b26a00;font-weight:600}
table{border-collapse:collapse;margin:8px 0 16px;font-size:14px;width:100%}
th,td{border:1px solid #cfd8dc;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eceff1} td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:16px 0} figure img{max-width:100%;height:auto;border:1px solid #eceff1}
figcaption{font-size:13px;color:#546e7a}
.box{border-left:4px solid #1565c0;background:#e3f2fd;padding:8px 14px;margin:12px 0}
.warn{border-left-color:#ef6c00;background:#fff3e0}
.small{font-size:12px;color:#607d8b} code{background:#eceff1;padding:0 3px}
.sentence{font-size:18px;line-height:1.45}
.rule-sentence{font-size:15px;line-height:1.5}
.it{border-top:3px solid #cfd8dc;margin-top:48px}
@page{size:A4;margin:16mm 14mm 18mm 14mm;
 @bottom-right{content:"page " counter(page) " of " counter(pages);font-size:8pt;
  color:#607d8b}}
@media print{
 body{background:#fff;font-size:11pt}
 main{max-width:none;padding:0}
 h1{font-size:22pt}
 h2{break-before:page;page-break-before:always;break-after:avoid}
 h2#summary{break-before:auto;page-break-before:auto}
 h3{break-after:avoid}
 figure,table,.box{break-inside:avoid;page-break-inside:avoid}
 figure img{max-width:100%;max-height:210mm;width:auto;border:none}
 table{font-size:9pt}
}
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return ", ".join(_fmt(x) for x in v)
    if isinstance(v, dict):
        return "; ".join(f"{k}: {_fmt(x)}" for k, x in v.items())
    return str(v)


def _table(rows: list[list[Any]], head: list[str], raw_cols: tuple[int, ...] = ()) -> str:
    out = ["<table><thead><tr>", *(f"<th>{_e(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for r in rows:
        out.append("<tr>")
        for i, v in enumerate(r):
            cls = ' class="num"' if isinstance(v, int | float) and not isinstance(v, bool) else ""
            cell = str(v) if i in raw_cols else _e(_fmt(v))
            out.append(f"<td{cls}>{cell}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _dict_section(data: Any, depth: int = 0) -> str:
    """A plain dict/list as tables: scalars in a key/value table, lists of dicts as a
    table with one column per key, nested dicts as sub-sections."""
    if isinstance(data, list):
        if data and all(isinstance(x, dict) for x in data):
            cols = list(dict.fromkeys(k for x in data[:200] for k in x))
            rows = [[_fmt(x.get(k)) for k in cols] for x in data[:200]]
            cols = [_key(k) for k in cols]
            more = f"<p class='small'>{len(data) - 200} more rows in the JSON report</p>" \
                if len(data) > 200 else ""
            return _table(rows, cols) + more
        return f"<p>{_e(_fmt(data))}</p>"
    if not isinstance(data, dict):
        return f"<p>{_e(_fmt(data))}</p>"
    scalars = [[_key(k), v] for k, v in data.items()
               if not isinstance(v, dict | list) or (isinstance(v, list)
                                                    and not any(isinstance(x, dict) for x in v))]
    parts = [_table(scalars, ["field", "value"])] if scalars else []
    tag = "h4" if depth else "h3"
    for k, v in data.items():
        if isinstance(v, dict) or (isinstance(v, list) and any(isinstance(x, dict) for x in v)):
            parts.append(f"<{tag}>{_e(_key(k))}</{tag}>" + _dict_section(v, depth + 1))
    return "".join(parts)


def _key(k: Any) -> str:
    """A dict key as a label: ``by_snmp_version`` -> ``by snmp version``."""
    return str(k).replace("_", " ")


def _img(fig_png: bytes, name: str, alt: str) -> str:
    b64 = base64.b64encode(fig_png).decode("ascii")
    return (f'<figure id="chart-{_e(name)}"><img class="chart" alt="{_e(alt)}" '
            f'src="data:image/png;base64,{b64}"><figcaption>{_e(CHART_TITLES.get(name, name))}'
            "</figcaption></figure>")


def _fig_title(fig: Figure) -> str:
    for ax in fig.axes:
        t = ax.get_title(loc="left") or ax.get_title()
        if t:
            return t
    return ""


def _plan_html(p: Any, d: District) -> str:
    head = (f"<h3>To Stage {p.target_stage}</h3><p>{_e(wording.plan_sentence(p))}</p>")
    if not p.actions:
        return head
    rows = [[wording.action_text(a.description, d), f"${a.cost_usd:,.0f}",
             f"${a.cost_low_usd:,.0f}-${a.cost_high_usd:,.0f}",
             wording.cost_note_text(wording.board_text(a.cost_note)),
             wording.join_and(wording.RULE_NAMES.get(r, r) for r in a.rules)]
            for a in p.actions]
    rows.append(["total", f"${p.cost_usd:,.0f}",
                 f"${p.cost_low_usd:,.0f}-${p.cost_high_usd:,.0f}",
                 f"${p.capex_usd:,.0f} one-time + ${p.recurring_usd_per_year:,.0f} a year for "
                 f"{wording.plural(p.cost_years, 'year')}", ""])
    after = {r.rule_id: r for r in p.classification_after.rules}
    ba = [[wording.rule_name(r.rule_id), f"Stage {r.allows_stage}",
           f"Stage {after[r.rule_id].allows_stage}" if r.rule_id in after else "—",
           wording.plan_rule_change(r, after.get(r.rule_id), p.target_stage)]
          for r in p.classification_before.rules]
    ba.append(["district", f"Stage {p.stage_before}", f"Stage {p.stage_after}",
               "target met" if p.reached else f"short of Stage {p.target_stage}"])
    notes = "".join(f"<li>{_e(wording.board_text(n))}</li>" for n in p.notes)
    return (head + _table(rows, ["action", f"cost over {wording.plural(p.cost_years, 'year')}",
                                 "range", "how the cost is made up", "helps"])
            + "<p>Before and after (the upgraded network classified again with the same "
              "rubric, scenarios and seed):</p>"
            + _table(ba, ["rule", "allows before", "allows after", "change"])
            + (f"<ul>{notes}</ul>" if notes else "")
            + f"<p class='small'>Catalog: {_e(p.catalog_version)}. Costs are indicative "
              "(see the catalog's stated assumptions); replace them with local quotes.</p>")


def _wifi_density_rows(c: Classification, d: District | None = None) -> list[list[Any]]:
    """Rows of the Wi-Fi density table from R-NOW's details (the radio model's view)."""
    try:
        det = c.rule("R-NOW").details
    except KeyError:
        return []
    dens = det.wifi_density if isinstance(det, CapacityDetails) else []
    return [[wording.element_name(str(x["site"]), d),
             x["classrooms"] if x["classrooms"] is not None else "not given",
             x["aps"], f"{x['aps_per_classroom']:.2f}" if x["aps_per_classroom"] is not None
             else "not known",
             x["radios"],
             f"{x['active_clients_per_radio']:.1f} / {x['active_clients_per_radio_max']:.1f}",
             f"{x['radio_capacity_mbps_min']:,.0f}"] for x in dens]


def _details_html(s: Study) -> str:
    d, c = s.district, s.classify()

    def nm(x: Any) -> str:
        return wording.element_name(str(x), d)

    parts: list[str] = []
    sims = s.evidence.simulated
    if sims:
        rows = []
        for scen, r in sims:
            u = np.asarray(r.unserved_fraction, dtype=float)
            t = np.asarray(r.throttled_share, dtype=float)
            rows.append([scen, r.n_scenarios, f"{np.percentile(u, 50):.1%}",
                         f"{np.percentile(u, 95):.1%}", f"{np.percentile(u, 99):.1%}",
                         f"{np.percentile(t, 95):.1%}"])
        parts.append("<h3>Simulated busy hours</h3>" + _table(
            rows, ["scenario", "scenarios", "unserved p50", "unserved p95", "unserved p99",
                   "throttled p95"]))
        scen, r = next(((s, x) for s, x in sims if s == "now"), sims[0])
        worst = r.worst_links(10) if hasattr(r, "worst_links") else []
        if worst:
            rows = [[nm(r.link_ids[i]), f"{float(r.link_capacity_mbps[i]):,.0f}",
                     f"{float(r.link_util_p95[i]):.0%}", f"{float(r.bottleneck_frequency[i]):.0%}"]
                    for i in worst]
            parts.append(f"<h3>Busiest links ('{_e(scen)}' busy hour)</h3>" + _table(
                rows, ["link", "capacity (Mbps)", "p95 utilisation",
                       "share of scenarios as bottleneck"]))
    dens = _wifi_density_rows(c, d)
    if dens:
        parts.append("<h3>Wi-Fi density (R-NOW busy hour)</h3>" + _table(
            dens, ["site", "classrooms", "APs", "APs per classroom", "radios",
                   "active clients per radio (mean / max)", "radio capacity (Mbps, min)"]))
    rep = s.evidence.redundancy
    if rep is not None:
        groups = bool(getattr(rep, "srlg_groups", None))
        rows = [[nm(x.site), x.kind, x.students, x.edge_disjoint_paths,
                 *([f"{x.srlg_disjoint_paths}" + (f" ({', '.join(x.srlg_binding)})"
                                                  if x.srlg_binding else "")] if groups else []),
                 x.node_disjoint_paths] for x in rep.sites]
        parts.append("<h3>Redundancy per site</h3>" + _table(
            rows, ["site", "kind", "students", "edge-disjoint paths",
                   *(["SRLG-disjoint paths (binding groups)"] if groups else []),
                   "node-disjoint paths"]))
        if getattr(rep, "redundant_stacks", None):
            parts.append("<p>Redundant stacks/chassis, not counted as single points of "
                         f"failure: {_e(', '.join(rep.redundant_stacks))}</p>")
        sp = [[nm(x.element), x.kind, x.students, ", ".join(nm(y) for y in x.sites)]
              for x in rep.counted_spofs]
        if sp:
            parts.append("<h3>Single points of failure (counted by R-HA)</h3>"
                         + _table(sp, ["element", "kind", "students cut off", "sites"]))
    cont = s.evidence.contingency
    rows_c = list(getattr(cont, "contingencies", []) or []) if cont is not None else []
    if rows_c:
        rows = [[nm(getattr(x, "element", "")) + (
                    f" ({', '.join(nm(m) for m in x.members)})"
                    if getattr(x, "members", None) else ""),
                 getattr(x, "element_type", "") if getattr(x, "element_type", "") == "srlg"
                 else getattr(x, "kind", ""),
                 f"{float(getattr(x, 'unserved_p95', 0.0)):.1%}",
                 f"{float(getattr(x, 'throttled_p95', 0.0)):.1%}",
                 getattr(x, "disconnected_students", "")] for x in rows_c[:15]]
        parts.append("<h3>Worst single failures (N-1)</h3>" + _table(
            rows, ["element", "kind", "unserved p95", "throttled p95",
                   "students disconnected"]))
    return "".join(parts) or "<p>No simulation or redundancy details were produced.</p>"


def _it_appendix(d: District, c: Classification) -> str:
    """Commands and field paths for the IT team: kept out of the board-facing part."""
    out = ["<section class='it'><h2 id='it'>Appendix: for the IT team</h2>",
           "<p>The board-facing part of this report has no commands. These are the steps "
           "that resolve unknown rules and reproduce this report.</p>"]
    steps = [(r, x) for r in c.rules for x in r.to_resolve]
    if steps:
        out.append("<h3>To resolve the unknown rules</h3><ul>")
        for r, x in steps:
            out.append(f"<li><b>{_e(wording.rule_name(r.rule_id))}</b>: "
                       f"{_code(wording.resolve_text(x))}</li>")
        out.append("</ul>")
    run = f"--scenarios {c.n_scenarios} --seed {c.seed}"
    out.append("<h3>To reproduce this report</h3><ul>"
               f"<li>{_code(f'`netstage classify DISTRICT.yaml {run}`')}"
               " (add <code>--json</code> for every input and threshold)</li>"
               f"<li>{_code(f'`netstage report DISTRICT.yaml --out DIR {run}`')}</li>"
               "<li>" + _code("`netstage plan DISTRICT.yaml --target-stage N --budget USD`")
               + " for the cheapest upgrades, or the best plan within a budget</li></ul>")
    out.append("<p class='small'>Every rule's inputs, thresholds and sources are also in "
               "report.json (schema netstage.report/1).</p></section>")
    return "".join(out)


def _footer_css(text: str) -> str:
    """The printed page footer (a CSS @page margin box, which Chromium prints)."""
    esc = "".join(c if c.isalnum() or c in " -.,:()'/&" else f"\\{ord(c):x} " for c in text)
    return (f'@page{{@bottom-left{{content:"{esc}";font-size:8pt;color:#607d8b}}}}')


def _code(text: str) -> str:
    """Escape ``text`` and show its backticked spans as code."""
    parts = text.split("`")
    return "".join(f"<code>{_e(x)}</code>" if i % 2 else _e(x) for i, x in enumerate(parts))


def render_html(study: Study, plans: list[Any], figs: dict[str, Figure],
                extra: dict[str, Any] | None, plan_errors: list[str] | None = None) -> str:
    """The report of ``study`` as one self-contained HTML document: the board-facing part
    first (no commands), then an appendix for the IT team. Printed (or rendered to PDF by
    Chromium), each section starts a page and a footer carries the district and date."""
    d, c = study.district, study.classify()
    s = c.stage
    binding = [c.rule(b) for b in c.binding]
    today = f"{dt.datetime.now(dt.UTC):%Y-%m-%d}"
    out = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>{_e(d.district.name)}: Stage {s} - network stage report</title>",
        f"<style>{_CSS}{_footer_css(f'{d.district.name} - network stage report - {today}')}"
        "</style></head><body><main>",
        f"<p class='small'>Network stage report - {_e(d.district.name)} - "
        f"{d.total_students:,} students - {today} - Scott Smith's four stages of 1:1 "
        "infrastructure</p>",
        f"<h1 id='stage'>{_e(d.district.name)} is at <span class='stage s{s}'>Stage {s}</span>"
        "</h1>",
        f"<p class='sentence'>{_e(wording.stage_sentence(c, d))}</p>",
        "<h2 id='summary'>Summary</h2>",
    ]
    if binding and s < 4:
        out.append("<p>The district stage is the lowest stage any rule allows. "
                   + ("The rule that holds it here:" if len(binding) == 1
                      else "The rules that hold it here:") + "</p><ul>")
        for v in binding:
            out.append(f"<li class='rule-sentence'><b>{_e(wording.rule_name(v.rule_id))}</b> "
                       f"(<span class='{v.status}'>{v.status}</span>): "
                       f"{_e(wording.rule_sentence(v, d))}</li>")
        out.append("</ul>")
    for p in plans:
        cls = "box" if p.reached else "box warn"
        first = (f"<b>Cheapest plan found to Stage {p.target_stage}:</b> "
                 f"{_e(wording.plan_sentence(p))}")
        if p.actions:
            first += "<ul>" + "".join(
                f"<li>{_e(wording.action_text(a.description, d))} - ${a.cost_usd:,.0f}</li>"
                for a in p.actions) + "</ul>"
        out.append(f"<div class='{cls}'>{first}</div>")
    for err in plan_errors or []:
        out.append(f"<div class='box warn'>{_e(err)}</div>")
    if c.stage == 4 and not plans:
        out.append("<div class='box'>The district is at Stage 4: no upgrade is needed to "
                   "reach a higher stage.</div>")
    if c.stage == 4:   # nothing holds it back: say what each rule found
        out.append("<p>What each rule found:</p><ul>" + "".join(
            f"<li class='rule-sentence'><b>{_e(wording.rule_name(v.rule_id))}</b>: "
            f"{_e(wording.rule_sentence(v, d))}</li>" for v in c.rules) + "</ul>")
    unknown = [r for r in c.rules if r.status == "unknown"]
    if unknown:
        allu = len(unknown) == len(c.rules)
        out.append(f"<div class='box warn'><b>{'Nothing is known yet' if allu else 'Not yet known'}"
                   "</b>: " + _e(wording.join_and(wording.rule_name(r.rule_id) for r in unknown))
                   + (" depends" if len(unknown) == 1 else " depend")
                   + " on facts nobody has measured or declared yet. Until they are, each "
                   "counts at the lowest stage those facts could give (see "
                   + ("its sentence" if len(unknown) == 1 else "their sentences")
                   + " under Evidence per rule). The IT team's steps are in the appendix."
                   "</div>")
    out.append(f"<p class='small'>Rubric: {_e(c.rubric.version)}. ")
    if c.rubric.overrides:
        out.append("<b>Thresholds changed by the user:</b></p><ul>"
                   + "".join(f"<li>{_e(o)}</li>" for o in c.rubric.overrides) + "</ul>")
    else:
        out.append("No rubric overrides: every threshold is the documented default.</p>")
    out.append(f"<p class='small'>{wording.plural(c.n_scenarios, 'simulated busy hour')} "
               f"per simulated rule, seed {c.seed}.</p>")

    out.append("<h2 id='charts'>Charts</h2>")
    for name, fig in figs.items():
        out.append(_img(figure_bytes(fig, "png"), name, _fig_title(fig) or name))

    out.append("<h2 id='evidence'>Evidence per rule</h2>")
    rows = [[_e(wording.rule_name(r.rule_id)), f"<span class='{r.status}'>{r.status}</span>",
             f"Stage {r.allows_stage}", _e(wording.rule_sentence(r, d))] for r in c.rules]
    out.append(_table(rows, ["rule", "status", "allows", "what was found"],
                      raw_cols=(0, 1, 3)))
    for r in c.rules:
        spec = c.rubric.rules.get(r.rule_id)
        out.append(f"<h3 id='rule-{_e(r.rule_id)}'>{_e(r.title)} ({_e(r.rule_id)}) - "
                   f"<span class='{r.status}'>{r.status}</span>, allows Stage "
                   f"{r.allows_stage}</h3>")
        if spec is not None:
            out.append(f"<p class='small'>Smith: {_e(spec.smith)}</p>")
        out.append(f"<p class='rule-sentence'>{_e(wording.rule_sentence(r, d))}</p>")
        out.append(_table([[wording.INPUT_LABELS.get(i.name, i.name), wording.input_value(i),
                            wording.input_source(i)] for i in r.inputs],
                          ["input", "value", "where it came from"]))
        th_rows = []
        if spec is not None:
            for name, t in spec.thresholds.items():
                th_rows.append([wording.threshold_label(name),
                                wording.threshold_value(t.value, t.unit), f"Stage {t.stage}",
                                "changed (default " + wording.threshold_value(t.default, t.unit)
                                + ")" if t.overridden else "default", t.source])
        if th_rows:
            out.append(_table(th_rows, ["threshold", "value", "needed for", "set by",
                                        "source"]))
        if r.would_change:
            out.append("<p><b>What would change the verdict</b> (the next stage first):</p><ul>"
                       + "".join(f"<li>{_e(wording.need_sentence(r, w))}</li>"
                                 for w in r.would_change) + "</ul>")

    if plans:
        out.append("<h2 id='plans'>Upgrade plans</h2><p>Each plan is the cheapest set of "
                   "catalog actions the planner found (a search that re-simulates each "
                   "step, then drops what is not needed), checked by classifying the upgraded "
                   "network again.</p>")
        for p in plans:
            out.append(_plan_html(p, d))

    out.append("<h2 id='details'>Details</h2>")
    out.append(_details_html(study))
    for key, section in (extra or {}).items():
        title = key.replace('_', ' ')
        out.append(f"<h2 id='extra-{_e(key)}'>{_e(title[:1].upper() + title[1:])}</h2>")
        out.append(_dict_section(section))
    out.append(_it_appendix(d, c))
    out.append("<p class='small'>Generated by netstage "
               f"{_e(_version())} on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.</p>")
    out.append("</main></body></html>")
    return "\n".join(out)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("netstage")
    except Exception:
        return "dev"


# -- PDF ----------------------------------------------------------------------------------
#: Chromium flags for printing the report: no network, no profile state, no header/footer
#: (the report's own CSS footer carries the district and date).
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-pdf-header-footer")

FALLBACK_PDF_NOTE = ("This PDF is a plain fallback: Chromium was not found (or failed), so "
                     "the report could not be printed from its HTML page. Install chromium "
                     "(Debian: apt-get install chromium) or open report.html and print it.")


def find_chromium() -> str | None:
    """The Chromium executable (``NETSTAGE_CHROMIUM`` overrides), or None."""
    import os
    import shutil

    env = os.environ.get("NETSTAGE_CHROMIUM")
    if env is not None:
        return env if env and Path(env).exists() else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        exe = shutil.which(name)
        if exe:
            return exe
    return None


def print_pdf(html_file: Path, pdf_file: Path, *, timeout_s: float = 180.0) -> str | None:
    """Print ``html_file`` to ``pdf_file`` with headless Chromium. Returns None on
    success, else why it could not (Chromium missing, failed or timed out)."""
    import subprocess
    import tempfile

    exe = find_chromium()
    if exe is None:
        return "Chromium was not found"
    with tempfile.TemporaryDirectory(prefix="netstage-chromium-") as profile:
        try:
            r = subprocess.run(
                [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                 f"--print-to-pdf={pdf_file}", html_file.resolve().as_uri()],
                capture_output=True, timeout=timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"Chromium failed ({type(exc).__name__}: {exc})"
    if not pdf_file.exists() or pdf_file.stat().st_size == 0:
        tail = r.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        return f"Chromium wrote no PDF (exit {r.returncode}; {tail[0][:200]})"
    return None


def _text_page(lines: list[str], title: str) -> Figure:
    import textwrap

    fig = Figure(figsize=(8.27, 11.69), dpi=100)
    ax = fig.add_axes((0.07, 0.05, 0.86, 0.9))
    ax.set_axis_off()
    ax.text(0, 1, title, fontsize=16, fontweight="bold", va="top")
    wrapped: list[str] = []
    for ln in lines:
        wrapped += textwrap.wrap(ln, 95) or [""]
    ax.text(0, 0.95, "\n".join(wrapped[:75]), fontsize=8.5, va="top", family="monospace")
    return fig


def _write_pdf(path: Path, s: Study, plans: list[Any], figs: dict[str, Figure],
               note: str = "") -> None:
    """The fallback PDF (matplotlib): a text page of sentences, then one chart per page.
    Used only when Chromium is not available to print the HTML report."""
    from matplotlib.backends.backend_pdf import PdfPages

    d, c = s.district, s.classify()
    lines = [wording.stage_sentence(c, d), ""]
    if note:
        lines += [note, ""]
    for p in plans:
        lines += [f"Plan to Stage {p.target_stage}: {wording.plan_sentence(p)}"]
        lines += [f"  - {a.description}: ${a.cost_usd:,.0f} (${a.cost_low_usd:,.0f}-"
                  f"${a.cost_high_usd:,.0f})" for a in p.actions]
        if p.actions:
            lines += [f"  total: {p.cost_line()}"]
        lines += [""]
    lines += ["Rules:"]
    for r in c.rules:
        lines += [f"{wording.rule_name(r.rule_id)} [{r.status}, allows Stage "
                  f"{r.allows_stage}]: {wording.rule_sentence(r, d)}", ""]
    lines += [f"Rubric: {c.rubric.version}"]
    lines += [f"  changed threshold: {o}" for o in c.rubric.overrides]
    with PdfPages(path) as pdf:
        pdf.savefig(_text_page(lines, f"{short(d.district.name, TITLE_NAME_CHARS)}: "
                                      f"Stage {c.stage}"))
        for fig in figs.values():
            pdf.savefig(fig)


# -- entry point ---------------------------------------------------------------------------
def write_report(
    s: Study,
    out_dir: str | Path,
    *,
    plans: list[Any] | None = None,
    extra: dict[str, Any] | None = None,
    formats: tuple[str, ...] = FORMATS,
    chart_formats: tuple[str, ...] = ("png", "svg"),
    progress: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Write the report of study ``s`` into ``out_dir``: ``report.html`` /
    ``report.json`` / ``report.pdf`` plus one file per chart (``chart-<name>.png``/
    ``.svg``). The study classifies (unless it has) and plans to the next stage and to
    Stage 4 (its cached plans are reused) unless ``plans`` is given (``[]`` = no plans).
    Returns ``{format: path}`` (charts as ``chart-<name>.<fmt>``)."""
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ConfigError(f"unknown report format(s) {', '.join(bad)}; use {', '.join(FORMATS)}")
    say = progress or (lambda _m: None)
    out = ensure_output_dir(out_dir, "--out", "report")
    say("classifying")
    c = s.classify()
    plan_errors: list[str] = []
    if plans is None:
        plans = []
        targets = [c.stage + 1] + ([4] if c.stage + 1 < 4 else []) if c.stage < 4 else []
        for t in targets:
            say(f"planning to stage {t}")
            try:
                plans.append(s.plan(t))
            except NetstageError as exc:   # the report still shows the classification
                plan_errors.append(f"planning to stage {t} failed: {exc}")
    say("projecting growth and drawing charts")
    try:
        growth = growth_series(s)
    except Exception as exc:  # the report still goes out, and says what is missing
        growth = None
        plan_errors.append(f"growth projection could not be computed "
                           f"({type(exc).__name__}: {exc}); the growth chart is left out")
    figs = render_charts(s, growth=growth)
    try:
        return _write_files(out, s, plans, figs, growth, extra, plan_errors, formats,
                            chart_formats)
    except OSError as exc:
        raise ConfigError(f"{out}: cannot write the report ({exc.strerror or exc}: "
                          f"{exc.filename or out}); give --out a writable directory with free "
                          "space") from None


def _write_files(out: Path, s: Study, plans: list[Any], figs: dict[str, Figure],
                 growth: Any, extra: dict[str, Any] | None, plan_errors: list[str],
                 formats: tuple[str, ...], chart_formats: tuple[str, ...]) -> dict[str, Path]:
    paths: dict[str, Path] = {}
    for name, ps in _save(figs, out, chart_formats).items():
        for p in ps:
            paths[f"chart-{name}.{p.suffix[1:]}"] = p
    # The report files are written under temporary names and renamed together at the
    # end, so a failure (disk full, an exception while drawing the PDF) never leaves a
    # fresh report.html that looks like a finished report.
    staged: list[tuple[Path, Path]] = []

    def stage(name: str) -> Path:
        tmp = out / f".{name}.partial"
        staged.append((tmp, out / name))
        return tmp

    fallback = False
    page = (render_html(s, plans, figs, extra, plan_errors)
            if "html" in formats or "pdf" in formats else "")
    try:
        if "html" in formats:
            stage("report.html").write_text(page, encoding="utf-8")
        if "json" in formats:
            data = build_report_json(s, plans, growth, extra, figs)
            data["plan_errors"] = plan_errors
            stage("report.json").write_text(json.dumps(data, indent=2) + "\n",
                                            encoding="utf-8")
        if "pdf" in formats:
            # the board's PDF is the HTML page printed by Chromium (print CSS: a section
            # per page, charts sized to the page, the district and date in the footer)
            printable = out / ".report-print.html"
            staged.append((printable, printable))  # removed in the finally below
            printable.write_text(page, encoding="utf-8")
            pdf_tmp = stage("report.pdf")
            printed = pdf_tmp.with_suffix(".pdf")  # Chromium wants a .pdf name
            staged.append((printed, printed))  # removed in the finally below, even on error
            why = print_pdf(printable, printed)
            if why is None:
                printed.replace(pdf_tmp)
            else:
                printed.unlink(missing_ok=True)
                _write_pdf(pdf_tmp, s, plans, figs, note=f"{why}. {FALLBACK_PDF_NOTE}")
                fallback = True
        for tmp, final in staged:
            if tmp == final:
                continue
            tmp.replace(final)
            paths[final.suffix[1:]] = final
        if fallback:  # callers say so: the PDF is the plain matplotlib fallback
            paths["pdf-fallback"] = paths["pdf"]
    finally:
        for tmp, _final in staged:
            tmp.unlink(missing_ok=True)
    return paths


def _save(figs: dict[str, Figure], out: Path, fmts: tuple[str, ...]) -> dict[str, list[Path]]:
    from netstage.simulator.charts import save_charts

    return save_charts(figs, out, fmts) if fmts else {}
