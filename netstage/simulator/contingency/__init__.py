"""N-1 contingency: fail every single link and node in turn, re-route, re-simulate.

Like pandapower's contingency analysis for power grids: for each *contingency* (one
element out of service) the district is re-routed by the rule of
:mod:`netstage.simulator.routing` (fewest hops; highest capacity, then file order)
and the busy-hour scenario is re-simulated; the report lists, per contingency, the
p95 over scenarios of the unserved fraction, the p95 of the throttled share and the
students cut off, worst first.

Which elements
    Every model link and Internet circuit, and every node, except (as docs/stages.md R-HA
    and the issue say) a school's own access switches, access points and their
    uplinks, and servers (end devices): their failure only cuts off the devices
    plugged into them. ``include_access=True`` adds them. Every shared-risk group
    (``links[].srlg`` / ``circuits[].srlg``) is one more element, ``srlg:<group>``,
    whose links and circuits all fail at once. A declared redundant stack or chassis
    (``nodes[].stack``) is not failed as a whole: one member failing leaves the others
    forwarding, and losing all of them is not a single failure (it is listed in
    ``excluded`` and ``redundant_stacks``).

Common random numbers
    ONE demand batch (:func:`netstage.simulator.demand.draw_demand`, same seed) serves
    the base case and every contingency, so a difference between two rows is due to
    the failure, not to sampling noise.

Metrics (per scenario, exactly as :mod:`netstage.simulator.simulate` defines them)
    ``unserved = 1 - sum(rate) / sum(demand)`` over active devices; ``throttled`` =
    share of active devices with a minimum usable rate (``min_mbps > 0``) whose rate is
    below ``min(min_mbps, demand)`` (disconnected and unassociated devices get rate 0).
    Reported: p95 over scenarios (``numpy.percentile``, linear interpolation).

How it stays fast (exact, not an approximation)
    Routing is a tree towards the Internet, so after a failure only the attachment
    points whose path changed (set C) move, and only links whose *flow set* changed
    (set A: links that lose or gain a point of C) can change their max-min level.
    A link's level is unbounded when the raw demand crossing it fits its capacity. If,
    in one scenario, every link of A (with flows left) fits its capacity both before
    and after the failure, then every max-min level in the network is unchanged
    (levels depend only on the subtree below a link, and A's levels stay unbounded),
    so every flow that is still connected keeps its rate exactly and the disconnected
    ones drop to 0: the scenario's result follows from per-attachment-point sums of the
    base allocation in O(|C|). The other scenarios ("slow", e.g. every scenario when the
    circuit is overloaded) are solved by the incremental max-min of
    :mod:`netstage.simulator.incremental` when at most one link whose subtree the
    failure changes is constrained (the overloaded circuit or one trunk): that link's
    new level is one equation over the base's sorted values, every other flow keeps its
    base rate. The rest are re-allocated with :func:`netstage.simulator.maxmin.allocate`
    on a sub-batch of just those scenarios (``incremental=False`` re-allocates every
    slow scenario: the oracle of the incremental path's tests).
    The fast path is checked for all contingencies at once
    (:mod:`netstage.simulator.contingency.fastcheck`): every contingency's set A is built
    once per run, the moved points are grouped into classes that lose and gain the same
    links, and a group of contingencies is one sparse product per chunk of scenarios.
    A link or node that is on no device's path changes nothing and is answered by the
    base row without routing. Re-routing itself is incremental: only the nodes below
    the failed element in the base routing tree can change their route (every other
    node keeps its shortest path and its tie-break winner), so only that subtree is
    re-routed (Dijkstra with unit weights from the fixed depths around it; tested equal
    to :func:`netstage.simulator.routing.attachment_paths`). ``exact=True``
    re-allocates every scenario (tests).

Several circuits and equal-cost paths
    When load is spread (some attachment point has several routes, or a circuit is
    standby; ``arrays.meta["spread"]``), every contingency re-routes the whole district
    by the rule of :func:`netstage.simulator.routing.spread_paths`: a failed circuit's
    (or path's) devices are re-spread over the remaining active circuits, or go to the
    standby circuits when no active one is left. Only the routes of the nodes the
    failure can affect are recomputed (those with a fewest-hop path over the failed
    element; :class:`netstage.simulator.route_delta.RouteDelta`, tested equal to
    ``node_routes`` of the failed network), the route choice is made per (node, slot)
    pair (``Spread.combos``: every point of a node is split alike) for the pairs of
    those nodes only, and only the sub-points of pairs whose node path changed become
    new point paths (:func:`netstage.simulator.rerouting._spread_moves`; tested equal to
    ``spread_paths`` of the whole district). The fast path above stays
    exact (a link whose raw demand fits its capacity never constrains max-min, whatever
    the routing), but the slow scenarios re-allocate every point, since flows of different
    circuits may share links (no tree: the incremental max-min does not apply).
"""

from netstage.simulator.contingency.driver import run_contingency
from netstage.simulator.contingency.elements import (
    Contingency,
    ContingencyReport,
    contingency_elements,
)
from netstage.simulator.contingency.kernels import subset_batch

__all__ = [
    "Contingency",
    "ContingencyReport",
    "contingency_elements",
    "run_contingency",
    "subset_batch",
]
