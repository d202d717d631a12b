"""Interface rates from successive counter samples, and their 95th percentile.

All functions work on flat numpy arrays of samples (one row per interface and poll),
sorted by interface key then time, so a whole district's history is one vectorised pass.

Rules (each interval is between two successive samples of the same interface):

* **wraps**: octet counters are unsigned modulo 2^bits (Counter32: 2^32, Counter64:
  2^64). The delta is ``(new - old) mod 2^bits``, computed in ``uint64`` arithmetic (which
  is modulo 2^64 by itself) and masked to 32 bits for Counter32, so one wrap inside an
  interval is counted right.
* **resets** (the interval is dropped, never turned into a spike):
  - ``sysUpTime`` went backwards, or is shorter than the time since the last sample minus
    a tolerance (max(5 s, 1 %)): the device rebooted inside the interval;
  - ``ifCounterDiscontinuityTime`` changed (counters were cleared or re-created);
  - the counter width changed (a poll fell back from ifHC* to 32-bit counters);
  - the rate is impossible: above ``IMPOSSIBLE_FACTOR`` x the interface speed (an
    undetected reset on a Counter64 looks like a wrap of ~2^64 octets).
* **ambiguous** Counter32 intervals (the interface could move 2^32 octets or more at line
  rate within the interval, so wraps cannot be counted) are dropped too: poll faster or
  use HC counters (every device netstage collects uses ifHC* when the agent has them).

Interval length: the agent's ``sysUpTime`` difference when it agrees with our time stamps
within the tolerance above (it is the device's own clock, free of our queueing and walk
time), else the difference of our time stamps.

Units: times in seconds, octets in octets, rates in bit/s, speeds in Mbit/s, uptime in
centiseconds (TimeTicks). Missing uptime/discontinuity values are ``-1`` (not checked).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

__all__ = [
    "IMPOSSIBLE_FACTOR",
    "IntervalRates",
    "Samples",
    "Skip",
    "grouped_percentile",
    "interval_rates",
    "percentile_utilisation",
]

IMPOSSIBLE_FACTOR = 1.5  # a measured rate above 1.5 x line rate is a reset, not traffic
_UPTIME_SLACK_S = 5.0
_UPTIME_SLACK_FRACTION = 0.01

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
UIntArray = npt.NDArray[np.uint64]
BoolArray = npt.NDArray[np.bool_]


class Skip(IntEnum):
    """Why an interval gives no rate (0 = it does)."""

    OK = 0
    REBOOT = 1  # sysUpTime went backwards or is shorter than the interval
    DISCONTINUITY = 2  # ifCounterDiscontinuityTime changed
    WIDTH = 3  # counter width changed between the samples
    IMPOSSIBLE = 4  # faster than IMPOSSIBLE_FACTOR x line rate
    AMBIGUOUS = 5  # Counter32 could wrap more than once at line rate
    NO_TIME = 6  # zero or negative time step


@dataclass(frozen=True)
class Samples:
    """Counter samples, one row per (interface, poll), sorted by ``key`` then ``ts_s``.

    ``key`` identifies an interface (any int, e.g. a store row id); octets are the raw
    unsigned counter values (``uint64``); ``counter_bits`` is 32 or 64; ``speed_mbps`` is
    the interface speed at that sample (0 or NaN if unknown).
    """

    key: IntArray
    ts_s: FloatArray
    in_octets: UIntArray
    out_octets: UIntArray
    uptime_cs: IntArray
    discontinuity: IntArray
    counter_bits: IntArray
    speed_mbps: FloatArray

    def __len__(self) -> int:
        return int(self.key.shape[0])

    @classmethod
    def from_lists(cls, key: list[int], ts_s: list[float], in_octets: list[int],
                   out_octets: list[int], uptime_cs: list[int] | None = None,
                   discontinuity: list[int] | None = None, counter_bits: list[int] | None = None,
                   speed_mbps: list[float] | None = None) -> Samples:
        """Build from Python lists (sorted here by key, then time)."""
        n = len(key)
        arrays = (
            np.asarray(key, dtype=np.int64),
            np.asarray(ts_s, dtype=np.float64),
            np.asarray(in_octets, dtype=np.uint64),
            np.asarray(out_octets, dtype=np.uint64),
            np.asarray(uptime_cs if uptime_cs is not None else [-1] * n, dtype=np.int64),
            np.asarray(discontinuity if discontinuity is not None else [-1] * n, dtype=np.int64),
            np.asarray(counter_bits if counter_bits is not None else [64] * n, dtype=np.int64),
            np.asarray(speed_mbps if speed_mbps is not None else [np.nan] * n, dtype=np.float64),
        )
        order = np.lexsort((arrays[1], arrays[0]))
        return cls(*(a[order] for a in arrays))  # type: ignore[arg-type]


@dataclass(frozen=True)
class IntervalRates:
    """One row per interval (between successive samples of one interface)."""

    key: IntArray
    t_end_s: FloatArray
    dt_s: FloatArray
    in_bps: FloatArray  # NaN where skipped
    out_bps: FloatArray
    skip: npt.NDArray[np.int8]  # Skip codes

    @property
    def valid(self) -> BoolArray:
        return self.skip == Skip.OK

    def counts(self) -> dict[str, int]:
        """How many intervals were kept or skipped, by reason name."""
        values, counts = np.unique(self.skip, return_counts=True)
        return {Skip(int(v)).name.lower(): int(c) for v, c in zip(values, counts, strict=True)}


def _delta(new: UIntArray, old: UIntArray, bits: IntArray) -> UIntArray:
    diff = new - old  # uint64: modulo 2^64, i.e. Counter64 wrap handled
    mask = np.where(bits == 32, np.uint64(0xFFFFFFFF), np.uint64(0xFFFFFFFFFFFFFFFF))
    return diff & mask


def interval_rates(s: Samples) -> IntervalRates:
    """Bits per second in and out for every interval of ``s`` (see module rules)."""
    if len(s) < 2:
        empty = np.zeros(0)
        return IntervalRates(np.zeros(0, np.int64), empty, empty, empty, empty,
                             np.zeros(0, np.int8))
    same = s.key[1:] == s.key[:-1]
    key = s.key[1:][same]
    prev = np.flatnonzero(same)
    cur = prev + 1
    dt = s.ts_s[cur] - s.ts_s[prev]
    bits = s.counter_bits[cur]
    skip = np.zeros(cur.shape[0], dtype=np.int8)
    up_new, up_old = s.uptime_cs[cur], s.uptime_cs[prev]
    has_up = (up_new >= 0) & (up_old >= 0)
    tolerance = np.maximum(_UPTIME_SLACK_S, _UPTIME_SLACK_FRACTION * dt)
    reboot = has_up & ((up_new < up_old) | (up_new / 100.0 + tolerance < dt))
    # The agent's own clock times the interval better than ours (our time stamps carry
    # the collection's queueing and walk time); use it when it agrees with ours.
    up_dt = (up_new - up_old) / 100.0
    agent_clock = has_up & ~reboot & (up_dt > 0) & (np.abs(up_dt - dt) <= tolerance)
    dt = np.where(agent_clock, up_dt, dt)
    with np.errstate(divide="ignore", invalid="ignore"):
        d_in = _delta(s.in_octets[cur], s.in_octets[prev], bits).astype(np.float64)
        d_out = _delta(s.out_octets[cur], s.out_octets[prev], bits).astype(np.float64)
        in_bps = d_in * 8.0 / dt
        out_bps = d_out * 8.0 / dt
    speed_bps = s.speed_mbps[cur] * 1e6
    known_speed = np.isfinite(speed_bps) & (speed_bps > 0)
    disc_new, disc_old = s.discontinuity[cur], s.discontinuity[prev]
    discontinuity = (disc_new >= 0) & (disc_old >= 0) & (disc_new != disc_old)
    width = s.counter_bits[cur] != s.counter_bits[prev]
    impossible = known_speed & (np.maximum(in_bps, out_bps) > IMPOSSIBLE_FACTOR * speed_bps)
    ambiguous = (bits == 32) & known_speed & (speed_bps * dt / 8.0 >= 2.0**32)
    # Later assignments win: the most fundamental reason is written last.
    skip[ambiguous] = Skip.AMBIGUOUS
    skip[impossible] = Skip.IMPOSSIBLE
    skip[width] = Skip.WIDTH
    skip[discontinuity] = Skip.DISCONTINUITY
    skip[reboot] = Skip.REBOOT
    skip[~(dt > 0)] = Skip.NO_TIME
    bad = skip != Skip.OK
    in_bps[bad] = np.nan
    out_bps[bad] = np.nan
    return IntervalRates(key, s.ts_s[cur], dt, in_bps, out_bps, skip)


def grouped_percentile(key: IntArray, values: FloatArray,
                       q: float) -> tuple[IntArray, FloatArray, IntArray]:
    """Percentile ``q`` (0-100, linear interpolation as ``numpy.percentile``) of ``values``
    per distinct ``key``, ignoring NaN. Returns (keys, percentile, number of values)."""
    ok = np.isfinite(values)
    k, v = key[ok], values[ok]
    if k.shape[0] == 0:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64)
    order = np.lexsort((v, k))
    k, v = k[order], v[order]
    keys, start, count = np.unique(k, return_index=True, return_counts=True)
    pos = start + (q / 100.0) * (count - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, start + count - 1)
    frac = pos - lo
    return keys, v[lo] + (v[hi] - v[lo]) * frac, count.astype(np.int64)


def percentile_utilisation(r: IntervalRates, speed_mbps_by_key: dict[int, float],
                           q: float = 95.0) -> dict[int, tuple[float, float, int]]:
    """Per interface key: (p``q`` of max(in, out) in bit/s, that / speed, intervals used).

    The utilisation is NaN when the speed is unknown. Every interval counts once (poll
    rounds are evenly spaced, as ``netstage poll --every`` makes them).
    """
    busiest = np.fmax(r.in_bps, r.out_bps)
    busiest[~r.valid] = np.nan
    keys, p, n = grouped_percentile(r.key, busiest, q)
    out: dict[int, tuple[float, float, int]] = {}
    for k, bps, count in zip(keys.tolist(), p.tolist(), n.tolist(), strict=True):
        speed = speed_mbps_by_key.get(k, float("nan"))
        util = bps / (speed * 1e6) if speed and speed > 0 else float("nan")
        out[k] = (bps, util, count)
    return out
