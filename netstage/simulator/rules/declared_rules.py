"""R-SECURITY, R-MANAGE and R-STANDARD: rules on declared and audited facts.

Inputs come from ``district.declared`` (provenance ``declared``), from
``district.measured.snmp`` (an SNMP audit, provenance ``measured``), from the
inference table (:mod:`.inference`, provenance ``inferred``: measured facts that imply
another; measured > inferred > declared) and, for
R-STANDARD, from the nodes' vendor/model/firmware (``measured`` when the district
came from an audit, i.e. it carries SNMP facts, else ``declared``).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from netstage.simulator.model import INFRASTRUCTURE_KINDS, District
from netstage.simulator.rules.base import (
    Check,
    Provenance,
    RuleContext,
    RuleDetails,
    RuleInput,
    RuleVerdict,
    Status,
    all3,
    any3,
    at_least,
    at_most,
    register,
    verdict_from_checks,
)
from netstage.simulator.rules.inference import infer

__all__ = ["StandardDetails", "model_family", "rule_manage", "rule_security", "rule_standard"]


@dataclass(frozen=True, eq=False)
class StandardDetails(RuleDetails):
    """R-STANDARD's details (JSON keys as the field names)."""

    #: model family -> infrastructure devices of it, commonest first
    families: dict[str, int] = field(default_factory=dict)
    #: "vendor model" -> its firmware versions, sorted
    firmware_by_model: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"families": self.families, "firmware_by_model": self.firmware_by_model}


def _declared(name: str, value: bool | None) -> RuleInput:
    return RuleInput(name, value, "declared" if value is not None else None)


def _write_communities_removed(d: District) -> RuleInput:
    snmp = d.measured.snmp if d.measured else None
    if snmp is not None and snmp.default_write_community_accepted is not None:
        return RuleInput("default_write_communities_removed",
                         snmp.default_write_community_accepted == 0, "measured")
    inferred = infer(d, "default_write_communities_removed")
    if inferred is not None:
        return inferred
    return _declared("default_write_communities_removed",
                     d.declared.security.default_write_communities_removed)


def _v3_only(d: District) -> RuleInput:
    snmp = d.measured.snmp if d.measured else None
    if snmp is not None and snmp.answered > 0 and (snmp.v3_devices + snmp.v1v2c_devices) > 0:
        ok = (snmp.v1v2c_devices == 0 and not snmp.default_community_accepted
              and snmp.v3_devices >= snmp.answered)
        return RuleInput("snmp_v3_only", ok, "measured")
    return _declared("snmp_v3_only", d.declared.security.snmp_v3_only)


_WHAT = {
    "edge_firewall": "declare declared.security.edge_firewall",
    "content_filter": "declare declared.security.content_filter (CIPA filtering)",
    "default_write_communities_removed": "run `netstage audit INVENTORY --check-write-communities` "
                                         "(a no-op SET of sysLocation.0 with "
                                         "public/private) or `--check-default-communities` "
                                         "(none accepted for reads implies none for writes) "
                                         "with --out AUDIT.json, then `netstage normalise "
                                         "AUDIT.json --base DISTRICT`; or declare "
                                         "declared.security.default_write_communities_removed",
    "segmentation": "declare declared.security.segmentation (student/staff/management VLANs)",
    "snmp_v3_only": "run `netstage audit INVENTORY --out AUDIT.json` (SNMP version per "
                    "device) and `netstage normalise AUDIT.json --base DISTRICT`, or declare "
                    "declared.security.snmp_v3_only",
    "dot1x": "declare declared.security.dot1x (802.1X / WPA-Enterprise)",
}


@register("R-SECURITY")
def rule_security(ctx: RuleContext) -> RuleVerdict:
    """Security facts: stage 3 and stage 4 lists of facts that must all hold."""
    d = ctx.district
    sec = d.declared.security
    facts = {
        "edge_firewall": _declared("edge_firewall", sec.edge_firewall),
        "content_filter": _declared("content_filter", sec.content_filter),
        "default_write_communities_removed": _write_communities_removed(d),
        "segmentation": _declared("segmentation", sec.segmentation),
        "snmp_v3_only": _v3_only(d),
        "dot1x": _declared("dot1x", sec.dot1x),
    }
    checks: list[Check] = []
    for name in ("stage3_requires", "stage4_requires"):
        t = ctx.rubric.rules["R-SECURITY"].thresholds[name]
        names = list(t.value)
        checks.append(Check(name, t.stage, all3(facts[n].value for n in names),
                            f"stage {t.stage} needs: {', '.join(names)}", tuple(names)))
    used = [n for t in ctx.rubric.rules["R-SECURITY"].thresholds.values() for n in t.value]
    inputs = [facts[n] for n in dict.fromkeys(used)]
    held = [i.name for i in inputs if i.value is True]
    missing = [i.name for i in inputs if i.value is False]
    unknown = [i.name for i in inputs if i.value is None]

    def explain(stage: int, status: Status) -> str:
        s = f"{len(held)} of {len(inputs)} security facts hold"
        if missing:
            s += f"; missing: {', '.join(missing)}"
        if unknown:
            s += f"; unknown: {', '.join(unknown)}"
        return s + f", which allows stage {stage}."

    return verdict_from_checks(
        ctx, "R-SECURITY", checks, inputs, measured_value=f"{len(held)}/{len(inputs)}",
        unit="facts", to_resolve=[_WHAT[n] for n in unknown], explain=explain)


@register("R-MANAGE")
def rule_manage(ctx: RuleContext) -> RuleVerdict:
    """Share of infrastructure answering inventory polls, history, MDM, config backups."""
    d = ctx.district
    snmp = d.measured.snmp if d.measured else None
    share: float | None = None
    if snmp is not None and snmp.infrastructure_devices > 0:
        share = snmp.answered / snmp.infrastructure_devices
    history = snmp.history_days if snmp is not None else None
    man = d.declared.management
    inputs = [
        RuleInput("answer_share", None if share is None else round(share, 4),
                  "measured" if share is not None else None, "fraction"),
        RuleInput("history_days", history, "measured" if history is not None else None, "days"),
        _declared("mdm", man.mdm),
        _declared("config_backup", man.config_backup),
    ]
    th = ctx.rubric.rules["R-MANAGE"].thresholds
    s3, s4 = th["min_answer_share_stage3"], th["min_answer_share_stage4"]
    hist = th["min_history_days"]
    checks = [
        Check("stage3", s3.stage, all3([at_least(share, s3.value), man.mdm]),
              f">= {s3.value:.0%} of infrastructure answers and MDM declared",
              ("answer_share", "mdm")),
        Check("stage4", s4.stage,
              all3([at_least(share, s4.value), at_least(history, hist.value), man.config_backup]),
              f">= {s4.value:.0%} answers, >= {hist.value} days of poll history, config backups",
              ("answer_share", "history_days", "config_backup")),
    ]
    resolve = []
    if share is None:
        resolve.append("run `netstage audit INVENTORY --out AUDIT.json` on the "
                       "infrastructure, then `netstage normalise AUDIT.json --base DISTRICT` "
                       "(share that answers SNMP)")
    if history is None:
        resolve.append("poll with `netstage poll INVENTORY --db DB`, then `netstage normalise "
                       "AUDIT.json --base DISTRICT --history DB` (the history length)")
    if man.mdm is None:
        resolve.append("declare declared.management.mdm")
    if man.config_backup is None:
        resolve.append("declare declared.management.config_backup")

    def explain(stage: int, status: Status) -> str:
        sh = ("the share of infrastructure answering inventory polls is not measured"
              if share is None else f"{share:.0%} of infrastructure answered inventory polls")
        return (f"{sh}, MDM "
                f"{_word(man.mdm)}, config backups {_word(man.config_backup)}, "
                f"{'no' if history is None else f'{history:g} days of'} poll history: "
                f"allows stage {stage}.")

    return verdict_from_checks(
        ctx, "R-MANAGE", checks, inputs, measured_value=share, unit="fraction answering",
        to_resolve=resolve, explain=explain)


def _word(v: bool | None) -> str:
    return {True: "declared", False: "absent", None: "unknown"}[v]


def model_family(vendor: str, model: str) -> str:
    """Model family: vendor + the leading letters of the model (``Cisco Catalyst``,
    ``Aruba CX``, ``Juniper MX``), so that sizes of one product line count together."""
    m = re.match(r"[A-Za-z]+", model.strip())
    series = m.group(0) if m else model.strip()
    return f"{vendor.strip()} {series}".lower()


@register("R-STANDARD")
def rule_standard(ctx: RuleContext) -> RuleVerdict:
    """Hardware standardisation: top-2 model families' share, firmware versions per model."""
    d = ctx.district
    infra = [n for n in d.nodes if n.kind in INFRASTRUCTURE_KINDS]
    known = [n for n in infra if n.vendor and n.model]
    prov: Provenance = "measured" if (d.measured and d.measured.snmp) else "declared"
    share: float | None = None
    fam_counts: Counter[str] = Counter()
    if infra and len(known) == len(infra):
        fam_counts = Counter(model_family(n.vendor or "", n.model or "") for n in known)
        share = sum(c for _, c in fam_counts.most_common(2)) / len(infra)
    fw_by_model: dict[str, set[str]] = {}
    fw_complete = bool(infra) and all(n.firmware for n in infra)
    for n in known:
        if n.firmware:
            fw_by_model.setdefault(f"{n.vendor} {n.model}", set()).add(n.firmware)
    max_fw = max((len(v) for v in fw_by_model.values()), default=None) if fw_complete else None
    plan = d.declared.standardisation.plan
    th = ctx.rubric.rules["R-STANDARD"].thresholds
    s3, s4 = th["min_top2_family_share_stage3"], th["min_top2_family_share_stage4"]
    fwt = th["max_firmware_versions_per_model"]
    checks = [
        Check("stage3", s3.stage, any3([plan, at_least(share, s3.value)]),
              f"standardisation plan declared or top-2 model families >= {s3.value:.0%}",
              ("standardisation_plan", "top2_family_share")),
        Check("stage4", s4.stage, all3([at_least(share, s4.value), at_most(max_fw, fwt.value)]),
              f"top-2 model families >= {s4.value:.0%} and <= {fwt.value} firmware versions "
              "per model", ("top2_family_share", "max_firmware_versions_per_model")),
    ]
    inputs = [
        RuleInput("top2_family_share", None if share is None else round(share, 4),
                  prov if share is not None else None, "fraction"),
        RuleInput("max_firmware_versions_per_model", max_fw,
                  prov if max_fw is not None else None, "versions"),
        _declared("standardisation_plan", plan),
    ]
    resolve = []
    if share is None:
        resolve.append(f"give vendor and model of all {len(infra)} infrastructure nodes "
                       "(nodes[].vendor/model), or measure them: `netstage audit INVENTORY "
                       "--out AUDIT.json` then `netstage normalise AUDIT.json --base "
                       "DISTRICT` (ENTITY-MIB, sysDescr)")
    if max_fw is None:
        resolve.append("give the firmware of every infrastructure node (nodes[].firmware), "
                       "or measure it with `netstage audit` + `netstage normalise` as above")
    if plan is None:
        resolve.append("declare declared.standardisation.plan")

    def explain(stage: int, status: Status) -> str:
        top = ", ".join(f"{f} x{c}" for f, c in fam_counts.most_common(2))
        fams = (f"the two commonest model families ({top}) are {share:.0%} of {len(infra)} "
                "infrastructure devices" if share is not None else
                f"vendor and model are not known for all {len(infra)} infrastructure devices")
        fw = ("firmware versions per model not known" if max_fw is None else
              f"at most {max_fw} firmware versions per model")
        return f"{fams[:1].upper()}{fams[1:]}, {fw}, plan {_word(plan)}: allows stage {stage}."

    return verdict_from_checks(
        ctx, "R-STANDARD", checks, inputs, measured_value=share, unit="fraction",
        to_resolve=resolve, explain=explain,
        details=StandardDetails(dict(fam_counts.most_common()),
                                {k: sorted(v) for k, v in fw_by_model.items()}))
