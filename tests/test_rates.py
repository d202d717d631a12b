"""Rates from counters: wraps, resets, percentiles - every expectation computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from netstage.auditor.rates import (
    Samples,
    Skip,
    grouped_percentile,
    interval_rates,
    percentile_utilisation,
)


def test_plain_rate_counter64() -> None:
    # 300 s apart, 37,500,000 octets more = 300 Mbit / 300 s = 1 Mbit/s in; out 2 Mbit/s.
    s = Samples.from_lists([1, 1], [0.0, 300.0], [1000, 37_501_000], [0, 75_000_000],
                           uptime_cs=[100_000, 130_000], speed_mbps=[1000, 1000])
    r = interval_rates(s)
    assert r.in_bps.tolist() == [1_000_000.0]
    assert r.out_bps.tolist() == [2_000_000.0]
    assert r.skip.tolist() == [Skip.OK]


def test_counter32_wrap() -> None:
    # old = 2^32 - 1000, new = 500: delta = 1500 octets = 12,000 bit in 10 s = 1200 bit/s.
    s = Samples.from_lists([7, 7], [0.0, 10.0], [2**32 - 1000, 500], [0, 0],
                           counter_bits=[32, 32], speed_mbps=[100, 100])
    r = interval_rates(s)
    assert r.in_bps.tolist() == [1200.0]
    assert r.skip.tolist() == [Skip.OK]


def test_counter64_wrap() -> None:
    # old = 2^64 - 10, new = 990: delta = 1000 octets = 8000 bit in 8 s = 1000 bit/s.
    s = Samples.from_lists([1, 1], [0.0, 8.0], [2**64 - 10, 990], [5, 5],
                           speed_mbps=[1000, 1000])
    r = interval_rates(s)
    assert r.in_bps.tolist() == [1000.0]
    assert r.out_bps.tolist() == [0.0]


def test_reboot_drops_interval_instead_of_spike() -> None:
    # Uptime 1000 s -> 1300 s -> 20 s (rebooted): the second interval has counters reset
    # from 3e9 to 1e6; with Counter64 that would be a ~2^64 spike. It must be dropped.
    s = Samples.from_lists([1, 1, 1, 1], [0, 300, 600, 900],
                           [0, 3_000_000_000, 1_000_000, 1_000_000 + 3_750_000],
                           [0, 0, 0, 0], uptime_cs=[100_000, 130_000, 2_000, 32_000],
                           speed_mbps=[1000] * 4)
    r = interval_rates(s)
    assert r.skip.tolist() == [Skip.OK, Skip.REBOOT, Skip.OK]
    assert r.in_bps[0] == 3_000_000_000 * 8 / 300  # 80 Mbit/s
    assert np.isnan(r.in_bps[1])
    assert r.in_bps[2] == 3_750_000 * 8 / 300  # 100 kbit/s


def test_reboot_with_uptime_larger_than_before_but_shorter_than_interval() -> None:
    # Polled every 3600 s; uptime 100 s at the first sample, 200 s at the next: the device
    # rebooted within the hour although uptime did not go backwards.
    s = Samples.from_lists([1, 1], [0, 3600], [10**9, 5], [0, 0],
                           uptime_cs=[10_000, 20_000], speed_mbps=[1000, 1000])
    assert interval_rates(s).skip.tolist() == [Skip.REBOOT]


def test_discontinuity_width_and_impossible() -> None:
    s = Samples.from_lists(
        [1, 1, 1, 1, 1], [0, 10, 20, 30, 40],
        [0, 100, 50, 150, 2**63], [0, 0, 0, 0, 0],
        discontinuity=[0, 0, 555, 555, 555],  # cleared between samples 2 and 3
        counter_bits=[64, 64, 64, 32, 32],  # fell back to 32-bit at sample 4
        speed_mbps=[1000] * 5)
    r = interval_rates(s)
    assert r.skip.tolist() == [Skip.OK, Skip.DISCONTINUITY, Skip.WIDTH, Skip.IMPOSSIBLE]
    assert r.in_bps[0] == 80.0  # 100 octets * 8 / 10 s


def test_ambiguous_counter32_on_fast_link() -> None:
    # 10 Gbit/s, 300 s: line rate moves 3.75e11 octets >> 2^32, so wraps cannot be counted.
    s = Samples.from_lists([1, 1], [0, 300], [0, 10], [0, 10], counter_bits=[32, 32],
                           speed_mbps=[10_000, 10_000])
    assert interval_rates(s).skip.tolist() == [Skip.AMBIGUOUS]


def test_interfaces_do_not_mix_and_input_order_is_free() -> None:
    s = Samples.from_lists([2, 1, 2, 1], [10, 10, 0, 0], [1000, 80, 0, 0], [0, 0, 0, 0])
    r = interval_rates(s)
    assert r.key.tolist() == [1, 2]
    assert r.in_bps.tolist() == [64.0, 800.0]


def test_grouped_percentile_matches_numpy() -> None:
    rng = np.random.default_rng(3)
    keys = rng.integers(0, 5, 400)
    values = rng.random(400) * 100
    values[::17] = np.nan
    k, p, n = grouped_percentile(keys, values, 95.0)
    for key, got, count in zip(k, p, n, strict=True):
        mine = values[(keys == key) & np.isfinite(values)]
        assert got == pytest.approx(np.percentile(mine, 95))
        assert count == mine.shape[0]


def test_p95_utilisation_by_hand() -> None:
    # 21 samples 60 s apart on a 100 Mbit/s port; interval i carries i Mbit/s in (1..20)
    # and 1 Mbit/s out. p95 over 20 values 1..20 = 19 + 0.05*(20-19)... numpy linear:
    # pos = 0.95*19 = 18.05 -> 19 + 0.05 * 1 = 19.05 Mbit/s -> 19.05 % of 100 Mbit/s.
    ts = [60.0 * i for i in range(21)]
    octets_in = [0]
    for i in range(1, 21):
        octets_in.append(octets_in[-1] + i * 1_000_000 * 60 // 8)
    octets_out = [i * 1_000_000 * 60 // 8 for i in range(21)]
    s = Samples.from_lists([9] * 21, ts, octets_in, octets_out, speed_mbps=[100] * 21)
    stats = percentile_utilisation(interval_rates(s), {9: 100.0})
    bps, util, n = stats[9]
    assert n == 20
    assert bps == pytest.approx(19.05e6)
    assert util == pytest.approx(0.1905)


def test_agent_clock_times_the_interval() -> None:
    # Our time stamps say 1.9 s (the first round queued), the agent's sysUpTime says
    # 1.00 s and agrees within the tolerance: 5,000,000 octets = 40 Mbit in 1 s.
    s = Samples.from_lists([1, 1], [0.0, 1.9], [0, 5_000_000], [0, 0],
                           uptime_cs=[10_000, 10_100], speed_mbps=[1000, 1000])
    r = interval_rates(s)
    assert r.dt_s.tolist() == [1.0]
    assert r.in_bps.tolist() == [40_000_000.0]
    # no uptime: our clock is all there is
    s2 = Samples.from_lists([1, 1], [0.0, 2.0], [0, 5_000_000], [0, 0])
    assert interval_rates(s2).in_bps.tolist() == [20_000_000.0]
