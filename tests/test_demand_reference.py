"""Property: the compiled demand draw is exactly its definition (demand.py docstring).

The kernels that draw demand are restructured for speed (activity computed once and
kept as bits, the branch-free draws vectorised, tails and exp in a second pass); each
must still give every device the same activity, application and demand, and every
attachment point the same association and order. This test recomputes the definition
in plain Python (integer splitmix64, Acklam's formula in Python floats, math.exp) for
random small districts, scenario ranges and client bounds, and compares bit for bit.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from netstage.simulator.arrays import to_arrays
from netstage.simulator.demand import draw_demand
from netstage.simulator.generate import generate_district
from netstage.simulator.profiles import scenario_params

_M64 = (1 << 64) - 1


def _mix64(x: int) -> int:
    z = (x + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def _inverse_normal(p: float) -> float:
    if p < 0.02425:
        q = math.sqrt(-2.0 * math.log(p))
        return (((((-7.784894002430293e-03 * q - 3.223964580411365e-01) * q
                   - 2.400758277161838e+00) * q - 2.549732539343734e+00) * q
                 + 4.374664141464968e+00) * q + 2.938163982698783e+00) / \
            ((((7.784695709041462e-03 * q + 3.224671290700398e-01) * q
               + 2.445134137142996e+00) * q + 3.754408661907416e+00) * q + 1.0)
    if p > 0.97575:
        return -_inverse_normal(1.0 - p)
    q = p - 0.5
    r = q * q
    return (((((-3.969683028665376e+01 * r + 2.209460984245205e+02) * r
               - 2.759285104469687e+02) * r + 1.383577518672690e+02) * r
             - 3.066479806614716e+01) * r + 2.506628277459239e+00) * q / \
        (((((-5.447609879822406e+01 * r + 1.615858368580409e+02) * r
            - 1.556989798598866e+02) * r + 6.680131188771972e+01) * r
          - 1.328068155288572e+01) * r + 1.0)


def _reference(arrays, params, n_s: int, seed: int, first: int):  # type: ignore[no-untyped-def]
    """Per scenario and attachment point: (associated count, [(device, app, demand)])."""
    thr = [round(min(max(float(p), 0.0), 1.0) * 2.0 ** 53) for p in params.active_p]
    n_a = params.app_mu.shape[0]
    out = []
    for s in range(first, first + n_s):
        key = _mix64((seed & _M64) ^ _mix64(s))
        per_point = []
        for p in range(len(arrays.attach_ids)):
            rows = []
            for i in np.flatnonzero(arrays.device_attach == p).tolist():
                c = int(arrays.device_class[i])
                if (_mix64(key ^ (i << 2)) >> 11) >= thr[c]:
                    continue
                u1 = ((_mix64(key ^ ((i << 2) | 1)) >> 11) + 0.5) * 2.0 ** -53
                a = sum(1 for k in range(n_a - 1) if params.mix_cdf[c, k] <= u1)
                u2 = ((_mix64(key ^ ((i << 2) | 2)) >> 11) + 0.5) * 2.0 ** -53
                x = math.exp(float(params.app_mu[a]) + float(params.app_sigma[a])
                             * _inverse_normal(u2))
                rows.append((i, a, np.float32(min(x, float(params.app_max_mbps[a])))))
            m = int(arrays.attach_max_clients[p])
            k = len(rows) if (m <= 0 or len(rows) <= m) else m
            # associated: the first k active, sorted by demand, ties in device order
            assoc = sorted(rows[:k], key=lambda r: r[2])
            per_point.append((k, assoc + rows[k:]))
        out.append(per_point)
    return out


@settings(max_examples=12, deadline=None)
@given(district_seed=st.integers(0, 50), seed=st.integers(0, 2 ** 40),
       first=st.integers(0, 500), n_s=st.integers(1, 4),
       bound=st.sampled_from([0, 1, 2, 3, 5]),
       scenario=st.sampled_from(["now", "lab", "testing", "future"]))
def test_compiled_draws_equal_the_definition(district_seed: int, seed: int, first: int,
                                             n_s: int, bound: int, scenario: str) -> None:
    arrays = to_arrays(generate_district(schools=2, students=150, seed=district_seed))
    if bound:  # tight client bounds, so association cuts groups
        mc = arrays.attach_max_clients
        arrays = dataclasses.replace(arrays, attach_max_clients=np.where(
            mc > 0, np.minimum(mc, bound), mc).astype(mc.dtype))
    params = scenario_params(scenario)
    batch = draw_demand(arrays, params, n_s, seed, first_scenario=first)
    ref = _reference(arrays, params, n_s, seed, first)
    for s in range(n_s):
        for p, (k, rows) in enumerate(ref[s]):
            a, e = int(batch.group_start[s, p]), int(batch.group_start[s, p + 1])
            assert int(batch.group_assoc[s, p]) == k
            assert batch.device[a:e].tolist() == [r[0] for r in rows]
            assert batch.app[a:e].tolist() == [r[1] for r in rows]
            assert np.array_equal(batch.demand_mbps[a:e],
                                  np.array([r[2] for r in rows], dtype=np.float32))
