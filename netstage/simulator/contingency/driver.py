"""The N-1 run: base case, every contingency's re-routing and re-allocation (fast
path, incremental max-min, full re-allocation), the report (part of
:mod:`netstage.simulator.contingency`; the method is in its docstring)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from netstage.simulator.arrays import DEVICE_CLASSES, DistrictArrays, to_arrays
from netstage.simulator.contingency.elements import (
    Contingency,
    ContingencyReport,
    contingency_elements,
)
from netstage.simulator.contingency.fastcheck import FastCheck, fast_checks, plan_deltas
from netstage.simulator.contingency.incremental_job import JobFrame, incremental_job, job_frame
from netstage.simulator.contingency.kernels import (
    _Base,
    _base_sums,
    _sums,
    point_links,
    subset_batch,
)
from netstage.simulator.demand import DemandBatch
from netstage.simulator.errors import SimulationError
from netstage.simulator.incremental import Job, TreeLevels, link_tree, solve_jobs, tree_levels
from netstage.simulator.incremental_spread import SpreadTree, spread_tree
from netstage.simulator.maxmin import allocate, effective_capacity
from netstage.simulator.model import District
from netstage.simulator.profiles import scenario_params
from netstage.simulator.rerouting import (
    _pad,
    _Plan,
    _plan_points,
    _Router,
    _spread_base,
    _spread_moves,
)
from netstage.simulator.simulate import draw_demand_cached

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
_STUDENT = DEVICE_CLASSES.index("student")
Progress = Callable[[int, int], None]


_CHUNK_ENTRIES = 64_000_000  # active device-scenarios per chunk (about 9 bytes each)
# per-(point, scenario) arrays of a chunk: the base sums (2 float64 + 2 float32) and the
# demand batch's groups (int64 start + int32 count), and per-(link, scenario) demand
_CHUNK_SUM_BYTES = 192 * 1024 * 1024
_CHUNK_LEVEL_BYTES = 512 * 1024 * 1024  # sorted values of the incremental max-min



def run_contingency(
    d: District,
    *,
    n_scenarios: int = 1000,
    seed: int = 7,
    scenario: str = "now",
    progress: Progress | None = None,
    arrays: DistrictArrays | None = None,
    include_access: bool = False,
    exact: bool = False,
    elements: list[str] | None = None,
    chunk_scenarios: int | None = None,
    incremental: bool = True,
    keep_sums: bool = False,
) -> ContingencyReport:
    """Fail each element in turn and re-simulate ``scenario`` (see the module docstring).

    ``elements`` restricts the run to these element ids; ``exact`` re-allocates every
    scenario of every contingency (slow; for checking the fast path).
    ``incremental=False`` re-allocates the scenarios the fast path cannot answer instead
    of solving them with the incremental max-min (:mod:`netstage.simulator.incremental`;
    the oracle of its tests and the benchmark's baseline). Scenarios are processed in
    chunks (``chunk_scenarios``, default: what keeps the demand batch under about 600 MB
    and the incremental max-min's sorted values under about 512 MB); the result does not
    depend on the chunking. ``keep_sums`` keeps each contingency's per-scenario served
    Mbps and throttled devices in ``report.scenario_sums`` (tests).
    """
    if n_scenarios < 1:
        raise SimulationError(f"n_scenarios must be >= 1, got {n_scenarios}")
    if chunk_scenarios is not None and chunk_scenarios < 1:
        raise SimulationError(f"chunk_scenarios must be >= 1, got {chunk_scenarios}")
    t0 = time.perf_counter()
    arr = arrays if arrays is not None else to_arrays(d)
    g = d.district.growth
    params = scenario_params(scenario, district_growth=(g.horizon_years, g.growth_per_year),
                             busy_hour=arr.meta.get("busy_hour"))
    n_p, n_l = len(arr.attach_ids), arr.n_links
    if chunk_scenarios is None:
        per_scenario = float(params.active_p[arr.device_class].sum()) if arr.n_devices else 0.0
        by_entries = _CHUNK_ENTRIES / max(per_scenario, 1.0)
        by_sums = _CHUNK_SUM_BYTES / (36.0 * n_p + 8.0 * (n_l + 1))
        # the incremental max-min keeps 4 float64 values per entry below each overloaded
        # link (about the active devices: the circuit's subtree, and small ones)
        by_levels = (_CHUNK_LEVEL_BYTES / (32.0 * max(per_scenario, 1.0))
                     if incremental else by_entries)
        chunk_scenarios = int(max(1, min(by_entries, by_sums, by_levels)))
    chunk = min(chunk_scenarios, n_scenarios)

    # what is on a path (failures elsewhere change nothing)
    on_path_links = np.zeros(n_l, dtype=bool)
    on_path_links[arr.path_links[arr.path_links >= 0]] = True
    on_path_nodes = np.zeros(len(arr.node_ids) + 1, dtype=bool)
    used = np.flatnonzero(on_path_links)
    on_path_nodes[arr.link_a[used]] = True
    on_path_nodes[arr.link_b[used]] = True
    on_path_nodes[arr.attach_node[arr.path_len > 0]] = True

    # students behind each attachment point (site students spread over student devices)
    is_student = arr.device_class == _STUDENT
    stud_dev = np.bincount(arr.device_attach[is_student], minlength=n_p)
    site_stud_dev = np.bincount(arr.device_site[is_student],
                                minlength=len(d.sites)).astype(np.float64)
    site_students = np.array([s.students for s in d.sites], dtype=np.float64)
    per_dev = np.divide(site_students, site_stud_dev, out=np.zeros_like(site_students),
                        where=site_stud_dev > 0)
    students_p = stud_dev * per_dev[arr.attach_site] if n_p else np.zeros(0)
    devices_p = np.bincount(arr.device_attach, minlength=n_p)

    elems, excluded = contingency_elements(d, arr, include_access=include_access)
    if elements is not None:
        wanted = set(elements)
        unknown = wanted - {e.label for e in elems} - set(excluded)
        if unknown:
            raise SimulationError(f"unknown contingency element(s): {', '.join(sorted(unknown))}")
        elems = [e for e in elems if e.label in wanted]

    # 1. re-route every contingency once; identical path changes share one evaluation
    spread = arr.meta.get("spread")
    multipath = spread is not None and spread.multipath
    router = None if multipath else _Router(arr)
    s_base = _spread_base(arr, spread) if multipath else None
    base_width = arr.path_links.shape[1]
    plans: list[_Plan] = []
    plan_of: list[int] = []  # per element: index into plans, -1 = changes nothing
    seen: dict[bytes, int] = {}
    stats = {"elements": len(elems), "unchanged": 0, "same_paths_as_other": 0,
             "fast_scenarios": 0, "slow_scenarios": 0, "incremental_scenarios": 0,
             "reallocated_scenarios": 0, "chunks": 0}
    n_chunks = -(-n_scenarios // chunk)
    for el in elems:
        touches = (any(on_path_links[i] for i in el.links) if el.node < 0
                   else bool(on_path_nodes[el.node]))
        if not touches and not exact:
            stats["unchanged"] += 1
            plan_of.append(-1)
            continue
        if multipath:  # several routes per point: the affected nodes re-routed, re-spread
            cand, c_rows, c_lens = _spread_moves(arr, spread, el.links, el.node, s_base)
        else:
            assert router is not None
            pl, plen, cand = router.paths_for(el.links, el.node)
            c_rows, c_lens = pl[cand], plen[cand]
        width = max(c_rows.shape[1], base_width)
        c_rows = _pad(c_rows, width)
        moved = (c_lens != arr.path_len[cand]) | np.any(
            c_rows != _pad(arr.path_links[cand], width), axis=1)
        changed = cand[moved]
        c_rows, c_lens = c_rows[moved], c_lens[moved]
        key = changed.tobytes() + c_rows.tobytes() + c_lens.tobytes()
        if key in seen:
            stats["same_paths_as_other"] += 1
            plan_of.append(seen[key])
            continue
        seen[key] = len(plans)
        plan_of.append(len(plans))
        plans.append(_Plan(changed=changed, disc=changed[c_lens == 0], rows=c_rows, lens=c_lens,
                           width=width))
    total_steps = n_chunks * (len(plans) + 1)
    step = 0
    if progress is not None:
        progress(0, total_steps)

    # 2. per chunk of scenarios: one demand batch and base allocation shared by all plans
    cap = effective_capacity(arr.link_capacity_mbps, arr.link_background_mbps, arr.path_links,
                             arr.link_ids)
    lt = link_tree(arr.path_links, arr.path_len, n_l) if incremental and not multipath else None
    # per plan, the scenario-independent part of its incremental job (incremental_job),
    # kept while the chunks' overloaded links are the same
    frames: dict[int, JobFrame] = {}
    frames_o = b""
    links = point_links(arr)  # the paths' links, shared by every chunk's base sums
    # the fast path's set A of every plan, once (fastcheck)
    deltas = None if exact or not plans else plan_deltas(arr, links.per_link, plans)
    demand_s = np.zeros(n_scenarios)
    active_s = np.zeros(n_scenarios)
    served0 = np.zeros(n_scenarios)
    thr0 = np.zeros(n_scenarios)
    served_p = np.zeros((len(plans), n_scenarios))
    thr_p = np.zeros((len(plans), n_scenarios))
    slow_p = np.zeros(len(plans), dtype=np.int64)
    for first in range(0, n_scenarios, chunk):
        k = min(chunk, n_scenarios - first)
        sl = slice(first, first + k)
        batch = draw_demand_cached(arr, params, k, seed, first)  # shared with the planner
        base = _base_sums(arr, batch, links)
        levels = None
        s_tree = None
        if incremental and not exact and plans and lt is not None:
            levels = tree_levels(batch, arr.path_links, arr.path_len, cap, base.link_dem,
                                 lt[1], base.served, base.thr)
        elif incremental and not exact and plans:
            # no routing tree (spread load): the levels on the paths reduced to the
            # links overloaded in some scenario, in the scenarios where those form a
            # tree (incremental_spread)
            got = spread_tree(arr.path_links, arr.path_len, cap, base.link_dem)
            if got is not None and got[0].tree_ok.any():
                s_tree, r_rows, r_lens = got
                levels = tree_levels(batch, r_rows, r_lens, cap, base.link_dem,
                                     s_tree.height, base.served, base.thr, sort_all=True)
        stats["chunks"] += 1
        if levels is not None and levels.o_links.tobytes() != frames_o:
            frames.clear()
            frames_o = levels.o_links.tobytes()
        demand_s[sl], active_s[sl] = base.demand_s, base.active_s
        served0[sl], thr0[sl] = base.served_s, base.thr_s
        step += 1
        jobs: list[Job] = []
        checks: Iterable[FastCheck | None] = (
            [None] * len(plans) if deltas is None else fast_checks(deltas, base, cap))
        for j, (plan, check) in enumerate(zip(plans, checks, strict=True)):
            if progress is not None:
                progress(step, total_steps)
            served, thr, slow, job = _contingency_sums(base, arr, batch, cap, plan, check,
                                                       tree=not multipath, levels=levels,
                                                       spread=s_tree, frames=frames, key=j)
            served_p[j, sl], thr_p[j, sl] = served, thr
            slow_p[j] += int(slow.sum())
            if job is not None:
                job.index = j
                jobs.append(job)
            step += 1
        if levels is not None and jobs:
            # the incremental max-min of every contingency of the chunk, in one call
            for job, (s_inc, t_inc) in zip(jobs, solve_jobs(
                    batch, base.served, base.thr, base.zthr, base.served_s, base.thr_s,
                    levels, cap, jobs), strict=True):
                served_p[job.index, first + job.scen] = s_inc
                thr_p[job.index, first + job.scen] = t_inc
                stats["incremental_scenarios"] += int(job.scen.shape[0])
        del batch, base
    stats["slow_scenarios"] = int(slow_p.sum())
    stats["reallocated_scenarios"] = stats["slow_scenarios"] - stats["incremental_scenarios"]
    stats["fast_scenarios"] = len(plans) * n_scenarios - stats["slow_scenarios"]

    safe_dem = np.where(demand_s > 0, demand_s, 1.0)
    safe_act = np.where(active_s > 0, active_s, 1.0)

    def metrics(served: F64, thr: F64) -> tuple[F64, F64]:
        uns = np.where(demand_s > 0, 1.0 - served / safe_dem, 0.0)
        return np.clip(uns, 0.0, 1.0), np.where(active_s > 0, thr / safe_act, 0.0)

    site_ids = list(arr.site_ids)
    cut0 = np.flatnonzero(arr.path_len == 0)
    # per plan (index 0: nothing changes), once however many elements share it
    uns_all, th_all = metrics(np.vstack([served0[None, :], served_p]),
                              np.vstack([thr0[None, :], thr_p]))
    uns_p95 = np.percentile(uns_all, 95, axis=1)  # n_scenarios >= 1
    th_p95 = np.percentile(th_all, 95, axis=1)
    uns_mean = uns_all.mean(axis=1)

    n_moved, plan_sites = _plan_points(spread, plans, arr.attach_site)

    def shared(k: int) -> dict[str, Any]:
        plan = plans[k - 1] if k else None
        lost = cut0 if plan is None or not plan.disc.size else np.union1d(cut0, plan.disc)
        # site indices ascending = file order
        sites = [site_ids[x] for x in plan_sites[k - 1].tolist() if x >= 0] if k else []
        return dict(unserved_p95=float(uns_p95[k]), unserved_mean=float(uns_mean[k]),
                    throttled_p95=float(th_p95[k]),
                    disconnected_students=int(np.rint(students_p[lost].sum())),
                    disconnected_devices=int(devices_p[lost].sum()),
                    rerouted_points=int(n_moved[k - 1]) if k else 0,
                    sites_affected=sites)

    per_plan = [shared(k) for k in range(len(plans) + 1)]
    base_row = Contingency(element="none", kind="none", element_type="none", node_kind=None,
                           members=[], **per_plan[0])
    rows: list[Contingency] = []
    for el, j in zip(elems, plan_of, strict=True):
        r = Contingency(element=el.label, kind="node" if el.node >= 0 else "link",
                        element_type=el.element_type, node_kind=el.node_kind,
                        members=list(el.members),
                        **{**per_plan[j + 1], "sites_affected": list(per_plan[j + 1][
                            "sites_affected"])})
        if j >= 0:
            r.slow_scenarios = int(slow_p[j])
        rows.append(r)
    if progress is not None:
        progress(total_steps, total_steps)
    rows.sort(key=lambda c: (-c.unserved_p95, -c.throttled_p95, -c.disconnected_students,
                             c.element))
    sums = None
    if keep_sums:
        sums = {el.label: (served_p[j], thr_p[j]) if j >= 0 else (served0, thr0)
                for el, j in zip(elems, plan_of, strict=True)}
    return ContingencyReport(
        district=d.district.name, scenario=scenario, n_scenarios=n_scenarios, seed=seed,
        base=base_row, contingencies=rows, excluded=excluded,
        elapsed_s=time.perf_counter() - t0, stats=stats,
        redundant_stacks=[n.id for n in d.nodes if n.redundant_stack], scenario_sums=sums)



def _contingency_sums(base: _Base, arr: DistrictArrays, batch: DemandBatch, cap: F64,
                      plan: _Plan, check: FastCheck | None, *, tree: bool = True,
                      levels: TreeLevels | None = None, spread: SpreadTree | None = None,
                      frames: dict[int, JobFrame] | None = None, key: int = -1
                      ) -> tuple[F64, F64, NDArray[np.bool_], Job | None]:
    """Served Mbps and throttled devices per scenario of ``batch`` under the plan's
    paths, which scenarios the fast path could not answer, and the incremental max-min's
    job for those it can solve. ``check``: the plan's fast path on this chunk
    (:func:`fastcheck.fast_checks`); None re-allocates every scenario (``exact``).
    ``levels``: :func:`incremental.tree_levels` of the batch; the job's entries in the
    returned arrays are filled by the caller with :func:`incremental.solve_jobs`; the
    other slow scenarios are re-allocated here (module docstring; ``spread``: the
    levels are on reduced paths, :mod:`incremental_spread`; ``frames[key]``: the plan's
    :class:`incremental_job.JobFrame` for the levels' overloaded links, built here when
    missing). ``tree=False`` (load
    spread over several routes) re-allocates every point in the slow scenarios: flows
    of different circuits may then share links."""
    changed, disc = plan.changed, plan.disc
    n_s = batch.n_scenarios
    if check is None:
        served = base.served_s.copy()
        thr = base.thr_s.copy()
        if changed.size == 0:
            return served, thr, np.zeros(n_s, dtype=bool), None
        slow = np.ones(n_s, dtype=bool)
        if disc.size:
            served -= base.served[disc].sum(0)
            thr += (base.zthr[disc] - base.thr[disc]).sum(0, dtype=np.float64)
        return (*_reallocate(base, arr, batch, plan, np.flatnonzero(slow), served, thr, tree),
                slow, None)
    served, thr, slow = check.served.copy(), check.thr.copy(), check.slow
    if levels is not None and slow.any():
        fr = frames.get(key) if frames is not None else None
        if fr is None:
            fr = job_frame(base, arr, plan, levels, check.a_links, check.new_count, spread)
            if frames is not None:
                frames[key] = fr
        job = incremental_job(fr, base, cap, levels, np.flatnonzero(slow), check.a_links,
                              check.new_dem, check.new_count, spread)
        if job is not None:
            slow_left = slow.copy()
            slow_left[job.scen] = False
            idx = np.flatnonzero(slow_left)
            return (*_reallocate(base, arr, batch, plan, idx, served, thr, tree), slow, job)
    idx = np.flatnonzero(slow)
    return (*_reallocate(base, arr, batch, plan, idx, served, thr, tree), slow, None)


def _reallocate(base: _Base, arr: DistrictArrays, batch: DemandBatch, plan: _Plan, idx: I64,
                served: F64, thr: F64, tree: bool) -> tuple[F64, F64]:
    """``served``/``thr`` with the scenarios ``idx`` re-allocated in full (the points of
    the circuits the failure touches; all points when ``tree`` is False)."""
    changed = plan.changed
    n_s = batch.n_scenarios
    if idx.size:
        # Routing is a tree, so the flows under different Internet circuits share no
        # link: only the circuits whose subtree the failure touches are re-allocated;
        # the others keep their base rates exactly.
        last = np.where(plan.lens > 0, plan.rows[np.arange(changed.shape[0]),
                                                 np.maximum(plan.lens - 1, 0)], -1)
        hit = np.unique(np.r_[base.circuit_of[changed], last])
        touched = np.isin(base.circuit_of, hit[hit >= 0]) if tree else \
            np.ones(base.circuit_of.shape[0], dtype=bool)
        touched[changed] = True
        pl, plen = plan.full(arr)
        plen[~touched] = 0  # not simulated (their rates come from the base)
        sub = subset_batch(batch, idx) if idx.size < n_s else batch
        alloc = allocate(sub, arr.with_paths(pl, plen))
        sub_sums = _sums(sub, alloc.rate_mbps)
        rest = ~touched
        served[idx] = sub_sums.served[touched].sum(0) + base.served[rest][:, idx].sum(0)
        thr[idx] = (sub_sums.thr[touched].sum(0, dtype=np.float64)
                    + base.thr[rest][:, idx].sum(0, dtype=np.float64))
    return served, thr
