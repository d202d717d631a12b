"""The fast path of N-1 for many contingencies at once (part of
:mod:`netstage.simulator.contingency`; the method is in its docstring).

Per contingency the fast path needs, for each link whose flow set the failure changes
(set A), the raw demand crossing it after the failure, and the base sums of the
points it disconnects. Done contingency by contingency that is some twenty small
numpy calls each, and a district with a few hundred elements spent most of its N-1
time in that overhead. Here the set A of every contingency is built once (it does
not depend on the scenarios), and per chunk of scenarios a group of contingencies is
checked with one sparse product: the rows of ``ind`` are the (contingency, link)
pairs of A, its columns the attachment points, +1 where the point's new path gains
the link and -1 where it loses it. The sums are added in the same order as the
per-contingency code did, so the result is the same to the last bit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from netstage.simulator.arrays import DistrictArrays
from netstage.simulator.contingency.kernels import (
    _Base,
    changed_links,
    fast_check,
    row_hashes,
    rows_differ,
)
from netstage.simulator.csr import Csr
from netstage.simulator.rerouting import _pad, _Plan

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

#: values of the ``[A, S]`` demand products held at once (float64: 8 bytes each)
_GROUP_VALUES = 4_000_000


@dataclass
class PlanDeltas:
    """Set A of every contingency plan, scenario-independent: rows ``ptr[j]:ptr[j+1]``
    belong to plan ``j`` (links ascending)."""

    ptr: I64  # [n_plans + 1]
    a_link: I64  # [A]
    ind: Csr  # [A, K]: +1 link gained by the class's new paths, -1 lost
    agg: Csr  # [K, P]: 1 where the point is in the class
    cptr: I64  # [n_plans + 1] into the K classes
    new_count: I64  # [A] points whose path crosses the link after the failure
    all_base_disc: NDArray[np.bool_]  # [A] every base flow of the link is cut off
    disc: Csr  # [n_plans, P]: 1 where the plan disconnects the point


def plan_deltas(arr: DistrictArrays, base_count: I64, plans: list[_Plan]) -> PlanDeltas:
    """:class:`PlanDeltas` of ``plans`` (``base_count``: points per link in the base,
    :attr:`kernels.PointLinks.per_link`)."""
    n_p, n_l, n_j = len(arr.attach_ids), arr.n_links, len(plans)
    sizes = np.array([p.changed.shape[0] for p in plans], dtype=np.int64)
    plan_of = np.repeat(np.arange(n_j, dtype=np.int64), sizes)
    if n_j and sizes.sum():
        width = max(max(p.width for p in plans), arr.path_links.shape[1])
        changed = np.concatenate([p.changed for p in plans]).astype(np.int64)
        rows = np.concatenate([_pad(p.rows, width) for p in plans])
        lens = np.concatenate([p.lens for p in plans])
    else:
        changed = np.zeros(0, dtype=np.int64)
        rows = np.zeros((0, 1), dtype=np.int32)
        lens = np.zeros(0, dtype=np.int32)
    old_rows = _pad(arr.path_links[changed], rows.shape[1])
    lost_m, gain_m = changed_links(old_rows, arr.path_len[changed], rows, lens)
    g_l, c_l = np.nonzero(lost_m)
    g_g, c_g = np.nonzero(gain_m)
    n_lost = g_l.shape[0]
    g = np.r_[g_l, g_g]
    link = np.r_[old_rows[g_l, c_l], rows[g_g, c_g]].astype(np.int64)
    a_keys, inv = _unique_inverse(plan_of[g] * n_l + link, n_j * n_l)
    n_a = a_keys.shape[0]
    a_link = a_keys % n_l
    ptr = np.searchsorted(a_keys // n_l, np.arange(n_j + 1)).astype(np.int64)
    sign = np.r_[-np.ones(n_lost), np.ones(g_g.shape[0])]
    # classes: the points of a plan that lose and gain the same links, in the same order
    sig = np.concatenate([plan_of[:, None].astype(np.int32),
                          np.where(lost_m, old_rows, np.int32(-1)),
                          np.where(gain_m, rows, np.int32(-1))], axis=1, dtype=np.int32)
    ind, agg, cptr = _classes(sig, inv, g, sign, changed, n_a, n_j, n_p)
    li, gi = inv[:n_lost], inv[n_lost:]
    new_count = (base_count[a_link] - np.bincount(li, minlength=n_a)
                 + np.bincount(gi, minlength=n_a))
    is_disc = lens[g_l] == 0  # the point has no path after the failure
    all_base_disc = np.bincount(li[is_disc], minlength=n_a) >= base_count[a_link]
    cut = lens == 0
    disc = Csr.from_coo(np.ones(int(cut.sum())), plan_of[cut], changed[cut], (n_j, n_p))
    return PlanDeltas(ptr=ptr, a_link=a_link, ind=ind, agg=agg, cptr=cptr,
                      new_count=new_count, all_base_disc=all_base_disc, disc=disc)


def _hash_multipliers(n: int) -> NDArray[np.uint64]:
    """Odd random 64-bit multipliers of the row hash in :func:`_classes` (fixed seed)."""
    rng = np.random.default_rng(0x5EED)
    return rng.integers(1, 2**63, size=n, dtype=np.uint64) | np.uint64(1)


def _unique_inverse(keys: I64, n_keys: int) -> tuple[I64, I64]:
    """``np.unique(keys, return_inverse=True)`` for keys in ``[0, n_keys)``: by a marker
    array when that is not much longer than ``keys`` (no sort), else by ``np.unique``."""
    if n_keys > max(4 * keys.shape[0], 1_000_000):
        u, inv = np.unique(keys, return_inverse=True)
        return u, inv.ravel().astype(np.int64)
    mark = np.zeros(n_keys, dtype=bool)
    mark[keys] = True
    u = np.flatnonzero(mark)
    rank = np.zeros(n_keys, dtype=np.int64)
    rank[u] = np.arange(u.shape[0])
    return u, rank[keys]


def _classes(sig: NDArray[np.int32], inv: I64, g: I64, sign: F64, changed: I64, n_a: int,
             n_j: int, n_p: int) -> tuple[Csr, Csr, I64]:
    """``ind[A, K] @ agg[K, P]``: the changed points of each plan grouped into classes
    whose paths lose and gain the same links (``sig``: plan, lost links, gained links
    per point; K classes, ascending by plan; ``cptr[j]`` the first class of plan
    ``j``). A core failure moves thousands of points along a few patterns, so the
    per-chunk product shrinks from (points x links changed) to (points + classes x
    links changed) per scenario."""
    has = np.zeros(sig.shape[0], dtype=bool)
    has[g] = True
    pts = np.flatnonzero(has)
    rows = sig[pts]
    # one random 64-bit linear hash per row, then every row checked against its class's
    # first row: exact (rows that only share a hash fall back to sorting the rows)
    h = row_hashes(rows, _hash_multipliers(rows.shape[1]))
    _, first, cls = np.unique(h, return_index=True, return_inverse=True)
    cls = cls.ravel()
    if rows_differ(rows, first[cls]):
        _, first, cls = np.unique(rows, axis=0, return_index=True, return_inverse=True)
        cls = cls.ravel()
    # number the classes plan by plan (column 0 of ``sig``)
    order = np.argsort(rows[first, 0], kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.shape[0])
    first, cls = first[order], rank[cls]
    n_k = first.shape[0]
    rep = np.zeros(sig.shape[0], dtype=bool)
    rep[pts[first]] = True
    cls_of = np.full(sig.shape[0], -1, dtype=np.int64)
    cls_of[pts] = cls
    at = rep[g]
    ind = Csr.from_coo(sign[at], inv[at], cls_of[g[at]], (n_a, n_k))
    agg = Csr.from_coo(np.ones(pts.shape[0]), cls, changed[pts], (n_k, n_p))
    cptr = np.searchsorted(sig[pts[first], 0], np.arange(n_j + 1)).astype(np.int64)
    return ind, agg, cptr


@dataclass
class FastCheck:
    """One plan's fast-path result on a chunk: served Mbps and throttled devices per
    scenario with the disconnected points removed (exact where ``slow`` is False), and
    A's links with their demand and flow count after the failure (for the slow
    scenarios)."""

    served: F64
    thr: F64
    slow: NDArray[np.bool_]
    a_links: I64
    new_dem: F64  # [A_j, S]
    new_count: I64


def fast_checks(deltas: PlanDeltas, base: _Base, cap: F64) -> Iterator[FastCheck]:
    """:class:`FastCheck` of every plan, in order, for the chunk whose base sums are
    ``base``; plans are taken in groups whose ``[A + K, S]`` products stay under
    ``_GROUP_VALUES`` values."""
    n_j = deltas.ptr.shape[0] - 1
    n_s = base.served_s.shape[0]
    per = max(1, _GROUP_VALUES // max(n_s, 1))
    ptr, cptr = deltas.ptr, deltas.cptr
    size = ptr + cptr
    j0 = 0
    while j0 < n_j:
        # as many plans as fit (at least one)
        j1 = int(np.searchsorted(size, size[j0] + per, side="right")) - 1
        j1 = min(max(j1, j0 + 1), n_j)
        r0, r1 = int(ptr[j0]), int(ptr[j1])
        a_link = deltas.a_link[r0:r1]
        rows = deltas.ind.row_block(r0, r1)
        c0, c1 = int(cptr[j0]), int(cptr[j1])
        cols = rows.indices - c0
        if cols.size and (cols.min() < 0 or cols.max() >= c1 - c0):
            raise AssertionError("N-1 fast path: a plan's classes are not contiguous")
        local = rows.with_columns(cols, c1 - c0)
        new_count = deltas.new_count[r0:r1]
        starts = ptr[j0:j1 + 1] - r0
        new_dem, slow = fast_check(a_link, base.link_dem,
                                   local @ (deltas.agg.row_block(c0, c1) @ base.dem),
                                   new_count, deltas.all_base_disc[r0:r1], cap, starts)
        # the group's cut points only (their rows gathered, in point order)
        d = deltas.disc.row_block(j0, j1)
        cut, at = np.unique(d.indices, return_inverse=True)
        d = d.with_columns(at.ravel(), cut.shape[0])
        served = base.served_s - d @ base.served[cut]
        # a cut point's devices with a floor are all throttled (whole numbers: exact);
        # the float32 difference is widened by the product itself
        thr = base.thr_s + d @ (base.zthr[cut] - base.thr[cut])
        for j in range(j0, j1):
            a, b = int(starts[j - j0]), int(starts[j - j0 + 1])
            yield FastCheck(served=served[j - j0], thr=thr[j - j0], slow=slow[j - j0],
                            a_links=a_link[a:b], new_dem=new_dem[a:b],
                            new_count=new_count[a:b])
        j0 = j1
