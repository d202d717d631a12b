"""The what-if engine behind ``netstage serve``: one opened district, many scenarios.

Every number comes from the library the CLI uses: :func:`netstage.simulator.stage.classify`
(the stage, the rules, the simulations and the N-1 analysis it keeps as evidence),
:func:`netstage.simulator.charts.growth_series` (growth year by year), the chart
functions of :mod:`netstage.simulator.charts` and, for the export,
:func:`netstage.simulator.report.write_report` with the settings of ``netstage report``.

Concurrency: an :class:`Engine` is shared by all requests. Its caches are guarded by a
lock, and every simulation runs on one worker thread shared by every opened district
(:attr:`Engine.executor`): the simulator's numba kernels use the ``workqueue``
threading layer, which must not be entered from two threads at once, and matplotlib is
not thread-safe either. The event loop stays free while the worker computes.

Speed: the Monte Carlo demand draws depend only on the devices, the scenario type, the
scenario count and the seed, never on capacities or paths
(:func:`netstage.simulator.simulate.demand_cache`). The worker keeps one bounded cache
of them across requests, so moving a capacity, Wi-Fi or growth knob re-allocates
bandwidth but does not redraw demand, and the page's N-1 run reuses R-NOW's draws. The
answers are identical to fresh draws. When R-HA decides on structure, the page's own
N-1 run (the slowest part when the Internet link is congested: every failure
re-allocates every scenario) is not part of the result: the page shows the result and
then asks for the N-1 table (:meth:`Engine.page_n1`, cached per network, so growth and
fact knobs do not re-run it).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from netstage.simulator.charts import (
    figure_bytes,
    growth_projection,
    growth_series,
    n1_worst,
    network_map,
    rate_cdf,
    stage_ladder,
)
from netstage.simulator.errors import NetstageError
from netstage.simulator.io import dump_district, load_district
from netstage.simulator.model import District
from netstage.simulator.stage import DEFAULT_N_SCENARIOS, Classification
from netstage.simulator.study import Study
from netstage.web.knobs import Knobs, UpgradeOption, apply_knobs, base_knobs, upgrade_options

__all__ = ["QUICK_SCENARIOS", "Engine", "Result"]

QUICK_SCENARIOS = 50  # while a knob is being dragged; the full count on release
DEMAND_CACHE_BYTES = 256 * 1024 * 1024  # demand draws kept across requests (all districts)

_worker_lock = threading.Lock()
_worker: ThreadPoolExecutor | None = None
_demand: Any = None  # netstage.simulator.simulate.DemandCache, used on the worker only


def _shared_worker() -> ThreadPoolExecutor:
    """The one thread every opened district computes on (see the module docstring)."""
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="netstage-sim")
        return _worker


@contextlib.contextmanager
def _reuse_demand() -> Iterator[None]:
    """Within the block (on the worker), simulations reuse the kept demand draws."""
    global _demand
    from netstage.simulator.simulate import DemandCache, demand_cache

    if _demand is None:
        _demand = DemandCache(DEMAND_CACHE_BYTES)
    with demand_cache(keep=_demand):
        yield
CHARTS = ("ladder", "rates", "network", "growth", "n1")


@dataclass
class Result:
    """One scenario's results (what the page shows): the scenario's :class:`Study`
    (district, classification, evidence) and what the page adds to it."""

    id: str
    knobs: Knobs
    study: Study
    growth: dict[str, Any] | None
    upgrades: list[UpgradeOption]
    elapsed_s: float
    charts: dict[str, bytes] = field(default_factory=dict)
    # N-1 analysis: R-HA's when the classification ran it, else the page's own run of the
    # same library call on full runs (R-HA failing on structure does not need it)
    n1: Any = None
    n1_by_page: bool = False
    # a full run whose N-1 the page still has to run (R-HA did not): the page shows the
    # result at once and asks for the N-1 table next (GET /n1/ID, Engine.page_n1)
    n1_pending: bool = False
    n1_elapsed_s: float | None = None

    @property
    def district(self) -> District:
        return self.study.district

    @property
    def classification(self) -> Classification:
        return self.study.classify()

    @property
    def cost_usd(self) -> float:
        return sum(u.cost_usd for u in self.upgrades)

    def rate_percentiles(self) -> dict[str, dict[str, float]]:
        """Per simulated scenario type: p5/p50/p95 Mbps per active device (sampled)."""
        out: dict[str, dict[str, float]] = {}
        for scen, v in self.classification.evidence.simulated:
            rates = np.asarray(getattr(v, "device_rates_sample", []), dtype=float)
            if rates.size:
                p = np.percentile(rates, [5, 50, 95])
                out[scen] = {"p5": float(p[0]), "p50": float(p[1]), "p95": float(p[2])}
        return out

    def n1_rows(self, top: int = 5) -> list[tuple[str, float, int]]:
        cont = self.n1
        rows = list(getattr(cont, "contingencies", []) or []) if cont is not None else []
        return [(str(r.element), float(r.unserved_p95), int(r.disconnected_students))
                for r in rows[:top]]

    def summary(self) -> dict[str, str]:
        """Flat figures for the A/B comparison (same keys for every result)."""
        c = self.classification
        k = self.knobs
        out = {"stage": str(c.stage), "binding": ", ".join(c.binding) or "none",
               "cost": f"${self.cost_usd:,.0f}",
               "devices per student / staff member":
                   f"{k.devices_per_student:g} / {k.devices_per_staff:g}",
               "busy hour": f"{k.active_share:.0%} active, {k.app_mix} mix"}
        for r in c.rules:
            out[f"rule:{r.rule_id}"] = f"{r.status}, allows {r.allows_stage}"
        for scen, p in self.rate_percentiles().items():
            out[f"rate:{scen}"] = f"{p['p50']:.2f} Mbps"
        return out


class Engine:
    """One opened district (never written back) and the scenarios computed on it."""

    def __init__(self, source: str, *, seed: int = 0, full_scenarios: int = DEFAULT_N_SCENARIOS,
                 cache_size: int = 64, path: str | Path | None = None) -> None:
        self.source = source  # what the page calls it (a path, example:NAME or upload:N)
        self.district = load_district(path if path is not None else source)
        self.seed = seed
        self.full_scenarios = full_scenarios
        self.options = upgrade_options(self.district)
        self.base = base_knobs(self.district, full_scenarios)
        self.executor = _shared_worker()
        self._lock = threading.Lock()
        self._results: OrderedDict[str, Result] = OrderedDict()
        self._by_key: dict[str, str] = {}
        self._reports: OrderedDict[tuple[Any, ...], Path] = OrderedDict()
        self._n1: OrderedDict[str, Any] = OrderedDict()
        self._cache_size = cache_size
        self._counter = 0
        self._tmp = tempfile.TemporaryDirectory(prefix="netstage-serve-")

    def close(self) -> None:
        self._tmp.cleanup()  # the shared worker stays for the other districts

    # -- computing (runs on the worker thread) ---------------------------------------------
    def run(self, k: Knobs, quick: bool = False) -> Result:
        """Classify the scenario ``k`` (cached by knob values and scenario count).

        ``quick`` (while a knob moves) projects growth at today and the horizon only;
        the full run projects every year, as the report does."""
        key = repr((k.key(), k.n_scenarios, quick))
        with self._lock:
            hit = self._by_key.get(key)
            if hit is not None and hit in self._results:
                return self._results[hit]
        t0 = time.perf_counter()
        with _reuse_demand():
            res = self._run(k, quick, t0)
        with self._lock:
            self._counter += 1
            res.id = str(self._counter)
            self._results[res.id] = res
            self._by_key[key] = res.id
            while len(self._results) > self._cache_size:
                old, _r = self._results.popitem(last=False)
                self._by_key = {kk: v for kk, v in self._by_key.items() if v != old}
        return res

    def _run(self, k: Knobs, quick: bool, t0: float) -> Result:
        study = Study(apply_knobs(self.district, k, self.options),
                      n_scenarios=k.n_scenarios, seed=self.seed, source=self.source)
        study.classify()
        h = float(study.district.district.growth.horizon_years)
        years = sorted({0.0, h}) if quick else None
        try:  # the report's projection (its scenario cap), every year or two on a quick run
            growth = growth_series(study, years=years)
        except Exception:  # shown as "not simulated" by the page and the chart
            growth = None
        ups = [self.options[u] for u in self.options if u in k.upgrades]
        n1 = study.evidence.contingency
        return Result("", k, study, growth, ups, time.perf_counter() - t0, n1=n1,
                      n1_pending=n1 is None and not quick)

    def page_n1(self, r: Result) -> Result:
        """Run the N-1 analysis R-HA did not need (it decided on structure) for the full
        result ``r``: the same library call and settings R-HA uses. Cached per network:
        knobs that change neither the devices, the busy hour nor the network (growth,
        security and management upgrades) reuse the analysis."""
        with self._lock:
            if not r.n1_pending:
                return r
        t0 = time.perf_counter()
        key = _n1_key(r.district, r.knobs.n_scenarios, self.seed)
        with self._lock:
            n1 = self._n1.get(key)
        if n1 is None:
            try:  # R-HA's own call (Evidence.contingency_report), on the study's arrays
                with _reuse_demand():
                    n1 = r.study.evidence.contingency_report()
            except NetstageError:
                n1 = None  # the page says "not analysed" and why
        else:  # the same network's analysis, made for another scenario
            r.study.evidence.adopt_contingency(n1)
        with self._lock:
            if n1 is not None:
                self._n1[key] = n1
                while len(self._n1) > self._cache_size:
                    self._n1.popitem(last=False)
            r.n1, r.n1_by_page, r.n1_pending = n1, n1 is not None, False
            r.n1_elapsed_s = time.perf_counter() - t0
        return r

    def result(self, rid: str) -> Result | None:
        with self._lock:
            return self._results.get(rid)

    def chart(self, r: Result, name: str) -> bytes:
        """One chart of ``r`` as PNG, drawn by netstage.simulator.charts (cached)."""
        with self._lock:
            if name in r.charts:
                return r.charts[name]
        s = r.study
        if name == "ladder":
            fig = stage_ladder(s)
        elif name == "rates":
            fig = rate_cdf(s)
        elif name == "network":
            fig = network_map(s)
        elif name == "growth":
            fig = growth_projection(s, r.growth)
        elif name == "n1":
            self.page_n1(r)  # the report's chart, with R-HA's or the page's N-1 analysis
            fig = n1_worst(s)
        else:
            raise KeyError(name)
        png = figure_bytes(fig, "png", dpi=80)
        with self._lock:
            r.charts[name] = png
        return png

    def district_yaml(self, k: Knobs) -> str:
        """The scenario as a district file (a new file: the opened one is never written)."""
        return dump_district(apply_knobs(self.district, k, self.options))

    def report(self, k: Knobs) -> Path:
        """The report directory of scenario ``k``, written exactly as ``netstage report
        DISTRICT --out DIR`` writes it for the exported district (default scenarios,
        seed and plans)."""
        from netstage.simulator.report import write_report

        key = k.key()
        with self._lock:
            hit = self._reports.get(key)
        if hit is not None and (hit / "report.json").exists():
            return hit
        d = load_district_text(self.district_yaml(k), Path(self._tmp.name))
        with self._lock:
            self._counter += 1
            out = Path(self._tmp.name) / f"report-{self._counter}"
        write_report(Study(d, n_scenarios=DEFAULT_N_SCENARIOS, seed=0), out)
        with self._lock:
            self._reports[key] = out
            gone = []
            while len(self._reports) > 8:
                gone.append(self._reports.popitem(last=False)[1])
        for g in gone:  # downloads are read on this thread (report_bytes), never streamed
            shutil.rmtree(g, ignore_errors=True)
        return out

    def report_bytes(self, k: Knobs, fmt: str) -> bytes:
        """``report.<fmt>`` of scenario ``k`` (html, json or pdf), read on the worker."""
        return (self.report(k) / f"report.{fmt}").read_bytes()


def _n1_key(d: District, n_scenarios: int, seed: int) -> str:
    """What the N-1 analysis of the busy hour ('now') reads: the district without its
    declared facts and growth (a scenario type that does not grow)."""
    data = d.model_dump(mode="json", exclude={"declared": True,
                                              "district": {"growth", "name"}})
    text = json.dumps([data, n_scenarios, seed], sort_keys=True)
    return hashlib.blake2b(text.encode(), digest_size=20).hexdigest()


def load_district_text(text: str, tmp: Path) -> District:
    """Parse exported district text the way the CLI reads a file (round trip)."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", dir=tmp, delete=False,
                                     encoding="utf-8") as f:
        f.write(text)
    try:
        return load_district(f.name)
    finally:
        Path(f.name).unlink(missing_ok=True)
