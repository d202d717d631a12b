"""Monte Carlo peak-load simulation: demand draws + max-min fair sharing + statistics.

:func:`simulate` runs ``n_scenarios`` busy-hour scenarios of one scenario type
(``simulator/data/scenarios.yaml``) on a district's arrays, in chunks of scenarios so
memory stays bounded:

1. :func:`netstage.simulator.demand.draw_demand` draws who is active, what each device
   runs and how much it asks for (counter-based, reproducible from ``seed`` whatever
   the chunking);
2. :func:`netstage.simulator.maxmin.allocate` shares link capacity max-min fairly along
   every device's path (Wi-Fi air link first);
3. a compiled pass sums each scenario per site and per device class; link use and
   bottleneck counts are accumulated per link.

Definitions (per scenario; "active" = the device has traffic in that scenario)

* ``unserved_fraction`` = 1 - sum(allocated) / sum(demand) over all active devices.
  Active devices that are *disconnected* (no path to the Internet) or *unassociated*
  (beyond an AP's client bound) get 0, so their whole demand is unserved; they are also
  counted separately (``disconnected_share``, ``unassociated_share``). A scenario with
  no active device has unserved fraction 0 (nothing was asked for).
* ``throttled_share`` = share of active devices whose app has a minimum usable rate
  (``min_mbps > 0``; background traffic has none) that get less than
  ``min(min_mbps, demand)``: a device that asks for less than the minimum and gets all
  of it is not throttled.

The result shape and :meth:`SimulationResult.to_json` are documented in
``docs/simulation.md``.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import numba as nb
import numpy as np
from numpy.typing import NDArray

from netstage.simulator.arrays import (
    DEVICE_CLASSES,
    LINK_AIR,
    LINK_AP_UPLINK,
    LINK_CIRCUIT,
    DistrictArrays,
)
from netstage.simulator.demand import (
    DemandBatch,
    concat_batches,
    draw_demand,
    draw_demand_points,
    physical_points,
    regroup_batch,
    slice_batch,
)
from netstage.simulator.errors import SimulationError
from netstage.simulator.half_percentile import percentile_rows
from netstage.simulator.maxmin import allocate, effective_capacity
from netstage.simulator.model import District
from netstage.simulator.profiles import AppsFile, ScenariosFile, scenario_params

__all__ = ["JSON_SCHEMA", "THROTTLE_SLACK", "DemandCache", "SimulationResult", "demand_cache",
           "draw_demand_cached", "is_throttled", "simulate", "simulate_district",
           "throttled_devices"]

JSON_SCHEMA = "netstage.simulation/1"
LINK_ROLE_NAMES = {0: "physical", LINK_CIRCUIT: "circuit", LINK_AIR: "air",
                   LINK_AP_UPLINK: "ap-uplink"}
PERCENTILES = (50.0, 95.0, 99.0)
# Columns of the per-(scenario, group) statistics computed by _summarise.
_ACTIVE, _FLOOR, _THROTTLED, _DEMAND, _SERVED, _DISCONNECTED, _UNASSOC = range(7)
_N_COLS = 7
# Bytes kept per chunk (demand batch + rates + per-link arrays): bounds memory.
_CHUNK_BUDGET_BYTES = 48 * 1024 * 1024
_UTIL_VALUES = 32_000_000  # float16 per-(scenario, link) utilisations kept for the p95

F64 = NDArray[np.float64]

#: relative slack for the allocation's rounding: a rate this close below the floor is
#: not throttled
THROTTLE_SLACK = 1e-6


@nb.njit(inline="always", cache=True)
def is_throttled(rate, min_mbps, demand):  # type: ignore[no-untyped-def]
    """The one definition of a throttled device (module docstring): its app has a
    minimum usable rate and it gets less than ``min(minimum, its demand)``. Used by the
    simulation's kernel and, through :func:`throttled_devices`, by the charts."""
    return min_mbps > 0.0 and rate < min(min_mbps, demand) * (1.0 - THROTTLE_SLACK)


@nb.njit(cache=True)
def throttled_devices(rates, min_mbps, demand):  # type: ignore[no-untyped-def]
    """:func:`is_throttled` of each device (float64 arrays of one length)."""
    out = np.zeros(rates.shape[0], dtype=np.bool_)
    for k in range(rates.shape[0]):
        out[k] = is_throttled(rates[k], min_mbps[k], demand[k])
    return out


_Stored = DemandBatch | NDArray[np.float32]


class _DemandCache:
    """Bounded LRU of demand batches, keyed by everything :func:`draw_demand` reads.

    A batch depends only on the device set (attachment, class), the AP client bounds,
    the scenario parameters, the seed and the scenario range (``demand.py``); never on
    paths or capacities. So districts that differ only in link/circuit capacities or
    links (the planner's candidate actions) share the same batches: reusing one gives
    exactly the batch a fresh draw would. Batches are read-only for their users.

    A key is a *series* (everything but the scenario range) and the range. A range
    asked for in one piece is assembled from consecutive cached pieces of its series
    when they tile it (:func:`~netstage.simulator.demand.concat_batches`): a
    simulation draws in chunks, an N-1 run over the same scenarios in one. Batches
    (not rates) are also cut from pieces that cover more than the range
    (:meth:`get_range`).

    With ``rates`` the simulations also keep their max-min rates per chunk, keyed by
    the batch's series and everything the allocation reads (paths, capacities,
    background), for an N-1 run's base case on the same district
    (:func:`cached_rates`); the same budget bounds both. ``scenarios``: the scenario
    types whose draws (and rates) are kept; None keeps every type.
    """

    def __init__(self, max_bytes: int, *, rates: bool = False,
                 scenarios: tuple[str, ...] | None = None) -> None:
        self.max_bytes = max_bytes
        self.keep_rates = rates
        self.scenarios = scenarios
        self.items: OrderedDict[bytes, _Stored] = OrderedDict()
        self.spans: dict[bytes, dict[int, int]] = {}  # series -> {first: n_scenarios}
        self.bytes = 0
        self.hits = 0
        self.misses = 0

    @staticmethod
    def nbytes(b: _Stored) -> int:
        if isinstance(b, np.ndarray):
            return int(b.nbytes)
        return int(b.group_start.nbytes + b.group_assoc.nbytes + b.device.nbytes
                   + b.app.nbytes + b.demand_mbps.nbytes)

    def get_range(self, series: bytes, first: int, k: int, *, cut: bool = False
                  ) -> list[_Stored] | None:
        """The cached pieces of ``series`` that tile scenarios ``first .. first+k-1``, in
        order (one piece when the range itself is cached), else None (a miss).

        ``cut``: the pieces are demand batches, which may also cover the range from
        pieces that start before it or end after it, cut to it
        (:func:`~netstage.simulator.demand.slice_batch`): an N-1 run chunks its
        scenarios by its district's size, so each candidate of the planner asked for
        other ranges of the same draws and drew them again. Rates are not cut (their
        entries are placed by their batch's)."""
        spans = self.spans.get(series, {})
        keys: list[tuple[bytes, int, int]] = []  # key, scenarios within its piece
        pos, end = first, first + k
        while pos < end:
            n = spans.get(pos)
            start = pos
            if cut and (n is None or pos + n > end):
                # the cached piece holding scenario ``pos`` that reaches furthest
                start, n = max(((f, m) for f, m in spans.items() if f <= pos < f + m),
                               key=lambda fm: fm[0] + fm[1], default=(pos, None))
            elif n is not None and pos + n > end:
                n = None
            if n is None:
                self.misses += 1
                return None
            stop = min(start + n, end)
            keys.append((_range_key(series, start, n), pos - start, stop - start))
            pos = stop
        self.hits += 1
        for key, _, _ in keys:
            self.items.move_to_end(key)  # recently used
        out: list[_Stored] = []
        for key, a, b in keys:
            piece = self.items[key]
            if isinstance(piece, DemandBatch):
                piece = slice_batch(piece, a, b)
            out.append(piece)
        return out

    def put(self, key: bytes, batch: _Stored) -> None:
        size = self.nbytes(batch)
        if size > self.max_bytes or key in self.items:
            return
        self.items[key] = batch
        self.bytes += size
        series, first, k = _split_key(key)
        self.spans.setdefault(series, {})[first] = k
        while self.bytes > self.max_bytes:
            old_key, old = self.items.popitem(last=False)
            self.bytes -= self.nbytes(old)
            series, first, _ = _split_key(old_key)
            spans = self.spans[series]
            del spans[first]
            if not spans:
                del self.spans[series]


_RANGE = struct.Struct("<qq")
_SERIES_BYTES = 32


def _range_key(series: bytes, first: int, k: int) -> bytes:
    return series + _RANGE.pack(first, k)


def _split_key(key: bytes) -> tuple[bytes, int, int]:
    """``(series, first, k)`` of a :func:`_range_key`."""
    first, k = _RANGE.unpack(key[_SERIES_BYTES:])
    return key[:_SERIES_BYTES], first, k


_DEMAND_CACHE: _DemandCache | None = None
DemandCache = _DemandCache  # the type of a cache kept across blocks (demand_cache(keep=...))


@contextmanager
def demand_cache(max_bytes: int = 256 * 1024 * 1024, *, rates: bool = False,
                 scenarios: tuple[str, ...] | None = None,
                 keep: _DemandCache | None = None) -> Iterator[_DemandCache]:
    """Within the block, :func:`simulate` reuses demand batches of the same device set.

    The answers are identical to fresh draws (the draw is a pure function of its key);
    only time is saved when many simulations share devices, scenario type, scenario
    count and seed (the upgrade planner). Memory is bounded by ``max_bytes`` (least
    recently used batches are dropped) and released at the end of the block. Nested
    blocks share the outermost cache. ``keep`` is a cache the caller owns (from an
    earlier block, e.g. ``netstage serve`` across requests): it is used instead of a
    new one and outlives the block. ``rates``: simulations also keep their max-min
    rates for an N-1 run of the same district (:func:`cached_rates`; classify).
    ``scenarios``: keep only these scenario types (None: all). The cache is
    process-wide: use it from one thread at a time.
    """
    global _DEMAND_CACHE
    if _DEMAND_CACHE is not None:
        yield _DEMAND_CACHE
        return
    _DEMAND_CACHE = cache = keep if keep is not None else _DemandCache(
        max_bytes, rates=rates, scenarios=scenarios)
    try:
        yield cache
    finally:
        _DEMAND_CACHE = None


def _demand_series(arrays: DistrictArrays, params: Any, seed: int) -> bytes:
    """Digest of every input of ``draw_demand_points(arrays, params, k, seed,
    first_scenario=first)`` but the scenario range: the *physical* device set, so
    districts that differ only in how load is spread over routes share batches."""
    device_point, max_clients = physical_points(arrays)
    h = hashlib.blake2b(digest_size=_SERIES_BYTES)
    h.update(repr((params.name, params.app_names, float(params.growth_factor), int(seed),
                   int(max_clients.shape[0]), arrays.n_devices)).encode())
    for a in (device_point, arrays.device_class, max_clients,
              params.active_p, params.mix_cdf, params.app_mu, params.app_sigma,
              params.app_max_mbps, params.app_min_mbps):
        _digest_array(h, a)
    return h.digest()


def _digest_array(h: Any, a: NDArray[Any]) -> None:
    arr = np.ascontiguousarray(a)
    h.update(repr((arr.dtype.str, arr.shape)).encode())
    h.update(arr.tobytes())


def draw_demand_cached(arrays: DistrictArrays, params: Any, k: int, seed: int,
                       first: int) -> DemandBatch:
    """``draw_demand`` through the active :func:`demand_cache`, if any."""
    cache = _DEMAND_CACHE
    if cache is None or (cache.scenarios is not None and params.name not in cache.scenarios):
        return draw_demand(arrays, params, k, seed, first_scenario=first)
    series = _demand_series(arrays, params, seed)
    parts = cache.get_range(series, first, k, cut=True)
    if parts is None:
        got = draw_demand_points(arrays, params, k, seed, first_scenario=first)
        cache.put(_range_key(series, first, k), got)
    else:  # a demand series holds batches only (rates have series of their own)
        got = concat_batches([p for p in parts if isinstance(p, DemandBatch)])
        assert got.n_scenarios == k
    return replace(regroup_batch(got, arrays), series=series)


def _rates_series(batch: DemandBatch, arrays: DistrictArrays, cap: F64) -> bytes:
    """Digest of everything the max-min rates of ``batch`` on ``arrays`` read but the
    scenario range (the batch's draw series, the devices' (sub-)points the batch was
    regrouped by, paths, capacities, background)."""
    h = hashlib.blake2b(batch.series, digest_size=_SERIES_BYTES)
    for a in (arrays.device_attach, arrays.path_links, arrays.path_len, cap,
              arrays.link_background_mbps):
        _digest_array(h, a)
    return h.digest()


def _keep_rates(batch: DemandBatch, arrays: DistrictArrays, cap: F64,
                rates: NDArray[np.float32]) -> None:
    """Keep a simulation chunk's rates when the active cache collects them."""
    cache = _DEMAND_CACHE
    if cache is not None and cache.keep_rates and batch.series:
        cache.put(_range_key(_rates_series(batch, arrays, cap), batch.first_scenario,
                             batch.n_scenarios), rates)


def cached_rates(batch: DemandBatch, arrays: DistrictArrays) -> NDArray[np.float32] | None:
    """The max-min rates of ``batch`` on ``arrays`` (its own capacities) as simulations
    in the active :func:`demand_cache` computed them, assembled from their chunks; None
    when they are not all there. Equal to :func:`~netstage.simulator.maxmin.allocate`'s
    (each scenario is allocated on its own)."""
    cache = _DEMAND_CACHE
    if cache is None or not cache.keep_rates or not batch.series:
        return None
    parts = cache.get_range(_rates_series(batch, arrays, arrays.link_capacity_mbps),
                            batch.first_scenario, batch.n_scenarios)
    if parts is None:
        return None
    arrs = [p for p in parts if isinstance(p, np.ndarray)]
    return arrs[0] if len(arrs) == 1 else np.concatenate(arrs)


@nb.njit(parallel=True, cache=True)
def _summarise(group_start, group_assoc, device, app, demand, rate,  # type: ignore[no-untyped-def]
               path_len, device_site, device_class, app_min, n_sites,
               out_site, out_class):  # pragma: no cover - compiled
    n_s = group_start.shape[0]
    n_p = group_assoc.shape[1]
    for s in nb.prange(n_s):
        for p in range(n_p):
            a = group_start[s, p]
            b = a + group_assoc[s, p]
            e = group_start[s, p + 1]
            connected = path_len[p] > 0
            for k in range(a, e):
                i = device[k]
                g = device_site[i]
                c = device_class[i]
                d = float(demand[k])
                r = float(rate[k])
                m = app_min[app[k]]
                floor = 1.0 if m > 0.0 else 0.0
                thr = 1.0 if is_throttled(r, m, d) else 0.0
                out_class[s, c, 0] += 1.0
                out_class[s, c, 1] += floor
                out_class[s, c, 2] += thr
                out_class[s, c, 3] += d
                out_class[s, c, 4] += r
                in_site = 0 <= g < n_sites
                if in_site:
                    out_site[s, g, 0] += 1.0
                    out_site[s, g, 1] += floor
                    out_site[s, g, 2] += thr
                    out_site[s, g, 3] += d
                    out_site[s, g, 4] += r
                if not connected or k >= b:  # rare: disconnected or unassociated
                    col = 5 if not connected else 6
                    out_class[s, c, col] += 1.0
                    if in_site:
                        out_site[s, g, col] += 1.0


def _ratio(num: F64, den: F64) -> F64:
    out = np.zeros_like(num, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _pct(x: NDArray[Any]) -> dict[str, float]:
    if x.size == 0:
        return {f"p{q:g}": 0.0 for q in PERCENTILES}
    vals = np.percentile(np.asarray(x, dtype=np.float64), PERCENTILES)
    return {f"p{q:g}": float(v) for q, v in zip(PERCENTILES, vals, strict=True)}


def _shares(stats: F64) -> tuple[F64, F64]:
    """Unserved fraction and throttled share from ``[..., 7]`` sums."""
    demand = stats[..., _DEMAND]
    unserved = np.clip(np.where(demand > 0, 1.0 - _ratio(stats[..., _SERVED], demand), 0.0),
                       0.0, 1.0)
    return unserved, _ratio(stats[..., _THROTTLED], stats[..., _FLOOR])


class _GroupAccumulator:
    """Per-scenario unserved/throttled (float32) and running sums of one grouping."""

    def __init__(self, n_s: int, n_groups: int) -> None:
        self.unserved = np.zeros((n_s, n_groups), dtype=np.float32)
        self.throttled = np.zeros((n_s, n_groups), dtype=np.float32)
        self.sums = np.zeros((n_groups, _N_COLS))
        self.rate_per_active = np.zeros(n_groups)

    def add(self, first: int, stats: F64) -> None:
        k = stats.shape[0]
        u, t = _shares(stats)
        self.unserved[first:first + k] = u
        self.throttled[first:first + k] = t
        rpa = _ratio(stats[..., _SERVED], stats[..., _ACTIVE])
        for i in range(k):  # scenario by scenario: the same sums whatever the chunking
            self.sums += stats[i]
            self.rate_per_active += rpa[i]

    def stats(self, g: int, n_devices: int, n_s: int) -> dict[str, float]:
        m = self.sums[g] / n_s
        out: dict[str, float] = {
            "devices": n_devices,
            "active_mean": float(m[_ACTIVE]),
            "demand_mbps_mean": float(m[_DEMAND]),
            "served_mbps_mean": float(m[_SERVED]),
            "rate_per_active_mbps_mean": float(self.rate_per_active[g] / n_s),
            "disconnected_mean": float(m[_DISCONNECTED]),
            "unassociated_mean": float(m[_UNASSOC]),
        }
        for k, v in _pct(self.unserved[:, g]).items():
            out[f"unserved_{k}"] = v
        for k, v in _pct(self.throttled[:, g]).items():
            out[f"throttled_{k}"] = v
        return out


@dataclass(eq=False)
class SimulationResult:
    """Outcome of :func:`simulate` (S scenarios, L links; see ``docs/simulation.md``).

    Per-scenario arrays ``[S]``: ``unserved_fraction``, ``throttled_share``,
    ``disconnected_share``, ``unassociated_share`` (shares of active devices),
    ``active_devices``, ``demand_mbps``, ``served_mbps``.
    Per-link arrays ``[L]`` (order of ``link_ids``): ``link_capacity_mbps``,
    ``link_util_mean`` / ``link_util_p95`` ((allocated + background) / capacity),
    ``bottleneck_frequency`` (share of scenarios in which the link holds at least one
    device at its fair share), ``bottleneck_devices_mean`` (devices it holds, mean over
    scenarios). ``per_site`` / ``per_class``: statistics dicts by site id / device class.
    ``device_rates_sample[K]`` etc.: the per-device allocations of the first
    ``sample_scenarios`` scenarios (for the rate distribution chart).
    """

    district: str
    scenario: str
    n_scenarios: int
    seed: int
    growth_factor: float
    n_devices: int
    unserved_fraction: F64
    throttled_share: F64
    disconnected_share: F64
    unassociated_share: F64
    active_devices: NDArray[np.int64]
    demand_mbps: F64
    served_mbps: F64
    link_ids: list[str]
    link_roles: list[str]
    link_capacity_mbps: F64
    link_background_mbps: F64
    link_util_mean: F64
    link_util_p95: F64
    link_util_scenarios: int
    bottleneck_frequency: F64
    bottleneck_devices_mean: F64
    per_site: dict[str, dict[str, float]]
    per_class: dict[str, dict[str, float]]
    app_names: tuple[str, ...]
    app_min_mbps: F64
    app_elastic: NDArray[np.bool_]
    sample_scenarios: int
    device_rates_sample: NDArray[np.float32]
    device_demand_sample: NDArray[np.float32]
    device_app_sample: NDArray[np.int8]
    device_index_sample: NDArray[np.int32]
    device_scenario_sample: NDArray[np.int32]
    rounds_mean: float
    chunk_scenarios: int
    warnings: list[str] = field(default_factory=list)

    @property
    def device_app(self) -> NDArray[np.int8]:
        """Application index (into :attr:`app_names`) of each sampled device rate."""
        return self.device_app_sample

    @property
    def device_min_mbps_sample(self) -> F64:
        """Minimum usable rate of the app of each sampled device rate."""
        return np.asarray(self.app_min_mbps[self.device_app_sample], dtype=np.float64)

    def percentiles(self, metric: str = "unserved_fraction") -> dict[str, float]:
        """``{"p50", "p95", "p99"}`` over scenarios of a per-scenario array."""
        arr = getattr(self, metric, None)
        if not isinstance(arr, np.ndarray) or arr.shape != (self.n_scenarios,):
            raise SimulationError(
                f"'{metric}' is not a per-scenario array of the simulation result; use "
                "unserved_fraction, throttled_share, disconnected_share, unassociated_share, "
                "active_devices, demand_mbps or served_mbps"
            )
        return _pct(arr)

    def worst_links(self, n: int = 10) -> list[int]:
        """Indices of the ``n`` links most often the bottleneck (then highest p95 use)."""
        order = np.lexsort((-self.link_util_p95, -self.bottleneck_frequency))
        return [int(i) for i in order[:n]
                if self.bottleneck_frequency[i] > 0 or self.link_util_p95[i] > 0]

    def _link_row(self, i: int) -> dict[str, Any]:
        return {
            "id": self.link_ids[i],
            "role": self.link_roles[i],
            "capacity_mbps": float(self.link_capacity_mbps[i]),
            "background_mbps": float(self.link_background_mbps[i]),
            "util_mean": round(float(self.link_util_mean[i]), 6),
            "util_p95": round(float(self.link_util_p95[i]), 6),
            "bottleneck_frequency": round(float(self.bottleneck_frequency[i]), 6),
            "bottleneck_devices_mean": round(float(self.bottleneck_devices_mean[i]), 4),
        }

    def to_json(self, *, per_scenario: bool = False, all_links: bool = True) -> dict[str, Any]:
        """Plain-JSON summary (schema ``netstage.simulation/1``, docs/simulation.md)."""
        def stat(arr: NDArray[Any]) -> dict[str, float]:
            a = np.asarray(arr, dtype=np.float64)
            return {"mean": float(a.mean()) if a.size else 0.0, **_pct(a),
                    "max": float(a.max()) if a.size else 0.0}

        out: dict[str, Any] = {
            "schema": JSON_SCHEMA,
            "district": self.district,
            "scenario": self.scenario,
            "n_scenarios": self.n_scenarios,
            "seed": self.seed,
            "growth_factor": self.growth_factor,
            "devices": self.n_devices,
            "summary": {
                "unserved_fraction": stat(self.unserved_fraction),
                "throttled_share": stat(self.throttled_share),
                "disconnected_share": stat(self.disconnected_share),
                "unassociated_share": stat(self.unassociated_share),
                "active_devices": stat(self.active_devices),
                "demand_mbps": stat(self.demand_mbps),
                "served_mbps": stat(self.served_mbps),
            },
            "worst_links": [self._link_row(i) for i in self.worst_links()],
            "sites": self.per_site,
            "classes": self.per_class,
            "apps": [{"name": n, "min_mbps": float(m), "elastic": bool(e)} for n, m, e in
                     zip(self.app_names, self.app_min_mbps, self.app_elastic, strict=True)],
            "rounds_mean": self.rounds_mean,
            "warnings": list(self.warnings),
        }
        if all_links:
            out["links"] = [self._link_row(i) for i in range(len(self.link_ids))]
        if per_scenario:
            out["per_scenario"] = {
                "unserved_fraction": self.unserved_fraction.tolist(),
                "throttled_share": self.throttled_share.tolist(),
                "disconnected_share": self.disconnected_share.tolist(),
                "unassociated_share": self.unassociated_share.tolist(),
                "active_devices": self.active_devices.tolist(),
            }
        return out


def _chunk_size(arrays: DistrictArrays, active_p: F64, n_scenarios: int) -> int:
    """Scenarios per chunk so one chunk's arrays stay within the memory budget."""
    n_p = len(arrays.attach_ids)
    n_l = arrays.n_links
    cls = arrays.device_class
    expected = float(np.bincount(cls, minlength=active_p.shape[0]) @ active_p) if cls.size else 0
    # entry: demand f32 + device i32 + app i8 + rate f32; groups: start i64 + assoc i32;
    # links: used f32 + bottleneck i32 + utilisation f16; summaries: 7 f64 per site/class.
    groups = len(arrays.site_ids) + len(DEVICE_CLASSES)
    per_scenario = 13.0 * expected * 1.2 + 12.0 * (n_p + 1) + 10.0 * n_l + 56.0 * groups
    return int(max(1, min(n_scenarios, _CHUNK_BUDGET_BYTES // max(per_scenario, 1.0))))


def simulate(
    arrays: DistrictArrays,
    *,
    scenario: str = "now",
    n_scenarios: int = 1000,
    seed: int = 7,
    chunk_scenarios: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    capacity_mbps: F64 | None = None,
    growth_years: float | None = None,
    district_growth: tuple[float, float] | None = None,
    apps: AppsFile | None = None,
    scenarios: ScenariosFile | None = None,
    sample_scenarios: int = 10,
) -> SimulationResult:
    """Simulate ``n_scenarios`` busy hours of scenario type ``scenario`` on ``arrays``.

    ``capacity_mbps[L]`` overrides the link capacities (what-if upgrades);
    ``growth_years`` overrides the horizon of growing scenario types; the growth rate
    comes from ``district_growth = (horizon_years, growth_per_year)``, else from
    ``arrays.meta["growth"]`` (set by :func:`~netstage.simulator.arrays.to_arrays`).
    ``apps`` / ``scenarios`` replace the shipped profile files. ``progress(done,
    total)`` is called after each chunk. The same arguments give the same result,
    whatever ``chunk_scenarios``.
    """
    if isinstance(n_scenarios, bool) or not isinstance(n_scenarios, int | np.integer) \
            or n_scenarios < 1:
        raise SimulationError(f"n_scenarios must be a whole number >= 1, got {n_scenarios!r}")
    if chunk_scenarios is not None and chunk_scenarios < 1:
        raise SimulationError(f"chunk_scenarios must be >= 1, got {chunk_scenarios}")
    if growth_years is not None and not (math.isfinite(growth_years) and growth_years >= 0):
        raise SimulationError(f"growth_years must be a finite number >= 0, got {growth_years}")
    n_s = int(n_scenarios)
    growth = district_growth if district_growth is not None else arrays.meta.get("growth")
    params = scenario_params(scenario, apps=apps, scenarios=scenarios,
                             growth_years=growth_years, district_growth=growth,
                             busy_hour=arrays.meta.get("busy_hour"))
    n_l = arrays.n_links
    cap = arrays.link_capacity_mbps if capacity_mbps is None else np.asarray(
        capacity_mbps, dtype=np.float64)
    if cap.shape != (n_l,):
        raise SimulationError(f"capacity_mbps has shape {cap.shape}, the district has {n_l} links")
    # validates capacities / backgrounds of every link on a path (clear error, not NaN)
    effective_capacity(cap, arrays.link_background_mbps, arrays.path_links, arrays.link_ids)
    chunk = chunk_scenarios or _chunk_size(arrays, params.active_p, n_s)
    chunk = min(chunk, n_s)

    n_sites = len(arrays.site_ids)
    n_cls = len(DEVICE_CLASSES)
    sites = _GroupAccumulator(n_s, n_sites)
    classes = _GroupAccumulator(n_s, n_cls)
    totals = np.zeros((n_s, _N_COLS))
    # p95 link use from the first n_util scenarios (all of them unless S x L > 32M)
    n_util = int(min(n_s, max(1, _UTIL_VALUES // max(n_l, 1))))
    util = np.zeros((n_l, n_util), dtype=np.float16)  # link-major: one row per link
    util_sum = np.zeros(n_l)
    bn_scen = np.zeros(n_l, dtype=np.int64)
    bn_dev = np.zeros(n_l, dtype=np.int64)
    rounds_sum = 0.0
    n_sample = max(0, min(sample_scenarios, n_s))
    samples: list[tuple[NDArray[Any], ...]] = []
    bg = arrays.link_background_mbps
    safe_cap = np.where(cap > 0, cap, np.inf)
    path_len = np.ascontiguousarray(arrays.path_len, dtype=np.int32)
    app_min = np.ascontiguousarray(params.app_min_mbps, dtype=np.float64)

    done = 0
    while done < n_s:
        k = min(chunk, n_s - done)
        batch = draw_demand_cached(arrays, params, k, seed, done)
        alloc = allocate(batch, arrays, capacity_mbps=cap)
        _keep_rates(batch, arrays, cap, alloc.rate_mbps)
        site_stats = np.zeros((k, n_sites, _N_COLS))
        class_stats = np.zeros((k, n_cls, _N_COLS))
        if batch.n_entries:
            _summarise(batch.group_start, batch.group_assoc, batch.device, batch.app,
                       batch.demand_mbps, alloc.rate_mbps, path_len, arrays.device_site,
                       arrays.device_class, app_min, n_sites, site_stats, class_stats)
        sites.add(done, site_stats)
        classes.add(done, class_stats)
        totals[done:done + k] = class_stats.sum(axis=1)  # every device has one class
        u = (alloc.link_used_mbps.astype(np.float64) + bg) / safe_cap
        if done < n_util:
            # cast (contiguous, the slow part) before the transposed copy
            util[:, done:min(done + k, n_util)] = u[: n_util - done].astype(np.float16).T
        for row in u:
            util_sum += row
        bn = alloc.link_bottleneck_devices
        bn_scen += (bn > 0).sum(axis=0)
        bn_dev += bn.sum(axis=0, dtype=np.int64)
        rounds_sum += float(alloc.rounds.sum())
        if done < n_sample:
            last = min(n_sample - done, k)
            end = int(batch.group_start[last - 1, -1])
            scen = np.repeat(np.arange(done, done + last, dtype=np.int32),
                             np.diff(np.append(batch.group_start[:last, 0], end)))
            samples.append((alloc.rate_mbps[:end].copy(), batch.demand_mbps[:end].copy(),
                            batch.app[:end].copy(), batch.device[:end].copy(), scen))
        done += k
        del batch, alloc, u
        if progress is not None:
            progress(done, n_s)

    tot = totals
    active = tot[:, _ACTIVE]
    demand = tot[:, _DEMAND]
    served = tot[:, _SERVED]
    unserved, throttled = _shares(tot)

    warnings: list[str] = []
    disc_dev = int(np.count_nonzero(arrays.device_path_len == 0))
    if disc_dev:
        warnings.append(f"{disc_dev} device(s) have no path to the Internet (disconnected): "
                        "their demand counts as unserved")
    empty = int(np.count_nonzero(active == 0))
    if empty:
        warnings.append(f"{empty} of {n_s} scenario(s) have no active device "
                        f"(scenario type '{scenario}' activates no device class of this "
                        "district): their unserved fraction is 0")

    class_counts = np.bincount(arrays.device_class, minlength=n_cls)
    site_counts = np.bincount(arrays.device_site[arrays.device_site >= 0], minlength=n_sites)

    def cat(i: int) -> NDArray[Any]:
        if not samples:
            return np.zeros(0)
        return np.concatenate([s[i] for s in samples])

    return SimulationResult(
        district=arrays.name,
        scenario=scenario,
        n_scenarios=n_s,
        seed=seed,
        growth_factor=params.growth_factor,
        n_devices=arrays.n_devices,
        unserved_fraction=unserved,
        throttled_share=throttled,
        disconnected_share=_ratio(tot[:, _DISCONNECTED], active),
        unassociated_share=_ratio(tot[:, _UNASSOC], active),
        active_devices=active.astype(np.int64),
        demand_mbps=demand,
        served_mbps=served,
        link_ids=list(arrays.link_ids),
        link_roles=[LINK_ROLE_NAMES.get(int(r), str(int(r))) for r in arrays.link_role],
        link_capacity_mbps=np.asarray(cap, dtype=np.float64),
        link_background_mbps=np.asarray(bg, dtype=np.float64),
        link_util_mean=util_sum / n_s,
        link_util_p95=percentile_rows(util, 95.0),
        link_util_scenarios=n_util,
        bottleneck_frequency=bn_scen / n_s,
        bottleneck_devices_mean=bn_dev / n_s,
        per_site={sid: sites.stats(i, int(site_counts[i]), n_s)
                  for i, sid in enumerate(arrays.site_ids)},
        per_class={c: classes.stats(i, int(class_counts[i]), n_s)
                   for i, c in enumerate(DEVICE_CLASSES) if class_counts[i]},
        app_names=params.app_names,
        app_min_mbps=params.app_min_mbps,
        app_elastic=params.app_elastic,
        sample_scenarios=n_sample,
        device_rates_sample=cat(0).astype(np.float32),
        device_demand_sample=cat(1).astype(np.float32),
        device_app_sample=cat(2).astype(np.int8),
        device_index_sample=cat(3).astype(np.int32),
        device_scenario_sample=cat(4).astype(np.int32),
        rounds_mean=rounds_sum / n_s,
        chunk_scenarios=chunk,
        warnings=warnings,
    )


def simulate_district(d: District, **kwargs: Any) -> SimulationResult:
    """:func:`simulate` on ``to_arrays(d)`` with the district's growth assumptions."""
    from netstage.simulator.arrays import to_arrays

    kwargs.setdefault("district_growth",
                      (d.district.growth.horizon_years, d.district.growth.growth_per_year))
    return simulate(to_arrays(d), **kwargs)
