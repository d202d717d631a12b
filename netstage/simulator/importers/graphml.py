"""Import third-party GraphML (Internet Topology Zoo style) as a district.

The Zoo's graphs are backbones of points of presence, not school districts, so the
mapping is explicit and documented (docs/redundancy.md):

Nodes
    GraphML node ``k`` becomes node ``n<k>`` (labels repeat, so they are only names).
    ``Internal = 0`` (an external peer or upstream) -> kind ``edge`` with one Internet
    circuit each: those are the district's exits. ``hyperedge = 1`` (a shared segment,
    not a device) -> kind ``core`` without a site. Every other node -> kind
    ``distribution`` at its own site ``s<k>`` (kind ``school``), with
    ``students_per_site`` students (default 0: topology only, no demand).
Exits
    ``exits`` (GraphML ids or labels) name the exit nodes; without them the external
    nodes are the exits, and a graph without external nodes gets one exit at its
    highest-degree node (lowest id on ties). Each exit gets ``circuits_per_exit``
    circuits (default 1; more makes the disjoint-path counts measure paths to the exit
    node rather than the exit's circuits), each of ``internet_mbps``, default the total
    capacity of the exit's links (so the circuit is not an artificial bottleneck).
Link capacity
    From ``LinkSpeedRaw`` (bits/s), else ``LinkSpeed`` x ``LinkSpeedUnits``
    (``K``/``M``/``G``/``T``), else ``default_link_mbps`` (counted in the warnings).
    ``LinkLabel`` is prose and is never parsed. Parallel edges stay separate links
    (``e<j>`` ids), self-loops are dropped (warned).
Components without an exit keep their sites but get no students (warned), so the
district stays valid; their sites show 0 disjoint paths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from netstage.simulator.errors import TopologyError
from netstage.simulator.io import district_from_dict
from netstage.simulator.model import District

__all__ = ["GraphmlImport", "import_graphml", "link_speed_mbps", "read_graphml"]

_UNITS = {"K": 1e-3, "M": 1.0, "G": 1e3, "T": 1e6}


@dataclass
class GraphmlImport:
    """A district read from GraphML, with what the mapping had to assume."""

    district: District
    warnings: list[str] = field(default_factory=list)
    defaulted_links: int = 0
    exits: list[str] = field(default_factory=list)
    source_nodes: int = 0
    source_edges: int = 0


def link_speed_mbps(attrs: dict[str, Any]) -> float | None:
    """Link capacity in Mbps from Zoo edge attributes, or None when none is given."""
    raw = attrs.get("LinkSpeedRaw")
    try:
        if raw not in (None, ""):
            value = float(raw) / 1e6
            if math.isfinite(value) and value > 0:
                return value
    except (TypeError, ValueError):
        pass
    speed, unit = attrs.get("LinkSpeed"), str(attrs.get("LinkSpeedUnits") or "").strip().upper()
    try:
        if speed not in (None, "") and unit[:1] in _UNITS:
            value = float(speed) * _UNITS[unit[:1]]
            if math.isfinite(value) and value > 0:
                return value
    except (TypeError, ValueError):
        pass
    return None


def _flag(attrs: dict[str, Any], key: str) -> int | None:
    v = attrs.get(key)
    if v in (None, ""):
        return None
    try:
        return int(float(v))
    except (TypeError, ValueError):
        return None


def read_graphml(
    path: str | Path,
    *,
    default_link_mbps: float = 1000.0,
    internet_mbps: float | None = None,
    exits: list[str] | None = None,
    students_per_site: int = 0,
    circuits_per_exit: int = 1,
    name: str | None = None,
) -> GraphmlImport:
    """Read ``path`` and map it to a district (see the module docstring)."""
    p = Path(path)
    if p.is_dir():
        raise TopologyError(f"{p}: is a directory; give a GraphML file")
    if not p.is_file():
        raise TopologyError(f"{p}: no such GraphML file; check the path")
    if not (default_link_mbps > 0 and math.isfinite(default_link_mbps)):
        raise TopologyError(f"default_link_mbps must be a number > 0, got {default_link_mbps}")
    if circuits_per_exit < 1:
        raise TopologyError(f"circuits_per_exit must be >= 1, got {circuits_per_exit}")
    if students_per_site < 0:
        raise TopologyError(f"students_per_site must be >= 0, got {students_per_site}")
    try:
        g = nx.read_graphml(str(p), force_multigraph=True)
    except Exception as exc:  # networkx raises several types for malformed files
        raise TopologyError(f"{p}: not readable as GraphML ({exc})") from None
    if "netstage_format" in g.graph:
        from netstage.simulator.graph import from_graphml

        return GraphmlImport(district=from_graphml(p), source_nodes=g.number_of_nodes(),
                             source_edges=g.number_of_edges())
    if g.number_of_nodes() == 0:
        raise TopologyError(f"{p}: the graph has no nodes")
    warnings: list[str] = []
    ids = {v: f"n{v}" for v in g.nodes}
    label = {v: str(a.get("label") or v).strip() for v, a in g.nodes(data=True)}
    external = {v for v, a in g.nodes(data=True) if _flag(a, "Internal") == 0}
    hyper = {v for v, a in g.nodes(data=True) if _flag(a, "hyperedge") == 1}

    # links
    links: list[dict[str, Any]] = []
    defaulted = 0
    loops = 0
    cap_at: dict[str, float] = {v: 0.0 for v in g.nodes}
    for j, (a, b, attrs) in enumerate(g.edges(data=True)):
        if a == b:
            loops += 1
            continue
        mbps = link_speed_mbps(attrs)
        if mbps is None:
            mbps = default_link_mbps
            defaulted += 1
        cap_at[a] += mbps
        cap_at[b] += mbps
        links.append({"id": f"e{j}", "a": ids[a], "b": ids[b], "capacity_mbps": mbps,
                      "medium": "unknown"})
    if defaulted:
        warnings.append(f"{defaulted} of {g.number_of_edges()} links have no LinkSpeed; "
                        f"assumed {default_link_mbps:g} Mbps")
    if loops:
        warnings.append(f"{loops} self-loop edge(s) dropped")

    # exits
    if exits:
        by_label: dict[str, list[str]] = {}
        for v in g.nodes:
            by_label.setdefault(label[v], []).append(v)
        chosen: list[str] = []
        for x in exits:
            if x in g:
                chosen.append(x)
            elif x in by_label and len(by_label[x]) == 1:
                chosen.append(by_label[x][0])
            elif x in by_label:
                raise TopologyError(f"{p}: exit label '{x}' is not unique "
                                    f"(GraphML ids {', '.join(by_label[x])}); give an id")
            else:
                raise TopologyError(f"{p}: exit '{x}' is neither a GraphML node id nor a label")
        exit_nodes = chosen
    elif external:
        exit_nodes = sorted(external, key=_id_key)
    else:
        simple = nx.Graph(g)
        exit_nodes = [min(g.nodes, key=lambda v: (-simple.degree(v), _id_key(v)))]
        warnings.append(f"no external nodes: Internet exit placed at the highest-degree node "
                        f"{ids[exit_nodes[0]]} ('{label[exit_nodes[0]]}')")
    exit_set = set(exit_nodes)

    # reachability from the exits (students only where there is a way out)
    reach = set().union(*(nx.node_connected_component(g, x) for x in exit_nodes))
    unreachable = [v for v in g.nodes if v not in reach]
    if unreachable:
        warnings.append(f"{len(unreachable)} node(s) in components without an exit "
                        "(their sites get no students)")

    nodes: list[dict[str, Any]] = []
    sites: list[dict[str, Any]] = []
    for v, _attrs in g.nodes(data=True):
        row: dict[str, Any] = {"id": ids[v], "name": label[v]}
        if v in exit_set and v in external:
            row["kind"] = "edge"
        elif v in hyper:
            row["kind"] = "core"
        else:
            row["kind"] = "edge" if v in exit_set else "distribution"
            sid = f"s{v}"
            sites.append({"id": sid, "name": label[v], "kind": "school",
                          "students": students_per_site if v in reach else 0,
                          "staff": 0, "wired_lab_pcs": 0})
            row["site"] = sid
        nodes.append(row)
    circuits = [{"id": f"exit{k + 1}" + (f"-{c + 1}" if circuits_per_exit > 1 else ""),
                 "attach": ids[x],
                 "capacity_mbps": internet_mbps if internet_mbps else max(cap_at[x],
                                                                           default_link_mbps),
                 "provider": f"upstream of {label[x]}"}
                for k, x in enumerate(exit_nodes) for c in range(circuits_per_exit)]
    net = str(g.graph.get("Network") or g.graph.get("label") or p.stem).strip()
    data = {"district": {"name": name or f"{net} (GraphML {p.name})"}, "sites": sites,
            "nodes": nodes, "links": links, "circuits": circuits}
    return GraphmlImport(
        district=district_from_dict(data, source=str(p)), warnings=warnings,
        defaulted_links=defaulted, exits=[ids[x] for x in exit_nodes],
        source_nodes=g.number_of_nodes(), source_edges=g.number_of_edges())


def import_graphml(path: str | Path, **defaults: Any) -> District:
    """The district of :func:`read_graphml` (keyword arguments as there)."""
    return read_graphml(path, **defaults).district


def _id_key(v: str) -> tuple[int, str]:
    try:
        return (int(v), v)
    except ValueError:
        return (1 << 30, v)
