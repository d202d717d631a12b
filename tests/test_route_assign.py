"""The compiled slot re-assignment (:mod:`netstage.simulator.route_assign`) equals the
rule written in Python (:func:`netstage.simulator.routing._assign`) on random nodes:
some base routes survive (their slots keep them, and their shares count against the
new routes' probabilities), some fail, some routes are new, and one point's slots
decide for every point of the node."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from netstage.simulator.route_assign import assign_slots
from netstage.simulator.routing import NodeRoutes, _assign


def _routes(per_node: list[list[tuple[int, ...]]], probs: list[list[float]]) -> NodeRoutes:
    width = max((len(r) for rs in per_node for r in rs), default=1)
    rows = [r for rs in per_node for r in rs]
    links = np.full((max(len(rows), 1), width), -1, dtype=np.int32)
    for i, r in enumerate(rows):
        links[i, : len(r)] = r
    start = np.r_[0, np.cumsum([len(rs) for rs in per_node])].astype(np.int64)
    return NodeRoutes(start=start, links=links,
                      length=np.array([len(r) for r in rows] or [0], dtype=np.int32),
                      prob=np.array([p for ps in probs for p in ps] or [0.0]))


@settings(max_examples=60, deadline=None)
@given(data=st.data(), n_nodes=st.integers(1, 4))
def test_compiled_assignment_equals_the_python_rule(data: st.DataObject, n_nodes: int) -> None:
    path = st.lists(st.integers(0, 9), min_size=1, max_size=4, unique=True).map(tuple)
    base_rs, new_rs, new_ps = [], [], []
    for _ in range(n_nodes):
        b = data.draw(st.lists(path, min_size=2, max_size=4, unique=True))
        keep = [r for r in b if data.draw(st.booleans())]
        extra = data.draw(st.lists(path, max_size=3, unique=True))
        new = list(dict.fromkeys(keep + [r for r in extra if r not in b]))
        if not new:
            new = [b[0] + (99,)]  # a route the base never had
        new = data.draw(st.permutations(new))
        w = np.array(data.draw(st.lists(st.floats(0.05, 1.0), min_size=len(new),
                                        max_size=len(new))))
        base_rs.append(b)
        new_rs.append(list(new))
        new_ps.append((w / w.sum()).tolist())
    base = _routes(base_rs, [[1.0 / len(b)] * len(b) for b in base_rs])
    routes = _routes(new_rs, new_ps)
    # pairs: per node, two points with the same slots (each slot on a base route)
    node, parent, slot, route, share = [], [], [], [], []
    for v in range(n_nodes):
        k = data.draw(st.integers(1, 4))
        rts = data.draw(st.lists(st.integers(0, len(base_rs[v]) - 1), min_size=k, max_size=k))
        sh = np.array(data.draw(st.lists(st.floats(0.05, 1.0), min_size=k, max_size=k)))
        for pt in range(2):
            for j in range(k):
                node.append(v)
                parent.append(10 * v + pt)
                slot.append(j)
                route.append(rts[j])
                share.append(float(sh[j] / sh.sum()))
    node_a, parent_a = np.array(node), np.array(parent)
    slot_a, route_a, share_a = np.array(slot), np.array(route), np.array(share)
    by_node = np.arange(node_a.shape[0])
    nodes, first, count = np.unique(node_a, return_index=True, return_counts=True)
    choice = np.full(node_a.shape[0], -7, dtype=np.int64)
    assign_slots(nodes, first, count, by_node, parent_a, route_a, share_a, slot_a, base,
                 routes, choice)
    for v in range(n_nodes):
        at = np.flatnonzero(node_a == v)
        one = at[parent_a[at] == parent_a[at[0]]]
        want = _assign([base_rs[v][int(route_a[s])] for s in one], share_a[one],
                       new_rs[v], np.array(new_ps[v]))
        np.testing.assert_array_equal(choice[at], np.asarray(want)[slot_a[at]])
