"""Sums of an allocation per attachment point and scenario, compiled, and the base
case's sums every contingency starts from (part of :mod:`netstage.simulator.contingency`)."""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from netstage.simulator.arrays import DistrictArrays
from netstage.simulator.demand import DemandBatch
from netstage.simulator.maxmin import allocate

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


# -- batches -------------------------------------------------------------------------------


def subset_batch(batch: DemandBatch, scenarios: I64) -> DemandBatch:
    """A batch holding only the given scenarios (0-based within ``batch``), in order."""
    gs = batch.group_start
    lo, hi = gs[scenarios, 0], gs[scenarios, -1]
    sizes = hi - lo
    take = np.repeat(lo - np.r_[0, np.cumsum(sizes)[:-1]], sizes) + np.arange(int(sizes.sum()))
    new_gs = gs[scenarios] - lo[:, None] + np.r_[0, np.cumsum(sizes)[:-1]][:, None]
    return DemandBatch(
        scenario=batch.scenario, seed=batch.seed, first_scenario=batch.first_scenario,
        n_scenarios=int(scenarios.shape[0]), group_start=np.ascontiguousarray(new_gs),
        group_assoc=np.ascontiguousarray(batch.group_assoc[scenarios]),
        device=batch.device[take], app=batch.app[take], demand_mbps=batch.demand_mbps[take],
        app_min_mbps=batch.app_min_mbps, app_names=batch.app_names)


@nb.njit(parallel=True, cache=True)
def _group_sums_kernel(  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
        group_start, group_assoc, rate, demand, app, app_min, out):
    n_s, n_p = group_assoc.shape
    for s in nb.prange(n_s):
        for p in range(n_p):
            a = group_start[s, p]
            b = group_start[s, p + 1]
            e = a + group_assoc[s, p]
            served = 0.0
            thr = 0.0
            zthr = 0.0
            dem_assoc = 0.0
            dem_all = 0.0
            for k in range(a, b):
                m = app_min[app[k]]
                r = rate[k]
                d = demand[k]
                served += r
                if m > 0.0:
                    zthr += 1.0  # has a floor; throttled whenever it gets nothing
                    if r < min(m, d) * (1.0 - 1e-6):
                        thr += 1.0
                dem_all += d
                if k < e:
                    dem_assoc += demand[k]
            out[0, p, s] = served
            out[1, p, s] = thr
            out[2, p, s] = zthr
            out[3, p, s] = dem_assoc
            out[4, p, s] = dem_all


def _sums(batch: DemandBatch, rate: NDArray[np.float32]) -> NDArray[np.float64]:
    """``[5, P, S]``: allocated Mbps, throttled devices, devices with a minimum rate
    (``min_mbps > 0``: they are throttled when they get nothing), demand of associated
    devices and demand of all active devices, per attachment point and scenario
    (point-major, so a point's row is contiguous). Throttled as in
    :mod:`netstage.simulator.simulate`: ``rate < min(min_mbps, demand)``."""
    n_s, n_p = batch.group_assoc.shape
    out = np.zeros((5, n_p, n_s), dtype=np.float64)
    if n_s and n_p:
        _group_sums_kernel(batch.group_start, batch.group_assoc, rate, batch.demand_mbps,
                           batch.app, np.ascontiguousarray(batch.app_min_mbps,
                                                           dtype=np.float64), out)
    return out


def _p95(x: F64) -> float:
    return float(np.percentile(x, 95)) if x.size else 0.0


@dataclass
class _Base:
    """Sums of the base allocation, point-major (``[P, S]``) so a point's row is
    contiguous, and the associated demand crossing each link (``[L, S]``)."""

    served: F64
    thr: F64
    zthr: F64
    dem: F64
    demand_s: F64  # [S] demand of all active devices
    active_s: F64  # [S] active devices with a minimum rate (the throttled denominator)
    served_s: F64
    thr_s: F64
    link_dem: F64  # [L, S]
    link_count: I64  # [L] attachment points whose path crosses the link
    circuit_of: I64  # [P] the circuit (link index) each point's path ends at, -1 if none



def _link_pairs(pl: NDArray[np.int32], plen: NDArray[np.int32], rows: I64,
                n_links: int) -> I64:
    """Codes ``row_position * L + link`` of the links on the paths of ``rows``."""
    sub = pl[rows]
    pos, col = np.nonzero(sub >= 0)
    keep = col < plen[rows][pos]
    return np.asarray(pos[keep] * n_links + sub[pos[keep], col[keep]], dtype=np.int64)




def _base_sums(arr: DistrictArrays, batch: DemandBatch) -> _Base:
    n_p, n_l = len(arr.attach_ids), arr.n_links
    sums = _sums(batch, allocate(batch, arr).rate_mbps)
    pairs = _link_pairs(arr.path_links, arr.path_len, np.arange(n_p), n_l)
    pt, lk = pairs // n_l, pairs % n_l
    pm = sp.csr_matrix((np.ones(lk.shape[0]), (lk, pt)), shape=(n_l, n_p))
    return _Base(served=sums[0], thr=sums[1], zthr=sums[2], dem=sums[3],
                 demand_s=sums[4].sum(0), active_s=sums[2].sum(0),
                 served_s=sums[0].sum(0), thr_s=sums[1].sum(0),
                 link_dem=np.asarray(pm @ sums[3]), link_count=np.bincount(lk, minlength=n_l),
                 circuit_of=np.where(arr.path_len > 0, arr.path_links[
                     np.arange(n_p), np.maximum(arr.path_len - 1, 0)], -1).astype(np.int64))


