"""The networkx view of a district, and GraphML export/import of it.

The view is a :class:`networkx.MultiGraph`: one graph node per model node (an AP
entry with ``count`` k stays one node with attribute ``count``), plus the virtual
node :data:`INTERNET` joined to each circuit's node by one edge per circuit, so that
several circuits count as separate exits. Edge keys are link ids / circuit ids.

GraphML cannot hold nested values, so the export flattens them: ``wifi.generation``
becomes the attribute ``wifi_generation`` (``stack.members``: ``stack_members``), a
shared-risk group list (``srlg``) is stored as JSON text, and the district block, declared and
measured facts, and the sites are stored as JSON strings in graph attributes. The
import reverses this exactly (round trip tested).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import networkx as nx

from netstage.simulator.model import District

__all__ = ["INTERNET", "from_graphml", "to_graphml", "to_networkx"]

INTERNET = "__internet__"
_NODE_SCALARS = ("kind", "site", "name", "vendor", "model", "firmware", "mgmt_address", "count")
_LINK_SCALARS = ("id", "capacity_mbps", "medium", "lag_members", "background_mbps",
                 "distance_km")
_LISTS = ("srlg",)  # list fields, written as JSON text (GraphML has no list type)


def to_networkx(d: District) -> nx.MultiGraph:
    """A graph view of ``d`` (nodes carry the model's fields; edges carry ``capacity_mbps``)."""
    g = nx.MultiGraph(name=d.district.name)
    for n in d.nodes:
        attrs = {k: v for k, v in n.model_dump(mode="json").items() if k != "id"}
        g.add_node(n.id, **attrs)
    g.add_node(INTERNET, kind="internet")
    for lk in d.links:
        g.add_edge(lk.a, lk.b, key=lk.key, role="link", **lk.model_dump(mode="json",
                                                                          exclude={"a", "b"}))
    for c in d.circuits:
        g.add_edge(c.attach, INTERNET, key=c.id, role="circuit", id=c.id,
                   capacity_mbps=c.capacity_mbps, provider=c.provider,
                   background_mbps=c.background_mbps, circuit_role=c.role,
                   load_weight=c.load_weight)
    return g


def _flat(prefix: str, value: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}_{k}": v for k, v in value.items() if v is not None}


def to_graphml(d: District, path: str | Path) -> None:
    """Write ``d`` as GraphML (attributes flattened; see the module docstring)."""
    g = nx.MultiGraph()
    g.graph["netstage_format"] = 1
    g.graph["district"] = json.dumps(d.district.model_dump(mode="json"))
    g.graph["sites"] = json.dumps([s.model_dump(mode="json", exclude_none=True) for s in d.sites])
    g.graph["declared"] = json.dumps(d.declared.model_dump(mode="json"))
    if d.measured is not None:
        g.graph["measured"] = json.dumps(d.measured.model_dump(mode="json"))
    for n in d.nodes:
        attrs = {k: getattr(n, k) for k in _NODE_SCALARS if getattr(n, k) is not None}
        attrs["kind"] = n.kind.value
        if n.wifi is not None:
            attrs.update(_flat("wifi", n.wifi.model_dump(mode="json")))
        if n.stack is not None:
            attrs.update(_flat("stack", n.stack.model_dump(mode="json")))
        g.add_node(n.id, **attrs)
    for i, lk in enumerate(d.links):
        attrs = {k: getattr(lk, k) for k in _LINK_SCALARS if getattr(lk, k) is not None}
        attrs["medium"] = lk.medium.value
        attrs["order"] = i
        attrs["end_a"] = lk.a  # undirected GraphML does not keep which end came first
        attrs.update({k: json.dumps(getattr(lk, k)) for k in _LISTS if getattr(lk, k, None)})
        g.add_edge(lk.a, lk.b, key=f"l{i}", role="link", **attrs)
    for i, c in enumerate(d.circuits):
        g.add_node(INTERNET, kind="internet")
        attrs = {k: (json.dumps(v) if isinstance(v, list) else v)
                 for k, v in c.model_dump(mode="json").items() if v is not None and v != []}
        attrs.pop("attach")
        attrs["circuit_role"] = attrs.pop("role")  # "role" tells links from circuits
        g.add_edge(c.attach, INTERNET, key=f"c{i}", role="circuit", order=i, **attrs)
    nx.write_graphml(g, str(path))


def from_graphml(path: str | Path) -> District:
    """Read a district written by :func:`to_graphml` (for third-party GraphML such as
    the Topology Zoo, use :mod:`netstage.simulator.importers.graphml`)."""
    from netstage.simulator.io import district_from_dict

    g = nx.read_graphml(str(path), force_multigraph=True)
    if "netstage_format" not in g.graph:
        from netstage.simulator.errors import TopologyError

        raise TopologyError(
            f"{path}: not a netstage GraphML export (no 'netstage_format' graph attribute); "
            "for other GraphML files use `netstage import graphml`"
        )
    nodes = []
    for nid, attrs in g.nodes(data=True):
        if nid == INTERNET:
            continue
        node: dict[str, Any] = {"id": nid}
        wifi, stack = {}, {}
        for k, v in attrs.items():
            if k.startswith("wifi_"):
                wifi[k[5:]] = v
            elif k.startswith("stack_"):
                stack[k[6:]] = v
            else:
                node[k] = v
        if wifi:
            node["wifi"] = wifi
        if stack:
            node["stack"] = stack
        nodes.append(node)
    links: list[tuple[int, dict[str, Any]]] = []
    circuits: list[tuple[int, dict[str, Any]]] = []
    for u, v, attrs in g.edges(data=True):
        attrs = {k: (json.loads(x) if k in _LISTS else x) for k, x in attrs.items()}
        role = attrs.pop("role")
        order = int(attrs.pop("order"))
        if role == "circuit":
            attrs["attach"] = v if u == INTERNET else u
            if "circuit_role" in attrs:
                attrs["role"] = attrs.pop("circuit_role")
            circuits.append((order, attrs))
        else:
            a = attrs.pop("end_a")
            attrs["a"], attrs["b"] = a, (v if u == a else u)
            links.append((order, attrs))
    data = {
        "district": json.loads(g.graph["district"]),
        "sites": json.loads(g.graph["sites"]),
        "declared": json.loads(g.graph["declared"]),
        "nodes": nodes,
        "links": [x for _, x in sorted(links, key=lambda t: t[0])],
        "circuits": [x for _, x in sorted(circuits, key=lambda t: t[0])],
    }
    if "measured" in g.graph:
        data["measured"] = json.loads(g.graph["measured"])
    return district_from_dict(data, source=str(path))
