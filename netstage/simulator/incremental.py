"""Incremental max-min after one failure, for tree routing (N-1 under overload).

:mod:`netstage.simulator.contingency` answers most scenarios of a contingency from the
base allocation (every link whose flow set changes fits its capacity before and after).
The others used to be re-allocated in full; when the Internet circuit or a trunk is
overloaded in most scenarios that is nearly every scenario of every contingency. This
module solves them exactly from the base instead.

Subtree levels
    With tree routing every flow goes up one path to its circuit, and the max-min rate of
    a flow is ``min(demand, min over its path of lambda[l])`` where ``lambda[l]`` (the
    *subtree level* of link ``l``) depends only on the flows below ``l``: it is
    ``+inf`` when they fit ``l``'s capacity at their own levels, else the ``x`` with
    ``sum over entries below l of min(e_k, x) = capacity`` where ``e_k = min(demand,
    lambda of the links below l on its path)``. :func:`tree_levels` computes, per
    scenario, ``lambda`` of every link whose raw demand exceeds its capacity (bottom
    up, by water-filling; every other link has ``+inf``) and keeps, for each such link,
    its ``e_k`` above the level sorted with running sums (the rest summed), and the
    throttle thresholds likewise, so that the total rate below the link under a cap
    ``x`` at or above its base level is a binary search (below it, a scan).

One failure
    A failure changes the subtree of the links on the changed attachment points' old
    and new paths from where the two paths part (set Lambda); every other link keeps
    its level. If, in a scenario, every Lambda link but at most one (``R``) is free both
    before and after (raw demand fits after; level ``+inf`` before or only changed
    points below it), then only ``R``'s level moves: the flows below ``R`` in the new
    tree are the base ones minus the changed points plus the re-routed ones, so ``R``'s
    new level solves one piecewise-linear equation over the stored sorted values with
    the changed points' few entries subtracted and added; every other flow keeps its
    base rate, re-routed flows outside ``R`` get ``min(demand, levels on the new
    path)``. Scenarios with two or more constrained Lambda links, or where ``R`` was
    not overloaded in the base, are left to the full re-allocation (the caller's
    fallback). With spread load (:mod:`netstage.simulator.incremental_spread`: levels on
    paths reduced to the overloaded links) a scenario may have several constrained
    links ``R`` when no path crosses two of them (e.g. two circuits): each one's level
    is its own equation over its own entries, done one after the other. Rates follow
    the kernel's rule exactly (``demand`` when it is at most the level, else the level
    rounded to float32), so throttled counts agree with the full
    re-allocation exactly and served Mbps to float32 precision (a level summed in
    another order can differ in its last float64 bit and round a few devices to the
    neighbouring float32).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numba as nb
import numpy as np
from numpy.typing import NDArray

from netstage.simulator.demand import DemandBatch
from netstage.simulator.float_sort import sort_f32, sort_f64
from netstage.simulator.simulate import THROTTLE_SLACK

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
Counts = NDArray[np.float32] | NDArray[np.float64]  # whole-number counts per point

# throttled: rate < min(min_mbps, demand) * _THR (simulate.is_throttled)
_THR = 1.0 - THROTTLE_SLACK


def link_tree(path_links: NDArray[np.int32], path_len: NDArray[np.int32], n_links: int
              ) -> tuple[I64, I64] | None:
    """(next link up, height = links above) of every link on a path, or None when the
    paths do not form a tree of links (some link is followed by two different links)."""
    n_p = path_links.shape[0]
    if n_p == 0:
        return np.full(n_links, -1, np.int64), np.full(n_links, -1, np.int64)
    w = path_links.shape[1]
    pos = np.arange(w)[None, :]
    on = pos < path_len[:, None]
    lk = path_links[on].astype(np.int64)
    nxt_full = np.full((n_p, w), -1, dtype=np.int64)
    if w > 1:
        nxt_full[:, :-1] = np.where(pos[:, 1:] < path_len[:, None], path_links[:, 1:], -1)
    nxt = nxt_full[on]
    hgt = (path_len[:, None] - 1 - pos)[on].astype(np.int64)
    up = np.full(n_links, -2, dtype=np.int64)
    up[lk] = nxt
    height = np.full(n_links, -1, dtype=np.int64)
    height[lk] = hgt
    if np.any(up[lk] != nxt) or np.any(height[lk] != hgt):
        return None
    return np.where(up == -2, -1, up), height


@dataclass
class TreeLevels:
    """Subtree levels of the overloaded links of one scenario chunk (module docstring).

    ``o_links[O]`` the links whose raw demand exceeds capacity in some scenario,
    ``o_index[L]`` their position (-1 for the others); ``lam[O, S]`` the level
    (+inf when free); ``slot[O, S]`` offset of the link's sorted values in the flat
    arrays (-1 when not overloaded in that scenario), ``size[O, S]`` their count;
    ``ev`` the ``e_k``: first the ``nh`` above the level, sorted, with their running sum
    ``pe`` and running sum of ``float32(e_k)`` ``pf`` (from ``pslot[O, S]``), then the
    others unsorted (sums
    ``low_e``, ``low_f``); ``tv`` the throttle thresholds (rounded up to float32, which
    keeps ``t > float32(x)`` exact) of the ``nt`` entries not throttled at ``e_k``:
    first the ``mh`` above float32(level), sorted, then the others; ``nb`` entries
    throttled even at ``e_k``, ``uthr``
    unassociated devices with a minimum rate (rate 0, throttled); ``under_served`` and
    ``under_thr`` the base allocation's sums over the points below the link."""

    o_links: I64
    o_index: I64
    lam: F64
    slot: I64
    size: I64
    ev: F64
    pe: F64
    pf: F64
    tv: NDArray[np.float32]
    nt: I64
    nb: I64
    uthr: I64
    under_served: F64
    under_thr: F64
    nh: I64
    pslot: I64
    mh: I64
    low_e: F64
    low_f: F64
    sort_all: bool = False

    @property
    def nbytes(self) -> int:
        return sum(int(a.nbytes) for a in (self.ev, self.pe, self.pf, self.tv))


@nb.njit(cache=True)
def _above_first(a, start, stop, x):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Reorder ``a[start:stop]`` in place so the values above ``x`` come first; the
    index after the last of them."""
    lo = start
    hi = stop - 1
    while lo <= hi:
        if a[lo] > x:
            lo += 1
        else:
            v = a[lo]
            a[lo] = a[hi]
            a[hi] = v
            hi -= 1
    return lo


@nb.njit(parallel=True, cache=True)
def _levels_kernel(  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
        group_start, group_assoc, demand, app, app_min, o_links, o_order, cap, pts_ptr,
        pts, slot, lam, ev, tv, nt, nbv, uthr, nh, mh, low_e, low_f, sort_all):
    n_s, n_p = group_assoc.shape
    n_o = o_links.shape[0]
    for s in nb.prange(n_s):
        mu = np.full(n_p, np.inf)
        # the radix sort's scratch (float_sort), grown to the largest link's values
        k64 = np.empty(0, dtype=np.uint64)
        t64 = np.empty(0, dtype=np.uint64)
        k32 = np.empty(0, dtype=np.uint32)
        t32 = np.empty(0, dtype=np.uint32)
        count = np.empty((8, 256), dtype=np.int64)
        for q in range(n_o):
            oi = o_order[q]
            off = slot[oi, s]
            if off < 0:
                lam[oi, s] = np.inf
                continue
            n = 0
            m_t = 0
            n_b = 0
            n_u = 0
            tot = 0.0
            for j in range(pts_ptr[oi], pts_ptr[oi + 1]):
                p = pts[j]
                a = group_start[s, p]
                e_end = a + group_assoc[s, p]
                lvl = mu[p]
                for k in range(a, e_end):
                    d = np.float64(demand[k])
                    e = min(d, lvl)
                    ev[off + n] = e
                    tot += e
                    n += 1
                    m = app_min[app[k]]
                    if m > 0.0:
                        t = min(m, d) * _THR
                        if np.float64(np.float32(e)) < t:
                            n_b += 1
                        else:
                            # t > float32 x  <=>  (t rounded up to float32) > x
                            tf = np.float32(t)
                            if np.float64(tf) < t:
                                tf = np.nextafter(tf, np.float32(np.inf))
                            tv[off + m_t] = tf
                            m_t += 1
                for k in range(e_end, group_start[s, p + 1]):
                    m = app_min[app[k]]
                    if m > 0.0 and min(m, np.float64(demand[k])) * _THR > 0.0:
                        n_u += 1
            nt[oi, s] = m_t
            nbv[oi, s] = n_b
            uthr[oi, s] = n_u
            c = cap[o_links[oi]]
            x = np.inf
            # water-filling on the unsorted values: every round, the values at or below
            # the current share are frozen (moved behind the active ones), until none
            # is; the active ones are then exactly the values above the level
            lo = off + n  # active: [off, lo)
            frozen = 0.0
            frozen_f = 0.0
            if n > 0 and tot > c:
                while lo > off:
                    x = (c - frozen) / (lo - off)
                    i = off
                    end = lo
                    while i < end:
                        v = ev[i]
                        if v <= x:
                            end -= 1
                            ev[i] = ev[end]
                            ev[end] = v
                            frozen += v
                            frozen_f += np.float64(np.float32(v))
                        else:
                            i += 1
                    if end == lo:
                        break
                    lo = end
                if lo == off:
                    x = np.inf
            else:
                for i in range(off, off + n):
                    frozen += ev[i]
                    frozen_f += np.float64(np.float32(ev[i]))
                lo = off
            lam[oi, s] = x
            n_h = lo - off
            if k64.shape[0] < n:
                k64 = np.empty(n, dtype=np.uint64)
                t64 = np.empty(n, dtype=np.uint64)
                k32 = np.empty(n, dtype=np.uint32)
                t32 = np.empty(n, dtype=np.uint32)
            sort_f64(ev, off, off + n_h, k64, t64, count)
            nh[oi, s] = n_h
            low_e[oi, s] = frozen
            low_f[oi, s] = frozen_f
            m_h = _above_first(tv, off, off + m_t, np.float32(x)) - off
            sort_f32(tv, off, off + m_h, k32, t32, count)
            mh[oi, s] = m_h
            if sort_all:
                # the values and thresholds at or below the level sorted too (a level
                # below the base one is then a binary search as well)
                sort_f64(ev, off + n_h, off + n, k64, t64, count)
                sort_f32(tv, off + m_h, off + m_t, k32, t32, count)
            if x < np.inf:
                for j in range(pts_ptr[oi], pts_ptr[oi + 1]):
                    p = pts[j]
                    if x < mu[p]:
                        mu[p] = x


@nb.njit(parallel=True, cache=True)
def _prefix_kernel(slot, nh, size, pslot, ev, pe, pf, sort_all):  # type: ignore[no-untyped-def]  # pragma: no cover
    # running sums of the sorted values above each level (float64 and float32 rates);
    # with sort_all, then those of the sorted values at or below it, from 0 again
    n_o, n_s = slot.shape
    for s in nb.prange(n_s):
        for oi in range(n_o):
            off = slot[oi, s]
            if off < 0:
                continue
            po = pslot[oi, s]
            run = 0.0
            runf = 0.0
            for i in range(nh[oi, s]):
                v = ev[off + i]
                run += v
                runf += np.float64(np.float32(v))
                pe[po + i] = run
                pf[po + i] = runf
            if sort_all:
                run = 0.0
                runf = 0.0
                for i in range(nh[oi, s], size[oi, s]):
                    v = ev[off + i]
                    run += v
                    runf += np.float64(np.float32(v))
                    pe[po + i] = run
                    pf[po + i] = runf


@nb.njit(parallel=True, cache=True)
def _under_kernel(pts_ptr, pts, group_assoc, b_served, b_thr, size, under_served,  # type: ignore[no-untyped-def]
                  under_thr):  # pragma: no cover - compiled
    # per overloaded link and scenario, over the points below it (pts_ptr / pts, in
    # point order): associated devices, and the base's served Mbps and throttled
    # devices added in point order (what the CSR product with a 0/1 matrix did, without
    # its float64 copies of the [S, P] counts, transposed, and of the [P, S] throttled)
    n_o = pts_ptr.shape[0] - 1
    n_s = group_assoc.shape[0]
    for s in nb.prange(n_s):
        for oi in range(n_o):
            n = 0
            for j in range(pts_ptr[oi], pts_ptr[oi + 1]):
                n += group_assoc[s, pts[j]]
            size[oi, s] = n
    n_t = (n_s + 63) // 64
    for t in nb.prange(n_t):
        s0 = t * 64
        s1 = min(s0 + 64, n_s)
        for oi in range(n_o):
            for j in range(pts_ptr[oi], pts_ptr[oi + 1]):
                p = pts[j]
                for s in range(s0, s1):
                    under_served[oi, s] += b_served[p, s]
                    under_thr[oi, s] += np.float64(b_thr[p, s])


def tree_levels(batch: DemandBatch, path_links: NDArray[np.int32], path_len: NDArray[np.int32],
                cap: F64, link_dem: F64, height: I64, base_served: F64, base_thr: Counts,
                sort_all: bool = False) -> TreeLevels:
    """:class:`TreeLevels` of ``batch`` on the base paths (``link_dem[L, S]`` associated
    demand crossing each link; ``base_served``/``base_thr`` ``[P, S]`` of the base
    allocation). ``sort_all`` also sorts the values at or below each level, with their
    running sums (twice the memory of the sums; for spread load, where a failure moving
    devices onto a circuit lowers its level in most scenarios)."""
    n_s, n_p = batch.group_assoc.shape
    n_l = cap.shape[0]
    over = link_dem > cap[:, None]
    o_links = np.flatnonzero(over.any(axis=1)).astype(np.int64)
    o_index = np.full(n_l, -1, dtype=np.int64)
    o_index[o_links] = np.arange(o_links.shape[0])
    n_o = o_links.shape[0]
    # points below each overloaded link (CSR), from the base paths
    w = path_links.shape[1]
    on = np.arange(w)[None, :] < path_len[:, None]
    pt = np.broadcast_to(np.arange(n_p)[:, None], (n_p, w))[on]
    lk = path_links[on].astype(np.int64)
    keep = o_index[lk] >= 0
    oi_of, pt_of = o_index[lk[keep]], pt[keep].astype(np.int64)
    order = np.lexsort((pt_of, oi_of))
    pts = np.ascontiguousarray(pt_of[order])
    pts_ptr = np.zeros(n_o + 1, dtype=np.int64)
    np.cumsum(np.bincount(oi_of, minlength=n_o), out=pts_ptr[1:])
    size = np.zeros((n_o, n_s), dtype=np.int64)
    under_served = np.zeros((n_o, n_s))
    under_thr = np.zeros((n_o, n_s))
    if n_o and n_s:
        _under_kernel(pts_ptr, pts, batch.group_assoc, base_served, base_thr, size,
                      under_served, under_thr)
    size[~over[o_links]] = 0
    flat = size.ravel()
    slot = (np.cumsum(flat) - flat).reshape(size.shape)
    slot[~over[o_links]] = -1
    total = int(flat.sum())
    lam = np.full((n_o, n_s), np.inf)
    ev = np.empty(total)
    tv = np.empty(total, dtype=np.float32)
    nt, nbv, uthr, nh, mh = (np.zeros((n_o, n_s), dtype=np.int64) for _ in range(5))
    low_e, low_f = np.zeros((n_o, n_s)), np.zeros((n_o, n_s))
    o_order = np.argsort(-height[o_links], kind="stable").astype(np.int64)
    if n_o and n_s:
        _levels_kernel(batch.group_start, batch.group_assoc, batch.demand_mbps, batch.app,
                       np.ascontiguousarray(batch.app_min_mbps, dtype=np.float64), o_links,
                       o_order, np.ascontiguousarray(cap, dtype=np.float64), pts_ptr, pts,
                       slot, lam, ev, tv, nt, nbv, uthr, nh, mh, low_e, low_f, sort_all)
    # running sums only for the values above the level (a second pass, so that they
    # take the memory of those values, not of all of them)
    flat_h = np.where(slot >= 0, size if sort_all else nh, 0).ravel()
    pslot = (np.cumsum(flat_h) - flat_h).reshape(nh.shape)
    pe, pf = np.empty(int(flat_h.sum())), np.empty(int(flat_h.sum()))
    if n_o and n_s:
        _prefix_kernel(slot, nh, size, pslot, ev, pe, pf, sort_all)
    return TreeLevels(o_links=o_links, o_index=o_index, lam=lam, slot=slot, size=size, ev=ev,
                      pe=pe, pf=pf, pslot=pslot, tv=tv, nt=nt, nb=nbv, uthr=uthr, nh=nh, mh=mh,
                      low_e=low_e, low_f=low_f, sort_all=sort_all,
                      under_served=under_served, under_thr=under_thr)


@nb.njit(cache=True)
def _lamv(o_index, lam, lk, s):  # type: ignore[no-untyped-def]  # pragma: no cover
    oi = o_index[lk]
    return lam[oi, s] if oi >= 0 else np.inf


@nb.njit(cache=True)
def _f32(x):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    return np.float64(np.float32(x))


@nb.njit(cache=True)
def _h_big(ev, pe, off, poff, n, n_h, low, lam0, x, sort_all):  # type: ignore[no-untyped-def]  # pragma: no cover
    """sum(min(e, x)) over R's entries and how many are above x: a binary search in
    the sorted part when x is at or above the base level, else a scan (a binary search
    in the sorted values below the level with ``sort_all``)."""
    if x >= lam0:
        lo = np.searchsorted(ev[off:off + n_h], x, side="right")  # entries <= x
        below = pe[poff + lo - 1] if lo > 0 else 0.0
        return low + below + x * (n_h - lo), n_h - lo
    if sort_all:
        lo = np.searchsorted(ev[off + n_h:off + n], x, side="right")
        below = pe[poff + n_h + lo - 1] if lo > 0 else 0.0
        up = n - n_h - lo + n_h
        return below + x * up, up
    return _clip_add(ev, off + n_h, off + n, x, x * n_h, n_h, 1)


@nb.njit(cache=True)
def _clip_add(v, start, stop, x, h, count, sign):  # type: ignore[no-untyped-def]  # pragma: no cover
    """``h + sign * sum(min(v[i], x))`` and ``count + sign * #(v[i] > x)`` over
    ``start <= i < stop``, added in index order (``sign`` is 1 or -1, so the sums are
    the same to the bit as adding or subtracting each term)."""
    for i in range(start, stop):
        e = v[i]
        if e > x:
            h += sign * x
            count += sign
        else:
            h += sign * e
    return h, count


@nb.njit(cache=True)
def _split(e, n, lam0):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Put the values above ``lam0`` first (``e`` is reordered in place, with nothing
    else depending on its order); their count and the sum of the others."""
    lo = _above_first(e, 0, n, lam0)
    low = 0.0
    for i in range(lo, n):
        low += e[i]
    return lo, low


@nb.njit(cache=True)
def _h_slope(ev, pe, off, poff, n, n_h, low, lam0, se, n_se, s_h, s_low, ne, n_ne,  # type: ignore[no-untyped-def]  # pragma: no cover
             n_hi, n_low, x, sort_all):
    """sum(min(e, x)) over R's entries minus ``se`` plus ``ne``, and how many of them
    are above ``x`` (the slope). At or above the base level only the changed values
    above it (the first ``s_h`` / ``n_hi``) vary; the others add up to a constant."""
    h, sl = _h_big(ev, pe, off, poff, n, n_h, low, lam0, x, sort_all)
    if x >= lam0:
        h += n_low - s_low
        m_s = s_h
        m_n = n_hi
    else:
        m_s = n_se
        m_n = n_ne
    h, sl = _clip_add(se, 0, m_s, x, h, sl, -1)
    return _clip_add(ne, 0, m_n, x, h, sl, 1)


@nb.njit(cache=True)
def _eval_one(  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
        s, r_row, group_start, group_assoc, demand, app, app_min, served_s, thr_s,
        b_served, b_thr, b_zthr, changed, old_rows, old_lens, new_rows, new_lens, new_cut,
        in_lam, o_index, lam, slot, size, ev, pe, pf, tv, nt, nbv, uthr, under_served,
        under_thr, nh, pslot, mh, low_e, low_f, cap, sort_all, max_entries, se, st, ne, nt_,
        sc, nc, n_se_q, n_ne_q):
    """Served Mbps and throttled devices of one contingency (``changed`` ...
    ``in_lam``, :class:`Job`) in scenario ``s`` with the constrained links ``r_row``
    (-1 padded). Scratch: the changed entries of constrained link ``q`` go to ``se`` / ``ne``
    (thresholds ``st`` / ``nt_``) from ``q * max_entries``, in point order, collected
    in the same pass over the points as the rest; ``sc``, ``nc`` hold copies."""
    n_c = changed.shape[0]
    n_r = r_row.shape[0]
    served = served_s[s]
    thr = thr_s[s]
    uth = 0
    for q in range(n_r):
        n_se_q[q] = 0
        n_ne_q[q] = 0
        r = r_row[q]
        if r < 0:
            break
        oi = o_index[r]
        served -= under_served[oi, s]
        thr -= under_thr[oi, s]
        uth += uthr[oi, s]
    for i in range(n_c):
        p = changed[i]
        a = group_start[s, p]
        e_end = a + group_assoc[s, p]
        b = group_start[s, p + 1]
        n_u = 0
        for k in range(e_end, b):
            m = app_min[app[k]]
            if m > 0.0 and min(m, np.float64(demand[k])) * _THR > 0.0:
                n_u += 1
        # which constrained link (index into r_row) the old and the new path cross,
        # and where
        oq = -1
        oh = -1
        for q in range(n_r):
            r = r_row[q]
            if r < 0:
                break
            for h in range(old_lens[i]):
                if old_rows[i, h] == r:
                    oq = q
                    oh = h
                    break
            if oq >= 0:
                break
        cut = new_cut[i]
        nq = -1
        nh_ = -1
        if not cut:
            for q in range(n_r):
                r = r_row[q]
                if r < 0:
                    break
                for h in range(new_lens[i]):
                    if new_rows[i, h] == r:
                        nq = q
                        nh_ = h
                        break
                if nq >= 0:
                    break
        # base: below a constrained link (its entries leave that link's sorted
        # values) or not (its sums go)
        if oq < 0:
            served -= b_served[p, s]
            thr -= b_thr[p, s]
        else:
            uth -= n_u
        # new: cut off, below a constrained link (its entries join that link's
        # values) or not (own levels, below)
        if cut:
            thr += b_zthr[p, s]
        elif nq >= 0:
            uth += n_u
        if oq >= 0 or nq >= 0:
            # the entries leaving and joining constrained links, in one pass over
            # the point's entries (with spread load a moved point does both)
            mu_o = np.inf
            for h in range(oh):
                mu_o = min(mu_o, _lamv(o_index, lam, old_rows[i, h], s))
            mu_n = np.inf
            for h in range(nh_):
                lk = new_rows[i, h]
                if not in_lam[lk]:
                    mu_n = min(mu_n, _lamv(o_index, lam, lk, s))
            at_o = oq * max_entries + n_se_q[oq] if oq >= 0 else 0
            at_n = nq * max_entries + n_ne_q[nq] if nq >= 0 else 0
            for k in range(a, e_end):
                d = np.float64(demand[k])
                m = app_min[app[k]]
                t = min(m, d) * _THR if m > 0.0 else -1.0
                if oq >= 0:
                    se[at_o] = min(d, mu_o)
                    st[at_o] = t
                    at_o += 1
                if nq >= 0:
                    ne[at_n] = min(d, mu_n)
                    nt_[at_n] = t
                    at_n += 1
            if oq >= 0:
                n_se_q[oq] = at_o - oq * max_entries
            if nq >= 0:
                n_ne_q[nq] = at_n - nq * max_entries
        if not cut and nq < 0:
            mu = np.inf
            for h in range(new_lens[i]):
                lk = new_rows[i, h]
                if not in_lam[lk]:
                    mu = min(mu, _lamv(o_index, lam, lk, s))
            for k in range(a, e_end):
                d = np.float64(demand[k])
                rate = d if d <= mu else _f32(mu)
                served += rate
                m = app_min[app[k]]
                if m > 0.0 and rate < min(m, d) * _THR:
                    thr += 1.0
            thr += n_u
    for q in range(n_r):
        r = r_row[q]
        if r < 0:
            break
        oi = o_index[r]
        n_se = n_se_q[q]
        n_ne = n_ne_q[q]
        q0 = q * max_entries
        off = slot[oi, s]
        n = size[oi, s]
        n_h = nh[oi, s]
        low = low_e[oi, s]
        lam0 = lam[oi, s]
        c = cap[r]
        poff = pslot[oi, s]
        tot = low + (pe[poff + n_h - 1] if n_h > 0 else 0.0)
        for i in range(q0, q0 + n_se):
            tot -= se[i]
        for i in range(q0, q0 + n_ne):
            tot += ne[i]
        x = np.inf
        if tot > c:
            # changed values are paired with their thresholds (st, nt_): split
            # copies, the originals keep their order for the sums below
            sc[:n_se] = se[q0:q0 + n_se]
            nc[:n_ne] = ne[q0:q0 + n_ne]
            s_h, s_low = _split(sc, n_se, lam0)
            n_hi, n_low = _split(nc, n_ne, lam0)
            # Newton on the concave piecewise-linear H(x) = sum(min(e, x)) from a
            # point below the root (the base level if it is, else 0): each step
            # lands on the root of the current segment's line, never beyond the
            # root, and stops when it no longer moves (the water-filling rounds)
            x = lam0
            hv = np.inf
            sl = 0
            if x < np.inf:
                hv, sl = _h_slope(ev, pe, off, poff, n, n_h, low, lam0, sc, n_se, s_h, s_low,
                                  nc, n_ne, n_hi, n_low, x, sort_all)
            if not hv <= c:
                x = 0.0
                hv = 0.0
                sl = n - n_se + n_ne
            for _ in range(10000):
                if sl <= 0:
                    break
                xn = x + (c - hv) / sl
                if not xn > x:
                    break
                x = xn
                hv, sl = _h_slope(ev, pe, off, poff, n, n_h, low, lam0, sc, n_se, s_h, s_low,
                                  nc, n_ne, n_hi, n_low, x, sort_all)
        # served: float32(min(e, x)) summed; throttled: float32(min(e, x)) < t
        fx = _f32(x)
        fx32 = np.float32(x)
        m_t = nt[oi, s]
        m_h = mh[oi, s]
        if x >= lam0:
            n_le = np.searchsorted(ev[off:off + n_h], x, side="right")
            served += low_f[oi, s] + (pf[poff + n_le - 1] if n_le > 0 else 0.0)
            if n_le < n_h:
                served += fx * (n_h - n_le)
            # thresholds above float32(x): only among the sorted ones
            above = m_h - np.searchsorted(tv[off:off + m_h], fx32, side="right")
        elif sort_all:
            n_le = np.searchsorted(ev[off + n_h:off + n], x, side="right")
            served += (fx * n_h + (pf[poff + n_h + n_le - 1] if n_le > 0 else 0.0)
                       + fx * (n - n_h - n_le))
            # the m_h above float32(level) are above float32(x) <= it
            above = m_t - np.searchsorted(tv[off + m_h:off + m_t], fx32, side="right")
        else:
            served += fx * n_h
            for i in range(off + n_h, off + n):
                served += _f32(min(ev[i], x))
            above = 0
            for i in range(off, off + m_t):
                if tv[i] > fx32:
                    above += 1
        # the link's entries: nb always throttled; the others iff float32(x) < t
        thr += nbv[oi, s] + above
        for i in range(q0, q0 + n_se):
            rate = _f32(min(se[i], x))
            served -= rate
            if st[i] >= 0.0 and rate < st[i]:
                thr -= 1.0
        for i in range(q0, q0 + n_ne):
            rate = _f32(min(ne[i], x))
            served += rate
            if nt_[i] >= 0.0 and rate < nt_[i]:
                thr += 1.0
    return served, thr + uth


@dataclass
class Moves:
    """What a failure does to the paths, scenario-independent: it moves the points
    ``changed`` from ``old_rows`` to ``new_rows`` (``new_cut``: cut off; with spread
    load the rows hold only the links that are overloaded in some scenario, see
    :mod:`netstage.simulator.incremental_spread`); ``in_lam`` marks the links whose
    subtree changed."""

    changed: I64
    old_rows: NDArray[np.int32]
    old_lens: NDArray[np.int32]
    new_rows: NDArray[np.int32]
    new_lens: NDArray[np.int32]
    new_cut: NDArray[np.bool_]
    in_lam: NDArray[np.bool_]


@dataclass
class Job:
    """Incremental work of one contingency in one scenario chunk: the scenarios
    ``scen`` (ascending, with ``r_links[S, K]`` the constrained links whose subtree changed, -1
    padded; none: every row -1; several only when no path crosses two of them) after the
    failure's ``moves``. ``index`` is the caller's (the contingency's)."""

    index: int
    scen: I64
    r_links: I64
    moves: Moves


#: scenarios per block of :func:`_eval_jobs`
_EVAL_BLOCK = 8


@nb.njit(parallel=True, cache=True)
def _eval_jobs(  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
        c_ptr, s_ptr, scen, r_links, changed, old_rows, old_lens, new_rows,
        new_lens, new_cut, in_lam, group_start, group_assoc, demand, app, app_min, served_s,
        thr_s, b_served, b_thr, b_zthr, o_index, lam, slot, size, ev, pe, pf, tv, nt, nbv, uthr,
        under_served, under_thr, nh, pslot, mh, low_e, low_f, cap, out_served, out_thr,
        sort_all, block):
    # One parallel region for every contingency of the chunk, over blocks of
    # ``block`` scenarios, every contingency in turn inside a block: a block's rows of
    # the batch and of the base sums stay in cache while the contingencies read them
    # (contingency by contingency, each one re-read the whole chunk from memory), and
    # the blocks hold equal work whatever the contingencies' sizes. ``scen`` is
    # ascending within each job.
    n_j = c_ptr.shape[0] - 1
    n_r = r_links.shape[1]
    n_blk = (group_assoc.shape[0] + block - 1) // block
    for bk in nb.prange(n_blk):
        lo_s = bk * block
        hi_s = lo_s + block
        first = np.empty(n_j, dtype=np.int64)
        last = np.empty(n_j, dtype=np.int64)
        # the most entries the changed points have in one of the block's scenarios
        max_entries = 0
        for jb in range(n_j):
            s0 = s_ptr[jb]
            sc_j = scen[s0:s_ptr[jb + 1]]
            first[jb] = s0 + np.searchsorted(sc_j, lo_s)
            last[jb] = s0 + np.searchsorted(sc_j, hi_s)
            for j in range(first[jb], last[jb]):
                e_s = 0
                for i in range(c_ptr[jb], c_ptr[jb + 1]):
                    e_s += group_assoc[scen[j], changed[i]]
                max_entries = max(max_entries, e_s)
        se = np.empty(n_r * max_entries)
        st = np.empty(n_r * max_entries)
        ne = np.empty(n_r * max_entries)
        nt_ = np.empty(n_r * max_entries)
        sc = np.empty(max_entries)
        nc = np.empty(max_entries)
        n_se_q = np.empty(n_r, dtype=np.int64)
        n_ne_q = np.empty(n_r, dtype=np.int64)
        for jb in range(n_j):
            c0 = c_ptr[jb]
            c1 = c_ptr[jb + 1]
            for j in range(first[jb], last[jb]):
                out_served[j], out_thr[j] = _eval_one(
                    scen[j], r_links[j], group_start, group_assoc, demand, app, app_min,
                    served_s, thr_s, b_served, b_thr, b_zthr, changed[c0:c1],
                    old_rows[c0:c1], old_lens[c0:c1], new_rows[c0:c1], new_lens[c0:c1],
                    new_cut[c0:c1], in_lam[jb], o_index, lam, slot, size, ev, pe, pf, tv,
                    nt, nbv, uthr, under_served, under_thr, nh, pslot, mh, low_e, low_f,
                    cap, sort_all, max_entries, se, st, ne, nt_, sc, nc, n_se_q, n_ne_q)


def solve_jobs(batch: DemandBatch, b_served: F64, b_thr: Counts, b_zthr: Counts, served_s: F64,
               thr_s: F64, levels: TreeLevels, cap: F64, jobs: list[Job],
               block: int = _EVAL_BLOCK) -> list[tuple[F64, F64]]:
    """Served Mbps and throttled devices of each job's scenarios (``b_*`` the base
    allocation's ``[P, S]`` sums, ``served_s``/``thr_s`` its totals), all jobs in one
    parallel call."""
    if not jobs:
        return []
    # the rows cut to the longest path (reduced paths are short; the kernel reads a
    # row only up to its length) and int32: every block of _eval_jobs reads the jobs'
    # per-point arrays again
    moves = [j.moves for j in jobs]
    width = max(max(int(m.old_lens.max(initial=0)), int(m.new_lens.max(initial=0)))
                for m in moves)
    width = max(width, 1)

    def rows(r: NDArray[np.int32]) -> NDArray[np.int32]:
        out = np.full((r.shape[0], width), -1, dtype=np.int32)
        w = min(width, r.shape[1])
        out[:, :w] = r[:, :w]
        return out

    c_ptr = np.r_[0, np.cumsum([m.changed.shape[0] for m in moves])].astype(np.int64)
    s_ptr = np.r_[0, np.cumsum([j.scen.shape[0] for j in jobs])].astype(np.int64)
    k_r = max(max(j.r_links.shape[1] for j in jobs), 1)

    def rlinks(r: I64) -> I64:
        out = np.full((r.shape[0], k_r), -1, dtype=np.int64)
        out[:, : r.shape[1]] = r
        return out

    out_s = np.zeros(int(s_ptr[-1]))
    out_t = np.zeros(int(s_ptr[-1]))
    _eval_jobs(c_ptr, s_ptr,
               np.concatenate([j.scen for j in jobs]).astype(np.int64),
               np.concatenate([rlinks(j.r_links) for j in jobs]),
               np.concatenate([m.changed for m in moves]).astype(np.int32),
               np.concatenate([rows(m.old_rows) for m in moves]),
               np.concatenate([m.old_lens for m in moves]).astype(np.int32),
               np.concatenate([rows(m.new_rows) for m in moves]),
               np.concatenate([m.new_lens for m in moves]).astype(np.int32),
               np.concatenate([m.new_cut for m in moves]).astype(np.bool_),
               np.stack([m.in_lam for m in moves]), batch.group_start, batch.group_assoc,
               batch.demand_mbps, batch.app,
               np.ascontiguousarray(batch.app_min_mbps, dtype=np.float64),
               np.ascontiguousarray(served_s), np.ascontiguousarray(thr_s),
               b_served, b_thr, b_zthr, levels.o_index, levels.lam, levels.slot, levels.size,
               levels.ev, levels.pe, levels.pf, levels.tv, levels.nt, levels.nb, levels.uthr,
               levels.under_served, levels.under_thr, levels.nh, levels.pslot, levels.mh,
               levels.low_e, levels.low_f, np.ascontiguousarray(cap, dtype=np.float64),
               out_s, out_t, levels.sort_all, block)
    return [(out_s[a:b], out_t[a:b]) for a, b in pairwise(s_ptr.tolist())]
