"""Shared-risk groups (SRLG): how many *physically* diverse paths each site has.

A shared-risk group names links and circuits that fail together (one conduit, one
provider, one building entrance): ``links[].srlg`` / ``circuits[].srlg``. The
failure *elements* are then

* every link or circuit that is in no group (it fails alone), and
* every group as a whole (all its members fail at once).

A link that is in a group is not an element on its own: failing its group costs the
same (one element) and takes down at least as much.

SRLG-disjoint path count of a site
    The fewest elements whose failure disconnects the site (all its nodes) from the
    Internet. Without groups this is the edge-disjoint path count (Menger). With groups
    it is the *minimum label cut*, which is NP-hard in general (Coudert et al., "Shared
    risk resource group: complexity and approximability issues", Parallel Processing
    Letters 2007), so no single max-flow gives it: merging every member of a group
    into one shared group vertex creates paths that jump between unrelated links of the
    group, and overcounts. It is computed exactly instead as

        min over sets S of groups of  |S| + f(S)

    where ``f(S)`` is the edge-disjoint path count after removing the members of ``S``,
    with the links of the *other* groups uncuttable (a capacity above any useful
    count), i.e. the fewest ungrouped links that finish the cut. The flow graph is
    built once; each set only changes edge capacities. Sets are tried by
    increasing size and only while ``|S|`` is below the best count found so far, so a
    site with count 2 needs the empty set and the single groups only. A budget on the
    number of sets keeps large group counts bounded; a site whose search ran out is
    marked ``exact=False`` (its count is then an upper bound, and still exact up to the
    size of the sets searched: the count is at least ``min(count, k)`` when sets of size
    ``k`` were cut short. The single groups are always tried, whatever the budget, so
    the R-HA question "at least 2?" is always settled).

Circuits
    Two circuits in one group count as one for R-HA's circuit count: the effective
    circuit count is the fewest elements whose failure takes every circuit down
    (ungrouped circuits one each, plus the smallest set of groups that covers the
    grouped circuits).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
from numpy.typing import NDArray

from netstage.simulator.disjoint_paths import EdgeFlowGraph
from netstage.simulator.model import District

__all__ = [
    "SrlgCounts",
    "circuit_count",
    "edge_groups",
    "group_members",
    "srlg_disjoint_counts",
]

I64 = NDArray[np.int64]
_DEFAULT_BUDGET = 4000  # sets of groups tried (each one max-flow over all sites)
_COVER_LIMIT = 16  # groups on circuits above which the cover falls back to a lower bound


def edge_groups(d: District) -> list[tuple[str, ...]]:
    """Groups of each edge of the district graph: links in file order, then circuits."""
    return ([tuple(dict.fromkeys(lk.srlg)) for lk in d.links]
            + [tuple(dict.fromkeys(c.srlg)) for c in d.circuits])


def group_members(d: District) -> dict[str, list[str]]:
    """Each group id with the links (keys) and circuits (ids) in it, in file order."""
    out: dict[str, list[str]] = {}
    for lk in d.links:
        for gid in dict.fromkeys(lk.srlg):
            out.setdefault(gid, []).append(lk.key)
    for c in d.circuits:
        for gid in dict.fromkeys(c.srlg):
            out.setdefault(gid, []).append(c.id)
    return out


@dataclass
class SrlgCounts:
    """Per site: SRLG-disjoint path count, whether it is exact, and the binding groups
    (the groups of a smallest cut; empty when ungrouped links alone bind)."""

    paths: I64
    exact: NDArray[np.bool_]
    binding: list[list[str]] = field(default_factory=list)


def srlg_disjoint_counts(
    n_vertices: int,
    edge_u: I64,
    edge_v: I64,
    sink: int,
    groups: list[I64],
    groups_of_edge: list[tuple[str, ...]],
    upper: I64,
    *,
    budget: int = _DEFAULT_BUDGET,
) -> SrlgCounts:
    """SRLG-disjoint path counts from each source group to ``sink`` (module docstring).

    ``upper[g]`` is a known upper bound (the edge-disjoint count); the result never
    exceeds it. ``budget`` bounds the number of group sets of two or more tried.
    """
    n_sites = len(groups)
    best = np.asarray(upper, dtype=np.int64).copy()
    exact = np.ones(n_sites, dtype=bool)
    binding: list[list[str]] = [[] for _ in range(n_sites)]
    names = sorted({gid for gs in groups_of_edge for gid in gs})
    if not names or n_sites == 0:
        return SrlgCounts(best, exact, binding)
    gidx = {gid: i for i, gid in enumerate(names)}
    m = edge_u.shape[0]
    member = np.zeros((len(names), m), dtype=bool)
    for e, gs in enumerate(groups_of_edge):
        for gid in gs:
            member[gidx[gid], e] = True
    grouped = member.any(0)

    net = EdgeFlowGraph(n_vertices, edge_u, edge_v, sink)
    # grouped edges are uncuttable unless their group fails: a capacity no count reaches
    free_cap = np.where(grouped, int(best.max()) + 1, 1).astype(np.int64)

    def flow(removed: NDArray[np.bool_], need: I64) -> I64:
        """Fewest ungrouped edges that cut each site once ``removed`` edges are gone
        (capped at ``need``; sites with ``need`` 0 are skipped and get 0)."""
        out = np.zeros(n_sites, dtype=np.int64)
        todo = np.flatnonzero(need > 0)
        if todo.size:
            out[todo] = net.counts(np.where(removed, 0, free_cap),
                                   [groups[i] for i in todo.tolist()], need[todo])
        return out

    none = np.zeros(m, dtype=bool)
    best = np.minimum(best, flow(none, best))
    tried = 0
    k = 1
    while k <= len(names) and bool(np.any(best > k)):
        open_sites = best > k
        stop = False
        for combo in combinations(range(len(names)), k):
            if tried >= budget and k > 1:  # single groups always: they settle ">= 2?"
                stop = True
                break
            tried += 1
            need = np.where(best > k, best - k, 0)
            f = flow(np.asarray(member[list(combo)].any(0), dtype=bool), need)
            better = open_sites & (k + f < best)
            if better.any():
                best = np.where(better, k + f, best)
                for s in np.flatnonzero(better).tolist():
                    binding[s] = [names[i] for i in combo]
            open_sites = best > k
            if not open_sites.any():
                break
        if stop:
            exact &= ~(best > k)
            break
        k += 1
    return SrlgCounts(best, exact, binding)


def circuit_count(d: District) -> tuple[int, list[list[str]]]:
    """Effective Internet circuit count (module docstring) and, for the evidence, each
    group holding two or more circuits as ``[group, circuit, circuit, ...]``."""
    ungrouped = sum(1 for c in d.circuits if not c.srlg)
    grouped = [set(c.srlg) for c in d.circuits if c.srlg]
    shared = []
    for gid in group_members(d):
        ids = [c.id for c in d.circuits if gid in c.srlg]
        if len(ids) >= 2:
            shared.append([gid, *ids])
    if not grouped:
        return ungrouped, shared
    names = sorted(set().union(*grouped))
    if len(names) > _COVER_LIMIT:
        # lower bound: circuits linked through shared groups need one group each
        return ungrouped + _components(grouped), shared
    for k in range(1, len(names) + 1):
        for combo in combinations(names, k):
            chosen = set(combo)
            if all(gs & chosen for gs in grouped):
                return ungrouped + k, shared
    return ungrouped + len(grouped), shared  # unreachable: all names cover everything


def _components(sets: list[set[str]]) -> int:
    parent = list(range(len(sets)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, gs in enumerate(sets):
        for gid in gs:
            if gid in owner:
                parent[find(i)] = find(owner[gid])
            else:
                owner[gid] = i
    return len({find(i) for i in range(len(sets))})
