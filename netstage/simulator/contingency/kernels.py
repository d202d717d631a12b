"""Sums of an allocation per attachment point and scenario, compiled, and the base
case's sums every contingency starts from (part of :mod:`netstage.simulator.contingency`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numba as nb
import numpy as np
from numpy.typing import NDArray

from netstage.simulator.arrays import DistrictArrays
from netstage.simulator.csr import Csr
from netstage.simulator.demand import DemandBatch
from netstage.simulator.maxmin import allocate
from netstage.simulator.simulate import cached_rates, is_throttled

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


_TILE = 64  # points per tile of the sums kernel


@nb.njit(parallel=True, cache=True)
def _group_sums_kernel(  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
        group_start, group_assoc, rate, demand, app, app_min, out64, out32, dem_tile):
    # tiles of points, every scenario of a tile in turn: the tile's output rows
    # (out[:, p, :] is contiguous in s) stay in cache instead of one strided write per
    # (point, scenario)
    n_s, n_p = group_assoc.shape
    n_t = (n_p + _TILE - 1) // _TILE
    for t in nb.prange(n_t):
        p0 = t * _TILE
        p1 = min(p0 + _TILE, n_p)
        for s in range(n_s):
            dem_t = 0.0
            for p in range(p0, p1):
                a = group_start[s, p]
                b = group_start[s, p + 1]
                e = a + group_assoc[s, p]
                served = 0.0
                thr = 0.0
                zthr = 0.0
                dem_assoc = 0.0
                for k in range(a, b):
                    m = app_min[app[k]]
                    r = rate[k]
                    d = demand[k]
                    served += r
                    if m > 0.0:
                        zthr += 1.0  # has a floor; throttled whenever it gets nothing
                    if is_throttled(r, m, d):
                        thr += 1.0
                    dem_t += d
                    if k < e:
                        dem_assoc += demand[k]
                out64[0, p, s] = served
                out64[1, p, s] = dem_assoc
                out32[0, p, s] = thr
                out32[1, p, s] = zthr
            dem_tile[t, s] = dem_t


class PointSums(NamedTuple):
    """Sums of an allocation per attachment point and scenario, point-major (``[P, S]``,
    a point's row contiguous). Throttled as in :mod:`netstage.simulator.simulate`:
    ``rate < min(min_mbps, demand)``. The counts are float32 (whole numbers, exact
    below 2**24 devices), which keeps the base case of a large district a third
    smaller."""

    served: F64  # allocated Mbps
    thr: NDArray[np.float32]  # throttled devices
    zthr: NDArray[np.float32]  # devices with a minimum rate (throttled when they get nothing)
    dem: F64  # demand of associated devices
    demand_s: F64  # [S] demand of all active devices


def _sums(batch: DemandBatch, rate: NDArray[np.float32]) -> PointSums:
    """:class:`PointSums` of ``rate`` on ``batch``."""
    n_s, n_p = batch.group_assoc.shape
    n_t = (n_p + _TILE - 1) // _TILE
    out64 = np.zeros((2, n_p, n_s), dtype=np.float64)
    out32 = np.zeros((2, n_p, n_s), dtype=np.float32)
    dem_tile = np.zeros((n_t, n_s), dtype=np.float64)
    if n_s and n_p:
        _group_sums_kernel(batch.group_start, batch.group_assoc, rate, batch.demand_mbps,
                           batch.app, np.ascontiguousarray(batch.app_min_mbps,
                                                           dtype=np.float64),
                           out64, out32, dem_tile)
    return PointSums(served=out64[0], thr=out32[0], zthr=out32[1], dem=out64[1],
                     demand_s=dem_tile.sum(axis=0))


@nb.njit(parallel=True, cache=True)
def _fast_check_kernel(a_link, link_dem, new_dem, new_count, all_base_disc, cap,  # type: ignore[no-untyped-def]
                       starts, slow):  # pragma: no cover - compiled
    # new_dem holds the change on entry and the demand after the failure on exit
    n_s = new_dem.shape[1]
    for j in nb.prange(starts.shape[0] - 1):
        for r in range(starts[j], starts[j + 1]):
            ln = a_link[r]
            c = cap[ln]
            free_new = new_count[r] <= 0
            free_old = all_base_disc[r]
            for s in range(n_s):
                old = link_dem[ln, s]
                new = old + new_dem[r, s]
                new_dem[r, s] = new
                if not ((new <= c or free_new) and (old <= c or free_old)):
                    slow[j, s] = True


def fast_check(a_link: I64, link_dem: F64, delta: F64, new_count: I64,
               all_base_disc: NDArray[np.bool_], cap: F64, starts: I64
               ) -> tuple[F64, NDArray[np.bool_]]:
    """Per row of set A (``a_link``), the demand after the failure (``link_dem`` of the
    link plus ``delta``; computed in ``delta``'s memory) and, per plan (rows
    ``starts[j]:starts[j + 1]``) and scenario, whether some link of its A does not fit
    its capacity before or after the failure (a link with no flow left after it, or
    only disconnected ones before it, always fits)."""
    slow = np.zeros((starts.shape[0] - 1, delta.shape[1]), dtype=np.bool_)
    if delta.size:
        _fast_check_kernel(np.ascontiguousarray(a_link, dtype=np.int64),
                           np.ascontiguousarray(link_dem, dtype=np.float64), delta,
                           np.ascontiguousarray(new_count, dtype=np.int64),
                           np.ascontiguousarray(all_base_disc, dtype=np.bool_),
                           np.ascontiguousarray(cap, dtype=np.float64),
                           np.ascontiguousarray(starts, dtype=np.int64), slow)
    return delta, slow


@nb.njit(cache=True)
def _missing(a, a_len, b, b_len, out):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    # per position of row a, whether its link is absent from row b
    for i in range(a_len):
        hit = False
        for j in range(b_len):
            if a[i] == b[j]:
                hit = True
                break
        out[i] = not hit


@nb.njit(cache=True)
def _changed_links_kernel(o, o_len, n, n_len, lost, gained):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    for g in range(o.shape[0]):
        _missing(o[g], o_len[g], n[g], n_len[g], lost[g])
        _missing(n[g], n_len[g], o[g], o_len[g], gained[g])


def changed_links(old: NDArray[np.int32], old_len: NDArray[np.int32], new: NDArray[np.int32],
                  new_len: NDArray[np.int32]) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Per row, the positions of ``old`` whose link the new path no longer crosses and
    those of ``new`` it did not cross before (paths as padded rows ``[G, W]`` with
    their lengths)."""
    lost = np.zeros(old.shape, dtype=np.bool_)
    gained = np.zeros(new.shape, dtype=np.bool_)
    if old.size:
        _changed_links_kernel(np.ascontiguousarray(old), np.ascontiguousarray(old_len),
                              np.ascontiguousarray(new), np.ascontiguousarray(new_len),
                              lost, gained)
    return lost, gained


@nb.njit(parallel=True, cache=True)
def _row_hash_kernel(rows, mult, out):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    n, w = rows.shape
    for g in nb.prange(n):
        h = np.uint64(0)
        for k in range(w):
            h += np.uint64(rows[g, k] + 2) * mult[k]  # wraps modulo 2**64
        out[g] = h


@nb.njit(parallel=True, cache=True)
def _rows_differ_kernel(rows, ref):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    n, w = rows.shape
    bad = 0
    for g in nb.prange(n):
        r = ref[g]
        for k in range(w):
            if rows[g, k] != rows[r, k]:
                bad += 1
                break
    return bad


def row_hashes(rows: NDArray[np.int32], mult: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """``sum_k (rows[:, k] + 2) * mult[k]`` modulo 2**64 per row (``rows`` >= -1)."""
    out = np.empty(rows.shape[0], dtype=np.uint64)
    if rows.shape[0]:
        _row_hash_kernel(np.ascontiguousarray(rows), np.ascontiguousarray(mult), out)
    return out


def rows_differ(rows: NDArray[np.int32], ref: I64) -> bool:
    """Whether some row ``g`` differs from row ``ref[g]``."""
    return bool(rows.shape[0]) and int(_rows_differ_kernel(
        np.ascontiguousarray(rows), np.ascontiguousarray(ref, dtype=np.int64))) > 0


@dataclass
class _Base:
    """Sums of the base allocation, point-major (``[P, S]``) so a point's row is
    contiguous, and the associated demand crossing each link (``[L, S]``)."""

    served: F64
    thr: NDArray[np.float32]
    zthr: NDArray[np.float32]
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




class PointLinks(NamedTuple):
    """Which links each attachment point's path crosses (scenario-independent)."""

    matrix: Csr  # [L, P]: 1 where the point's path crosses the link
    per_link: I64  # [L] points whose path crosses the link
    circuit_of: I64  # [P] the circuit (link index) each point's path ends at, -1 if none


def point_links(arr: DistrictArrays) -> PointLinks:
    """:class:`PointLinks` of ``arr``'s paths."""
    n_p, n_l = len(arr.attach_ids), arr.n_links
    pairs = _link_pairs(arr.path_links, arr.path_len, np.arange(n_p), n_l)
    pt, lk = pairs // n_l, pairs % n_l
    return PointLinks(
        matrix=Csr.from_coo(np.ones(lk.shape[0]), lk, pt, (n_l, n_p)),
        per_link=np.bincount(lk, minlength=n_l),
        circuit_of=np.where(arr.path_len > 0, arr.path_links[
            np.arange(n_p), np.maximum(arr.path_len - 1, 0)], -1).astype(np.int64))


def _base_sums(arr: DistrictArrays, batch: DemandBatch, links: PointLinks | None = None
               ) -> _Base:
    """The base allocation's sums on ``batch`` (``links``: :func:`point_links` of
    ``arr`` when the caller has it; N-1 computes it once per run)."""
    pl = links if links is not None else point_links(arr)
    rates = cached_rates(batch, arr)  # classify: the "now" simulation's, when they match
    sums = _sums(batch, allocate(batch, arr).rate_mbps if rates is None else rates)
    return _Base(served=sums.served, thr=sums.thr, zthr=sums.zthr, dem=sums.dem,
                 demand_s=sums.demand_s, active_s=sums.zthr.sum(0, dtype=np.float64),
                 served_s=sums.served.sum(0), thr_s=sums.thr.sum(0, dtype=np.float64),
                 link_dem=pl.matrix @ sums.dem, link_count=pl.per_link,
                 circuit_of=pl.circuit_of)
