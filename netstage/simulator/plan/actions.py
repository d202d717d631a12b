"""Upgrade actions: one priced change and how it edits a district.

Part of :mod:`netstage.simulator.plan` (split along its seams, issue 13)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from netstage.simulator.errors import ConfigError
from netstage.simulator.io import district_from_dict
from netstage.simulator.model import INFRASTRUCTURE_KINDS, District, NodeKind
from netstage.simulator.plan.catalogue import Catalog, Cost
from netstage.simulator.rules.rubric import SECURITY_FACTS

Data = dict[str, Any]


# -- actions ---------------------------------------------------------------------------
@dataclass
class UpgradeAction:
    """One planned change: catalog action ``action`` applied to ``target``.

    ``cost_usd`` is the three-year cost (``capex_usd`` + cost_years x
    ``recurring_usd_per_year``); ``cost_low_usd``/``cost_high_usd`` its range from the
    catalogue; ``price_source`` the catalogue rows' sources (citations or ``assumption``).
    """

    action: str
    target: str
    description: str
    cost_usd: float
    capex_usd: float
    recurring_usd_per_year: float
    cost_note: str
    rules: list[str]
    params: dict[str, Any] = field(default_factory=dict)
    cost_low_usd: float = 0.0
    cost_high_usd: float = 0.0
    price_source: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "target": self.target, "description": self.description,
                "cost_usd": round(self.cost_usd, 2), "capex_usd": round(self.capex_usd, 2),
                "recurring_usd_per_year": round(self.recurring_usd_per_year, 2),
                "cost_low_usd": round(self.cost_low_usd, 2),
                "cost_high_usd": round(self.cost_high_usd, 2),
                "price_source": self.price_source, "cost_note": self.cost_note,
                "rules": list(self.rules), "params": self.params}

    @classmethod
    def from_cost(cls, cat: Catalog, action: str, target: str, description: str, c: Cost,
                  what: str, rules: list[str], params: dict[str, Any]) -> UpgradeAction:
        """An action whose cost is ``c`` (one or several catalogue rows added up): its
        cost over the catalogue's years, range, price sources and cost note (``what``:
        the quantity priced, e.g. ``"12 access point"``). The planner and the what-if
        page (:mod:`netstage.web.knobs`) price actions only through this."""
        return cls(action, target, description, c.total(cat.cost_years), c.capex,
                   c.recurring, cat.note(c, what), list(rules), params,
                   cost_low_usd=c.low, cost_high_usd=c.high,
                   price_source=" / ".join(c.sources))


def _dump(d: District) -> Data:
    return d.model_dump(mode="json", exclude_unset=True)


def _link_key(lk: Data) -> str:
    return str(lk.get("id") or f"{lk['a']}--{lk['b']}")


def _unique(existing: set[str], base: str) -> str:
    if base not in existing:
        return base
    i = 2
    while f"{base}{i}" in existing:
        i += 1
    return f"{base}{i}"


def _mirror_node(data: Data, node_id: str, new_id: str,
                 paths: dict[str, dict[str, Any]] | None = None) -> None:
    """Add ``new_id``, a copy of ``node_id`` with a copy of each of its links (not to APs).

    A copy never inherits the original link's shared-risk groups (it is not in the same
    conduit); ``paths`` gives, per original link key, the fields of a copy that is a new
    route (``medium``, ``distance_km``, ``srlg``: a new group).
    """
    nodes = data["nodes"]
    src = next(n for n in nodes if n["id"] == node_id)
    twin = copy.deepcopy(src)
    twin["id"] = new_id
    twin.pop("mgmt_address", None)
    twin.pop("name", None)
    nodes.append(twin)
    ap_ids = {n["id"] for n in nodes if n.get("kind") == NodeKind.AP.value}
    link_ids = {_link_key(lk) for lk in data.get("links", [])}
    new_links = []
    for lk in data.get("links", []):
        if node_id not in (lk["a"], lk["b"]):
            continue
        other = lk["b"] if lk["a"] == node_id else lk["a"]
        if other in ap_ids:
            continue
        nl = copy.deepcopy(lk)
        nl["a"], nl["b"] = (new_id, other) if lk["a"] == node_id else (other, new_id)
        nl.pop("background_mbps", None)
        nl.pop("srlg", None)
        nl.pop("distance_km", None)
        nl.update((paths or {}).get(_link_key(lk), {}))
        if "id" in nl:
            nl["id"] = _unique(link_ids, f"{nl['id']}-ha")
            link_ids.add(nl["id"])
        new_links.append(nl)
    data.setdefault("links", []).extend(new_links)


def _set_in(data: Data, path: tuple[str, ...], value: Any) -> None:
    cur = data
    for k in path[:-1]:
        cur = cur.setdefault(k, {})
    cur[path[-1]] = value


def _infra_count(data: Data) -> int:
    kinds = {k.value for k in INFRASTRUCTURE_KINDS}
    return sum(1 for n in data.get("nodes", []) if n.get("kind") in kinds)


#: actions that only change capacities: applied to the typed district
#: (:func:`apply_capacity`), not through a dict
CAPACITY_ACTIONS = frozenset({"internet_capacity", "link_upgrade"})


def apply_capacity(d: District, a: UpgradeAction) -> District:
    """``d`` with the capacity action ``a`` (:data:`CAPACITY_ACTIONS`) applied through
    :meth:`District.with_capacity <netstage.simulator.model.District.with_capacity>`:
    the same district :func:`apply_action` gives, without the dict round-trip (``d``
    itself when nothing changes)."""
    p = a.params
    if a.action == "internet_capacity":
        keys = {lk.key for lk in d.links}
        return d.with_capacity(
            circuits=dict(p.get("circuits") or {a.target: p["capacity_mbps"]}),
            links_at_least={k: c for k, c in zip(p.get("links", []), p.get("link_caps", []),
                                                  strict=True) if k in keys})
    if a.action == "link_upgrade":
        asked = p.get("links", [a.target])
        caps = p["capacity_mbps"]
        keys = {lk.key for lk in d.links}
        # the first occurrence of a key wins, as apply_action's keys.index(k)
        new: dict[str, float] = {}
        for i, k in enumerate(asked):
            if k in keys and k not in new:
                new[k] = caps[i] if isinstance(caps, list) else caps
        return d.with_capacity(links=new)
    raise ConfigError(f"'{a.action}' is not a capacity action")


def apply_action(data: Data, a: UpgradeAction) -> None:
    """Apply ``a`` to a district dict (as from ``model_dump(exclude_unset=True)``)."""
    p = a.params
    kind = a.action
    if kind == "internet_capacity":
        new = p.get("circuits") or {a.target: p["capacity_mbps"]}
        by_id = {c["id"]: c for c in data["circuits"]}
        for cid, cap in new.items():
            if cid not in by_id:
                raise KeyError(cid)
            by_id[cid]["capacity_mbps"] = cap
        caps = dict(zip(p.get("links", []), p.get("link_caps", []), strict=True))
        for lk in data.get("links", []):
            k = _link_key(lk)
            if k in caps and caps[k] > lk["capacity_mbps"]:
                lk["capacity_mbps"] = caps[k]
        return
    if kind == "link_upgrade":
        keys = p.get("links", [a.target])
        caps = p["capacity_mbps"]
        for lk in data.get("links", []):
            k = _link_key(lk)
            if k in keys:
                lk["capacity_mbps"] = caps[keys.index(k)] if isinstance(caps, list) else caps
        return
    if kind in ("add_aps", "wifi_refresh"):
        counts = dict(p.get("counts") or {})
        if "count" in p:                       # one AP entry (plans from catalog 1.x)
            counts[a.target] = int(p["count"])
        refresh = set(p.get("refresh", []))
        if kind == "wifi_refresh" and not refresh:
            refresh = {a.target}
        found = set()
        for n in data["nodes"]:
            if n["id"] in counts:
                n["count"] = int(counts[n["id"]])
                found.add(n["id"])
            if n["id"] in refresh:
                n["wifi"] = {**(n.get("wifi") or {}), "generation": "wifi6e",
                             "channel_width_mhz": 80}
                n["wifi"].pop("air_capacity_mbps", None)
                found.add(n["id"])
        if not found or (set(counts) | refresh) - found:
            raise KeyError(a.target)
        return
    if kind == "ha_pair":
        _mirror_node(data, a.target, p["new_id"], p.get("paths"))
        return
    if kind == "second_circuit":
        _mirror_node(data, a.target, p["new_edge"])
        row = {"id": p["circuit_id"], "attach": p["new_edge"],
               "capacity_mbps": p["capacity_mbps"], "provider": "second provider (planned)"}
        if p.get("srlg"):
            row["srlg"] = list(p["srlg"])
        data["circuits"].append(row)
        return
    if kind in ("leased_path", "fiber_build", "building_link", "redundant_link"):
        row = {"a": p["a"], "b": p["b"], "capacity_mbps": p["capacity_mbps"],
               "medium": p.get("medium", "fiber"), "id": p["id"]}
        if p.get("srlg"):
            row["srlg"] = list(p["srlg"])
        if p.get("distance_km") is not None:
            row["distance_km"] = p["distance_km"]
        data.setdefault("links", []).append(row)
        return
    if kind in SECURITY_FACTS:
        sec = ("declared", "security")
        if kind == "default_write_communities_removed":
            _set_in(data, (*sec, "default_write_communities_removed"), True)
            snmp = (data.get("measured") or {}).get("snmp")
            if snmp is not None:
                snmp["default_write_community_accepted"] = 0
        elif kind == "snmp_v3_only":
            _set_in(data, (*sec, "snmp_v3_only"), True)
            snmp = (data.get("measured") or {}).get("snmp")
            if snmp is not None:
                snmp["v3_devices"] = snmp.get("answered", 0)
                snmp["v1v2c_devices"] = 0
                snmp["default_community_accepted"] = 0
        else:
            _set_in(data, (*sec, kind), True)
        return
    if kind in ("mdm", "config_backup"):
        _set_in(data, ("declared", "management", kind), True)
        return
    if kind == "snmp_monitoring":
        n = _infra_count(data)
        meas = data.setdefault("measured", {})
        old = meas.get("snmp") or {}
        meas["source"] = (meas.get("source") or "") + " + planned: SNMP on every device, polled"
        meas["snmp"] = {**old, "infrastructure_devices": n, "answered": n,
                        "history_days": max(float(old.get("history_days") or 0),
                                            float(p["history_days"]))}
        _set_in(data, ("declared", "management", "monitoring"), True)
        return
    if kind == "standardisation_plan":
        _set_in(data, ("declared", "standardisation", "plan"), True)
        return
    if kind == "firmware_alignment":
        for n in data["nodes"]:
            if n["id"] in p["firmware"]:
                n["firmware"] = p["firmware"][n["id"]]
        return
    if kind == "replace_nonstandard":
        for n in data["nodes"]:
            if n["id"] in p["nodes"]:
                n["vendor"], n["model"] = p["vendor"], p["model"]
                if p.get("firmware"):
                    n["firmware"] = p["firmware"]
        return
    raise ConfigError(f"planner cannot apply unknown action '{kind}'")


def apply_actions(d: District, actions: list[UpgradeAction]) -> District:
    """The district with ``actions`` applied in order. Capacity changes are applied to
    the typed district (:func:`apply_capacity`); the first other action moves to a dict
    edit and one validation of the result (``d`` itself when capacity actions alone
    change nothing)."""
    cur = d
    data: Data | None = None
    for a in actions:
        if data is None and a.action in CAPACITY_ACTIONS:
            cur = apply_capacity(cur, a)
            continue
        if data is None:
            data = _dump(cur)
        apply_action(data, a)
    if data is None:
        return cur
    return district_from_dict(data, source=f"{d.district.name} (planned)")
