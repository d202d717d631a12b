"""Monte Carlo demand: which devices are active, what each runs, how much it asks for.

:func:`draw_demand` draws a :class:`DemandBatch` for scenarios ``first .. first+S-1``
of a scenario type. Draws are *counter-based*: every random number is a hash
(splitmix64) of ``(seed, global scenario index, device index, purpose)``. Hence

* the same seed gives the same draws, whatever the chunking and thread count;
* draws do not depend on paths or capacities (common random numbers: an N-1
  contingency run on ``arrays.with_paths(...)`` sees exactly the same demand);
* scenario ``s`` of a batch starting at ``first`` equals scenario ``first + s`` of any
  other batch with the same seed.

Per device and scenario: the top 53 bits of hash 0 below ``active_p[class] * 2**53``
decide activity (an integer compare, so the kernels compact active devices without
branches); ``u1`` picks the application from the class's mix (inverse CDF); ``u2``
gives a standard normal ``z``
(Acklam's inverse-normal approximation, relative error < 1.2e-9) and the demand
``exp(mu[app] + sigma[app] * z)`` Mbps, capped at ``app_max_mbps``.

Wi-Fi client bound: at an attachment point with ``attach_max_clients = m > 0`` only
the first ``m`` active devices (in device order) associate; the others are
*unassociated*: they stay in the batch (their demand counts as unserved in
:func:`netstage.simulator.simulate.simulate`) but get no rate. Wired points and
``m = 0`` are unbounded.

Batch layout (E = active device-scenarios of the batch, P attachment points)
-----------------------------------------------------------------------------
``group_start[S, P + 1]`` int64 offsets into the entry arrays: the entries of
attachment point ``p`` in scenario ``s`` are ``group_start[s, p] : group_start[s, p+1]``
(``group_start[s, P] == group_start[s + 1, 0]``). The first ``group_assoc[s, p]`` of
them are associated and sorted by ascending demand (the allocation kernel relies on
it); the rest are unassociated. ``device[E]`` int32 device index, ``app[E]`` int8
application index, ``demand_mbps[E]`` float32. Memory: 9 bytes per entry plus
``8 * S * (P + 1) + 4 * S * P`` bytes; while drawing, also one bit per device and
scenario (the activity draws, computed once) and, per thread, about 4 bytes per device.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from itertools import pairwise

import numba as nb
import numpy as np
from numpy.typing import NDArray

from netstage.simulator import _numba_start  # noqa: F401  (numba without scipy.linalg)
from netstage.simulator.arrays import DistrictArrays
from netstage.simulator.errors import SimulationError
from netstage.simulator.profiles import ScenarioParams

__all__ = ["AttachOrder", "DemandBatch", "attach_order", "concat_batches", "draw_demand",
           "draw_demand_points", "inverse_normal", "physical_points", "regroup_batch",
           "slice_batch"]

_U64 = np.uint64
_GOLDEN = _U64(0x9E3779B97F4A7C15)
_M1 = _U64(0xBF58476D1CE4E5B9)
_M2 = _U64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11, _S2 = _U64(30), _U64(27), _U64(31), _U64(11), _U64(2)
_INV53 = 1.0 / 9007199254740992.0  # 2 ** -53
_S32, _LO32 = _U64(32), _U64(0xFFFFFFFF)


@nb.njit(inline="always", cache=True)
def _mix64(x: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    """splitmix64 finaliser: a bijective, well-mixed hash of a 64-bit counter."""
    z = x + _GOLDEN
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@nb.njit(inline="always", cache=True)
def _uniform(key: np.uint64, device: int, purpose: int) -> float:  # pragma: no cover
    """Uniform in (0, 1) for (scenario key, device, purpose 0..3)."""
    h = _mix64(key ^ ((_U64(device) << _S2) | _U64(purpose)))
    return (float(h >> _S11) + 0.5) * _INV53


@nb.njit(inline="always", cache=True)
def _active_bits(key: np.uint64, device: int) -> np.uint64:  # pragma: no cover - compiled
    """53-bit activity draw of (scenario key, device): active iff below the threshold."""
    return _mix64(key ^ (_U64(device) << _S2)) >> _S11


@nb.njit(cache=True)
def inverse_normal(p: float) -> float:  # pragma: no cover - compiled
    """Standard normal quantile for ``0 < p < 1`` (P. J. Acklam's rational approximation)."""
    if p < _P_LOW:
        q = np.sqrt(-2.0 * np.log(p))
        return (((((-7.784894002430293e-03 * q - 3.223964580411365e-01) * q
                   - 2.400758277161838e+00) * q - 2.549732539343734e+00) * q
                 + 4.374664141464968e+00) * q + 2.938163982698783e+00) / \
            ((((7.784695709041462e-03 * q + 3.224671290700398e-01) * q
               + 2.445134137142996e+00) * q + 3.754408661907416e+00) * q + 1.0)
    if p > _P_HIGH:
        return -inverse_normal(1.0 - p)
    return _central_normal(p)


_P_LOW, _P_HIGH = 0.02425, 0.97575  # the central region of inverse_normal


@nb.njit(inline="always", cache=True)
def _central_normal(p: float) -> float:  # pragma: no cover - compiled
    """:func:`inverse_normal` for ``0.02425 <= p <= 0.97575`` (95 % of draws): no branch
    and no call, so a loop over many draws is vectorised (same arithmetic, same bits)."""
    q = p - 0.5
    r = q * q
    return (((((-3.969683028665376e+01 * r + 2.209460984245205e+02) * r
               - 2.759285104469687e+02) * r + 1.383577518672690e+02) * r
             - 3.066479806614716e+01) * r + 2.506628277459239e+00) * q / \
        (((((-5.447609879822406e+01 * r + 1.615858368580409e+02) * r
            - 1.556989798598866e+02) * r + 6.680131188771972e+01) * r
          - 1.328068155288572e+01) * r + 1.0)


@nb.njit(inline="always", cache=True)
def _scenario_key(seed_key: np.uint64, scenario: int) -> np.uint64:  # pragma: no cover
    return _mix64(seed_key ^ _mix64(_U64(scenario)))


@nb.njit(parallel=True, cache=True)
def _count_active(seed_key, first, n_s, order, order_thr,  # type: ignore[no-untyped-def]
                  attach_start, active):  # pragma: no cover - compiled
    # The activity hash of every device is computed once, here, and kept as one bit per
    # (scenario, device position) for _fill (bit j & 7 of byte j >> 3; 1/8 byte per
    # device-scenario, a few % of the batch): it is the one draw made for every device,
    # and this flat loop over contiguous arrays (the class threshold looked up per
    # position beforehand) is one the compiler vectorises, unlike a loop per group.
    n_p = attach_start.shape[0] - 1
    n_d = order.shape[0]
    n_full = n_d // 8
    counts = np.zeros((n_s, n_p + 1), dtype=np.int64)
    for s in nb.prange(n_s):
        key = _scenario_key(seed_key, first + s)
        row = active[s]
        for b in range(n_full):
            v = np.uint8(0)
            for t in range(8):
                j = 8 * b + t
                v |= np.uint8(_active_bits(key, order[j]) < order_thr[j]) << np.uint8(t)
            row[b] = v
        if n_full * 8 < n_d:
            v = np.uint8(0)
            for j in range(n_full * 8, n_d):
                v |= np.uint8(_active_bits(key, order[j]) < order_thr[j]) << np.uint8(j & 7)
            row[n_full] = v
        for p in range(n_p):
            c = 0
            for j in range(attach_start[p], attach_start[p + 1]):
                c += (row[j >> 3] >> (j & 7)) & 1
            counts[s, p] = c
    return counts


@nb.njit(inline="always", cache=True)
def _sort_keys(keys, n):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Sort ``keys[:n]`` (uint64) ascending in place: insertion sort for small groups."""
    if n <= 48:
        for k in range(1, n):
            v = keys[k]
            m = k - 1
            while m >= 0 and keys[m] > v:
                keys[m + 1] = keys[m]
                m -= 1
            keys[m + 1] = v
    else:
        keys[:n] = np.sort(keys[:n])


@nb.njit(parallel=True, cache=True)
def _fill(seed_key, first, group_start, order, attach_start,  # type: ignore[no-untyped-def]
          dev_class, max_clients, active, mix_cdf, mu, sigma, cap, dem, dev, app,
          assoc, max_group):  # pragma: no cover - compiled
    # Per scenario, in three passes over its active devices (in position order, i.e.
    # grouped by attachment point): the draws that need no branch (application, the
    # central inverse normal) in one flat loop the compiler vectorises; the rare normal
    # tails and exp (a libm call per draw) in a second; then per attachment point the
    # association bound and the sort by demand. Each number is computed as before.
    n_s = group_start.shape[0]
    n_p = attach_start.shape[0] - 1
    n_a = mu.shape[0]
    n_d = order.shape[0]
    for s in nb.prange(n_s):
        key = _scenario_key(seed_key, first + s)
        row = active[s]
        base = group_start[s, 0]
        # branchless compaction of the scenario's active devices
        vdev = np.empty(n_d, dtype=np.int32)
        n = 0
        for j in range(n_d):
            vdev[n] = order[j]
            n += (row[j >> 3] >> (j & 7)) & 1
        vapp = np.empty(n, dtype=np.int8)
        vu = np.empty(n, dtype=np.float64)
        vz = np.empty(n, dtype=np.float64)
        for q in range(n):
            i = vdev[q]
            c = dev_class[i]
            u1 = _uniform(key, i, 1)
            a = 0
            for k in range(n_a - 1):
                a += mix_cdf[c, k] <= u1
            vapp[q] = a
            u2 = _uniform(key, i, 2)
            vu[q] = u2
            vz[q] = _central_normal(u2)
        vdem = np.empty(n, dtype=np.float32)
        for q in range(n):
            u2 = vu[q]
            z = vz[q]
            if u2 < _P_LOW or u2 > _P_HIGH:
                z = inverse_normal(u2)
            a = vapp[q]
            vdem[q] = min(np.exp(mu[a] + sigma[a] * z), cap[a])
        tbits = vdem.view(np.uint32)
        keys = np.empty(max_group + 1, dtype=np.uint64)
        for p in range(n_p):
            pos = group_start[s, p]
            g0 = pos - base  # this point's first entry among the scenario's
            n_g = group_start[s, p + 1] - pos
            m = max_clients[p]
            k = n_g if (m <= 0 or n_g <= m) else m
            assoc[s, p] = k
            # associated entries sorted by demand: the bits of a float32 >= 0 order
            # like its value, so sort (bits << 32 | index) keys, ties in device order
            for q in range(k):
                keys[q] = (_U64(tbits[g0 + q]) << _S32) | _U64(q)
            _sort_keys(keys, k)
            for q in range(n_g):
                src = g0 + q
                if q < k:
                    src = g0 + np.int64(keys[q] & _LO32)
                dem[pos + q] = vdem[src]
                dev[pos + q] = vdev[src]
                app[pos + q] = vapp[src]


@dataclass(frozen=True, eq=False)
class AttachOrder:
    """Devices grouped by attachment point: ``order[attach_start[p]:attach_start[p+1]]``
    are the devices at ``p`` in ascending device index (path independent)."""

    order: NDArray[np.int32]
    attach_start: NDArray[np.int64]


_ORDER_CACHE: weakref.WeakKeyDictionary[DistrictArrays, AttachOrder] = weakref.WeakKeyDictionary()


def attach_order(arrays: DistrictArrays) -> AttachOrder:
    """Devices sorted by attachment point (cached per ``arrays`` object)."""
    got = _ORDER_CACHE.get(arrays)
    if got is None:
        n_p = len(arrays.attach_ids)
        order = np.argsort(arrays.device_attach, kind="stable").astype(np.int32)
        counts = np.bincount(arrays.device_attach, minlength=n_p)
        start = np.zeros(n_p + 1, dtype=np.int64)
        np.cumsum(counts, out=start[1:])
        got = AttachOrder(order=order, attach_start=start)
        _ORDER_CACHE[arrays] = got
    return got


@dataclass(frozen=True, eq=False)
class DemandBatch:
    """Active devices of ``n_scenarios`` scenarios (layout: module docstring)."""

    scenario: str
    seed: int
    first_scenario: int
    n_scenarios: int
    group_start: NDArray[np.int64]
    group_assoc: NDArray[np.int32]
    device: NDArray[np.int32]
    app: NDArray[np.int8]
    demand_mbps: NDArray[np.float32]
    app_min_mbps: NDArray[np.float64]
    app_names: tuple[str, ...]
    #: the draw series this batch belongs to (:func:`~netstage.simulator.simulate.\
    #: draw_demand_cached` sets it; empty when drawn outside a demand cache)
    series: bytes = b""

    @property
    def n_entries(self) -> int:
        return int(self.device.shape[0])

    def scenario_slice(self, s: int) -> slice:
        """Entries of scenario ``s`` (0-based within the batch)."""
        return slice(int(self.group_start[s, 0]), int(self.group_start[s, -1]))

    @property
    def nbytes(self) -> int:
        return sum(int(a.nbytes) for a in (self.group_start, self.group_assoc, self.device,
                                             self.app, self.demand_mbps))


def concat_batches(parts: list[DemandBatch]) -> DemandBatch:
    """Consecutive batches of one draw series as one batch: equal to drawing their whole
    scenario range at once (a scenario's draws depend only on its global index)."""
    if not parts:
        raise SimulationError("concat_batches needs at least one batch")
    first = parts[0]
    for a, b in pairwise(parts):
        if b.first_scenario != a.first_scenario + a.n_scenarios or b.seed != first.seed \
                or b.scenario != first.scenario \
                or b.group_start.shape[1] != first.group_start.shape[1]:
            raise SimulationError("concat_batches: the batches are not consecutive parts "
                                  "of one draw")
    if len(parts) == 1:
        return first
    offsets = np.cumsum([0] + [p.n_entries for p in parts[:-1]])
    starts = [p.group_start + off for p, off in zip(parts, offsets.tolist(), strict=True)]
    return DemandBatch(
        scenario=first.scenario, seed=first.seed, first_scenario=first.first_scenario,
        n_scenarios=sum(p.n_scenarios for p in parts), group_start=np.concatenate(starts),
        group_assoc=np.concatenate([p.group_assoc for p in parts]),
        device=np.concatenate([p.device for p in parts]),
        app=np.concatenate([p.app for p in parts]),
        demand_mbps=np.concatenate([p.demand_mbps for p in parts]),
        app_min_mbps=first.app_min_mbps, app_names=first.app_names, series=first.series)


def slice_batch(batch: DemandBatch, start: int, stop: int) -> DemandBatch:
    """Scenarios ``start .. stop-1`` (0-based within ``batch``) of ``batch``: equal to
    drawing that range alone, as :func:`concat_batches` is to drawing the whole (a
    scenario's draws depend only on its global index). The entries are views of
    ``batch``'s (read-only, as every cached batch)."""
    if not 0 <= start < stop <= batch.n_scenarios:
        raise SimulationError(f"slice_batch: scenarios {start}..{stop - 1} are not in a "
                              f"batch of {batch.n_scenarios}")
    if (start, stop) == (0, batch.n_scenarios):
        return batch
    lo, hi = int(batch.group_start[start, 0]), int(batch.group_start[stop - 1, -1])
    return DemandBatch(
        scenario=batch.scenario, seed=batch.seed, first_scenario=batch.first_scenario + start,
        n_scenarios=stop - start, group_start=batch.group_start[start:stop] - lo,
        group_assoc=batch.group_assoc[start:stop], device=batch.device[lo:hi],
        app=batch.app[lo:hi], demand_mbps=batch.demand_mbps[lo:hi],
        app_min_mbps=batch.app_min_mbps, app_names=batch.app_names, series=batch.series)


def active_threshold(active_p: NDArray[np.float64]) -> NDArray[np.uint64]:
    """Integer activity thresholds: a device is active iff its 53-bit draw is below."""
    p = np.clip(np.asarray(active_p, dtype=np.float64), 0.0, 1.0)
    return np.round(p * 9007199254740992.0).astype(np.uint64)


def seed_key(seed: int) -> np.uint64:
    """The 64-bit key of ``seed`` (any Python int)."""
    return np.uint64(seed & 0xFFFFFFFFFFFFFFFF)


def draw_demand(
    arrays: DistrictArrays,
    params: ScenarioParams,
    n_scenarios: int,
    seed: int = 0,
    *,
    first_scenario: int = 0,
) -> DemandBatch:
    """Draw scenarios ``first_scenario .. first_scenario + n_scenarios - 1``.

    ``params`` comes from :func:`netstage.simulator.profiles.scenario_params`. The
    result depends only on the device set (attachment, class), the AP client bounds,
    ``params`` and ``seed``; never on paths or capacities. Memory is about 9 bytes per
    active device-scenario: draw large runs in chunks (as :func:`simulate` does).
    """
    batch = draw_demand_points(arrays, params, n_scenarios, seed, first_scenario=first_scenario)
    return regroup_batch(batch, arrays)


def _has_repeats(points: NDArray[np.integer]) -> bool:
    """Whether a point index occurs twice (called per chunk: a bincount, not np.unique's
    hashing, when the indices are >= 0 as routing.py makes them)."""
    if points.size == 0:
        return False
    if int(points.min()) >= 0:
        return bool(np.bincount(points).max() > 1)
    return bool(np.unique(points).shape[0] < points.shape[0])


def physical_points(arrays: DistrictArrays) -> tuple[NDArray[np.int32], NDArray[np.int32]]:
    """``(device_point, max_clients)`` of the *physical* attachment points: when load is
    spread (routing.py), sub-points of one point share its devices' draws and its client
    bound, so demand is drawn per physical point and then regrouped."""
    spread = arrays.meta.get("spread")
    if spread is None or not _has_repeats(spread.parent):
        return arrays.device_attach, arrays.attach_max_clients
    n_phys = int(spread.parent.max()) + 1 if spread.parent.size else 0
    phys_max = np.zeros(n_phys, dtype=np.int32)
    phys_max[spread.parent] = arrays.attach_max_clients
    return spread.parent[arrays.device_attach].astype(np.int32), phys_max


def draw_demand_points(arrays: DistrictArrays, params: ScenarioParams, n_scenarios: int,
                       seed: int = 0, *, first_scenario: int = 0) -> DemandBatch:
    """:func:`draw_demand` grouped by physical attachment point (before
    :func:`regroup_batch`); a pure function of the physical device set."""
    if n_scenarios < 0 or first_scenario < 0:
        raise SimulationError("n_scenarios and first_scenario must be >= 0")
    if arrays.device_class.size and int(arrays.device_class.max()) >= params.active_p.shape[0]:
        raise SimulationError("device class code out of range of the scenario parameters")
    device_point, max_clients = physical_points(arrays)
    if device_point is arrays.device_attach:
        ao = attach_order(arrays)
        n_p = len(arrays.attach_ids)
    else:
        n_p = max_clients.shape[0]
        counts_p = np.bincount(device_point, minlength=n_p)
        start_p = np.zeros(n_p + 1, dtype=np.int64)
        np.cumsum(counts_p, out=start_p[1:])
        ao = AttachOrder(order=np.argsort(device_point, kind="stable").astype(np.int32),
                         attach_start=start_p)
    key = seed_key(seed)
    active_thr = active_threshold(params.active_p)
    order_thr = active_thr[arrays.device_class[ao.order]]
    active = np.empty((n_scenarios, (ao.order.shape[0] + 7) // 8), dtype=np.uint8)
    counts = _count_active(key, first_scenario, n_scenarios, ao.order, order_thr,
                           ao.attach_start, active)
    group_start = np.zeros(counts.shape, dtype=np.int64)
    flat = counts.ravel()
    np.cumsum(flat[:-1], out=group_start.ravel()[1:])
    n_e = int(flat.sum())
    dem = np.empty(n_e, dtype=np.float32)
    dev = np.empty(n_e, dtype=np.int32)
    app = np.empty(n_e, dtype=np.int8)
    assoc = np.zeros((n_scenarios, n_p), dtype=np.int32)
    if n_e:
        _fill(key, first_scenario, group_start, ao.order, ao.attach_start, arrays.device_class,
              max_clients, active, params.mix_cdf, params.app_mu,
              params.app_sigma, params.app_max_mbps, dem, dev, app, assoc,
              int(np.diff(ao.attach_start).max(initial=0)))
    return DemandBatch(
        scenario=params.name, seed=seed, first_scenario=first_scenario,
        n_scenarios=n_scenarios, group_start=group_start, group_assoc=assoc, device=dev,
        app=app, demand_mbps=dem, app_min_mbps=params.app_min_mbps, app_names=params.app_names,
    )


@nb.njit(parallel=True, cache=True)
def _regroup(group_start, group_assoc, device, app, demand,  # type: ignore[no-untyped-def]
             sub_of, new_start, new_assoc, out_dev, out_app, out_dem):  # pragma: no cover
    n_s, n_p = group_assoc.shape
    n_q = new_assoc.shape[1]
    for s in nb.prange(n_s):
        pos = np.empty(n_q, dtype=np.int64)
        upos = np.empty(n_q, dtype=np.int64)
        for q in range(n_q):
            pos[q] = new_start[s, q]
            upos[q] = new_start[s, q] + new_assoc[s, q]
        for p in range(n_p):
            a = group_start[s, p]
            b = a + group_assoc[s, p]
            for k in range(a, group_start[s, p + 1]):
                q = sub_of[device[k]]
                if k < b:
                    j = pos[q]
                    pos[q] += 1
                else:
                    j = upos[q]
                    upos[q] += 1
                out_dev[j] = device[k]
                out_app[j] = app[k]
                out_dem[j] = demand[k]


@nb.njit(parallel=True, cache=True)
def _regroup_counts(group_start, group_assoc, device, sub_of,  # type: ignore[no-untyped-def]
                    n_q):  # pragma: no cover - compiled
    n_s, n_p = group_assoc.shape
    cnt = np.zeros((n_s, n_q + 1), dtype=np.int64)
    ac = np.zeros((n_s, n_q), dtype=np.int32)
    for s in nb.prange(n_s):
        for p in range(n_p):
            a = group_start[s, p]
            b = a + group_assoc[s, p]
            for k in range(a, group_start[s, p + 1]):
                q = sub_of[device[k]]
                cnt[s, q] += 1
                if k < b:
                    ac[s, q] += 1
    return cnt, ac


def regroup_batch(batch: DemandBatch, arrays: DistrictArrays) -> DemandBatch:
    """A batch drawn per physical point (:func:`draw_demand_points`) regrouped by the
    sub-points of ``arrays`` (load sharing, routing.py). Association is decided per
    physical point (its first ``m`` active devices), then each entry goes to its
    device's sub-point, associated entries first and still sorted by demand. Without
    sub-points the batch is returned as is."""
    device_point, _ = physical_points(arrays)
    if device_point is arrays.device_attach:
        return batch
    n_q = len(arrays.attach_ids)
    n_s = batch.n_scenarios
    sub_of = np.ascontiguousarray(arrays.device_attach, dtype=np.int32)
    cnt, ac = _regroup_counts(batch.group_start, batch.group_assoc, batch.device, sub_of, n_q)
    new_start = np.zeros(cnt.shape, dtype=np.int64)  # as draw_demand: last column 0
    flat = cnt.ravel()
    if flat.size:
        np.cumsum(flat[:-1], out=new_start.ravel()[1:])
    n_e = batch.n_entries
    dev = np.empty(n_e, dtype=np.int32)
    app = np.empty(n_e, dtype=np.int8)
    dem = np.empty(n_e, dtype=np.float32)
    if n_e:
        _regroup(batch.group_start, batch.group_assoc, batch.device, batch.app,
                 batch.demand_mbps, sub_of, new_start, ac, dev, app, dem)
    return DemandBatch(
        scenario=batch.scenario, seed=batch.seed, first_scenario=batch.first_scenario,
        n_scenarios=n_s, group_start=new_start, group_assoc=ac, device=dev, app=app,
        demand_mbps=dem, app_min_mbps=batch.app_min_mbps, app_names=batch.app_names)
