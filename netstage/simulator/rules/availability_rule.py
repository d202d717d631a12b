"""R-HA: redundancy of every school's path to the Internet, and N-1 contingency.

Uses :func:`netstage.simulator.redundancy.analyse_redundancy` (edge-disjoint paths per
site, single points of failure) and :func:`netstage.simulator.contingency.run_contingency`
(p95 unserved under every single link or node failure, except a school's own access
switch). The number of Internet circuits is read from the district directly.
Reports are kept in ``ctx.evidence.redundancy`` / ``ctx.evidence.contingency``
(:class:`~netstage.simulator.evidence.Evidence`, sharing the capacity rules' arrays).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from netstage.simulator.model import SiteKind
from netstage.simulator.rules.base import (
    Check,
    RuleContext,
    RuleDetails,
    RuleInput,
    RuleVerdict,
    Status,
    at_least,
    at_most,
    register,
    verdict_from_checks,
)
from netstage.simulator.srlg import circuit_count

if TYPE_CHECKING:
    from netstage.simulator.contingency import ContingencyReport
    from netstage.simulator.redundancy import RedundancyReport

__all__ = ["HADetails", "contingency", "redundancy", "rule_ha"]


@dataclass(frozen=True, eq=False)
class HADetails(RuleDetails):
    """What R-HA found beside its inputs: the worst-connected school and the worst single
    failure, circuits that share a risk group, and the shared-risk groups and stacks
    behind each school's path count (JSON keys as the field names)."""

    worst_site: str | None = None
    worst_contingency: str | None = None
    #: each group holding two or more circuits as ``[group, circuit, circuit, ...]``
    circuit_groups: list[list[str]] = field(default_factory=list)
    #: shared-risk group -> its member links (the redundancy report's srlg_groups)
    groups: dict[str, list[str]] = field(default_factory=dict)
    #: school -> {"paths": SRLG-disjoint, "edge_disjoint": ..., "exact": ...}
    srlg_disjoint_paths: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: school -> the shared-risk groups that bind its path count
    binding: dict[str, list[str]] = field(default_factory=dict)
    redundant_stacks: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"worst_site": self.worst_site, "worst_contingency": self.worst_contingency,
                "circuit_groups": self.circuit_groups, "groups": self.groups,
                "srlg_disjoint_paths": self.srlg_disjoint_paths, "binding": self.binding,
                "redundant_stacks": self.redundant_stacks}


def redundancy(ctx: RuleContext) -> RedundancyReport | None:
    """Cached redundancy report (None after the analysis failed on this district)."""
    return ctx.evidence.redundancy_report()


def contingency(ctx: RuleContext) -> ContingencyReport | None:
    """Cached N-1 contingency report (None after the analysis failed on this district)."""
    return ctx.evidence.contingency_report()


def _min_school_paths(ctx: RuleContext, rep: Any) -> tuple[int | None, str | None]:
    schools = {s.id for s in ctx.district.sites if s.kind == SiteKind.SCHOOL and s.students}
    paths = {sid: int(n) for sid, n in _site_paths(rep).items() if sid in schools}
    if not paths:
        return None, None
    worst = min(paths, key=lambda k: paths[k])
    return paths[worst], worst


def _site_paths(rep: Any) -> dict[str, int]:
    sites = getattr(rep, "sites", None)
    out: dict[str, int] = {}
    if isinstance(sites, dict):
        items = list(sites.items())
    else:
        items = [(getattr(s, "site", None) or getattr(s, "site_id", None), s) for s in sites or []]
    for sid, s in items:
        # shared-risk groups: paths that share a group count once (srlg_disjoint_paths
        # equals edge_disjoint_paths when the district declares no group)
        n = getattr(s, "srlg_disjoint_paths", None)
        if n is None:
            n = getattr(s, "edge_disjoint_paths", None)
        if n is None and isinstance(s, dict):
            n = s.get("srlg_disjoint_paths", s.get("edge_disjoint_paths"))
        if sid is not None and n is not None:
            out[str(sid)] = int(n)
    return out


@register("R-HA")
def rule_ha(ctx: RuleContext) -> RuleVerdict:
    """Stage 4 needs >= 2 circuits, >= 2 edge-disjoint paths per school, N-1 p95 unserved <= 5 %."""
    d = ctx.district
    th = ctx.rubric.rules["R-HA"].thresholds
    tp, tc, tn = (th["min_edge_disjoint_paths_per_school"], th["min_internet_circuits"],
                  th["max_n1_unserved_p95"])
    # circuits in one shared-risk group (one provider, one entrance) count as one
    n_circuits, circuit_groups = circuit_count(d)
    circuits_ok = at_least(n_circuits, tc.value)
    min_paths: int | None = None
    worst_site: str | None = None
    worst_n1: float | None = None
    worst_elem: str | None = None
    rep = cont = None
    # The graph analysis is cheap (milliseconds) and always shown; only N-1, which
    # re-simulates every failure, waits until the cheaper checks cannot settle the rule.
    rep = redundancy(ctx)
    if rep is not None:
        min_paths, worst_site = _min_school_paths(ctx, rep)
    if circuits_ok and rep is not None and at_least(min_paths, tp.value):
        cont = contingency(ctx)
        if cont is not None:
            worst_n1 = float(cont.worst_unserved_p95)
            rows = list(getattr(cont, "contingencies", None) or getattr(cont, "rows", []))
            if rows:
                worst_elem = str(getattr(rows[0], "element", getattr(rows[0], "id", "")))
    checks = [
        Check("circuits", tc.stage, circuits_ok, f">= {tc.value} Internet circuits",
              ("internet_circuits",)),
        Check("paths", tp.stage, at_least(min_paths, tp.value),
              f">= {tp.value} edge-disjoint paths from every school to the Internet "
              "(paths through one shared-risk group count once)",
              ("min_edge_disjoint_paths_per_school",)),
        Check("n1", tn.stage, at_most(worst_n1, tn.value),
              f"p95 unserved <= {tn.value:.0%} under every single failure",
              ("worst_n1_unserved_p95",)),
    ]
    inputs = [
        RuleInput("internet_circuits", n_circuits, "declared", "circuits"),
        RuleInput("min_edge_disjoint_paths_per_school", min_paths,
                  "declared" if min_paths is not None else None, "paths"),
        RuleInput("worst_n1_unserved_p95", None if worst_n1 is None else round(worst_n1, 5),
                  "declared" if worst_n1 is not None else None, "fraction"),
    ]
    resolve = []
    if rep is None:
        resolve.append("the redundancy analysis failed on this district (its error was reported "
                       "when it ran); `netstage redundancy FILE` repeats it")
    if circuits_ok and min_paths is not None and min_paths >= tp.value and cont is None:
        resolve.append("the N-1 contingency analysis failed on this district (its error was "
                       "reported when it ran); `netstage contingency FILE` repeats it")

    details = _ha_details(ctx, rep, worst_site, worst_elem, circuit_groups)

    def explain(stage: int, status: Status) -> str:
        s = f"{n_circuits} Internet circuit{'s' if n_circuits != 1 else ''}"
        if circuit_groups:
            s += " (" + "; ".join(f"{', '.join(g[1:])} share group {g[0]}"
                                  for g in circuit_groups) + ")"
        if min_paths is not None:
            word = "SRLG-disjoint" if details.groups else "edge-disjoint"
            s += f", worst school {worst_site} has {min_paths} {word} path(s)"
            bind = details.binding.get(worst_site or "")
            if bind:
                s += (f" (shared group {bind[0]} binds)" if len(bind) == 1
                      else f" (shared groups {', '.join(bind)} bind)")
        if worst_n1 is not None:
            s += f", worst single failure ({worst_elem or '?'}) leaves {worst_n1:.1%} unserved"
        return s + f": allows stage {stage}."

    return verdict_from_checks(
        ctx, "R-HA", checks, inputs, measured_value=min_paths, unit="edge-disjoint paths",
        to_resolve=resolve, explain=explain,
        details=details)


def _ha_details(ctx: RuleContext, rep: Any, worst_site: str | None,
                   worst_elem: str | None, circuit_groups: list[list[str]]) -> HADetails:
    """R-HA's details: with the worst school, the worst failure and the circuit groups,
    the shared-risk groups and stacks behind the path counts: per school the
    SRLG-disjoint count (and whether it is exact), the groups that bind, and the
    redundant stacks that were not counted as single points of failure."""
    out = HADetails(worst_site, worst_elem, circuit_groups)
    if rep is None:
        return out
    out.groups.update(dict(getattr(rep, "srlg_groups", {}) or {}))
    out.redundant_stacks.extend(list(getattr(rep, "redundant_stacks", []) or []))
    schools = {s.id for s in ctx.district.sites if s.kind == SiteKind.SCHOOL and s.students}
    for s in getattr(rep, "sites", None) or []:
        sid = getattr(s, "site", None)
        if sid not in schools or not hasattr(s, "srlg_disjoint_paths"):
            continue
        out.srlg_disjoint_paths[sid] = {
            "paths": int(s.srlg_disjoint_paths), "edge_disjoint": int(s.edge_disjoint_paths),
            "exact": bool(s.srlg_exact)}
        if s.srlg_binding:
            out.binding[sid] = list(s.srlg_binding)
    return out
