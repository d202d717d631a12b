"""Which slow scenarios of one contingency the incremental max-min can solve, and its
job for them (part of :mod:`netstage.simulator.contingency`; the method is in
:mod:`netstage.simulator.incremental` and :mod:`netstage.simulator.incremental_spread`).

The question has a part that depends only on the contingency's re-routing and on the
set ``O`` of links overloaded in some scenario of the chunk (the paths reduced to
``O``, the links whose subtree changes, the pairs of ``O`` links the new paths nest):
:class:`JobFrame`. Chunks of one run nearly always have the same ``O``, so the driver
builds a contingency's frame once and keeps it while ``O`` stays the same; per chunk
only the scenario-dependent tests remain (:func:`incremental_job`). Built chunk by
chunk, the frames were a third of the Python time of an N-1 run on spread load.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from netstage.simulator.arrays import DistrictArrays
from netstage.simulator.contingency.kernels import _Base, _link_pairs
from netstage.simulator.incremental import Job, Moves, TreeLevels
from netstage.simulator.incremental_spread import (
    ChangedPairs,
    SpreadTree,
    changed_pairs,
    reduce_rows,
)
from netstage.simulator.rerouting import _pad, _Plan

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


@dataclass
class JobFrame:
    """The scenario-independent part of a contingency's incremental job, for one set
    ``O``: the failure's ``moves`` (the rows reduced to ``O`` with spread load; its
    ``in_lam`` the mask of ``lam_links``). ``lam_links`` the links whose subtree
    changes (set Lambda, ascending);
    ``count_new`` their flow count after the failure; ``a_at``/``a_in`` where the
    links of set A that are in Lambda sit in it; ``only_changed`` Lambda links that
    carry only changed points in the base; ``oi`` their position in the levels (-1:
    never overloaded); ``out`` the A links outside ``O`` (spread load: they must stay
    free); ``pairs`` :func:`incremental_spread.changed_pairs` (spread load); ``empty``:
    nothing to solve (tree routing with an empty Lambda)."""

    moves: Moves
    lam_links: I64
    count_new: I64
    a_in: NDArray[np.bool_]
    a_at: I64
    only_changed: NDArray[np.bool_]
    oi: I64
    out: NDArray[np.bool_]
    pairs: ChangedPairs | None
    empty: bool


def job_frame(base: _Base, arr: DistrictArrays, plan: _Plan, levels: TreeLevels,
              a_links: I64, new_count: I64, spread: SpreadTree | None = None) -> JobFrame:
    """:class:`JobFrame` of ``plan`` for the ``O`` of ``levels`` (and of ``spread``,
    the same set, with spread load); ``a_links``/``new_count`` the plan's set A and
    flow counts after the failure (:class:`fastcheck.FastCheck`)."""
    n_l = arr.n_links
    changed = plan.changed
    width = plan.width
    old_rows = _pad(arr.path_links[changed], width)
    old_lens = arr.path_len[changed]
    new_rows, new_lens = plan.rows, plan.lens
    new_cut = plan.lens == 0
    out = np.zeros(a_links.shape[0], dtype=bool)
    if spread is not None:
        keep = spread.o_index >= 0
        old_rows, old_lens = reduce_rows(old_rows, old_lens, keep)
        new_rows, new_lens = reduce_rows(_pad(new_rows, width), new_lens, keep)
        out = spread.o_index[a_links] < 0
    pos = np.arange(width)[None, :]
    differ = (old_rows != new_rows) & ((pos < old_lens[:, None]) | (pos < new_lens[:, None]))
    first = np.where(differ.any(axis=1), differ.argmax(axis=1), width)[:, None]
    lam_links = np.unique(np.r_[old_rows[(pos >= first) & (pos < old_lens[:, None])],
                                new_rows[(pos >= first) & (pos < new_lens[:, None])]]
                          ).astype(np.int64)
    in_lam = np.zeros(n_l, dtype=np.bool_)
    in_lam[lam_links] = True
    count_new = base.link_count[lam_links].copy()
    a_in = np.isin(a_links, lam_links)
    a_at = np.searchsorted(lam_links, a_links[a_in])
    count_new[a_at] = new_count[a_in]
    old = _link_pairs(arr.path_links, arr.path_len, changed, n_l)
    changed_base = np.bincount(old % n_l, minlength=n_l)[lam_links]
    pairs = (changed_pairs(spread, old_rows, old_lens, new_rows, new_lens, lam_links)
             if spread is not None else None)
    moves = Moves(changed=changed, old_rows=old_rows, old_lens=old_lens, new_rows=new_rows,
                  new_lens=new_lens, new_cut=new_cut, in_lam=in_lam)
    return JobFrame(moves=moves, lam_links=lam_links, count_new=count_new, a_in=a_in, a_at=a_at,
                    only_changed=changed_base >= base.link_count[lam_links],
                    oi=levels.o_index[lam_links], out=out, pairs=pairs,
                    empty=lam_links.size == 0 and spread is None)


def incremental_job(fr: JobFrame, base: _Base, cap: F64, levels: TreeLevels, slow_idx: I64,
                    a_links: I64, new_dem: F64, new_count: I64,
                    spread: SpreadTree | None = None) -> Job | None:
    """The incremental max-min's job for the slow scenarios ``slow_idx`` it can solve,
    or None when it can solve none (:mod:`netstage.simulator.incremental`): with tree
    routing, at most one constrained link among those whose subtree the failure
    changes; with spread load (``spread``: levels on reduced paths,
    :mod:`incremental_spread`), any number when no path crosses two of them, in the
    scenarios whose overloaded links form a tree before and after, where every link
    outside the levels whose flow set changes still fits its capacity. ``new_dem``:
    the raw demand of set A's links after the failure (``[A, S]``)."""
    if fr.empty:
        return None
    lam_links = fr.lam_links
    pre_ok = np.ones(slow_idx.shape[0], dtype=bool)
    if fr.out.any():
        # links the levels leave out (free in every base scenario) must stay free
        out = fr.out
        grown = ((new_dem[out][:, slow_idx] > cap[a_links[out]][:, None])
                 & (new_count[out] > 0)[:, None])
        pre_ok &= ~grown.any(axis=0)
    # raw demand of each Lambda link after the failure (A links changed)
    new_raw = base.link_dem[lam_links][:, slow_idx]
    new_raw[fr.a_at] = new_dem[fr.a_in][:, slow_idx]
    c = cap[lam_links][:, None]
    new_free = (new_raw <= c) | (fr.count_new <= 0)[:, None]
    oi = fr.oi
    lam_base = np.full((lam_links.shape[0], slow_idx.shape[0]), np.inf)
    has = oi >= 0
    lam_base[has] = levels.lam[oi[has]][:, slow_idx]
    base_free = np.isinf(lam_base) | fr.only_changed[:, None]
    cons = ~(new_free & base_free)
    n_cons = cons.sum(axis=0)
    # every constrained link must hold the base's sorted values (overloaded in the base)
    c_slot = np.full(cons.shape, -1, dtype=np.int64)
    c_slot[has] = levels.slot[oi[has]][:, slow_idx]
    held = np.all(~cons | (c_slot >= 0), axis=0)
    if spread is None:
        ok = (n_cons == 0) | ((n_cons == 1) & held)
    else:
        assert fr.pairs is not None
        ci = cons.astype(np.int64)
        clash = np.einsum("is,ij,js->s", ci, fr.pairs.nested.astype(np.int64), ci) > 0
        ok = pre_ok & fr.pairs.tree_ok(spread)[slow_idx] & held & ~clash
    if not ok.any():
        return None
    k = max(int(n_cons[ok].max()), 1)
    order = np.argsort(~cons[:, ok], axis=0, kind="stable")[:k]
    r_links = np.where(np.take_along_axis(cons[:, ok], order, axis=0),
                       lam_links[order] if lam_links.size else -1, -1).T
    return Job(index=-1, scen=slow_idx[ok], r_links=np.ascontiguousarray(r_links, np.int64),
               moves=fr.moves)
