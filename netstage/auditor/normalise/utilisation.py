"""Measured load: background Mb/s of links and circuits from polls or one audit.

Utilisation comes from a :class:`~netstage.auditor.store.HistoryStore` (p95 over the
polled history) when one is given, else from one audit's counters as the mean rate since
the counters started (octets / (sysUpTime - ifCounterDiscontinuityTime), Counter64 only).
:func:`client_load_mbps` is the simulated client load a measurement taken in use already
contains (``clients_in_measurement``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netstage.auditor.facts import AuditResult, DeviceFacts, Interface
from netstage.auditor.store import device_key
from netstage.auditor.twin import CIRCUIT_ALIAS_RE
from netstage.simulator.model import District

if TYPE_CHECKING:
    from netstage.auditor.normalise.core import NormaliseResult
    from netstage.auditor.store import HistoryStore


def since_start_mbps(dev: DeviceFacts, iface: Interface) -> float | None:
    """Mean of max(in, out) in Mb/s since the counters started, from one sample.

    Only for Counter64 (a 32-bit counter may have wrapped any number of times): octets
    / (sysUpTime - ifCounterDiscontinuityTime). None when it cannot be known.
    """
    if not iface.counters_64bit or dev.sys_uptime_ticks is None:
        return None
    if iface.in_octets is None and iface.out_octets is None:
        return None
    start = iface.counter_discontinuity_ticks or 0
    elapsed_s = (dev.sys_uptime_ticks - start) / 100.0
    if elapsed_s < 1.0:
        return None
    octets = max(iface.in_octets or 0, iface.out_octets or 0)
    return octets * 8 / elapsed_s / 1e6


def _link_utilisation(result: NormaliseResult, audit: AuditResult,
                      store: HistoryStore | None, q: float) -> dict[str, float]:
    """Link key -> background Mb/s: the busier end, summed over LAG members."""
    p95: dict[tuple[str, int], float] = {}
    if store is not None:
        p95 = {k: v * 1e-6 for k, v in store.percentile_bps(q).items()}
    by_node = {nid: audit.devices[i] for i, nid in result.device_node.items()}
    out: dict[str, float] = {}
    for key, members in result.link_ports.items():
        total = 0.0
        seen = False
        for pair in members:
            best: float | None = None
            for ref in pair:
                if ref is None or ref.if_index is None or ref.node not in by_node:
                    continue
                dev = by_node[ref.node]
                val = p95.get((device_key(dev.target), ref.if_index))
                if val is None and store is None:
                    iface = dev.interface(ref.if_index)
                    val = since_start_mbps(dev, iface) if iface else None
                if val is not None:
                    best = val if best is None else max(best, val)
            if best is not None:
                total += best
                seen = True
        if seen:
            out[key] = total
    return out


def _circuit_utilisation(audit: AuditResult, store: HistoryStore | None,
                         q: float) -> dict[str, float]:
    """Circuit id -> Mb/s measured on the ``internet:<id>`` interface that carries it."""
    p95 = {k: v * 1e-6 for k, v in store.percentile_bps(q).items()} if store else {}
    out: dict[str, float] = {}
    for dev in audit.ok_devices:
        for iface in dev.interfaces:
            m = CIRCUIT_ALIAS_RE.match((iface.alias or "").strip())
            if not m:
                continue
            val = (p95.get((device_key(dev.target), iface.if_index)) if store is not None
                   else since_start_mbps(dev, iface))
            if val is not None:
                out[m.group("id")] = val
    return out


def client_load_mbps(d: District, *, n_scenarios: int = 200, seed: int = 7) -> dict[str, float]:
    """Mean Mb/s that the district's own device populations put on each link (by
    :attr:`Link.key`) and circuit (by id) in the simulated 'now' busy hour, with every
    background load set to zero: what a measurement taken while those devices were in
    use already contains."""
    from netstage.simulator.simulate import simulate_district

    quiet = d.model_copy(deep=True)
    for lk in quiet.links:
        lk.background_mbps = 0.0
    for c in quiet.circuits:
        c.background_mbps = 0.0
    res = simulate_district(quiet, scenario="now", n_scenarios=n_scenarios, seed=seed)
    out: dict[str, float] = {}
    for lid, cap, util in zip(res.link_ids, res.link_capacity_mbps, res.link_util_mean,
                              strict=True):
        key = lid.split("#")[0]  # LAG members are simulated one by one
        out[key] = out.get(key, 0.0) + float(util * cap)
    return out
