"""The end-to-end demo: one command from a bundled district to a board-ready report.

:func:`run_demo` chains every part of netstage on the project's own bundled data, on
this machine only (SNMP agents on 127.0.0.1, a capture file, no other network):

1. **district**: load the bundled example district (``netstage/topologies/stage3-emerging.yaml``
   by default), the *declared* model an IT team would write;
2. **twin**: export it as snmpsim recordings (one ``.snmprec`` per switch/router) and
   start a real ``snmpsim-command-responder`` on loopback serving them;
3. **audit**: audit those agents over SNMP like live switches (inventory with
   ``env:VAR`` secrets), per-device failures kept as results;
4. **measured**: merge what the audit measured (SNMP coverage, versions, utilisation)
   into the district model, so the rubric sees ``measured`` instead of ``declared``;
5. **capture**: analyse the bundled capture (traffic mix, top talkers, LLDP/CDP,
   DHCP, VLANs);
6. **stage**: classify into Smith's Stage 1-4, plan the cheapest upgrades;
7. **report**: write the HTML/JSON/PDF report and charts.

Every step's outcome is a :class:`StepResult`; a step that fails is recorded with its
reason and the steps that do not need its output still run (nothing is lost), and the
demo's exit status says whether every step succeeded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netstage.auditor.envvars import environ_set
from netstage.auditor.facts import AuditResult
from netstage.simulator.errors import NetstageError
from netstage.simulator.examples import bundled_capture, topologies_dir
from netstage.simulator.io import dump_district, ensure_output_dir, load_district
from netstage.simulator.model import District

if TYPE_CHECKING:
    from netstage.auditor.normalise import Difference
    from netstage.auditor.store import HistoryStore

__all__ = ["DemoResult", "StepResult", "audit_section", "bundled_capture", "capture_section",
           "default_district", "differences_section", "history_section", "run_demo",
           "topologies_dir"]

DEFAULT_DISTRICT = "stage3-emerging.yaml"


def default_district() -> Path:
    return topologies_dir() / DEFAULT_DISTRICT


@dataclass
class StepResult:
    """One demo step: ok or failed (with the reason), what it produced, how long it took."""

    name: str
    ok: bool
    detail: str
    elapsed_s: float
    outputs: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"step": self.name, "ok": self.ok, "detail": self.detail,
                "elapsed_s": round(self.elapsed_s, 3), "outputs": self.outputs}


@dataclass
class DemoResult:
    """Everything the demo did; ``ok`` only if every step that ran succeeded."""

    out_dir: Path
    steps: list[StepResult] = field(default_factory=list)
    stage: int | None = None
    binding: list[str] = field(default_factory=list)
    report_html: Path | None = None

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "out_dir": str(self.out_dir), "stage": self.stage,
                "binding": self.binding,
                "report_html": str(self.report_html) if self.report_html else None,
                "steps": [s.to_json() for s in self.steps]}


def run_demo(
    out_dir: str | Path = "out/demo",
    *,
    district_file: str | Path | None = None,
    capture_file: str | Path | None = None,
    snmp: bool = True,
    capture: bool = True,
    n_scenarios: int = 300,
    seed: int = 7,
    say: Callable[[str], None] = lambda _m: None,
) -> DemoResult:
    """Run the whole pipeline into ``out_dir``; see the module docstring for the steps."""
    out = ensure_output_dir(out_dir, "--out", "demo")
    res = DemoResult(out_dir=out)

    def step(name: str, fn: Callable[[], tuple[str, dict[str, str]]]) -> bool:
        say(f"[{len(res.steps) + 1}] {name} ...")
        t0 = time.perf_counter()
        try:
            detail, outputs = fn()
            ok = True
        except NetstageError as exc:
            detail, outputs, ok = str(exc), {}, False
        except (ImportError, OSError) as exc:
            detail, outputs, ok = f"{type(exc).__name__}: {exc}", {}, False
        res.steps.append(StepResult(name, ok, detail, time.perf_counter() - t0, outputs))
        say(f"    {'ok' if ok else 'FAILED'}: {detail}")
        return ok

    state: dict[str, Any] = {}
    path = Path(district_file) if district_file else default_district()

    def load() -> tuple[str, dict[str, str]]:
        d = load_district(path)
        state["declared"] = state["district"] = d
        return (f"{d.district.name}: {len(d.sites)} sites, {d.total_students} students, "
                f"{len(d.nodes)} nodes, {len(d.links)} links", {"district": str(path)})

    if not step("load the bundled district" if district_file is None
                else f"load the district {path}", load):
        return res

    if snmp:
        step("SNMP audit of the district's digital twin (snmpsim on 127.0.0.1)",
             lambda: _audit_twin(state, out))
    if "audit" in state:
        step("merge measured SNMP facts into the district model",
             lambda: _merge(state, out))
    if capture:
        cap = Path(capture_file) if capture_file else None
        step("capture analysis", lambda: _capture(state, out, cap))
    step("classify into Stage 1-4 and plan upgrades",
         lambda: _classify(state, res, n_scenarios, seed))
    step("write the report", lambda: _report(state, res, out, n_scenarios, seed))
    (out / "demo.json").write_text(json.dumps(res.to_json(), indent=2) + "\n", encoding="utf-8")
    return res


def _audit_twin(state: dict[str, Any], out: Path) -> tuple[str, dict[str, str]]:
    from netstage.auditor.audit import audit_inventory
    from netstage.auditor.inventory import load_inventory
    from netstage.auditor.twin import export_twin
    from netstage.auditor.twin_agent import inventory_for_twin, serve_recordings

    d: District = state["declared"]
    twin_dir = out / "twin"
    for old in twin_dir.glob("*.snmprec"):
        old.unlink()
    paths = export_twin(d, twin_dir, counters="live")
    with serve_recordings(twin_dir) as (host, port):
        text, env = inventory_for_twin(host, port, [p.stem for p in paths])
        inv_path = out / "twin-inventory.yaml"
        inv_path.write_text(text, encoding="utf-8")
        with environ_set(env):
            audit = audit_inventory(load_inventory(inv_path))
    state["audit"] = audit
    audit_path = out / "audit.json"
    audit_path.write_text(audit.to_json(), encoding="utf-8")
    s = audit.summary
    detail = (f"{s.n_ok}/{s.n_targets} devices answered on {host}:{port}, "
              f"{s.n_interfaces} interfaces, {s.n_neighbours} LLDP/CDP neighbours")
    if s.n_failed:
        kinds = ", ".join(f"{k}: {v}" for k, v in s.failures_by_kind.items())
        detail += f"; {s.n_failed} failed ({kinds})"
    return detail, {"audit": str(audit_path), "inventory": str(inv_path)}


def _merge(state: dict[str, Any], out: Path) -> tuple[str, dict[str, str]]:
    from netstage.auditor.normalise import merge_with_differences

    result = merge_with_differences(state["declared"], state["audit"])
    merged: District = result.district
    state["district"] = merged
    state["differences"] = result.differences
    p = out / "district-measured.yaml"
    p.write_text(dump_district(merged), encoding="utf-8")
    snmp = merged.measured.snmp if merged.measured else None
    detail = "measured facts attached"
    if snmp is not None:
        detail = (f"SNMP answered {snmp.answered}/{snmp.infrastructure_devices} infrastructure "
                  f"devices ({snmp.v3_devices} v3, {snmp.v1v2c_devices} v1/v2c)")
    if result.differences:
        detail += "; differs from declared: " + "; ".join(
            x.sentence for x in result.differences[:5]) + (
            f" (and {len(result.differences) - 5} more)" if len(result.differences) > 5 else "")
    return detail, {"district": str(p)}


def _capture(state: dict[str, Any], out: Path, cap: Path | None) -> tuple[str, dict[str, str]]:
    from netstage.auditor.capture import analyse_capture

    path = cap or bundled_capture()
    summary = analyse_capture(path)
    data = summary.to_json()
    state["capture"] = data
    p = out / "capture.json"
    p.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    return (f"{path.name}: {data['packets']} packets, {data['bytes']} bytes",
            {"capture": str(p)})


def _classify(state: dict[str, Any], res: DemoResult, n: int,
              seed: int) -> tuple[str, dict[str, str]]:
    from netstage.simulator.study import Study

    study = state["study"] = Study(state["district"], n_scenarios=n, seed=seed)
    c = study.classify()
    res.stage, res.binding = c.stage, list(c.binding)
    detail = f"{c.stage_name}; binding: {', '.join(c.binding)}"
    plans = {}
    if c.stage < 4:
        plans["next"] = study.plan(c.stage + 1)
        if c.stage + 1 < 4:
            plans["stage4"] = study.plan(4)
    state["plans"] = plans
    if "next" in plans:
        p = plans["next"]
        detail += (f"; cheapest plan to Stage {p.stage_after}: {len(p.actions)} actions, "
                   f"${p.cost_usd:,.0f}")
    return detail, {}


def _report(state: dict[str, Any], res: DemoResult, out: Path, n: int,
            seed: int) -> tuple[str, dict[str, str]]:
    from netstage.simulator.study import Study

    extra: dict[str, Any] = {}
    if "audit" in state:
        extra["SNMP_audit"] = audit_section(state["audit"],
                                            differences=state.get("differences"))
    if "capture" in state:
        extra["capture"] = capture_section(state["capture"])
    # the study of the classify step (its classification and plans are reused), or a
    # new one that classifies and plans here when that step failed
    study = state.get("study") or Study(state["district"], n_scenarios=n, seed=seed)
    files = study.report(out / "report", extra=extra or None)
    html = files.get("html")
    res.report_html = Path(html) if html else None
    return (f"report written: {html}", {k: str(v) for k, v in files.items()})


def audit_section(audit: AuditResult, *,
                  full_facts: str = "audit.json beside the report folder",
                  differences: list[Difference] | None = None) -> dict[str, Any]:
    """The report's SNMP audit section: the summary and one short row per device.

    The full facts (every interface and neighbour) stay in ``audit.json`` (``full_facts``
    says where); a board report needs who answered, how, and what was found.
    ``differences`` (from :func:`~netstage.auditor.normalise.merge_with_differences`)
    adds the declared values the audit replaced.
    """
    s = audit.summary
    rows = []
    for dev in audit.devices:
        rows.append({
            "device": dev.target.name or dev.target.address,
            "answered": "yes" if dev.ok else "no",
            "sysName": dev.sys_name,
            "model": dev.model,
            "firmware": dev.firmware,
            "SNMP": dev.snmp_version,
            "interfaces": len(dev.interfaces),
            "LLDP/CDP neighbours": len(dev.neighbours),
            "failure": dev.failure.reason if dev.failure else None,
        })
    return {
        "devices answered": f"{s.n_ok} of {s.n_targets} ({s.snmp_coverage:.0%})",
        "SNMP versions": ", ".join(f"{k}: {v}" for k, v in sorted(s.by_snmp_version.items()))
        or "none",
        "interfaces": s.n_interfaces,
        "LLDP/CDP neighbours": s.n_neighbours,
        "failures": ", ".join(f"{k}: {v}" for k, v in s.failures_by_kind.items()) or "none",
        "full facts": full_facts,
        "devices": rows,
        **({"declared values the audit replaced": differences_section(differences)}
           if differences else {}),
    }


def differences_section(differences: list[Difference]) -> list[dict[str, Any]]:
    """One row per declared value a measurement replaced (the report shows them)."""
    return [{"element": f"{x.element_kind} {x.element}", "field": x.field,
             "declared": x.declared, "measured (kept)": x.measured} for x in differences]


def history_section(store: HistoryStore, q: float = 95.0, top: int = 10) -> dict[str, Any]:
    """The report's poll history section: how much history, and the busiest interfaces
    by their p``q`` rate (the rest: ``netstage history``)."""
    from netstage.simulator.wording import pct, plural

    rows = []
    for r in store.utilisation(q)[:top]:
        util = r["utilisation"]
        rows.append({"device": r["device"], "interface": r["name"] or r["if_index"],
                     "speed (Mb/s)": r["speed_mbps"],
                     f"p{q:g} (Mb/s)": round(float(str(r[f"p{q:g}_mbps"])), 3),
                     "utilisation": "" if util is None else pct(float(str(util)))})
    days = store.history_days()
    return {
        "history": f"{plural(store.n_polls(), 'poll round')} over {days:.1f} days "
                   f"({plural(store.n_samples(), 'sample')})",
        "rates": f"p{q:g} of the interval rates, the busier direction",
        "busiest interfaces": rows,
    }


def capture_section(data: dict[str, Any], top: int = 10, *,
                    full_analysis: str = "capture.json beside the report folder"
                    ) -> dict[str, Any]:
    """The report's capture section from ``CaptureSummary.to_json()``: totals, traffic
    mix, top talkers, VLANs, neighbours and DHCP (the rest stays in ``capture.json``,
    ``full_analysis`` says where)."""
    total = sum(a.get("bytes", 0) for a in data.get("apps", {}).values()) or 1
    apps = [{"application": name, "share of bytes": f"{a.get('bytes', 0) / total:.1%}",
             "MB": round(a.get("bytes", 0) / 1e6, 2), "flows": a.get("flows")}
            for name, a in sorted(data.get("apps", {}).items(),
                                  key=lambda kv: -kv[1].get("bytes", 0))]
    talkers = [{"host": t.get("host"), "MB": round(t.get("bytes", 0) / 1e6, 2),
                "packets": t.get("packets")} for t in data.get("top_talkers", [])[:top]]
    vlans = [{"VLAN": v.get("vlan"), "frames": v.get("frames"),
              "MB": round(v.get("bytes", 0) / 1e6, 2)} for v in data.get("vlans", [])]
    neigh = [{"device": n.get("device"), "port": n.get("port"),
              "protocols": ", ".join(n.get("protocols", [])),
              "management address": n.get("mgmt_address")}
             for n in data.get("neighbour_links", [])]
    per_vlan = (data.get("dhcp") or {}).get("clients_per_vlan") or {}
    return {
        "file": data.get("file"),
        "packets": data.get("packets"),
        "bytes": data.get("bytes"),
        "duration (s)": round(float(data.get("duration_s") or 0.0), 1),
        "peak Mbps (1 s bins)": round(float(data.get("peak_mbps") or 0.0), 2),
        "p95 Mbps (1 s bins)": round(float(data.get("p95_mbps") or 0.0), 2),
        "DHCP clients per VLAN": ", ".join(f"{k}: {v}" for k, v in per_vlan.items()) or "none",
        "flows named by TLS SNI (of them over QUIC)":
            f"{sum((data.get('tls_sni_names') or {}).values())} "
            f"({data.get('quic_client_hellos', 0)})",
        "full analysis": full_analysis,
        "applications": apps,
        "top talkers": talkers,
        "VLANs": vlans,
        "LLDP/CDP neighbours": neigh,
    }
