"""State-wide sweeps: one row per district, computed by a pure, picklable task function.

This is the part of a sweep that does not care *where* it runs. A sweep is a list of
:class:`DistrictSpec` (a district file, or the arguments of
:func:`~netstage.simulator.generate.generate_district`); :func:`evaluate_spec` turns
one spec into one :class:`SweepRow` and never raises: a district that cannot be
loaded, validated or classified becomes a row whose ``error`` says why, so one bad
file never aborts a state-wide run (Nornir's "a failure is a result").

Determinism: every spec carries its own simulation seed, derived from the sweep's
base seed and the district's *key* (file stem or generated name) by
:func:`derive_seed` (SHA-256, not Python's salted ``hash``). A row therefore depends
only on its spec, never on which worker ran it or in which order, so in-process,
1-worker and n-worker runs give identical tables. Distribution (Dask) lives in
``netstage.auditor.sweep_dask``; charts and table files in
:mod:`netstage.simulator.sweep_output`.

The per-district work is pluggable: :data:`Evaluator` is any picklable callable
``(study) -> Evaluation``, given a :class:`~netstage.simulator.study.Study` of the
district with the sweep's scenario count and the spec's seed; :func:`stage_evaluator`
(the default) classifies the study and prices its cheapest plan to the next stage
(:meth:`Study.plan <netstage.simulator.study.Study.plan>`, which starts from that
classification).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from netstage.simulator.errors import ConfigError, NetstageError
from netstage.simulator.model import INFRASTRUCTURE_KINDS, District
from netstage.simulator.study import Study

__all__ = [
    "NO_PLAN_NOTE",
    "DistrictSpec",
    "Evaluation",
    "Evaluator",
    "SweepRow",
    "classify_evaluator",
    "derive_seed",
    "evaluate_batch",
    "evaluate_spec",
    "expand_district_paths",
    "file_specs",
    "load_spec",
    "run_in_process",
    "spec_weight",
    "stage_evaluator",
    "synthetic_specs",
]


@dataclass(frozen=True)
class DistrictSpec:
    """One district of a sweep: a file to load, or arguments to generate one.

    ``key`` names the row and feeds the seed; ``seed`` is the simulation seed
    (already derived, see :func:`derive_seed`). ``declared`` (generated districts
    only) is the district's ``declared`` section (security/management/standardisation
    answers) and ``audited`` adds the facts of a clean SNMP audit (every
    infrastructure device answers on v3, no default community, 45 days of history),
    so synthetic districts differ in maturity as well as in size.
    """

    key: str
    seed: int
    path: str | None = None
    generate: dict[str, Any] | None = None
    declared: dict[str, Any] | None = None
    audited: bool = False


@dataclass(frozen=True)
class Evaluation:
    """What the per-district function found: stage 1-4, binding rule ids, plan cost."""

    stage: int
    binding: tuple[str, ...]
    next_stage_cost_usd: float | None
    note: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class SweepRow:
    """One line of the state table. ``error`` is set (and the figures empty) on failure.

    ``next_stage_cost_usd`` is the cost of the cheapest plan that lifts the district
    to the next stage (``None`` when the district is at stage 4 or there is no plan).
    ``note`` explains an empty cost on a successful row. ``elapsed_s`` and ``cpu_s``
    (wall and CPU time of this row's work) and ``worker_pid`` (the process that
    computed it) are diagnostics, not part of the row's identity.
    """

    key: str
    district: str | None
    file: str | None
    students: int | None
    stage: int | None
    binding: list[str]
    next_stage_cost_usd: float | None
    seed: int
    error: str | None = None
    note: str | None = None
    elapsed_s: float = 0.0
    cpu_s: float = 0.0
    worker_pid: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def identity(self) -> dict[str, Any]:
        """The row without timing and worker: what must be equal across runs of the same specs."""
        out = self.to_json()
        for diagnostic in ("elapsed_s", "cpu_s", "worker_pid"):
            out.pop(diagnostic)
        return out


#: The per-district work: a study (district, ``n_scenarios``, seed) -> its evaluation.
Evaluator = Callable[[Study], Evaluation]


def derive_seed(key: str, base_seed: int = 0) -> int:
    """A 31-bit seed from ``base_seed`` and a district key, stable across processes."""
    digest = hashlib.sha256(f"{base_seed}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def expand_district_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; a directory stands for its ``*.yaml`` and ``*.yml`` files (sorted).

    A missing file is kept (it becomes an error row of the sweep, not an aborted sweep);
    a directory without district files is a :class:`~netstage.simulator.errors.ConfigError`.
    """
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted([*p.glob("*.yaml"), *p.glob("*.yml")])
            if not found:
                raise ConfigError(f"{p}: directory has no *.yaml district files")
            out.extend(found)
        else:
            out.append(p)  # a missing file becomes an error row, not an aborted sweep
    return out


def file_specs(paths: Iterable[str | Path], base_seed: int = 0) -> list[DistrictSpec]:
    """Specs for district files; the key is the file stem (parent added when stems clash)."""
    ps = [Path(p) for p in paths]
    stems = [p.stem for p in ps]
    keys: list[str] = []
    for p in ps:
        key = p.stem if stems.count(p.stem) == 1 else f"{p.absolute().parent.name}/{p.stem}"
        while key in keys:  # same file given twice: keep both rows, distinct keys
            key += "+"
        keys.append(key)
    # absolute, so that workers started elsewhere (--scheduler) find the same file
    return [DistrictSpec(key=k, seed=derive_seed(k, base_seed), path=str(p.absolute()))
            for k, p in zip(keys, ps, strict=True)]


_SECURITY = {"edge_firewall": True, "content_filter": True, "segmentation": True,
             "dot1x": True, "snmp_v3_only": True}
_MANAGEMENT = {"mdm": True, "config_backup": True, "monitoring": True}
# Declared maturity levels of synthetic districts (the `declared` section of a district).
# (declared section, audited) per level: nothing; security; security + management and
# an SNMP audit; everything.
_MATURITY: tuple[tuple[dict[str, Any] | None, bool], ...] = (
    (None, False),
    ({"security": _SECURITY}, False),
    ({"security": _SECURITY, "management": _MANAGEMENT}, True),
    ({"security": _SECURITY, "management": _MANAGEMENT, "standardisation": {"plan": True}},
     True),
)


def synthetic_specs(n: int, base_seed: int = 0, *, max_students: int = 30000,
                    scenario_spread: bool = True) -> list[DistrictSpec]:
    """``n`` synthetic districts of mixed size, reproducible from ``base_seed``.

    Sizes are drawn log-uniformly (300 to ``max_students`` students, 1 school per
    ~600 students, at least 1 and at most 60); a share of them get dual-homed
    schools, a second circuit or a thinner Internet link, and a declared maturity
    (nothing declared, security only, security and management, or everything), so
    the sweep sees every stage. With ``scenario_spread`` off all districts use the
    generator's defaults and declare nothing.
    """
    rng = np.random.default_rng(base_seed)
    specs: list[DistrictSpec] = []
    for i in range(n):
        students = round(float(np.exp(rng.uniform(np.log(300), np.log(max_students)))))
        schools = int(min(60, max(1, round(students / 600 * rng.uniform(0.6, 1.4)))))
        students = max(students, schools)
        kwargs: dict[str, Any] = {"schools": schools, "students": students,
                                  "seed": int(rng.integers(0, 2**31 - 1))}
        if scenario_spread:
            kwargs["dual_homed"] = float(rng.choice([0.0, 0.0, 0.5, 1.0]))
            kwargs["circuits"] = int(rng.choice([1, 1, 2]))
            kwargs["internet_kbps_per_student"] = float(rng.choice([100.0, 300.0, 1000.0,
                                                                    3000.0]))
            kwargs["wan_mbps"] = float(rng.choice([1000.0, 10000.0]))
        declared, audited = (_MATURITY[int(rng.integers(0, len(_MATURITY)))]
                             if scenario_spread else (None, False))
        key = f"gen-{base_seed}-{i:04d}"
        kwargs["name"] = key
        specs.append(DistrictSpec(key=key, seed=derive_seed(key, base_seed), generate=kwargs,
                                  declared=declared, audited=audited))
    return specs


def spec_weight(spec: DistrictSpec) -> float:
    """A rough size of a spec's work, for scheduling the big districts first.

    Students for generated districts, the file size in bytes for files (0 when
    missing). Only the order among specs of one kind matters.
    """
    if spec.generate is not None:
        return float(spec.generate.get("students", 0))
    if spec.path is not None:
        try:
            return float(os.path.getsize(spec.path))
        except OSError:
            return 0.0
    return 0.0


def load_spec(spec: DistrictSpec) -> District:
    """The district a spec stands for (loaded and validated, or generated)."""
    if spec.path is not None:
        from netstage.simulator.io import load_district

        return load_district(spec.path)
    if spec.generate is not None:
        from netstage.simulator.generate import generate_district

        d = generate_district(**spec.generate)
        if spec.declared is None and not spec.audited:
            return d
        data = d.model_dump(mode="json", exclude_none=True)
        if spec.declared is not None:
            data["declared"] = spec.declared
        if spec.audited:
            n = sum(1 for node in d.nodes if node.kind in INFRASTRUCTURE_KINDS)
            data["measured"] = {
                "source": "synthetic sweep district (assumed clean SNMP audit)",
                "snmp": {"infrastructure_devices": n, "answered": n, "v3_devices": n,
                         "v1v2c_devices": 0, "default_community_accepted": 0,
                         "default_write_community_accepted": 0, "history_days": 45}}
        return District.model_validate(data)
    raise NetstageError(f"sweep spec '{spec.key}' has neither a file nor generate arguments")


NO_PLAN_NOTE = "not priced: the sweep ran without planning (--no-plan)"


def stage_evaluator(study: Study) -> Evaluation:
    """Default per-district work: classify, then price the cheapest plan to the next stage.

    The classification is required (a failure makes the row an error row). The plan
    is best effort: when the planner fails, the cost stays empty and ``note`` says
    why, but stage and binding rules are still reported.
    """
    return _classify_and_plan(study, plan=True)


def classify_evaluator(study: Study) -> Evaluation:
    """Classification only (no plan, cost empty): a faster sweep (``--no-plan``)."""
    return _classify_and_plan(study, plan=False)


def _classify_and_plan(study: Study, *, plan: bool) -> Evaluation:
    cls = study.classify()
    stage = int(cls.stage)
    cost: float | None = None
    note: str | None = None
    if stage < 4 and not plan:
        note = NO_PLAN_NOTE
    elif stage < 4:
        try:
            result = study.plan(stage + 1)   # starts from the classification above
        except NetstageError as exc:
            note = f"no plan to stage {stage + 1}: {exc}"
        else:
            cost = float(result.cost_usd)
            if result.stage_after <= stage:
                note = (f"the cheapest plan found does not reach stage {stage + 1} "
                        f"(stays at {result.stage_after}); cost shown is that plan's")
    return Evaluation(stage=stage, binding=tuple(cls.binding), next_stage_cost_usd=cost,
                      note=note)


def evaluate_spec(spec: DistrictSpec, n_scenarios: int = 200,
                  evaluate: Evaluator | None = None) -> SweepRow:
    """One sweep row for ``spec``; never raises for a bad district (the row has ``error``)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    row = SweepRow(key=spec.key, district=None, file=spec.path, students=None, stage=None,
                   binding=[], next_stage_cost_usd=None, seed=spec.seed)
    try:
        district = load_spec(spec)
        row.district = district.district.name
        row.students = district.total_students
        study = Study(district, n_scenarios=n_scenarios, seed=spec.seed,
                      source=spec.path or spec.key)
        ev = (evaluate or stage_evaluator)(study)
        row.stage = ev.stage
        row.binding = list(ev.binding)
        row.next_stage_cost_usd = ev.next_stage_cost_usd
        row.note = ev.note
    except NetstageError as exc:
        row.error = str(exc)
    except Exception as exc:  # a bug in one district's evaluation must not end the sweep
        row.error = f"{type(exc).__name__}: {exc}"
    row.elapsed_s = time.perf_counter() - started
    row.cpu_s = time.process_time() - cpu_started
    row.worker_pid = os.getpid()
    return row


def evaluate_batch(specs: Sequence[DistrictSpec], n_scenarios: int = 200,
                   evaluate: Evaluator | None = None) -> list[SweepRow]:
    """Rows for several specs in one call (one Dask task for several small districts)."""
    return [evaluate_spec(spec, n_scenarios, evaluate) for spec in specs]


def run_in_process(specs: Sequence[DistrictSpec], n_scenarios: int = 200,
                   evaluate: Evaluator | None = None,
                   on_row: Callable[[SweepRow], None] | None = None) -> list[SweepRow]:
    """The sweep without any distribution (``--workers 0``); rows in spec order."""
    rows = []
    for spec in specs:
        row = evaluate_spec(spec, n_scenarios, evaluate)
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return rows
