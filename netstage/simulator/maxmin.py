"""Max-min fair allocation of link capacity, for every scenario of a demand batch at once.

Model: every active, associated device of a scenario is a flow from its attachment
point ``p`` over the links ``path_links[p, :path_len[p]]`` (Wi-Fi air link first, up
to an Internet circuit). A flow never gets more than its demand; link ``l`` carries at
most ``capacity_mbps[l] - background_mbps[l]`` (clipped at 0). The allocation is the
max-min fair one: no flow can get more without taking from a flow that has less.

Algorithm (batched progressive filling, one implementation, compiled with numba)
---------------------------------------------------------------------------------
Per scenario, repeat until every flow is frozen:

1. ``share[l] = remaining[l] / unfrozen[l]`` for every link with unfrozen flows;
2. every unfrozen flow is *offered* ``min(share)`` along its path;
3. flows whose demand <= offer are frozen at their demand;
4. a link is a *round bottleneck* if every unfrozen flow crossing it is offered
   exactly its share and wants more; all flows crossing a round bottleneck are frozen
   at its share (all bottlenecks of the round at once).

Shares never decrease during the run (a flow frozen at x <= share leaves at least
``share`` per remaining flow), so a flow frozen in step 3 or 4 has its max-min value;
the link with the globally smallest share always triggers step 3 or 4, so each round
freezes at least one flow. Flows from the same attachment point share their whole
path, so the kernel works on *groups* (one per attachment point and scenario) whose
flows are sorted by demand: a round costs O(groups x hops + links), not O(devices x
hops). This aggregation is exact: within a group each flow gets
``min(demand, group level)``.

Devices at attachment points with ``path_len == 0`` are disconnected and get 0;
unassociated devices (beyond an AP's client bound, see :mod:`demand`) get 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np
from numpy.typing import NDArray

from netstage.simulator.arrays import DistrictArrays
from netstage.simulator.demand import DemandBatch
from netstage.simulator.errors import SimulationError

__all__ = ["Allocation", "allocate", "effective_capacity"]


@nb.njit(parallel=True, cache=True)
def _maxmin(group_start, group_assoc, demand, path_links,  # type: ignore[no-untyped-def]
            path_len, cap, rate, link_used, link_bn, rounds):  # pragma: no cover
    n_s = group_start.shape[0]
    n_p = group_assoc.shape[1]
    n_l = cap.shape[0]
    for s in nb.prange(n_s):
        rem = cap.copy()
        cnt = np.zeros(n_l, dtype=np.int64)
        lo = np.empty(n_p, dtype=np.int64)
        hi = np.empty(n_p, dtype=np.int64)
        act = np.empty(n_p, dtype=np.int32)
        offer = np.empty(n_p, dtype=np.float64)
        share = np.empty(n_l, dtype=np.float64)
        is_bn = np.zeros(n_l, dtype=np.bool_)
        n_act = 0
        for p in range(n_p):
            a = group_start[s, p]
            b = a + group_assoc[s, p]
            for k in range(b, group_start[s, p + 1]):
                rate[k] = 0.0  # unassociated
            lo[p] = a
            hi[p] = b
            if path_len[p] == 0:
                for k in range(a, b):
                    rate[k] = 0.0  # disconnected
                continue
            if b > a:
                act[n_act] = p
                n_act += 1
                for h in range(path_len[p]):
                    cnt[path_links[p, h]] += b - a
        n_round = 0
        while n_act > 0:
            n_round += 1
            for lk in range(n_l):
                if cnt[lk] > 0:
                    share[lk] = max(rem[lk], 0.0) / cnt[lk]
                    is_bn[lk] = True
                else:
                    share[lk] = np.inf
                    is_bn[lk] = False
            for j in range(n_act):
                p = act[j]
                o = np.inf
                for h in range(path_len[p]):
                    o = min(o, share[path_links[p, h]])
                offer[p] = o
                limited = demand[lo[p]] <= o
                for h in range(path_len[p]):
                    lk = path_links[p, h]
                    if limited or share[lk] > o:
                        is_bn[lk] = False
            n_next = 0
            for j in range(n_act):
                p = act[j]
                o = offer[p]
                k = lo[p]
                e = hi[p]
                taken = 0.0
                while k < e and demand[k] <= o:
                    rate[k] = demand[k]
                    taken += demand[k]
                    k += 1
                n_frozen = k - lo[p]
                if n_frozen == 0:
                    bl = -1
                    for h in range(path_len[p]):
                        lk = path_links[p, h]
                        if is_bn[lk] and share[lk] == o:
                            bl = lk
                            break
                    if bl >= 0:
                        for q in range(k, e):
                            rate[q] = o
                        n_frozen = e - k
                        taken = o * n_frozen
                        link_bn[s, bl] += n_frozen
                        k = e
                if n_frozen > 0:
                    for h in range(path_len[p]):
                        lk = path_links[p, h]
                        rem[lk] -= taken
                        cnt[lk] -= n_frozen
                lo[p] = k
                if k < e:
                    act[n_next] = p
                    n_next += 1
            n_act = n_next
        rounds[s] = n_round
        for lk in range(n_l):
            link_used[s, lk] = max(cap[lk] - rem[lk], 0.0)


@dataclass(frozen=True, eq=False)
class Allocation:
    """Result of :func:`allocate` for one :class:`DemandBatch` (S scenarios, L links).

    ``rate_mbps[E]`` allocated rate per batch entry (0 for disconnected and
    unassociated devices); ``link_used_mbps[S, L]`` capacity allocated to devices
    (background excluded); ``link_bottleneck_devices[S, L]`` devices frozen at that
    link's fair share (the link was their bottleneck); ``rounds[S]`` filling rounds.
    """

    rate_mbps: NDArray[np.float32]
    link_used_mbps: NDArray[np.float32]
    link_bottleneck_devices: NDArray[np.int32]
    rounds: NDArray[np.int32]


def effective_capacity(capacity_mbps: NDArray[np.float64], background_mbps: NDArray[np.float64],
                       path_links: NDArray[np.int32], link_ids: tuple[str, ...] = ()
                       ) -> NDArray[np.float64]:
    """Capacity left for devices (Mbps): ``capacity - background`` clipped at 0.

    Raises :class:`SimulationError` if a link that some path crosses has a capacity
    that is not a finite number > 0, or a background that is negative or not finite
    (a zero-capacity link on a path is a modelling error: remove the link or re-route).
    """
    cap = np.asarray(capacity_mbps, dtype=np.float64)
    bg = np.asarray(background_mbps, dtype=np.float64)
    if cap.shape != bg.shape:
        raise SimulationError("capacity and background arrays differ in length")
    on_path = path_links[path_links >= 0]
    top = int(on_path.max()) if on_path.size else -1
    if top >= cap.shape[0]:
        raise SimulationError(f"path refers to link {top}, only {cap.shape[0]} exist")
    # the links some path crosses, ascending (np.unique hashes: 3 ms a call, per chunk)
    used = np.flatnonzero(np.bincount(on_path, minlength=cap.shape[0]))
    bad = used[~(np.isfinite(cap[used]) & (cap[used] > 0))]
    if bad.size:
        names = [link_ids[i] if i < len(link_ids) else str(i) for i in bad[:5].tolist()]
        raise SimulationError(
            f"{bad.size} link(s) on device paths have no usable capacity "
            f"(must be a finite number > 0): {', '.join(names)}; fix capacity_mbps or "
            "re-route around them"
        )
    badbg = used[~(np.isfinite(bg[used]) & (bg[used] >= 0))]
    if badbg.size:
        names = [link_ids[i] if i < len(link_ids) else str(i) for i in badbg[:5].tolist()]
        raise SimulationError(f"background_mbps must be finite and >= 0 on: {', '.join(names)}")
    return np.maximum(cap - bg, 0.0)


def allocate(
    batch: DemandBatch,
    arrays: DistrictArrays,
    *,
    capacity_mbps: NDArray[np.float64] | None = None,
) -> Allocation:
    """Max-min fair rates of every entry of ``batch`` on the paths of ``arrays``.

    Paths are ``arrays.path_links`` / ``arrays.path_len`` (pass
    ``arrays.with_paths(...)`` for a contingency); capacities are
    ``capacity_mbps`` if given, else ``arrays.link_capacity_mbps``, minus
    ``arrays.link_background_mbps``. The batch must have been drawn for the same
    device set (same ``arrays.device_attach``). Cost: a few filling rounds per
    scenario over attachment-point groups; call it once per contingency with one
    shared batch.
    """
    n_p = len(arrays.attach_ids)
    if batch.group_assoc.shape[1] != n_p:
        raise SimulationError(
            f"demand batch has {batch.group_assoc.shape[1]} attachment points, the district "
            f"arrays {n_p}: draw the batch from the same device set"
        )
    cap_in = arrays.link_capacity_mbps if capacity_mbps is None else capacity_mbps
    path_links = np.ascontiguousarray(arrays.path_links, dtype=np.int32)
    path_len = np.ascontiguousarray(arrays.path_len, dtype=np.int32)
    if path_links.shape[0] != n_p or path_len.shape[0] != n_p:
        raise SimulationError("path arrays do not have one row per attachment point")
    if np.any(path_len < 0) or np.any(path_len > path_links.shape[1]):
        raise SimulationError("path_len out of range of path_links")
    cap = effective_capacity(cap_in, arrays.link_background_mbps, path_links, arrays.link_ids)
    n_s, n_l = batch.n_scenarios, cap.shape[0]
    rate = np.empty(batch.n_entries, dtype=np.float32)
    used = np.zeros((n_s, n_l), dtype=np.float32)
    bn = np.zeros((n_s, n_l), dtype=np.int32)
    rounds = np.zeros(n_s, dtype=np.int32)
    if n_s:
        _maxmin(batch.group_start, batch.group_assoc, batch.demand_mbps, path_links, path_len,
                cap, rate, used, bn, rounds)
    return Allocation(rate_mbps=rate, link_used_mbps=used, link_bottleneck_devices=bn,
                      rounds=rounds)
