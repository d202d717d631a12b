"""The planner's capacity changes as typed operations (District.with_capacity,
plan.actions.apply_capacity): the same district the dict edit and validation give, without
that round-trip, and the original never changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from netstage.simulator.errors import TopologyError
from netstage.simulator.io import district_from_dict, load_district
from netstage.simulator.model import District
from netstage.simulator.plan import UpgradeAction
from netstage.simulator.plan.actions import _dump, apply_action, apply_actions, apply_capacity

from .support import example_districts


def _action(kind: str, target: str, **params: object) -> UpgradeAction:
    return UpgradeAction(kind, target, f"{kind} {target}", 0.0, 0.0, 0.0, "", [], dict(params))


def _by_dict(d: District, actions: list[UpgradeAction]) -> District:
    """The planner's former path: dump, edit the dict, validate the whole district."""
    data = _dump(d)
    for a in actions:
        apply_action(data, a)
    return district_from_dict(data)


def _capacity_actions(d: District) -> list[UpgradeAction]:
    links = [lk.key for lk in d.links]
    acts = [_action("internet_capacity", c.id, capacity_mbps=c.capacity_mbps * 4)
            for c in d.circuits]
    if d.circuits and links:
        # the circuit and the links behind it: raised only where they are below the value
        acts.append(_action("internet_capacity", d.circuits[0].id,
                            capacity_mbps=d.circuits[0].capacity_mbps * 2,
                            links=links[:3], link_caps=[1000.0, 10000.0, 1.0]))
    acts.append(_action("link_upgrade", links[0], capacity_mbps=40000))   # an int, as YAML
    acts.append(_action("link_upgrade", links[-1], links=[*links[-3:], links[-1]],
                        capacity_mbps=[2500.0, 5000.0, 7500.0, 1.0]))
    return acts


@pytest.mark.parametrize("path", example_districts(), ids=lambda p: Path(p).stem)
def test_typed_capacity_changes_equal_the_dict_round_trip(path: Path) -> None:
    d = load_district(path)
    before = d.model_dump_json()
    acts = _capacity_actions(d)
    for a in acts:
        typed, ref = apply_capacity(d, a), _by_dict(d, [a]).model_dump_json()
        assert typed.model_dump_json() == ref, a.description
        # the district itself exactly when nothing changes (the search counts it so)
        assert (typed is d) == (ref == before), a.description
    assert apply_actions(d, acts).model_dump_json() == _by_dict(d, acts).model_dump_json()
    assert d.model_dump_json() == before   # the original is never changed


def test_with_capacity_shares_what_it_does_not_change() -> None:
    d = load_district(example_districts()[0])
    c0 = d.circuits[0]
    same = d.with_capacity(circuits={c0.id: c0.capacity_mbps},
                           links_at_least={d.links[0].key: 1.0})
    assert same is d                                   # nothing changed: no copy at all
    up = d.with_capacity(circuits={c0.id: c0.capacity_mbps * 2})
    assert up.circuits[0].capacity_mbps == c0.capacity_mbps * 2
    assert d.circuits[0].capacity_mbps == c0.capacity_mbps
    assert up.links is d.links and all(a is b for a, b in zip(up.nodes, d.nodes, strict=True))
    with pytest.raises(KeyError):
        d.with_capacity(circuits={"no-such-circuit": 100.0})
    with pytest.raises(TopologyError):
        d.with_capacity(links={d.links[0].key: 0.0})
