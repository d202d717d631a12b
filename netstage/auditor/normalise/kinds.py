"""Node kinds: from a base district, else from ``auditor/data/device_kinds.yaml``
patterns on ``sysDescr``/model (and the end-device pattern that leaves phones and hosts
out), else from the topology: switch next to a router/firewall -> core, switch with
switches further from the edge -> distribution, else access.
"""

from __future__ import annotations

import re
from collections import defaultdict, deque

from netstage.auditor.normalise.state import _State
from netstage.auditor.twin import load_device_kinds
from netstage.simulator.model import SWITCH_KINDS, Circuit, Link, NodeKind


def _kind_from_text(*texts: str | None) -> NodeKind | None:
    joined = " | ".join(t for t in texts if t)
    if not joined:
        return None
    for rule in load_device_kinds()["kind_rules"]:
        if re.search(rule["pattern"], joined, re.IGNORECASE):
            return NodeKind(rule["kind"])
    return None


def _is_endpoint(*texts: str | None) -> bool:
    joined = "\n".join(t for t in texts if t)
    pattern = load_device_kinds().get("endpoint_pattern")
    return bool(joined and pattern and re.search(pattern, joined, re.IGNORECASE | re.MULTILINE))


class _KindsMixin(_State):
    """Kinds of the nodes no pattern or base named, from the topology."""

    def topology_kinds(self, links: list[Link], circuits: list[Circuit]) -> None:
        adj: dict[str, set[str]] = defaultdict(set)
        for lk in links:
            adj[lk.a].add(lk.b)
            adj[lk.b].add(lk.a)
        roots = {n for n, node in self.nodes.items()
                 if node.kind in (NodeKind.EDGE, NodeKind.FIREWALL)}
        attach = {c.attach for c in circuits}
        roots |= attach
        fallback: set[str] = set()
        if not roots and adj:  # no router, firewall or circuit seen: the best-connected node
            fallback = {max(sorted(adj), key=lambda n: len(adj[n]))}
        dist: dict[str, int] = {r: 0 for r in roots | fallback}
        queue = deque(sorted(roots | fallback))
        while queue:
            u = queue.popleft()
            for v in adj[u]:
                if v not in dist:
                    dist[v] = dist[u] + 1
                    queue.append(v)
        for nid, guessed in self._guessed_kind.items():
            node = self.nodes[nid]
            if not guessed or node.kind not in SWITCH_KINDS:
                continue
            nbrs = adj[nid]
            if nid in attach:
                kind = NodeKind.EDGE
            elif nid in roots or nid in fallback or nbrs & roots:
                kind = NodeKind.CORE
            elif any(self.nodes[v].kind in SWITCH_KINDS and dist.get(v, 0) > dist.get(nid, 0)
                     and v in self.answered for v in nbrs):
                kind = NodeKind.DISTRIBUTION
            else:
                kind = NodeKind.ACCESS
            node.kind = kind
        self.dist = dist
