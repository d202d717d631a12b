"""Sentences a board member reads: rule evidence turned into plain English.

One place for the words the CLI (``classify``, ``plan``, ``sweep``), the HTML/PDF
report and the sweep output print about a district: units, plurals, percentages,
site and node *names* where the district gives them (never raw ids such as expanded
link ids ``<link>#<j>`` or air links ``air:<ap>``), fact names as phrases (never
``snake_case``), and for a rule that does not pass, the threshold it misses and the
stage that threshold is needed for.

Everything here reads a :class:`~netstage.simulator.rules.base.RuleVerdict` (its
inputs, checks, thresholds and details) and, optionally, the
:class:`~netstage.simulator.model.District` for names; nothing here changes a verdict.

>>> plural(1, "round"), plural(3, "round"), plural(2, "facility", "facilities")
('1 round', '3 rounds', '2 facilities')
>>> pct(0.04723), pct(0.612), pct(0.0), pct(1.0)
('4.7%', '61%', '0%', '100%')
>>> join_and(["a", "b", "c"])
'a, b and c'
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from netstage.simulator.element_ids import SRLG, air_point, is_air, is_srlg, parts, split_member
from netstage.simulator.model import INFRASTRUCTURE_KINDS, District
from netstage.simulator.rules.availability_rule import HADetails
from netstage.simulator.rules.base import RuleInput, RuleVerdict
from netstage.simulator.rules.capacity import CapacityDetails
from netstage.simulator.rules.declared_rules import StandardDetails
from netstage.simulator.rules.target import TargetDetails, internet_kbps_per_student

__all__ = [
    "FACT_PHRASES",
    "INPUT_LABELS",
    "action_text",
    "binding_text",
    "board_text",
    "cost_note_text",
    "element_name",
    "fix_plurals",
    "input_source",
    "input_value",
    "join_and",
    "need_sentence",
    "note_text",
    "pct",
    "plan_rule_change",
    "plan_sentence",
    "plural",
    "resolve_text",
    "rule_name",
    "rule_sentence",
    "stage_sentence",
    "sweep_cost_line",
    "threshold_label",
    "threshold_value",
]

RULE_NAMES = {
    "R-LAB": "labs and staff computers",
    "R-NOW": "one device per student today",
    "R-FUTURE": "growth over the planning horizon",
    "R-TARGET": "Internet and WAN capacity per student",
    "R-HA": "redundancy",
    "R-SECURITY": "security",
    "R-MANAGE": "device management",
    "R-STANDARD": "standard hardware",
}

#: Security, management and standardisation facts as phrases ("is in place" follows).
FACT_PHRASES = {
    "edge_firewall": "an edge firewall",
    "content_filter": "content filtering (CIPA)",
    "default_write_communities_removed": "default SNMP write communities removed",
    "default_read_communities_removed": "default SNMP read communities removed",
    "segmentation": "separate student, staff and management networks",
    "snmp_v3_only": "SNMPv3-only device management",
    "dot1x": "802.1X sign-in to the network",
    "mdm": "mobile device management (MDM)",
    "config_backup": "configuration backups",
    "standardisation_plan": "a hardware standardisation plan",
    "monitoring": "network monitoring",
}

#: Rule inputs as labels for tables.
INPUT_LABELS = {
    "topology_links": "links and circuits in the model",
    "students": "students",
    "devices_per_student": "devices per student",
    "wired_lab_pcs_per_school": "wired lab PCs per school",
    "horizon_years": "planning horizon",
    "growth_per_year": "demand growth per year",
    "internet_capacity_mbps": "Internet capacity",
    "worst_school_wan_gbps_per_1000": "WAN capacity of the least-served school",
    "internet_circuits": "Internet circuits",
    "min_edge_disjoint_paths_per_school": "independent paths from the least-connected school",
    "worst_n1_unserved_p95": "demand unserved after the worst single failure",
    "answer_share": "network devices answering inventory polls",
    "history_days": "poll history",
    "top2_family_share": "share of the two commonest model families",
    "max_firmware_versions_per_model": "most firmware versions of one model",
    **{k: v[0].upper() + v[1:] for k, v in FACT_PHRASES.items()},
}

_SCENARIO_PHRASE = {
    "lab": "the lab and staff busy hour",
    "now": "today's 1:1 busy hour",
    "future": "today's 1:1 busy hour grown over the planning horizon",
}


# -- small pieces --------------------------------------------------------------------------
def plural(n: float, word: str, many: str | None = None) -> str:
    """``1 round``, ``3 rounds``, ``2 facilities`` (numbers with thousands separators)."""
    num = f"{n:,.0f}" if float(n).is_integer() else f"{n:,.1f}"
    return f"{num} {word if n == 1 else (many or word + 's')}"


def pct(x: float) -> str:
    """A fraction as a percentage a reader takes in at a glance: one decimal below 10 %."""
    v = float(x) * 100
    if v == 0 or v >= 10 or abs(v - round(v)) < 0.05:
        return f"{v:.0f}%"
    return f"{v:.1f}%"


def join_and(items: Iterable[str]) -> str:
    xs = [x for x in items if x]
    if len(xs) <= 1:
        return "".join(xs)
    return ", ".join(xs[:-1]) + " and " + xs[-1]


def _mbps(x: float) -> str:
    return f"{x / 1000:,.3g} Gbps" if x >= 1000 else f"{x:,.4g} Mbps"


def _kbps(x: float) -> str:
    return f"{x / 1000:,.3g} Mbps" if x >= 1000 else f"{x:,.0f} kbps"


def rule_name(rule_id: str) -> str:
    """``R-MANAGE`` -> ``device management (R-MANAGE)``."""
    return f"{RULE_NAMES.get(rule_id, rule_id)} ({rule_id})"


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


# -- names, not ids -----------------------------------------------------------------------
def _names(d: District | None) -> dict[str, str]:
    if d is None:
        return {}
    out: dict[str, str] = {}
    for s in d.sites:
        out[s.id] = s.name or s.id
    for n in d.nodes:
        out[n.id] = n.name or n.id
    return out


def element_name(eid: str, d: District | None = None) -> str:
    """A network element (node, site, link, circuit, shared-risk group, AP radio) as
    words: names where the district gives them, never ``air:`` or ``#<j>``.

    >>> element_name("air:es-ap#3")
    'the Wi-Fi of access point 4 of es-ap'
    >>> element_name("air:es-ap#3#2.4")
    'the 2.4 GHz Wi-Fi of access point 4 of es-ap'
    >>> element_name("core--es-sw#2")
    'the uplink of access point 3 on the link between core and es-sw'
    >>> element_name("srlg:conduit-a")
    'everything in shared-risk group conduit-a'
    """
    names = _names(d)
    nm = names.get
    links = {lk.key: lk for lk in d.links} if d is not None else {}
    circuits = {c.id: c for c in d.circuits} if d is not None else {}
    if is_srlg(eid):
        return f"everything in shared-risk group {eid[len(SRLG):]}"
    if is_air(eid):
        point = parts(air_point(eid))
        ap = nm(point[0], point[0])
        band = ""
        member = ""
        for p in point[1:]:
            if p in ("2.4", "5", "6"):
                band = f"{p} GHz "
            elif p.isdigit():
                member = f"access point {int(p) + 1} of "
        return f"the {band}Wi-Fi of {member}{ap}"
    if eid in circuits:
        c = circuits[eid]
        return f"Internet circuit {eid} ({_mbps(c.capacity_mbps)} at {nm(c.attach, c.attach)})"
    base, j = split_member(eid)
    if base in links or "--" in base:
        lk = links.get(base)
        a, b = (lk.a, lk.b) if lk is not None else tuple(base.split("--", 1))
        what = f"the link between {nm(a, a)} and {nm(b, b)}"
        if j.isdigit():
            return f"the uplink of access point {int(j) + 1} on {what}"
        return what
    if eid in names:
        return nm(eid, eid)
    if j.isdigit():
        return f"access point {int(j) + 1} of {nm(base, base)}"
    return eid


# -- inputs ---------------------------------------------------------------------------
def input_value(i: RuleInput) -> str:
    """The value of a rule input with its unit, or ``not known``."""
    v = i.value
    if v is None:
        return "not known"
    if isinstance(v, bool):
        return "yes" if v else "no"
    u = i.unit
    if isinstance(v, int | float):
        if u == "fraction" or u.startswith("fraction"):
            return pct(v) + ("/year" if "year" in u else "")
        if u == "Mbps":
            return _mbps(float(v))
        if u in ("days", "years", "students", "links", "circuits", "paths", "versions",
                 "PCs"):
            return plural(float(v), u[:-1] if u.endswith("s") else u, u)
        if u == "devices":
            return f"{v:g}"
        if u:
            return f"{v:,.4g} {u}"
        return f"{v:,.4g}"
    return str(v)


def input_source(i: RuleInput) -> str:
    """``measured`` / ``declared`` / ``default`` / ``not given``, or ``inferred from …``
    with the facts named as phrases."""
    if i.value is None:
        return "not given"
    if i.inferred_from:
        return "inferred from " + join_and(FACT_PHRASES.get(f, f) for f in i.inferred_from)
    return i.shown_provenance


# -- the rule sentences -------------------------------------------------------------------
def _inp(v: RuleVerdict, name: str) -> RuleInput | None:
    return next((i for i in v.inputs if i.name == name), None)


def _val(v: RuleVerdict, name: str) -> Any:
    i = _inp(v, name)
    return None if i is None else i.value


def _th(v: RuleVerdict, name: str) -> Any:
    return v.threshold.get(name)


def _finding_capacity(v: RuleVerdict, d: District | None) -> str:
    det = v.details if isinstance(v.details, CapacityDetails) else None
    scen = det.scenario if det is not None else ""
    where = _SCENARIO_PHRASE.get(scen, f"the '{scen}' busy hour")
    un = det.unserved if det is not None else None
    if un is None:
        return (f"{_cap(where)} has no students or staff to simulate, so nothing was "
                "measured")
    n = det.n_scenarios if det is not None else None
    s = (f"In {where}" + (f" ({plural(int(n), 'simulated hour')})" if n else "")
         + (", no demand goes unserved in 95% of hours" if un == 0 else
            f", 95% of hours leave at most {pct(un)} of demand unserved"))
    th = det.throttled if det is not None else None
    if th is not None:
        s += (" and no device is slowed below what its apps need" if th == 0 else
              f" and at most {pct(th)} of devices are slowed below what their apps need")
    return s


def _finding_target(v: RuleVerdict, d: District | None) -> str:
    cap = _val(v, "internet_capacity_mbps")
    students = _val(v, "students")
    if not students:
        return "Internet capacity per student cannot be worked out: no students are given"
    if cap is None:
        return f"The district gives no Internet circuit for its {plural(students, 'student')}"
    s = (f"{_mbps(cap)} of Internet for {plural(students, 'student')} is "
         f"{_kbps(internet_kbps_per_student(cap, students) or 0.0)} per student")
    det = v.details if isinstance(v.details, TargetDetails) else TargetDetails()
    worst = det.worst_school
    if worst is not None:
        g = float(det.school_wan_gbps_per_1000[worst])
        amount = f"{g:,.3g} Gbps" if g >= 1 else f"{g * 1000:,.0f} Mbps"
        s += (f"; the school with the least WAN capacity, {element_name(worst, d)}, has "
              f"{amount} per 1,000 students")
    return s


def _finding_ha(v: RuleVerdict, d: District | None) -> str:
    det = v.details if isinstance(v.details, HADetails) else HADetails()
    n = _val(v, "internet_circuits") or 0
    s = plural(int(n), "Internet circuit")
    if det.circuit_groups:
        s += " (" + "; ".join(f"{join_and(g[1:])} share risk group {g[0]} and count once"
                              for g in det.circuit_groups) + ")"
    paths = _val(v, "min_edge_disjoint_paths_per_school")
    site = det.worst_site
    if paths is not None and site:
        s += (f"; the least-connected school, {element_name(str(site), d)}, has "
              f"{plural(int(paths), 'independent path')} to the Internet")
        bind = det.binding.get(site)
        if bind:
            s += (" (its paths share risk group" + ("s " if len(bind) > 1 else " ")
                  + join_and(bind) + ")")
    n1 = _val(v, "worst_n1_unserved_p95")
    if n1 is not None:
        el = det.worst_contingency
        s += ("; the worst single failure" + (f" (losing {element_name(str(el), d)})"
                                              if el and el != "none" else "")
              + f" leaves {pct(n1)} of demand unserved")
    return s


def _finding_security(v: RuleVerdict, d: District | None) -> str:
    held = [FACT_PHRASES.get(i.name, i.name) for i in v.inputs if i.value is True]
    absent = [FACT_PHRASES.get(i.name, i.name) for i in v.inputs if i.value is False]
    unknown = [FACT_PHRASES.get(i.name, i.name) for i in v.inputs if i.value is None]
    s = f"{len(held)} of {plural(len(v.inputs), 'security practice')} are in place"
    if len(held) == 1:
        s = f"1 of {plural(len(v.inputs), 'security practice')} is in place"
    if held:
        s += f" ({join_and(held)})"
    if absent:
        s += f"; not in place: {join_and(absent)}"
    if unknown:
        s += f"; not yet known: {join_and(unknown)}"
    return s


def _state(x: Any) -> str:
    return {True: "in place", False: "not in place", None: "not declared"}[x]


def _finding_manage(v: RuleVerdict, d: District | None) -> str:
    share = _val(v, "answer_share")
    hist = _val(v, "history_days")
    s = ("How many network devices answer inventory polls has not been measured"
         if share is None else f"{pct(share)} of network devices answered inventory polls")
    s += (f"; mobile device management is {_state(_val(v, 'mdm'))}, configuration "
          f"backups are {_state(_val(v, 'config_backup'))}; ")
    s += ("no poll history is recorded" if hist is None
          else f"{plural(float(hist), 'day')} of poll history are recorded"
          if hist != 1 else "1 day of poll history is recorded")
    return s


def _families(v: RuleVerdict, d: District | None) -> list[tuple[str, int]]:
    fam: dict[str, int] = dict(v.details.families if isinstance(v.details, StandardDetails)
                               else {})
    pretty: dict[str, str] = {}
    if d is not None:
        from netstage.simulator.rules.declared_rules import model_family

        for n in d.nodes:
            if n.kind in INFRASTRUCTURE_KINDS and n.vendor and n.model:
                m = re.match(r"[A-Za-z]+", n.model.strip())
                pretty.setdefault(model_family(n.vendor, n.model),
                                  f"{n.vendor.strip()} {m.group(0) if m else n.model.strip()}")
    return [(pretty.get(k, k.title()), c) for k, c in Counter(fam).most_common(2)]


def _finding_standard(v: RuleVerdict, d: District | None) -> str:
    share = _val(v, "top2_family_share")
    n_infra = (sum(1 for n in d.nodes if n.kind in INFRASTRUCTURE_KINDS)
               if d is not None else None)
    if share is None:
        s = "Vendor and model are not known for every network device"
    else:
        fams = _families(v, d)
        top = join_and(f"{name}, {plural(c, 'device')}" for name, c in fams)
        s = (f"The two commonest model families ({top}) make up {pct(share)} of "
             + (plural(n_infra, "network device") if n_infra else "the network devices"))
        if len(fams) == 1:
            s = (f"One model family ({top}) makes up {pct(share)} of "
                 + (plural(n_infra, "network device") if n_infra else "the network devices"))
    fw = _val(v, "max_firmware_versions_per_model")
    s += ("; firmware is not known for every device" if fw is None
          else f"; no model runs more than {plural(int(fw), 'firmware version')}")
    plan = _val(v, "standardisation_plan")
    s += "; a standardisation plan is " + {True: "declared", False: "not in place",
                                           None: "not declared"}[plan]
    return s


_FINDINGS = {
    "R-LAB": _finding_capacity, "R-NOW": _finding_capacity, "R-FUTURE": _finding_capacity,
    "R-TARGET": _finding_target, "R-HA": _finding_ha, "R-SECURITY": _finding_security,
    "R-MANAGE": _finding_manage, "R-STANDARD": _finding_standard,
}


def _need(v: RuleVerdict, check: str) -> str:
    """What one check of ``v`` needs, as words with its threshold."""
    r, t = v.rule_id, v.threshold
    if r in ("R-LAB", "R-NOW", "R-FUTURE"):
        if check == "max_throttled_p95":
            return f"at most {pct(t[check])} of devices slowed in 95% of busy hours"
        return f"at most {pct(t[check])} of demand unserved in 95% of busy hours"
    if r == "R-TARGET":
        if check in ("internet_stage2", "internet_stage4"):
            kb = t[f"min_internet_kbps_per_student_{check.split('_')[1]}"]
            return f"at least {_kbps(kb)} of Internet per student"
        return (f"at least {t['min_wan_gbps_per_1000_students']:g} Gbps of WAN capacity per "
                "1,000 students at every school")
    if r == "R-HA":
        if check == "circuits":
            return (f"at least {plural(t['min_internet_circuits'], 'Internet circuit')} that "
                    "do not share a provider or entrance")
        if check == "paths":
            n = t["min_edge_disjoint_paths_per_school"]
            return f"at least {plural(n, 'independent path')} from every school to the Internet"
        return (f"at most {pct(t['max_n1_unserved_p95'])} of demand unserved after any "
                "single failure")
    if r == "R-SECURITY":
        facts = list(t.get(check) or [])
        have = {i.name: i.value for i in v.inputs}
        missing = [f for f in facts if have.get(f) is not True]
        return join_and(FACT_PHRASES.get(f, f) for f in (missing or facts))
    if r == "R-MANAGE":
        share, hist = _val(v, "answer_share"), _val(v, "history_days")
        min_share = t["min_answer_share_stage3" if check == "stage3"
                      else "min_answer_share_stage4"]
        parts = [] if share is not None and share >= min_share else [
            f"at least {pct(min_share)} of network devices answering inventory polls"]
        if check == "stage3":
            if _val(v, "mdm") is not True:
                parts.append("mobile device management in place")
        else:
            if hist is None or hist < t["min_history_days"]:
                parts.append(f"{plural(t['min_history_days'], 'day')} of poll history")
            if _val(v, "config_backup") is not True:
                parts.append("configuration backups")
        return join_and(parts) or join_and([f"at least {pct(min_share)} answering"])
    if r == "R-STANDARD":
        share, fw = _val(v, "top2_family_share"), _val(v, "max_firmware_versions_per_model")
        if check == "stage3":
            return ("a standardisation plan, or the two commonest model families making up "
                    f"at least {pct(t['min_top2_family_share_stage3'])} of network devices")
        s4 = t["min_top2_family_share_stage4"]
        fwmax = t["max_firmware_versions_per_model"]
        parts = [] if share is not None and share >= s4 else [
            f"the two commonest model families at {pct(s4)} or more of network devices"]
        if fw is None or fw > fwmax:
            parts.append(f"at most {plural(fwmax, 'firmware version')} per model")
        return join_and(parts) or f"the two commonest model families at {pct(s4)} or more"
    return next((c.text for c in v.checks if c.name == check), check)


def need_sentence(v: RuleVerdict, entry: dict[str, Any]) -> str:
    """One ``would_change`` entry of ``v`` as a sentence."""
    known = "it is not yet known" if entry["currently"] == "unknown" else "not met today"
    return f"Stage {entry['to_reach_stage']} needs {_need(v, entry['check'])} ({known})."


def rule_sentence(v: RuleVerdict, d: District | None = None) -> str:
    """The finding of ``v`` and its verdict: the stage it allows and, when it does not
    pass, the threshold it misses for the next stage."""
    find = _FINDINGS.get(v.rule_id)
    finding = find(v, d) if find else v.explanation.rstrip(".")
    if v.status == "pass":
        return f"{finding}. This meets every threshold, up to Stage 4."
    open_ = [c for c in sorted(v.checks, key=lambda c: c.stage)
             if c.passed is not True and c.stage > v.allows_stage]
    if not open_:
        return f"{finding}. This allows Stage {v.allows_stage}."
    first = open_[0].stage
    nxt = [c for c in open_ if c.stage == first]
    needs = join_and(_need(v, c.name) + (" (not yet known)" if c.passed is None
                                         and v.status != "unknown" else "") for c in nxt)
    if v.status == "unknown":
        s = (f"{finding}. Stage {first} needs {needs}, which is not yet known, so this "
             f"counts as Stage {v.allows_stage} until it is measured or declared.")
    else:
        s = f"{finding}. Stage {first} needs {needs}, so this allows Stage {v.allows_stage}."
    later = [c for c in open_ if c.stage > first]
    for stg in sorted({c.stage for c in later}):
        s += (f" Stage {stg} also needs "
              + join_and(_need(v, c.name) for c in later if c.stage == stg) + ".")
    return s


def stage_sentence(c: Any, d: District | None = None) -> str:
    """The district's stage and the rules that hold it there, in one sentence."""
    name = d.district.name if d is not None else c.district_name
    long = c.stage_name.split(" - ", 1)[-1]
    if c.stage == 4:
        return f"{name} is at Stage 4 ({long}): every rule meets its Stage 4 thresholds."
    held = join_and(RULE_NAMES.get(b, b) for b in c.binding)
    return (f"{name} is at Stage {c.stage} ({long}), the lowest stage any rule allows; "
            f"{'it is' if len(c.binding) == 1 else 'they are'} held there by {held}.")


_CMD = re.compile(r"(`[^`]*`)")
_FIELD = re.compile(r"(?<![`\w])((?:declared|sites\[\]|nodes\[\]|measured)(?:\.[\w/\[\]]+)+)")


def resolve_text(item: str) -> str:
    """A 'to resolve' line with field paths put in backticks like the commands are."""
    parts = _CMD.split(item)
    return "".join(p if p.startswith("`") else _FIELD.sub(r"`\1`", p) for p in parts)


def plan_rule_change(before: RuleVerdict, after: RuleVerdict | None, target: int) -> str:
    """How one rule moved under a plan: ``raised to Stage 3 (meets the target)``…"""
    if after is None:
        return "not re-checked"
    b, a = before.allows_stage, after.allows_stage
    if a >= target:
        tail = "meets the target" if a < 4 else "passes"
        return f"raised to Stage {a} ({tail})" if a > b else f"unchanged ({tail})"
    if a > b:
        return f"raised to Stage {a}, still short of Stage {target}"
    if a < b:
        return f"lowered to Stage {a}"
    return f"unchanged, short of Stage {target}" + (
        " (not yet known)" if after.status == "unknown" else "")


def binding_text(stage: int | None, binding: Sequence[str]) -> str:
    """The sweep's 'held back by' cell: none at Stage 4, else the binding rule ids."""
    if stage is None:
        return ""
    if stage >= 4:
        return "none (Stage 4)"
    return ", ".join(binding)


def sweep_cost_line(summary: dict[str, Any]) -> str:
    """Districts per stage and what lifting them one stage costs, honest about gaps."""
    per = summary["districts_per_stage"]
    head = "districts per stage: " + ", ".join(
        f"Stage {k}: {v}" for k, v in per.items())
    below = sum(v for k, v in per.items() if str(k) != "4")
    unpriced = int(summary.get("districts_without_plan") or 0)
    cost = float(summary.get("cost_to_next_stage_usd") or 0.0)
    if below == 0:
        return head + "; every district is at Stage 4, nothing to lift"
    priced = below - unpriced
    if priced <= 0:
        return (head + f"; no cost to lift {'the district' if below == 1 else 'them'} one "
                f"stage: none of the {plural(below, 'district')} below Stage 4 was priced")
    s = (head + f"; lifting {plural(priced, 'priced district')} one stage costs about "
         f"${cost:,.0f}")
    if unpriced:
        s += f" ({unpriced} more below Stage 4 not priced)"
    return s


_STILL = re.compile(r"still binding: ((?:R-[A-Z]+(?:, )?)+)")


def note_text(note: str) -> str:
    """A planner note for the board: rule ids named, no commands.

    >>> note_text("re-classification gives stage 3; still binding: R-HA, R-NOW")
    're-classification gives stage 3; still held back by redundancy (R-HA) and one device per student today (R-NOW)'
    """  # noqa: E501
    return _STILL.sub(lambda m: "still held back by " + join_and(
        rule_name(x.strip()) for x in m.group(1).split(",") if x.strip()), board_text(note))


def plan_sentence(p: Any) -> str:
    """An upgrade plan in one or two sentences: actions, cost, stages, budget."""
    if not p.actions and p.reached:
        return (f"{p.district_name} is already at Stage {p.stage_before}, the target: "
                "nothing to do.")
    s = (f"{plural(len(p.actions), 'action')} costing about ${p.cost_usd:,.0f} over "
         f"{plural(p.cost_years, 'year')} take {p.district_name} from Stage {p.stage_before} "
         f"to Stage {p.stage_after} (checked by classifying the upgraded network again)")
    if p.reached:
        s += f", meeting the Stage {p.target_stage} target."
    else:
        s += f"; this does not reach Stage {p.target_stage}"
        s += (": " + "; ".join(note_text(n) for n in p.notes) + ".") if p.notes else "."
    if p.budget_usd is not None:
        if p.cost_usd <= p.budget_usd:
            s += f" It fits the ${p.budget_usd:,.0f} budget."
        else:
            part = list(p.actions_within_budget or [])
            if part:
                spent = sum(float(a.cost_usd) for a in part)
                s += (f" It is over the ${p.budget_usd:,.0f} budget; the part that fits "
                      f"({plural(len(part), 'action')}, about ${spent:,.0f}) reaches "
                      f"Stage {p.stage_within_budget}.")
            else:
                s += f" It is over the ${p.budget_usd:,.0f} budget and no action fits it."
    return s


_THRESHOLD_LABELS = {
    "max_unserved_p95": "most demand left unserved in 95% of busy hours",
    "max_throttled_p95": "most devices slowed in 95% of busy hours",
    "min_internet_kbps_per_student_stage2": "least Internet per student (Stage 2)",
    "min_internet_kbps_per_student_stage4": "least Internet per student (Stage 4)",
    "min_wan_gbps_per_1000_students": "least WAN capacity per 1,000 students at each school",
    "min_edge_disjoint_paths_per_school": "fewest independent paths from a school",
    "min_internet_circuits": "fewest Internet circuits",
    "max_n1_unserved_p95": "most demand unserved after a single failure",
    "stage3_requires": "security practices needed for Stage 3",
    "stage4_requires": "security practices needed for Stage 4",
    "min_answer_share_stage3": "least share of devices answering polls (Stage 3)",
    "min_answer_share_stage4": "least share of devices answering polls (Stage 4)",
    "min_history_days": "least poll history",
    "min_top2_family_share_stage3": "least share of the two commonest families (Stage 3)",
    "min_top2_family_share_stage4": "least share of the two commonest families (Stage 4)",
    "max_firmware_versions_per_model": "most firmware versions per model",
}


def threshold_label(name: str) -> str:
    """A rubric threshold name as a phrase."""
    return _THRESHOLD_LABELS.get(name, name.replace("_", " "))


def threshold_value(value: Any, unit: str = "") -> str:
    """A rubric threshold value with its unit: percentages, lists of facts as phrases."""
    if isinstance(value, list):
        return join_and(FACT_PHRASES.get(str(x), str(x)) for x in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        if unit in ("fraction", "share") or (isinstance(value, float) and value < 1
                                             and unit in ("", "fraction")):
            return pct(value)
        return f"{value:,.4g} {unit}".strip()
    return str(value)


_BY_CMD = re.compile(r"\s*,?\s*\b(?:by|with|via|using|run)\s+`[^`]*`")
_ANY_CMD = re.compile(r"`([^`]*)`")
_PLURAL_S = re.compile(r"\b(\d[\d,]*)((?: [\w-]+)*?) ([A-Za-z-]+)\(s\)")


def fix_plurals(text: str) -> str:
    """``9 device(s)`` -> ``9 devices``, ``1 device(s)`` -> ``1 device``.

    >>> fix_plurals("11 more access point(s) at hs-ap; 1 more access point(s)")
    '11 more access points at hs-ap; 1 more access point'
    >>> fix_plurals("replace the 3 wifi4 AP(s)")
    'replace the 3 wifi4 APs'
    """
    def one(m: re.Match[str]) -> str:
        n = float(m.group(1).replace(",", ""))
        return f"{m.group(1)}{m.group(2)} {m.group(3)}{'' if n == 1 else 's'}"

    return _PLURAL_S.sub(one, text)


def board_text(text: str) -> str:
    """Text from elsewhere (plan actions, cost notes) made fit for the board: no shell
    commands (``polled by `netstage poll``` -> ``polled``), ``9 device(s)`` -> ``9 devices``.

    >>> board_text("SNMP on 9 devices, polled by `netstage poll` for 30 days")
    'SNMP on 9 devices, polled for 30 days'
    >>> board_text("bring 1 device(s) and 9 device(s) to one version")
    'bring 1 device and 9 devices to one version'
    """
    s = _BY_CMD.sub("", text)
    return fix_plurals(_ANY_CMD.sub(r"\1", s))


_NOTE_HEAD = re.compile(r"^(\d[\d,.]*) ([A-Za-z][\w -]*?)(?=:|$)")
_PER_YEAR = re.compile(r"\$([\d,]+)/yr x ([\d.]+) yr")
_WIRED_LIKE = re.compile(r"\bwired like (\S+)")


def cost_note_text(note: str) -> str:
    """A plan action's cost note in words: ``9 infrastructure device: $450`` ->
    ``9 infrastructure devices: $450``; ``$8,400/yr x 3 yr`` -> ``$8,400 a year for 3 years``.

    >>> cost_note_text("9 infrastructure device: $450 one-time + $100/yr x 3 yr")
    '9 infrastructure devices: $450 one-time + $100 a year for 3 years'
    """
    def head(m: re.Match[str]) -> str:
        n = float(m.group(1).replace(",", ""))
        words = m.group(2).rsplit(" ", 1)
        last = words[-1]
        if n != 1 and not last.endswith(("s", "ed")) and last.isalpha() and last.islower():
            last += "s"
        return f"{m.group(1)} {' '.join([*words[:-1], last])}"

    s = _NOTE_HEAD.sub(head, note)
    return _PER_YEAR.sub(lambda m: f"${m.group(1)} a year for "
                         f"{plural(float(m.group(2)), 'year')}", s)


def action_text(description: str, d: District | None = None) -> str:
    """A plan action for the board: :func:`board_text`, and ``wired like <node>`` as
    ``connected the same way as <name>``."""
    s = board_text(description)
    return _WIRED_LIKE.sub(lambda m: "connected the same way as "
                           + element_name(m.group(1), d), s)
