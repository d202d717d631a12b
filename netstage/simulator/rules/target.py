"""R-TARGET: Internet capacity per student and WAN capacity per 1,000 students.

Internet capacity is the sum of the district's *active* circuits (``declared`` in the
district file); standby circuits (``circuits[].role: standby``) carry traffic only when
every active one has failed, so they count for R-HA, not here. A school's WAN
capacity is the sum of the links that leave its site plus the circuits that end at
its own nodes; the rule uses the worst school.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from netstage.simulator.model import District, SiteKind
from netstage.simulator.rules.base import (
    Check,
    RuleContext,
    RuleDetails,
    RuleInput,
    RuleVerdict,
    Status,
    all3,
    at_least,
    register,
    verdict_from_checks,
)

__all__ = ["TargetDetails", "district_internet_kbps_per_student", "internet_kbps_per_student",
           "rule_target", "school_wan_gbps_per_1000"]


@dataclass(frozen=True, eq=False)
class TargetDetails(RuleDetails):
    """R-TARGET's details: per school with students, the WAN capacity leaving its site in
    Gbps per 1,000 students (rounded to 3 decimals; JSON key as the field name)."""

    school_wan_gbps_per_1000: dict[str, float] = field(default_factory=dict)

    @property
    def worst_school(self) -> str | None:
        """The school with the least WAN capacity per 1,000 students (None: no school)."""
        wan = self.school_wan_gbps_per_1000
        return min(wan, key=lambda k: wan[k]) if wan else None

    def to_json(self) -> dict[str, Any]:
        return {"school_wan_gbps_per_1000": self.school_wan_gbps_per_1000}


def internet_kbps_per_student(internet_mbps: float, students: int) -> float | None:
    """R-TARGET's measure from its two inputs: Internet capacity (of the active circuits;
    standby ones carry traffic only on failure) per student, in kbps; None without
    students."""
    return internet_mbps * 1000.0 / students if students > 0 else None


def district_internet_kbps_per_student(d: District) -> float | None:
    """R-TARGET's measure of ``d``: its active circuits' capacity per student, in kbps
    (None without students). The one definition R-TARGET, the growth chart, the report,
    ``netstage info`` and the what-if page use (docs/stages.md: the rubric counts the
    capacity that carries traffic every day, not standby circuits)."""
    return internet_kbps_per_student(d.active_internet_capacity_mbps, d.total_students)


def school_wan_gbps_per_1000(d: District) -> dict[str, float]:
    """Per school with students: WAN capacity leaving its site, Gbps per 1,000 students."""
    site_of = {n.id: n.site for n in d.nodes}
    out: dict[str, float] = {}
    for s in d.sites:
        if s.kind != SiteKind.SCHOOL or s.students <= 0:
            continue
        cap_mbps = sum(lk.capacity_mbps for lk in d.links
                       if (site_of.get(lk.a) == s.id) != (site_of.get(lk.b) == s.id))
        cap_mbps += sum(c.capacity_mbps for c in d.circuits if site_of.get(c.attach) == s.id)
        if cap_mbps > 0:
            out[s.id] = cap_mbps / 1000.0 / (s.students / 1000.0)
    return out


@register("R-TARGET")
def rule_target(ctx: RuleContext) -> RuleVerdict:
    """FCC 14-99 goals: 100 kbps/student (stage 2), 1 Mbps/student + 10 Gbps/1,000 (stage 4)."""
    d = ctx.district
    students = d.total_students
    internet = d.active_internet_capacity_mbps
    standby = d.internet_capacity_mbps - internet
    kbps = district_internet_kbps_per_student(d)
    wan = school_wan_gbps_per_1000(d)
    worst_school = min(wan, key=lambda k: wan[k]) if wan else None
    wan_min = wan[worst_school] if worst_school else None
    th = ctx.rubric.rules["R-TARGET"].thresholds
    t2 = th["min_internet_kbps_per_student_stage2"]
    t4 = th["min_internet_kbps_per_student_stage4"]
    tw = th["min_wan_gbps_per_1000_students"]
    checks = [
        Check("internet_stage2", t2.stage, at_least(kbps, t2.value),
              f">= {t2.value:g} kbps of Internet per student",
              ("internet_capacity_mbps", "students")),
        Check("internet_stage4", t4.stage, at_least(kbps, t4.value),
              f">= {t4.value:g} kbps of Internet per student",
              ("internet_capacity_mbps", "students")),
        # A district whose schools all share the core's site has no WAN to judge.
        Check("wan_stage4", tw.stage, all3([at_least(wan_min, tw.value)]) if wan else True,
              f">= {tw.value:g} Gbps of WAN per 1,000 students at every school",
              ("worst_school_wan_gbps_per_1000",)),
    ]
    inputs = [
        RuleInput("internet_capacity_mbps", internet if d.circuits else None,
                  "declared" if d.circuits else None, "Mbps"),
        RuleInput("students", students if students > 0 else None,
                  "declared" if students > 0 else None, "students"),
        RuleInput("worst_school_wan_gbps_per_1000", None if wan_min is None else round(wan_min, 3),
                  "declared" if wan_min is not None else None, "Gbps per 1,000 students"),
    ]
    resolve = [] if students > 0 else ["give the number of students per site (sites[].students)"]

    def explain(stage: int, status: Status) -> str:
        if kbps is None:
            return ("Internet capacity per student cannot be computed without students: "
                    f"stage {stage}.")
        what = "active Internet circuits" if standby > 0 else "Internet"
        s = f"{internet:g} Mbps of {what} for {students:,} students is " \
            f"{kbps:,.0f} kbps per student"
        if standby > 0:
            s += f" ({standby:g} Mbps of standby circuits not counted: they carry traffic " \
                "only when every active circuit has failed)"
        if wan_min is not None:
            s += f", and the worst school WAN ({worst_school}) is {wan_min:.1f} Gbps per 1,000"
        return s + f": allows stage {stage}."

    return verdict_from_checks(
        ctx, "R-TARGET", checks, inputs, measured_value=None if kbps is None else round(kbps, 1),
        unit="kbps/student", to_resolve=resolve, explain=explain,
        details=TargetDetails({k: round(v, 3) for k, v in wan.items()}))
