"""Candidate generation: the catalogue actions that could close each failing rule's gap.

Part of :mod:`netstage.simulator.plan` (split along its seams, issue 13)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from netstage.simulator.element_ids import air_point, is_air, model_id
from netstage.simulator.evidence import Evidence
from netstage.simulator.model import INFRASTRUCTURE_KINDS, District, NodeKind, SiteKind
from netstage.simulator.plan.actions import UpgradeAction, _unique
from netstage.simulator.plan.catalogue import Catalog, Cost
from netstage.simulator.plan.gap import CAPACITY_RULES, _State
from netstage.simulator.rules import Rubric, RuleVerdict
from netstage.simulator.rules.declared_rules import model_family
from netstage.simulator.rules.target import TargetDetails
from netstage.simulator.wording import element_name, join_and, plural


# -- candidate generation ----------------------------------------------------------------
def _next_tier(tiers: tuple[float, ...], current: float, factor: float = 1.0) -> float | None:
    want = current * factor
    for t in tiers:
        if t > current and t >= want:
            return t
    return None


class _Candidates:
    def __init__(self, d: District, cat: Catalog, rubric: Rubric, target: int) -> None:
        self.d = d
        self.cat = cat
        self.rubric = rubric
        self.target = target
        self.out: list[UpgradeAction] = []
        self.seen: set[tuple[str, str, str]] = set()
        self.site_of = {n.id: n.site for n in d.nodes}
        self.kind_of = {n.id: n.kind for n in d.nodes}
        self.srlg_ids = {g for lk in d.links for g in lk.srlg} | \
            {g for c in d.circuits for g in c.srlg}

    def add(self, action: str, target: str, description: str, units: float, rules: list[str],
            params: dict[str, Any], *, cost: Cost | None = None, what: str | None = None) -> None:
        if not self.cat.has(action):
            return  # a user catalogue without this action: not offered
        key = (action, target, repr(sorted(params.items())))
        if key in self.seen:
            return
        self.seen.add(key)
        if cost is None:
            cost = self.cat.price(action, units)
        what = what or _units(units, str(self.cat.spec(action).get("unit", "unit")))
        self.out.append(UpgradeAction.from_cost(self.cat, action, target, description, cost,
                                                what, rules, params))

    def new_srlg(self, base: str) -> str:
        g = _unique(self.srlg_ids, base)
        self.srlg_ids.add(g)
        return g

    # capacity -----------------------------------------------------------------------
    def internet(self, rules: list[str], need_total_mbps: float | None = None,
                 survivors_of: str | None = None) -> None:
        """More Internet capacity: the largest circuit stepped up, every circuit stepped
        up together (load shares over active circuits) and, for N-1, the circuits that
        remain when ``survivors_of`` (a circuit or the node it ends on) fails."""
        d = self.d
        if not d.circuits:
            return
        caps = {c.id: c.capacity_mbps for c in d.circuits}
        total = sum(caps.values())
        c = max(d.circuits, key=lambda x: x.capacity_mbps)
        options: list[dict[str, float]] = []
        for f in (1.0, 2.0, 4.0):
            t = _next_tier(self.cat.internet_tiers, c.capacity_mbps, f)
            if t:
                options.append({c.id: t})
        if need_total_mbps is not None:
            t = _next_tier(self.cat.internet_tiers, c.capacity_mbps,
                           max(1.0, (need_total_mbps - (total - c.capacity_mbps))
                               / c.capacity_mbps))
            if t:
                options.append({c.id: t})
        if len(caps) > 1:
            for f in (1.0, 2.0, 4.0):
                every = {k: _next_tier(self.cat.internet_tiers, v, f) for k, v in caps.items()}
                if all(every.values()):
                    options.append({k: float(v) for k, v in every.items() if v})
            if need_total_mbps is not None and total > 0:
                f = need_total_mbps / total
                every = {k: _next_tier(self.cat.internet_tiers, v, max(f, 1.0))
                         for k, v in caps.items()}
                if all(every.values()):
                    options.append({k: float(v) for k, v in every.items() if v})
        if survivors_of is not None:
            lost = {x.id for x in d.circuits if survivors_of in (x.id, x.attach)}
            rest = {k: v for k, v in caps.items() if k not in lost}
            if lost and rest:
                for f in (1.0, 2.0):
                    # the survivors alone carry what all circuits carried, times f
                    want = total * f / sum(rest.values())
                    up = {k: _next_tier(self.cat.internet_tiers, v, max(want, 1.0))
                          for k, v in rest.items()}
                    if all(up.values()):
                        options.append({k: float(v) for k, v in up.items() if v})
        for new in options:
            self._internet_option(new, caps, rules)

    def _internet_option(self, new: dict[str, float], caps: dict[str, float],
                         rules: list[str]) -> None:
        added = sum(v - caps[k] for k, v in new.items())
        if added <= 0:
            return
        names = _circuits_change(self.d, new, caps)
        target = next(iter(new)) if len(new) == 1 else "circuits"
        base = self.cat.price("internet_capacity", added)
        params: dict[str, Any] = {"circuits": dict(new)}
        if len(new) == 1:
            params = {"capacity_mbps": next(iter(new.values()))}
        self.add("internet_capacity", target, names, added, rules, params,
                 cost=base, what=f"{added:g} Mbps added")
        # the same with the trunk (edge/firewall/core links slower than the new Internet
        # capacity) upgraded too: neither helps alone when both are short
        total_new = sum({**caps, **new}.values())
        trunk = self.trunk_below(total_new)
        if trunk:
            keys = [k for k, _ in trunk]
            lcaps = [c2 for _, c2 in trunk]
            by_key = {lk.key: lk for lk in self.d.links}
            cost = base
            for k, c2 in trunk:
                cost = cost + self.link_cost(by_key[k].medium.value, by_key[k].capacity_mbps, c2)
            self.add("internet_capacity", target, names + _trunk_words(self.d, keys),
                     added, rules, {**params, "links": keys, "link_caps": lcaps}, cost=cost,
                     what=f"{added:g} Mbps added + {plural(len(keys), 'link')}")

    def trunk_below(self, mbps: float) -> list[tuple[str, float]]:
        """Links between edge, firewall and core nodes slower than ``mbps``, each with
        the tier that carries it."""
        kinds = {NodeKind.EDGE, NodeKind.FIREWALL, NodeKind.CORE}
        kind = self.kind_of
        out = []
        for lk in self.d.links:
            if kind[lk.a] in kinds and kind[lk.b] in kinds and lk.capacity_mbps < mbps:
                t = _next_tier(self.cat.link_tiers, lk.capacity_mbps, mbps / lk.capacity_mbps)
                if t:
                    out.append((lk.key, t))
        return out

    def link_cost(self, lk_medium: str, old: float, new: float) -> Cost:
        """Optics/ports for tier ``new``; a leased link also pays for the added Mbps."""
        c = self.cat.price("link_upgrade", 1.0, sub="tiers", key=int(new))
        if lk_medium == "leased" and self.cat.spec("link_upgrade").get("per_mbps"):
            c = c + self.cat.price("link_upgrade", max(new - old, 0.0), sub="per_mbps")
        return c

    def links(self, keys: list[str], rules: list[str], label: str, factor: float = 1.0,
              need: dict[str, float] | None = None) -> None:
        """Upgrade each link in ``keys`` to its next tier (or the tier in ``need``)."""
        if not self.cat.has("link_upgrade"):
            return
        by_key = {lk.key: lk for lk in self.d.links}
        chosen, caps, cost = [], [], Cost()
        for k in keys:
            lk = by_key.get(k)
            if lk is None:
                continue
            want = need.get(k) if need else None
            t = _next_tier(self.cat.link_tiers, lk.capacity_mbps,
                           max(factor, (want or 0) / lk.capacity_mbps))
            if t is None:
                continue
            cost = cost + self.link_cost(lk.medium.value, lk.capacity_mbps, t)
            chosen.append(k)
            caps.append(t)
        if not chosen:
            return
        if len(chosen) == 1:
            lk = by_key[chosen[0]]
            desc = (f"{element_name(chosen[0], self.d)}: {_mbps(lk.capacity_mbps)} -> "
                    f"{_mbps(caps[0])}")
        else:
            desc = (f"{label}: {len(chosen)} links upgraded "
                    f"({_links_words(self.d, chosen, 4)})")
        self.add("link_upgrade", chosen[0] if len(chosen) == 1 else label, desc,
                 float(len(chosen)), rules, {"links": chosen, "capacity_mbps": caps},
                 cost=cost)

    def hot_elements(self, evidence: Evidence, rules: list[str]) -> None:
        """Candidates from the simulations: the links most often at their limit."""
        circuit_ids = {c.id for c in self.d.circuits}
        link_keys = {lk.key for lk in self.d.links}
        hot_links: list[str] = []
        for r in rules:
            scen = self.rubric.rules[r].scenario or r
            res = evidence.simulations.get(scen)
            if res is None:
                continue
            ids = list(getattr(res, "link_ids", []) or [])
            util = np.asarray(getattr(res, "link_util_p95", np.zeros(len(ids))), dtype=float)
            bf = np.asarray(getattr(res, "bottleneck_frequency", np.zeros(len(ids))),
                            dtype=float)
            if len(ids) == 0 or util.shape[0] != len(ids):
                continue
            score = np.where(bf.shape == util.shape, bf, 0.0) + util
            for i in np.argsort(-score)[:10]:
                if util[i] < 0.8 and (bf.shape != util.shape or bf[i] <= 0.0):
                    continue
                lid = model_id(ids[int(i)])
                if lid in circuit_ids:
                    self.internet(rules)
                elif is_air(lid):
                    site = self.site_of.get(air_point(lid))
                    if site is not None:
                        self.wifi_site(site, rules)
                elif lid in link_keys:
                    hot_links.append(lid)
                    self.links([lid], rules, lid)
        hot = list(dict.fromkeys(hot_links))
        if len(hot) > 1:
            self.links(hot, rules, "busiest links")
            # the same links grouped by role: school uplinks, AP uplinks
            ap_ids = {n.id for n in self.d.nodes if n.kind == NodeKind.AP}
            ap_links = [k for k in hot if any(k.startswith(a + "--") or k.endswith("--" + a)
                                              for a in ap_ids)]
            if ap_links and len(ap_links) < len(hot):
                self.links(ap_links, rules, "access-point uplinks")

    def design_aps(self, site_id: str) -> tuple[int | None, str]:
        """APs the site needs at the catalogue's design density (None: no classrooms)."""
        site = self.d.site(site_id)
        dd = (self.cat.spec("add_aps").get("design_density") or {}) \
            if self.cat.has("add_aps") else {}
        per = dd.get("aps_per_classroom")
        if not site.classrooms or not per:
            return None, ""
        need = math.ceil(site.classrooms * float(per) - 1e-9)
        return need, (f"design density {float(per):g} AP per classroom x {site.classrooms} "
                      f"classrooms = {need} ({dd.get('source', 'assumption')})")

    def wifi_site(self, site_id: str, rules: list[str]) -> None:
        """Wi-Fi at a school: APs added up to the design density (then 50 % beyond it),
        and a refresh to Wi-Fi 6E that also brings the AP count to the design density."""
        aps = [n for n in self.d.nodes if n.kind == NodeKind.AP and n.site == site_id]
        if not aps:
            return
        have = sum(n.count for n in aps)
        need, why = self.design_aps(site_id)
        totals = []
        if need is not None and need > have:
            totals.append(need)
        base = max(have, need or 0)
        totals.append(math.ceil(base * 1.5))   # beyond the density: air time still short
        for total in dict.fromkeys(totals):
            if total <= have:
                continue
            counts = _spread(aps, total)
            note = f"; {why}" if why and total == need else (
                "; 50 % beyond the design density (air time still short)"
                if need is not None else "; no classrooms given: 50 % more (assumption)")
            self.add("add_aps", site_id, f"{plural(total - have, 'more access point')} at "
                     f"{element_name(site_id, self.d)} ({have} -> {total}{note})",
                     total - have, rules, {"counts": counts})
        old = [n for n in aps if (n.wifi.generation if n.wifi else "wifi5")
               in ("wifi4", "wifi5", "wifi6")]
        if old and self.cat.has("wifi_refresh"):
            n_old = sum(n.count for n in old)
            cost = self.cat.price("wifi_refresh", n_old)
            params: dict[str, Any] = {"refresh": [n.id for n in old]}
            desc = (f"replace the {plural(n_old, 'older access point')} at "
                    f"{element_name(site_id, self.d)} with Wi-Fi 6E at 80 MHz")
            what = f"{_aps_words(n_old)} replaced"
            if need is not None and need > have and self.cat.has("add_aps"):
                params["counts"] = _spread(aps, need)
                cost = cost + self.cat.price("add_aps", need - have)
                desc += f" and add {need - have} to reach the design density ({have} -> {need})"
                what += f" + {need - have} added"
            self.add("wifi_refresh", site_id, desc, n_old, rules, params, cost=cost, what=what)

    def school_wan(self, rules: list[str], wan: dict[str, float]) -> None:
        tw = float(self.rubric.value("R-TARGET", "min_wan_gbps_per_1000_students"))
        site_of = self.site_of
        short = {s: v for s, v in wan.items() if v < tw}
        all_keys: list[str] = []
        all_need: dict[str, float] = {}
        for sid in short:
            site = self.d.site(sid)
            leaving = [lk for lk in self.d.links
                       if (site_of.get(lk.a) == sid) != (site_of.get(lk.b) == sid)]
            if not leaving:
                continue
            need_each = tw * site.students / len(leaving)  # Mbps: Gbps/1000 * students
            need = {lk.key: need_each for lk in leaving}
            self.links(list(need), rules, f"WAN links of {sid}", need=need)
            all_keys += list(need)
            all_need.update(need)
        if len(short) > 1:
            self.links(all_keys, rules, "school WAN links", need=all_need)

    # availability ---------------------------------------------------------------------
    def path_km(self, a: str, b: str) -> tuple[float, str]:
        """Route length of a new link between nodes ``a`` and ``b``, and where it came
        from: a link between the same two sites, a site's ``distance_km``, or the
        catalogue's labelled default."""
        sa, sb = self.site_of.get(a), self.site_of.get(b)
        known = [lk.distance_km for lk in self.d.links if lk.distance_km is not None
                 and {self.site_of.get(lk.a), self.site_of.get(lk.b)} == {sa, sb}]
        if known:
            return max(known), "the length of an existing link between the same sites"
        for s in (sa, sb):
            site = next((x for x in self.d.sites if x.id == s), None)
            if site is not None and site.distance_km is not None:
                return site.distance_km, f"sites[{s}].distance_km"
        return self.cat.default_path_km, (f"{self.cat.default_path_km_source}: the district "
                                          "gives no distance, so the catalogue's default")

    def path_options(self, a: str, b: str, cap: float) -> list[tuple[str, Cost, dict[str, Any],
                                                                     str]]:
        """Ways to build a new, physically diverse link a--b: (catalogue action, cost,
        link fields, description). Inside one site: a patch link with optics (the
        link_upgrade tier); between sites: a lease or a fiber build priced by distance."""
        if self.site_of.get(a) is not None and self.site_of.get(a) == self.site_of.get(b):
            if not self.cat.has("building_link"):
                return []
            return [("building_link", self.cat.price("building_link", 1.0),
                     {"medium": "fiber", "distance_km": 0.0},
                     "in-building link on its own cable route")]
        km, src = self.path_km(a, b)
        out = []
        for action, medium in (("leased_path", "leased"), ("fiber_build", "fiber")):
            if not self.cat.has(action):
                continue
            c = self.cat.price(action, 1.0)
            if self.cat.spec(action).get("per_km"):
                c = c + self.cat.price(action, km, sub="per_km")
            how = "leased from another carrier" if medium == "leased" else "district fiber build"
            out.append((action, c, {"medium": medium, "distance_km": km},
                        f"{how}, {km:g} km ({src})"))
        return out

    def availability(self, rep: Any, rules: list[str]) -> None:
        d = self.d
        node_ids = {n.id for n in d.nodes}
        need_c = int(self.rubric.value("R-HA", "min_internet_circuits"))
        spofs = list(rep.counted_spofs) if rep is not None else []
        spof_edge = any(s.kind == "node" and s.node_kind == NodeKind.EDGE.value for s in spofs)
        spof_circuit = any(s.kind == "circuit" for s in spofs)
        if d.circuits and (len(d.circuits) < need_c or spof_edge or spof_circuit) \
                and self.cat.has("second_circuit"):
            c0 = max(d.circuits, key=lambda x: x.capacity_mbps)
            new_edge = _unique(node_ids, f"{c0.attach}-2")
            cid = _unique({c.id for c in d.circuits}, f"{c0.id}-2")
            group = self.new_srlg(f"{cid}-entrance")
            for frac in (1.0, 0.5):
                cap = _next_tier(self.cat.internet_tiers, c0.capacity_mbps * frac - 1e-9) \
                    or c0.capacity_mbps
                cost = self.cat.price("second_circuit", 1.0)
                if self.cat.spec("second_circuit").get("per_mbps"):
                    cost = cost + self.cat.price("second_circuit", cap, sub="per_mbps")
                self.add("second_circuit", c0.attach,
                         f"second Internet circuit {cid} ({_mbps(cap)}, other provider, own "
                         f"building entrance, a shared-risk group of its own) on a new edge router "
                         f"{new_edge}, connected the same way as "
                         f"{element_name(c0.attach, self.d)}", 1, rules,
                         {"new_edge": new_edge, "circuit_id": cid, "capacity_mbps": cap,
                          "srlg": [group]}, cost=cost, what="1 circuit")
        for s in spofs:
            if s.kind == "node" and s.element in node_ids and s.node_kind != NodeKind.EDGE.value:
                self.ha_pair(s.element, s.node_kind or "other", s.students, rules)
            elif s.kind == "link":
                self.redundant_link_for(s.element, rules, s.students)
        for srow in (rep.sites if rep is not None else []):
            if srow.kind == SiteKind.SCHOOL.value and srow.students and \
                    srow.edge_disjoint_paths < int(self.rubric.value(
                        "R-HA", "min_edge_disjoint_paths_per_school")):
                self.redundant_site_link(srow.site, rules)

    def ha_pair(self, node_id: str, node_kind: str, students: int, rules: list[str]) -> None:
        """A second device with a copy of each link; a copied link that leaves the site is
        a new, diverse path with its own route cost and shared-risk group."""
        if not self.cat.has("ha_pair"):
            return
        node_ids = {n.id for n in self.d.nodes}
        new_id = _unique(node_ids, f"{node_id}-b")
        cost = self.cat.price("ha_pair", 1.0, sub="by_kind", key=node_kind)
        paths: dict[str, dict[str, Any]] = {}
        extra: list[tuple[str, str]] = []
        for lk in self.d.links:
            if node_id not in (lk.a, lk.b):
                continue
            other = lk.b if lk.a == node_id else lk.a
            if self.kind_of.get(other) == NodeKind.AP:
                continue
            if self.site_of.get(other) == self.site_of.get(node_id):
                continue   # in-building copy: cabling counted in the device's price
            opts = self.path_options(node_id, other, lk.capacity_mbps)
            if not opts:
                return     # no way to price the new path: not offered
            _act, c, fields, how = min(opts, key=lambda o: o[1].total(self.cat.cost_years))
            group = self.new_srlg(f"{new_id}--{other}-route")
            paths[lk.key] = {**fields, "srlg": [group]}
            cost = cost + c
            extra.append((element_name(other, self.d), how))
        name = element_name(node_id, self.d)
        desc = (f"second {node_kind} ({new_id}) next to {name}, with the same links ({name} "
                f"alone cuts off {plural(students, 'student')})")
        if len(extra) == 1:
            desc += (f"; a new diverse path to {extra[0][0]} ({extra[0][1]}, a shared-risk "
                     "group of its own)")
        elif extra and len({h for _, h in extra}) == 1:
            desc += (f"; new diverse paths to {join_and(o for o, _ in extra)} (each "
                     f"{extra[0][1]}, each a shared-risk group of its own)")
        elif extra:
            desc += "; new diverse paths to " + "; ".join(
                f"{o} ({h}, a shared-risk group of its own)" for o, h in extra)
        self.add("ha_pair", node_id, desc, 1, rules, {"new_id": new_id, "paths": paths},
                 cost=cost, what=f"1 {node_kind}" + (f" + {plural(len(extra), 'path')}"
                                                     if extra else ""))

    def equalise(self, rules: list[str]) -> None:
        """Backup paths as strong as primary ones: links between nodes of the same two
        kinds (e.g. access-core, core-edge) raised to the fastest of their group."""
        kind = {k: v.value for k, v in self.kind_of.items()}
        groups: dict[tuple[str, ...], list[Any]] = {}
        for lk in self.d.links:
            if NodeKind.AP.value in (kind[lk.a], kind[lk.b]):
                continue
            groups.setdefault(tuple(sorted((kind[lk.a], kind[lk.b]))), []).append(lk)
        every: dict[str, float] = {}
        for g, lks in groups.items():
            top = max(x.capacity_mbps for x in lks)
            need = {x.key: top for x in lks if x.capacity_mbps < top}
            if need:
                self.links(list(need), rules, f"{'-'.join(g)} links matched to {_mbps(top)}",
                           need=need)
                every.update(need)
        if len(every) > 1:
            self.links(list(every), rules, "redundant links matched to their primaries",
                       need=every)

    def redundant_link_for(self, link_key: str, rules: list[str], students: int) -> None:
        lk = next((x for x in self.d.links if x.key == link_key), None)
        if lk is None:
            return
        self._add_redundant(lk.a, lk.b, lk.capacity_mbps, rules,
                            f"second, diverse link alongside {element_name(link_key, self.d)} "
                            f"(it alone cuts off {plural(students, 'student')})")

    def redundant_site_link(self, site_id: str, rules: list[str]) -> None:
        site_of = self.site_of
        leaving = [lk for lk in self.d.links
                   if (site_of.get(lk.a) == site_id) != (site_of.get(lk.b) == site_id)]
        if not leaving:
            return
        lk = max(leaving, key=lambda x: x.capacity_mbps)
        inside, outside = (lk.a, lk.b) if site_of.get(lk.a) == site_id else (lk.b, lk.a)
        out_site = site_of.get(outside)
        alts = [n.id for n in self.d.nodes if n.site == out_site and n.id != outside
                and self.kind_of[n.id] == self.kind_of.get(outside)]
        other = alts[0] if alts else outside
        self._add_redundant(inside, other, lk.capacity_mbps, rules,
                            f"second link from {element_name(site_id, self.d)} "
                            f"({element_name(inside, self.d)}) to "
                            f"{element_name(other, self.d)}")

    def _add_redundant(self, a: str, b: str, cap: float, rules: list[str], desc: str) -> None:
        """A new link a--b of its own route: each way to build it (lease, fiber build,
        or an in-building link) is a candidate, in a new shared-risk group."""
        existing = {lk.key for lk in self.d.links}
        lid = _unique(existing, f"{a}--{b}-r")
        opts = self.path_options(a, b, cap)
        group = self.new_srlg(f"{lid}-route") if opts else ""
        for action, cost, fields, how in opts:
            self.add(action, f"{a}--{b}", f"{desc}: {how}, a shared-risk group of its own", 1,
                     rules, {"a": a, "b": b, "capacity_mbps": cap, "id": lid,
                             "srlg": [group], **fields}, cost=cost, what="1 link")



    # declared facts ---------------------------------------------------------------------
    def security(self, v: RuleVerdict) -> None:
        n_infra = sum(1 for n in self.d.nodes if n.kind in INFRASTRUCTURE_KINDS)
        th = self.rubric.rules["R-SECURITY"].thresholds
        needed = [f for t in th.values() if t.stage <= self.target for f in t.value]
        have = {i.name: i.value for i in v.inputs}
        for fact in dict.fromkeys(needed):
            if have.get(fact) is True or not self.cat.has(fact):
                continue
            sp = self.cat.spec(fact)
            unit = sp.get("unit", "district")
            units = {"student": float(self.d.total_students),
                     "infrastructure device": float(max(n_infra, 1))}.get(unit, 1.0)
            verb = "confirm or put in place" if have.get(fact) is None else "put in place"
            self.add(fact, "district", f"{verb}: {sp.get('title', fact)}", units,
                     ["R-SECURITY"], {})

    def manage(self, v: RuleVerdict) -> None:
        d = self.d
        have = {i.name: i.value for i in v.inputs}
        n_infra = sum(1 for n in d.nodes if n.kind in INFRASTRUCTURE_KINDS)
        th = self.rubric.rules["R-MANAGE"].thresholds
        if have.get("mdm") is not True:
            devices = d.total_students * d.district.devices_per_student + d.total_staff
            self.add("mdm", "district", "mobile device management for every student and staff "
                     "device", max(devices, 1.0), ["R-MANAGE"], {})
        if self.target >= 4 and have.get("config_backup") is not True:
            self.add("config_backup", "district", "automated configuration backups", 1,
                     ["R-MANAGE"], {})
        share = have.get("answer_share")
        hist = have.get("history_days")
        need_share = float(th["min_answer_share_stage4" if self.target >= 4
                              else "min_answer_share_stage3"].value)
        need_hist = float(th["min_history_days"].value) if self.target >= 4 else 0.0
        if share is None or share < need_share or (self.target >= 4 and (hist or 0) < need_hist):
            self.add("snmp_monitoring", "district",
                     f"SNMP on every infrastructure device ({n_infra}), polled regularly"
                     + (f" and kept for at least {plural(need_hist, 'day')}"
                        if need_hist else ""),
                     max(n_infra, 1), ["R-MANAGE"],
                     {"history_days": max(need_hist, float(hist or 0))})

    def standard(self, v: RuleVerdict) -> None:
        d = self.d
        have = {i.name: i.value for i in v.inputs}
        th = self.rubric.rules["R-STANDARD"].thresholds
        if have.get("standardisation_plan") is not True:
            self.add("standardisation_plan", "district", "write a hardware standardisation plan",
                     1, ["R-STANDARD"], {})
        if self.target < 4:
            return
        infra = [n for n in d.nodes if n.kind in INFRASTRUCTURE_KINDS]
        fams: dict[str, list[Any]] = {}
        for n in infra:
            if n.vendor and n.model:
                fams.setdefault(model_family(n.vendor, n.model), []).append(n)
        top = sorted(fams, key=lambda f: -len(fams[f]))[:2]
        share = sum(len(fams[f]) for f in top) / len(infra) if infra else 1.0
        need = float(th["min_top2_family_share_stage4"].value)
        if infra and share < need and top:
            keep = {n.id for f in top for n in fams[f]}
            prices = self.cat.spec("replace_nonstandard").get("by_kind", {}) \
                if self.cat.has("replace_nonstandard") else {}
            others = sorted((n for n in infra if n.id not in keep),
                            key=lambda n: float((prices.get(n.kind.value) or prices.get(
                                "other") or {}).get("capex_usd", 0.0)))
            k = math.ceil(need * len(infra) - len(keep) - 1e-9)
            repl = others[:max(k, 0)]
            if repl:
                std = max(fams[top[0]], key=lambda n: sum(1 for m in fams[top[0]]
                                                          if m.model == n.model))
                cost = Cost()
                for n in repl:
                    cost = cost + self.cat.price("replace_nonstandard", 1.0, sub="by_kind",
                                                 key=n.kind.value)
                self.add("replace_nonstandard", "district",
                         f"replace {plural(len(repl), 'device')} outside the two main model "
                         f"families ({_links_words(d, [n.id for n in repl], 5)}) with "
                         f"{std.vendor} {std.model}", len(repl), ["R-STANDARD"],
                         {"nodes": [n.id for n in repl], "vendor": std.vendor,
                          "model": std.model, "firmware": std.firmware}, cost=cost)
        limit = int(th["max_firmware_versions_per_model"].value)
        fw_by_model: dict[str, list[Any]] = {}
        for n in infra:
            fw_by_model.setdefault(f"{n.vendor} {n.model}", []).append(n)
        missing = any(not n.firmware for n in infra)
        spread = any(len({n.firmware for n in ns}) > limit for ns in fw_by_model.values())
        if missing or spread:
            target_fw: dict[str, str] = {}
            for ns in fw_by_model.values():
                fws = [n.firmware for n in ns if n.firmware]
                best = max(set(fws), key=fws.count) if fws else "current-standard"
                for n in ns:
                    if n.firmware != best:
                        target_fw[n.id] = best
            self.add("firmware_alignment", "district",
                     f"bring {plural(len(target_fw), 'device')} to one firmware version per "
                     "model (and record it)", max(len(target_fw), 1), ["R-STANDARD"],
                     {"firmware": target_fw})


def _mbps(x: float) -> str:
    return f"{x / 1000:g} Gbps" if x >= 1000 else f"{x:g} Mbps"


# -- descriptions: names, not ids (the ids stay in each action's target and params) ------
def _circuit_words(d: District, cid: str) -> str:
    """``Internet circuit isp (State Education Network)``."""
    c = next((x for x in d.circuits if x.id == cid), None)
    return f"Internet circuit {cid}" + (f" ({c.provider})" if c is not None and c.provider
                                        else "")


def _circuits_change(d: District, new: dict[str, float], old: dict[str, float]) -> str:
    """``Internet circuit isp: 300 Mbps -> 1 Gbps`` for each circuit changed."""
    return join_and(f"{_circuit_words(d, k)}: {_mbps(old[k])} -> {_mbps(v)}"
                    for k, v in new.items())


def _links_words(d: District, keys: list[str], limit: int) -> str:
    """Links by the names of their ends, the first ``limit`` of them."""
    words = [element_name(k, d) for k in keys[:limit]]
    if len(keys) > limit:
        words.append(f"{len(keys) - limit:,} more")
    return join_and(words)


def _trunk_words(d: District, keys: list[str]) -> str:
    return f" (with {plural(len(keys), 'trunk link')} upgraded: {_links_words(d, keys, 3)})"


def _units(n: float, unit: str) -> str:
    """``13 infrastructure devices``, ``1 district``, ``700 Mbps added``."""
    if unit.endswith("ed") or unit.split(" ")[0] in ("Mbps", "Gbps", "km"):
        return f"{n:,g} {unit}"
    return plural(n, unit)


def _aps_words(n: float) -> str:
    return plural(n, "access point")


def _spread(aps: list[Any], total: int) -> dict[str, int]:
    """New counts of the AP entries ``aps`` adding up to ``total``: each keeps its APs and
    the added ones go in proportion to the entries' counts (largest remainder)."""
    have = sum(n.count for n in aps)
    add = max(total - have, 0)
    shares = [add * n.count / have for n in aps]
    counts = {n.id: n.count + math.floor(s) for n, s in zip(aps, shares, strict=True)}
    left = total - sum(counts.values())
    order = sorted(range(len(aps)), key=lambda i: -(shares[i] - math.floor(shares[i])))
    for i in order[:max(left, 0)]:
        counts[aps[i].id] += 1
    return counts



def _candidates(st: _State, cat: Catalog, rubric: Rubric, target: int,
                only: tuple[str, ...] | None = None) -> list[UpgradeAction]:
    d = st.district
    cands = _Candidates(d, cat, rubric, target)
    failing = [r for r in st.failing(target) if only is None or r in only]
    cap_rules = [r for r in failing if r in CAPACITY_RULES]
    if cap_rules:
        cands.hot_elements(st.evidence, cap_rules)
        cands.internet(cap_rules)
        # Wi-Fi coverage: schools below the design density (catalogue add_aps
        # design_density, from the vendor K-12 design guides) or whose devices could not
        # associate (AP client bound)
        unassoc = any(float(np.percentile(getattr(r, "unassociated_share", [0.0]), 95)) > 0
                      for _s, r in st.evidence.simulated)
        for site in d.sites:
            aps = [x for x in d.nodes if x.kind == NodeKind.AP and x.site == site.id]
            need, _ = cands.design_aps(site.id) if cat.has("add_aps") else (None, "")
            if aps and (unassoc or (need is not None and sum(x.count for x in aps) < need)):
                cands.wifi_site(site.id, cap_rules)
    if "R-TARGET" in failing:
        v = st.verdicts["R-TARGET"]
        need_kbps = float(rubric.value("R-TARGET", "min_internet_kbps_per_student_stage4"
                                       if target >= 4 else "min_internet_kbps_per_student_stage2"))
        cands.internet(["R-TARGET"], need_total_mbps=need_kbps * d.total_students / 1000.0)
        if target >= 4:
            cands.school_wan(["R-TARGET"], v.details.school_wan_gbps_per_1000
                             if isinstance(v.details, TargetDetails) else {})
    if "R-HA" in failing:
        rep = st.redundancy
        if rep is None:
            from netstage.simulator.redundancy import analyse_redundancy

            rep = analyse_redundancy(d)
        ha = st.verdicts.get("R-HA")
        cont = st.evidence.contingency
        lim = float(rubric.value("R-HA", "max_n1_unserved_p95"))
        over = [r for r in (getattr(cont, "contingencies", None) or [])
                if float(r.unserved_p95) > lim] if ha is not None and ha.inputs else []
        if over:
            # The structure passes and N-1 does not: candidates aimed at the single
            # failures above the limit (worst first), not at every single point of
            # failure of the graph (one N-1 simulation per candidate).
            circuit_ends = {c.id for c in d.circuits} | {c.attach for c in d.circuits}
            for row in over[:6]:
                el = str(row.element)
                if el in circuit_ends:
                    cands.internet(["R-HA"], survivors_of=el)
                elif row.element_type == "node":
                    cands.ha_pair(el, row.node_kind or "other", int(row.disconnected_students),
                                  ["R-HA"])
                elif row.element_type == "link":
                    cands.redundant_link_for(el, ["R-HA"], int(row.disconnected_students))
            # more capacity where the remaining paths are short
            cands.internet(["R-HA"])
            cands.equalise(["R-HA"])
        else:
            cands.availability(rep, ["R-HA"])
    if "R-SECURITY" in failing:
        cands.security(st.verdicts["R-SECURITY"])
    if "R-MANAGE" in failing:
        cands.manage(st.verdicts["R-MANAGE"])
    if "R-STANDARD" in failing:
        cands.standard(st.verdicts["R-STANDARD"])
    return cands.out
