"""How much of a district an audit rebuilt: nodes, kinds, links and circuits compared.

Used on the lab (the source district is known exactly) to score ``netstage discover`` +
``netstage normalise``: a node is recovered when the rebuilt district has a node with the
same id (the sysName / LLDP system name), a link when the same two node ids are joined.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from netstage.simulator.model import District

__all__ = ["TopologyScore", "compare_topology"]


@dataclass
class TopologyScore:
    nodes_expected: int
    nodes_found: int
    links_expected: int
    links_found: int
    missing_nodes: list[str] = field(default_factory=list)
    extra_nodes: list[str] = field(default_factory=list)
    wrong_kind: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (want, got)
    missing_links: list[str] = field(default_factory=list)
    extra_links: list[str] = field(default_factory=list)
    missing_circuits: list[str] = field(default_factory=list)

    @property
    def node_recall(self) -> float:
        return self.nodes_found / self.nodes_expected if self.nodes_expected else 1.0

    @property
    def link_recall(self) -> float:
        return self.links_found / self.links_expected if self.links_expected else 1.0

    def to_json(self) -> dict[str, Any]:
        return {"node_recall": round(self.node_recall, 4),
                "link_recall": round(self.link_recall, 4),
                "nodes": f"{self.nodes_found}/{self.nodes_expected}",
                "links": f"{self.links_found}/{self.links_expected}",
                "missing_nodes": self.missing_nodes, "extra_nodes": self.extra_nodes,
                "wrong_kind": {k: list(v) for k, v in self.wrong_kind.items()},
                "missing_links": self.missing_links, "extra_links": self.extra_links,
                "missing_circuits": self.missing_circuits}


def _pairs(d: District) -> dict[frozenset[str], int]:
    out: dict[frozenset[str], int] = {}
    for lk in d.links:
        key = frozenset((lk.a, lk.b))
        out[key] = out.get(key, 0) + 1
    return out


def _name(pair: frozenset[str]) -> str:
    return "-".join(sorted(pair))


def compare_topology(source: District, rebuilt: District) -> TopologyScore:
    """Score ``rebuilt`` (from an audit) against ``source`` (what the lab emulated)."""
    want = {n.id: str(n.kind) for n in source.nodes}
    got = {n.id: str(n.kind) for n in rebuilt.nodes}
    found = [n for n in want if n in got]
    wrong = {n: (want[n], got[n]) for n in found if want[n] != got[n]}
    wl, gl = _pairs(source), _pairs(rebuilt)
    links_found = sum(1 for p in wl if p in gl)
    circuits = {c.id for c in rebuilt.circuits}
    return TopologyScore(
        nodes_expected=len(want), nodes_found=len(found), links_expected=len(wl),
        links_found=links_found,
        missing_nodes=sorted(set(want) - set(got)), extra_nodes=sorted(set(got) - set(want)),
        wrong_kind=wrong,
        missing_links=sorted(_name(p) for p in wl if p not in gl),
        extra_links=sorted(_name(p) for p in gl if p not in wl),
        missing_circuits=sorted(c.id for c in source.circuits if c.id not in circuits))
