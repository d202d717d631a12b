"""HTML of the what-if page (server-side rendering; every value is escaped)."""

from __future__ import annotations

import html
import json
from typing import Any

from netstage.simulator.stage import STAGE_NAMES
from netstage.simulator.wording import rule_sentence
from netstage.web.engine import QUICK_SCENARIOS, Engine, Result
from netstage.web.knobs import GENERATIONS, WIDTHS, KnobError, Knobs, app_mixes

__all__ = ["error_fragment", "n1_fragment", "page", "result_fragment"]


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _num(name: str, value: float, lo: float, hi: float, step: float, label: str,
         unit: str = "", slider: tuple[float, float] | None = None, hint: str = "") -> str:
    rng = ""
    if slider is not None:
        rng = (f'<input type="range" data-for="{_e(name)}" min="{slider[0]:g}" '
               f'max="{slider[1]:g}" step="{step:g}" value="{value:g}" '
               f'aria-label="{_e(label)} slider">')
    return (f'<label class="knob"><span>{_e(label)}</span>{rng}'
            f'<input type="number" name="{_e(name)}" value="{value:g}" min="{lo:g}" '
            f'max="{hi:g}" step="any" inputmode="decimal">'
            f'<small>{_e(unit)}</small>'
            + (f'<small class="hint">{_e(hint)}</small>' if hint else "") + "</label>")


def knob_form(engine: Engine, slot: str, k: Knobs) -> str:
    d = engine.district
    parts = [f'<form class="knobs" data-slot="{slot}" method="post" action="/run">',
             f'<input type="hidden" name="source" value="{_e(engine.source)}">',
             "<fieldset><legend>Devices and growth</legend>",
             _num("dps", k.devices_per_student, 0, 10, 0.1, "devices per student",
                  "devices", (0, 4)),
             _num("dps_staff", k.devices_per_staff, 0, 10, 0.1, "devices per staff member",
                  "devices", (0, 4)),
             _num("growth", round(k.growth_per_year * 100, 6), 0, 500, 5,
                  "demand growth per year", "%", (0, 150)),
             _num("horizon", k.horizon_years, 0, 20, 1, "planning horizon", "years", (0, 10)),
             "</fieldset><fieldset><legend>Busy hour (R-NOW, R-FUTURE)</legend>",
             _num("active", round(k.active_share * 100, 6), 0, 100, 5,
                  "devices active in the busy hour", "%", (0, 100),
                  hint="of all student, staff and lab devices"),
             _mix_select(k.app_mix),
             "</fieldset><fieldset><legend>Internet</legend>"]
    for cid, mbps in k.circuits.items():
        top = max(10000.0, 4 * engine.base.circuits[cid])
        parts.append(_num(f"circuit:{cid}", mbps, 1, 1_000_000, 10,
                          f"circuit {cid}", "Mbps", (10, top)))
    parts.append("</fieldset>")
    if k.wifi:
        parts.append("<fieldset><legend>Wi-Fi per school</legend><table class='wifi'>"
                     "<tr><th>school</th><th>generation</th><th>width</th>"
                     "<th>APs per classroom</th></tr>")
        for sid, w in k.wifi.items():
            gens = "".join(f'<option{" selected" if g == w.generation else ""}>{g}</option>'
                           for g in GENERATIONS)
            widths = "".join(f'<option value="{x}"{" selected" if x == w.width else ""}>'
                             f'{x} MHz</option>' for x in WIDTHS)
            name = next((s.name for s in d.sites if s.id == sid and s.name), sid)
            if w.classrooms:
                aps = (f'<input type="number" name="apc:{_e(sid)}" step="any" min="0.05" '
                       f'max="10" value="{w.aps / w.classrooms:.2f}" '
                       f'title="{w.aps} APs, {w.classrooms} classrooms">')
            else:
                aps = (f'<input type="number" name="aps:{_e(sid)}" step="1" min="1" '
                       f'value="{w.aps}" title="no classroom count: number of APs"> APs')
            parts.append(f"<tr><td>{_e(name)}</td>"
                         f'<td><select name="gen:{_e(sid)}">{gens}</select></td>'
                         f'<td><select name="width:{_e(sid)}">{widths}</select></td>'
                         f"<td>{aps}</td></tr>")
        parts.append("</table></fieldset>")
    parts.append("<fieldset><legend>Upgrades (planner's catalogue)</legend>")
    for name, opt in engine.options.items():
        on = " checked" if name in k.upgrades else ""
        parts.append(f'<label class="up"><input type="checkbox" name="up:{_e(name)}"{on}> '
                     f'{_e(opt.title)} <small>${opt.cost_usd:,.0f} · '
                     f'{_e(", ".join(opt.rules))}</small></label>')
    parts.append("</fieldset>")
    parts.append(
        '<div class="exports">'
        '<button type="submit" class="run">Update</button>'
        '<button formaction="/export/district.yaml" data-export="yaml">Export district YAML'
        "</button>"
        '<button formaction="/export/report.html" data-export="html">Report HTML</button>'
        '<button formaction="/export/report.json" data-export="json">Report JSON</button>'
        '<button formaction="/export/report.pdf" data-export="pdf">Report PDF</button>'
        "</div></form>")
    return "".join(parts)


def _mix_select(current: str) -> str:
    mixes = app_mixes()
    if current not in mixes:  # the district's own busy_hour names a type of its own
        mixes = {current: "the district's busy_hour.app_mix", **mixes}
    opts = "".join(f'<option value="{_e(n)}"{" selected" if n == current else ""}>'
                   f"{_e(n)}: {_e(mix)}</option>" for n, mix in mixes.items())
    return (f'<label class="knob"><span>application mix</span><select name="mix">{opts}'
            '</select><small class="hint">student mix shown; staff and lab PCs take the same '
            "type's mix (simulator/data/scenarios.yaml)</small></label>")


def _pct(x: float) -> str:
    return f"{x:.1%}"


def result_fragment(r: Result, *, quick: bool) -> str:
    c = r.classification
    n = r.knobs.n_scenarios
    mode = (f"quick preview: {n} scenarios while you drag; the full count runs when you "
            "release the knob" if quick else f"full count: {n} scenarios")
    out = [f'<div class="res" data-result="{_e(r.id)}" data-stage="{c.stage}" '
           f"data-summary='{_e(json.dumps(r.summary()))}'>",
           f'<p class="mode" data-mode="{"quick" if quick else "full"}">{_e(mode)}; '
           f"computed in {r.elapsed_s:.2f} s</p>",
           f'<h2 class="stage s{c.stage}" data-k="stage">{_e(STAGE_NAMES[c.stage])}</h2>',
           f'<p data-k="binding">binding rules: <b>{_e(", ".join(c.binding) or "none")}</b></p>',
           "<h3>Stage ladder</h3><table class='ladder'><tr><th>rule</th><th>status</th>"
           "<th>allows</th><th>why</th></tr>"]
    for v in c.rules:
        cls = "binding" if v.rule_id in c.binding else ""
        out.append(f'<tr class="{cls} {v.status}" data-k="rule:{_e(v.rule_id)}">'
                   f"<td>{_e(v.rule_id)}</td><td>{_e(v.status)}</td>"
                   f"<td>{'▮' * v.allows_stage} {v.allows_stage}</td>"
                   f"<td>{_e(rule_sentence(v, r.district))}</td></tr>")
    out.append("</table>")
    out.append("<h3>Bandwidth per active device</h3><table><tr><th>busy hour</th><th>p5</th>"
               "<th>median</th><th>p95</th></tr>")
    for scen, p in r.rate_percentiles().items():
        out.append(f'<tr data-k="rate:{_e(scen)}"><td>{_e(scen)}</td><td>{p["p5"]:.2f}</td>'
                   f'<td>{p["p50"]:.2f}</td><td>{p["p95"]:.2f} Mbps</td></tr>')
    out.append("</table>")
    out.append(_chart(r, "rates", "Bandwidth per device (distribution)", quick))
    out.append("<h3>Growth year by year</h3>")
    g = r.growth
    if g is None:
        out.append("<p>growth not simulated</p>")
    else:
        which = ("today and the horizon only (every year on release)" if quick
                 else "every year")
        per = g["internet_mbps_per_student"]
        internet = ("no students to share it" if per is None
                    else f"{per:.2f} Mbps per student")
        out.append(f"<p>{g['growth_per_year']:.0%} per year; horizon "
                   f"{g['horizon_years']:g} years; shown: {which}; Internet (active "
                   f"circuits, as R-TARGET counts it): {internet}</p>"
                   "<table><tr><th>year</th><th>p95 unserved</th>"
                   "<th>p95 demand per student</th></tr>")
        for y, u, dm in zip(g["years"], g["unserved_p95"], g["demand_mbps_per_student_p95"],
                            strict=True):
            out.append(f"<tr><td>{y:g}</td><td>{_pct(u)}</td><td>{dm:.2f} Mbps</td></tr>")
        out.append("</table>")
    out.append("<h3>N-1: worst single failures</h3>")
    if r.n1_pending:
        out.append(f'<div class="n1" data-n1="/n1/{_e(r.id)}"><p class="mode">running the '
                   "N-1 analysis (R-HA decided on structure, so the classification did not "
                   "need it); the worst single failures appear here when it finishes</p>"
                   "</div>")
    else:
        out.append(f'<div class="n1">{n1_fragment(r, quick=quick)}</div>')
    out.append("<h3>Cost of the selected upgrades</h3>")
    if r.upgrades:
        out.append("<table><tr><th>upgrade</th><th>one-time</th><th>per year</th>"
                   "<th>total</th></tr>")
        for u in r.upgrades:
            out.append(f"<tr><td>{_e(u.description)}</td><td>${u.capex_usd:,.0f}</td>"
                       f"<td>${u.recurring_usd_per_year:,.0f}</td><td>${u.cost_usd:,.0f}</td></tr>")
        out.append(f'<tr class="total" data-k="cost"><td>total (recurring costs over the '
                   f"catalogue's years)</td><td></td><td></td><td>${r.cost_usd:,.0f}</td></tr>"
                   "</table>")
    else:
        out.append('<p data-k="cost">no upgrades selected: $0</p>')
    out.append("<details class='charts'><summary>All charts (as in the report)</summary>")
    for name, title in (("ladder", "Stage ladder"), ("network", "Network coloured by load"),
                        ("growth", "Growth projection"), ("n1", "Single failures (N-1)")):
        out.append(_chart(r, name, title, quick))
    out.append("</details></div>")
    return "".join(out)


def n1_fragment(r: Result, *, quick: bool) -> str:
    """The N-1 table of ``r`` (or why there is none)."""
    out = []
    rows = r.n1_rows()
    if rows and r.n1_by_page:
        took = f" in {r.n1_elapsed_s:.2f} s" if r.n1_elapsed_s is not None else ""
        out.append("<p class='mode'>R-HA did not need the N-1 simulation (it decided on "
                   "structure); the page ran it with the same library call and settings"
                   f"{took}</p>")
    if rows:
        out.append("<table><tr><th>failed element</th><th>p95 unserved</th>"
                   "<th>students cut off</th></tr>")
        out += [f"<tr><td>{_e(e)}</td><td>{_pct(u)}</td><td>{s:,}</td></tr>"
                for e, u, s in rows]
        out.append("</table>")
    else:
        ha = next((v for v in r.classification.rules if v.rule_id == "R-HA"), None)
        when = " in the quick preview (it runs on release)" if quick else ""
        why = ": " + _e(rule_sentence(ha, r.district)) if ha else ""
        out.append(f"<p>not analysed{when}{why}</p>")
    return "".join(out)


def _chart(r: Result, name: str, title: str, quick: bool) -> str:
    if quick:
        return f'<p class="chart-wait">{_e(title)}: drawn when you release the knob</p>'
    return (f'<figure><img src="/chart/{_e(r.id)}/{name}.png" alt="{_e(title)}" '
            f'data-chart="{name}" loading="lazy"><figcaption>{_e(title)}</figcaption></figure>')


def error_fragment(exc: KnobError) -> str:
    items = "".join(f'<li data-field="{_e(k)}">{_e(v)}</li>' for k, v in exc.errors.items())
    return (f'<div class="res errors" role="alert"><h2>Check the knobs</h2><ul>{items}</ul>'
            "<p>Nothing was computed; fix the fields above and try again.</p></div>")


def _busy_hour_note() -> str:
    """Where the busy-hour knobs' defaults come from."""
    return ("Busy hour: the share of devices active and the application mix default to the "
            "shipped scenario types ('now' and 'future' in simulator/data/scenarios.yaml); "
            "changing them writes district.busy_hour, which the simulator reads.")


def page(engine: Engine, examples: list[str], a: Result, b: Result) -> str:
    d = engine.district
    opts = "".join(f'<option value="{_e(s)}"{" selected" if s == engine.source else ""}>'
                   f"{_e(s)}</option>" for s in examples)
    slots = []
    for slot, r in (("A", a), ("B", b)):
        slots.append(f'<section class="slot" id="slot-{slot}"><h2>Scenario {slot}</h2>'
                     f"{knob_form(engine, slot, r.knobs)}"
                     f'<div class="result" id="result-{slot}">'
                     f"{result_fragment(r, quick=False)}</div></section>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>netstage what-if: {_e(d.district.name)}</title>
<link rel="stylesheet" href="/static/app.css">
</head><body>
<header><h1>netstage what-if: {_e(d.district.name)}</h1>
<form class="open" method="get" action="/"><label>district
<select name="district">{opts}</select></label><button>open</button></form>
<form class="open" method="post" action="/open" enctype="multipart/form-data">
<label>or a district file <input type="file" name="district" accept=".yaml,.yml"></label>
<button>upload and open</button></form>
<p class="note">{d.total_students:,} students, {len(d.sites)} sites. The opened file
({_e(engine.source)}) is never written; exports are new files. While a slider moves, each
result uses {QUICK_SCENARIOS} scenarios; on release, the full {engine.full_scenarios}
scenarios, as <code>netstage classify</code>. Stage rules: Scott Smith's 1:1 stages
(docs/stages.md). {_e(_busy_hour_note())}</p></header>
<main class="ab">{"".join(slots)}</main>
<section id="diff"><h2>A/B differences</h2><div id="diff-body"></div></section>
<script src="/static/app.js"></script>
</body></html>"""
