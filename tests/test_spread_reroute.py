"""Re-routing under load sharing (:func:`routing.spread_paths`) after failures.

``spread_paths`` compares every split node's base and new route sets at once and
re-assigns slot by slot only the nodes whose routes changed. The oracle here is the rule
written node by node (the slots of a node keep their base route when its route list is
unchanged, else :func:`routing._assign`), on random failures of generated districts with
dual-homed schools, several active circuits, a standby circuit and a ring.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netstage.simulator.arrays import DistrictArrays, to_arrays
from netstage.simulator.contingency import contingency_elements
from netstage.simulator.generate import generate_district
from netstage.simulator.io import district_from_dict
from netstage.simulator.model import District
from netstage.simulator.rerouting import _pad, _spread_base, _spread_inputs, _spread_paths_for
from netstage.simulator.routing import (
    PathInputs,
    Spread,
    _assign,
    attach_rows,
    node_routes,
    route_usable,
    spread_paths,
)


def _district(seed: int, schools: int, dual: float, circuits: int, standby: bool,
              ring: bool) -> District:
    d = generate_district(schools=schools, students=800 * schools, seed=seed,
                          dual_homed=dual, circuits=circuits)
    data = d.model_dump(mode="json", exclude_none=True)
    if ring:
        for i in range(1, schools + 1):
            data["links"].append({"a": f"s{i:03d}-dist", "b": f"s{i % schools + 1:03d}-dist",
                                  "capacity_mbps": 10000.0, "medium": "fiber"})
    if standby and len(data["circuits"]) > 1:
        data["circuits"][-1]["role"] = "standby"
    return district_from_dict(data, source=f"spread(seed={seed})")


def _oracle(spread: Spread, arr: DistrictArrays, link_up: np.ndarray,
            node_up: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The re-spread rule node by node (what ``spread_paths`` must equal)."""
    members = arr.meta.get("member_links", {})
    usable = route_usable(arr.link_role, members, arr.link_a, arr.link_b, link_up, node_up)
    base = spread.base
    routes = node_routes(len(arr.node_ids), arr.link_a, arr.link_b, arr.link_capacity_mbps,
                         usable, spread.circuit_weight, spread.circuit_standby)
    node = spread.node
    choice = np.zeros(node.shape[0], dtype=np.int64)
    split = np.flatnonzero(np.diff(base.start)[node] >= 2)
    for v in np.unique(node[split]).tolist():
        at = split[node[split] == v]
        b_links = [tuple(base.links[r, : base.length[r]].tolist()) for r in base.rows(v)]
        n_rows = list(routes.rows(v))
        if not n_rows:
            continue
        n_links = [tuple(routes.links[r, : routes.length[r]].tolist()) for r in n_rows]
        if b_links == n_links:
            choice[at] = spread.route[at]
            continue
        one = at[spread.parent[at] == spread.parent[at[0]]]
        new = _assign([b_links[int(spread.route[s])] for s in one], spread.share[one],
                      n_links, routes.prob[n_rows[0]: n_rows[-1] + 1])
        choice[at] = np.asarray(new, dtype=np.int64)[spread.slot[at]]
    reachable = np.diff(routes.start)[node] > 0
    if node_up is not None:
        reachable &= node_up[node]
    row = np.where(reachable, routes.start[node] + choice, 0)
    if routes.links.size == 0:  # everything cut off
        links = np.full((node.shape[0], 1), -1, dtype=np.int32)
        length = np.zeros(node.shape[0], dtype=np.int32)
    else:
        links = np.where(reachable[:, None], routes.links[row], -1).astype(np.int32)
        length = np.where(reachable, routes.length[row], 0).astype(np.int32)
    return attach_rows(links, length, PathInputs(
        n_nodes=len(arr.node_ids), link_a=arr.link_a, link_b=arr.link_b,
        link_capacity_mbps=arr.link_capacity_mbps, link_role=arr.link_role,
        attach_member=arr.attach_member, attach_air_link=arr.attach_air_link,
        member_link_of=members))


@pytest.mark.parametrize(("seed", "schools", "dual", "circuits", "standby", "ring"), [
    (1, 6, 1.0, 2, False, True),
    (8, 8, 1.0, 3, False, False),
    (2, 5, 0.5, 3, True, True),
    (3, 4, 1.0, 1, False, False),
    (4, 7, 0.3, 2, True, False),
])
def test_spread_paths_equal_the_node_by_node_rule(seed: int, schools: int, dual: float,
                                                  circuits: int, standby: bool,
                                                  ring: bool) -> None:
    arr = to_arrays(_district(seed, schools, dual, circuits, standby, ring))
    spread = arr.meta["spread"]
    assert spread.multipath
    rng = np.random.default_rng(0)
    changed = 0
    for trial in range(40):
        link_up = np.ones(arr.n_links, dtype=bool)
        node_up = None
        if trial % 3 == 0:
            node_up = np.ones(len(arr.node_ids), dtype=bool)
            node_up[rng.integers(len(arr.node_ids))] = False
        else:
            link_up[rng.integers(arr.n_links, size=1 + trial % 2)] = False
        pl, plen = spread_paths(
            spread, n_nodes=len(arr.node_ids), link_a=arr.link_a, link_b=arr.link_b,
            link_capacity_mbps=arr.link_capacity_mbps, link_role=arr.link_role,
            attach_member=arr.attach_member, attach_air_link=arr.attach_air_link,
            member_link_of=arr.meta.get("member_links", {}), link_up=link_up,
            node_up=node_up)
        o_pl, o_plen = _oracle(spread, arr, link_up, node_up)
        np.testing.assert_array_equal(plen, o_plen)
        np.testing.assert_array_equal(pl[:, : o_pl.shape[1]], o_pl)
        assert np.all(pl[:, o_pl.shape[1]:] == -1)
        changed += int(np.any(plen != arr.path_len))
    assert changed > 0  # some failures re-route (the comparison is not vacuous)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), schools=st.integers(2, 9), dual=st.floats(0.0, 1.0),
       circuits=st.integers(1, 3), standby=st.booleans(), ring=st.booleans())
def test_n1_paths_equal_spread_paths_for_every_element(seed: int, schools: int, dual: float,
                                                       circuits: int, standby: bool,
                                                       ring: bool) -> None:
    """N-1 re-routes only the (node, slot) pairs whose node path changed and keeps the
    base rows of the others: for every element (access ones included) the paths are
    those of :func:`spread_paths` of the whole district, and every sub-point whose path
    changed is among the candidates."""
    d = _district(seed, schools, dual, circuits, standby, ring)
    arr = to_arrays(d)
    spread = arr.meta.get("spread")
    if spread is None or not spread.multipath:
        return
    base = _spread_base(arr, spread)
    elems, _ = contingency_elements(d, arr, include_access=True)
    for el in elems:
        pl, plen, cand = _spread_paths_for(arr, spread, el.links, el.node, base)
        want_pl, want_len = spread_paths(spread, **_spread_inputs(arr, el.links, el.node))
        np.testing.assert_array_equal(pl, want_pl, err_msg=el.label)
        np.testing.assert_array_equal(plen, want_len, err_msg=el.label)
        width = max(pl.shape[1], arr.path_links.shape[1])
        moved = np.flatnonzero((plen != arr.path_len) | np.any(
            _pad(pl, width) != _pad(arr.path_links, width), axis=1))
        assert np.isin(moved, cand).all(), el.label
