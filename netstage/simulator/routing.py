"""Routing: which links a device's traffic crosses on its way to the Internet.

Rule (documented, deterministic): every node uses a shortest path (fewest hops) to
the virtual Internet node; among equal-hop next hops it takes the link with the
higher capacity, then the link that comes first in the file. This builds a tree
rooted at the Internet, recomputed from scratch when elements fail
(``link_up``/``node_up`` masks), so N-1 contingency reuses the same code.

The breadth-first search runs one numpy step per hop level (a district has < 15
levels), not one Python step per node.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["attachment_paths", "node_paths", "tree_parents"]

I32 = NDArray[np.int32]


def tree_parents(
    n_nodes: int,
    link_a: I32,
    link_b: I32,
    link_capacity_mbps: NDArray[np.float64],
    usable: NDArray[np.bool_],
) -> tuple[I32, I32]:
    """Parent link and hop depth of every node (index ``n_nodes`` is the Internet root).

    ``usable[L]`` marks links that may carry traffic. Unreachable nodes get parent -1
    and depth -1.
    """
    total = n_nodes + 1
    root = n_nodes
    parent = np.full(total, -1, dtype=np.int32)
    depth = np.full(total, -1, dtype=np.int32)
    depth[root] = 0
    idx = np.flatnonzero(usable).astype(np.int32)
    a = link_a[idx]
    b = link_b[idx]
    frontier = np.zeros(total, dtype=bool)
    frontier[root] = True
    level = 0
    while True:
        unvisited = depth < 0
        fwd = frontier[a] & unvisited[b]
        back = frontier[b] & unvisited[a]
        child = np.concatenate([b[fwd], a[back]])
        if child.size == 0:
            break
        via = np.concatenate([idx[fwd], idx[back]])
        order = np.lexsort((via, -link_capacity_mbps[via], child))
        child, via = child[order], via[order]
        first = np.unique(child, return_index=True)[1]
        level += 1
        parent[child[first]] = via[first]
        depth[child[first]] = level
        frontier[:] = False
        frontier[child[first]] = True
    return parent, depth


def node_paths(n_nodes: int, link_a: I32, link_b: I32, parent: I32, depth: I32) -> I32:
    """``paths[N+1, H]``: links from each node up to the Internet, padded with -1."""
    total = n_nodes + 1
    hmax = max(int(depth.max()), 1)
    paths = np.full((total, hmax), -1, dtype=np.int32)
    for level in range(1, hmax + 1):
        nodes = np.flatnonzero(depth == level)
        if nodes.size == 0:
            continue
        pl = parent[nodes]
        up = np.where(link_a[pl] == nodes, link_b[pl], link_a[pl])
        paths[nodes, 0] = pl
        paths[nodes, 1:] = paths[up, :-1]
    return paths


def attachment_paths(
    *,
    n_nodes: int,
    link_a: I32,
    link_b: I32,
    link_capacity_mbps: NDArray[np.float64],
    link_role: NDArray[np.int8],
    attach_node: I32,
    attach_member: I32,
    attach_air_link: I32,
    member_link_of: dict[int, list[int]],
    link_up: NDArray[np.bool_] | None = None,
    node_up: NDArray[np.bool_] | None = None,
) -> tuple[I32, I32]:
    """Paths of all attachment points: ``(path_links[P, H], path_len[P])``.

    An AP member ``j`` crosses its own air link, then its own copy ``j`` of the AP
    entry's uplink (``member_link_of``), then the tree path of the switch above.
    ``path_len`` is 0 where no path exists (the devices there are *disconnected*).
    """
    from netstage.simulator.arrays import LINK_AIR

    n_links = link_a.shape[0]
    usable = link_role != LINK_AIR
    # member copies j > 0 are parallel twins of copy 0: route on copy 0 only
    for copies in member_link_of.values():
        usable[copies[1:]] = False
    if link_up is not None:
        usable &= link_up
    if node_up is not None:
        up = np.append(node_up, True)  # the Internet root never fails
        usable &= up[link_a] & up[link_b]
    parent, depth = tree_parents(n_nodes, link_a, link_b, link_capacity_mbps, usable)
    npaths = node_paths(n_nodes, link_a, link_b, parent, depth)
    n_attach = attach_node.shape[0]
    has_air = attach_air_link >= 0
    width = npaths.shape[1] + 1
    out = np.full((n_attach, width), -1, dtype=np.int32)
    node_depth = depth[attach_node]
    reachable = node_depth > 0
    if node_up is not None:
        reachable &= node_up[attach_node]
    # wired points: the node's path as is
    wired = ~has_air
    out[wired, : width - 1] = npaths[attach_node[wired]]
    # wifi points: air link, then the node's path with this member's uplink copy
    out[has_air, 0] = attach_air_link[has_air]
    out[has_air, 1:] = npaths[attach_node[has_air]]
    if member_link_of:
        copy_of = np.full(n_links, -1, dtype=np.int32)
        for first in member_link_of:
            copy_of[first] = first
        for p in np.flatnonzero(has_air & (attach_member > 0)):
            first = int(out[p, 1])
            if first >= 0 and copy_of[first] >= 0:
                copies = member_link_of[first]
                out[p, 1] = copies[int(attach_member[p]) % len(copies)]
    path_len = np.where(reachable, node_depth + has_air.astype(np.int32), 0).astype(np.int32)
    out[path_len == 0] = -1
    return out, path_len
