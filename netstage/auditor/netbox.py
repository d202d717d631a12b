"""Import a district from NetBox (pynetbox; the ``netbox`` extra, imported lazily).

Two steps, so the mapping can be tested on recorded API responses:

1. :func:`fetch_netbox` reads one site group with pynetbox: the group, its sites,
   their devices, interfaces, front and rear ports, cables and circuit terminations,
   and the circuits those terminate. Each object becomes a plain dict in the shape
   of NetBox's REST API (v4.x).
2. :func:`netbox_to_district` maps those dicts onto a
   :class:`~netstage.simulator.model.District` (pure; no network):

   * sites -> sites; ``students``/``staff``/``classrooms`` from site custom fields of
     those names when present (0 otherwise); a site with students is a school;
   * devices -> nodes; the device *role* slug picks the node kind
     (``auditor/data/netbox.yaml`` ``role_kinds``, overridable); patch panels are
     pass-through, other unmapped roles and non-running statuses are skipped with a
     warning; manufacturer/model/primary IP are kept;
   * cables -> links, traced end to end through patch panels (front port -> rear port
     -> cable -> rear port -> front port at the same position); capacity is the
     smaller end's ``speed`` (NetBox stores Kbps; we use Mbps), else the nominal
     rate of the interface type, else ``unknown_speed_mbps`` with a warning;
   * LAGs: links whose ends are both members of LAG interfaces are summed into one
     link per LAG pair (``lag_members`` = number of member cables);
   * circuits: Internet access (type slug in ``internet_circuit_types``, or only one
     end in the district) -> a circuit attached to the device cabled to its
     termination, capacity = ``commit_rate`` (Kbps) else the termination's
     ``port_speed``; circuits with both ends at district devices -> a leased link.

The API token is only ever taken from an environment variable (``env:VAR``) and
is never printed, logged or put into the district.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from netstage.simulator.errors import CollectorError, ConfigError, MissingExtraError
from netstage.simulator.io import district_from_dict
from netstage.simulator.model import District, NodeKind

__all__ = [
    "NetboxData",
    "NetboxImport",
    "fetch_netbox",
    "import_netbox",
    "mapping_defaults",
    "netbox_to_district",
    "resolve_token",
]

_IFACE, _FRONT, _REAR, _TERM = ("dcim.interface", "dcim.frontport", "dcim.rearport",
                                "circuits.circuittermination")
_MAX_HOPS = 32  # a cable path longer than this is a loop in the data, not a network
_NO_LINK_TYPES = ("virtual", "bridge", "lag")


@lru_cache(maxsize=1)
def mapping_defaults() -> dict[str, Any]:
    """The shipped mapping (auditor/data/netbox.yaml) as a dict (treat as read-only)."""
    ref = resources.files("netstage.auditor") / "data" / "netbox.yaml"
    data: dict[str, Any] = yaml.safe_load(ref.read_text(encoding="utf-8"))
    return data


@dataclass
class NetboxData:
    """What :func:`fetch_netbox` read: REST API objects as dicts, per endpoint."""

    site_group: dict[str, Any]
    sites: list[dict[str, Any]]
    devices: list[dict[str, Any]]
    interfaces: list[dict[str, Any]]
    front_ports: list[dict[str, Any]]
    rear_ports: list[dict[str, Any]]
    cables: list[dict[str, Any]]
    circuits: list[dict[str, Any]]
    circuit_terminations: list[dict[str, Any]]


@dataclass
class NetboxImport:
    """The district and the warnings (skipped devices, assumed speeds, ...)."""

    district: District
    warnings: list[str] = field(default_factory=list)


def resolve_token(ref: str) -> str:
    """The token named by ``env:VAR``. Raises :class:`ConfigError` (never echoing a value)."""
    if not ref.startswith("env:") or len(ref) <= 4:
        raise ConfigError("--token must be given as env:VARIABLE (the name of an environment "
                          "variable holding the token), never as the token itself")
    var = ref[4:]
    value = os.environ.get(var)
    if not value:
        raise ConfigError(f"environment variable {var} (from --token env:{var}) is not set "
                          "or empty; export the NetBox API token in it")
    return value


def fetch_netbox(url: str, token: str, site_group: str, *, timeout_s: float = 30.0) -> NetboxData:
    """Read one site group (slug) from the NetBox at ``url`` with pynetbox."""
    try:
        import pynetbox
        import requests
    except ImportError:
        raise MissingExtraError("pynetbox", "netbox") from None

    class _Session(requests.Session):  # pynetbox has no timeout of its own
        def request(self, *args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("timeout", timeout_s)
            return super().request(*args, **kwargs)

    nb = pynetbox.api(url, token=token)
    nb.http_session = _Session()

    def rows(records: Any) -> list[dict[str, Any]]:
        return [dict(r) for r in records]

    try:
        group = nb.dcim.site_groups.get(slug=site_group)
        if group is None:
            raise CollectorError(f"NetBox at {url} has no site group with slug '{site_group}'; "
                                 "check --site-group (slugs are lower-case)")
        sites = rows(nb.dcim.sites.filter(group=site_group))
        if not sites:
            raise CollectorError(f"site group '{site_group}' at {url} has no sites")
        ids = [s["id"] for s in sites]
        term = rows(nb.circuits.circuit_terminations.filter(site_id=ids))
        circuit_ids = sorted({t["circuit"]["id"] for t in term})
        return NetboxData(
            site_group=dict(group),
            sites=sites,
            devices=rows(nb.dcim.devices.filter(site_id=ids)),
            interfaces=rows(nb.dcim.interfaces.filter(site_id=ids)),
            front_ports=rows(nb.dcim.front_ports.filter(site_id=ids)),
            rear_ports=rows(nb.dcim.rear_ports.filter(site_id=ids)),
            cables=rows(nb.dcim.cables.filter(site_id=ids)),
            circuits=rows(nb.circuits.circuits.filter(id=circuit_ids)) if circuit_ids else [],
            circuit_terminations=term,
        )
    except pynetbox.RequestError as exc:
        raise CollectorError(f"NetBox at {url} refused a request: HTTP "
                             f"{exc.req.status_code} for {exc.req.request.path_url}; "
                             "check the URL and that the token may read DCIM and circuits"
                             ) from None
    except requests.RequestException as exc:
        raise CollectorError(f"cannot reach NetBox at {url}: {type(exc).__name__}; "
                             "check --url and the network") from None


def import_netbox(url: str, token_ref: str, site_group: str, **mapping: Any) -> NetboxImport:
    """Fetch a site group and map it (``mapping`` as in :func:`netbox_to_district`)."""
    return netbox_to_district(fetch_netbox(url, resolve_token(token_ref), site_group), **mapping)


def _safe_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.:/@#\-]+", "-", text).strip("-") or "x"


def _kbps_to_mbps(kbps: Any) -> float | None:
    return float(kbps) / 1000.0 if kbps else None


def _choice(value: Any) -> str | None:
    """NetBox choice fields are ``{"value": ..., "label": ...}``; brief forms are plain."""
    if isinstance(value, dict):
        v = value.get("value", value.get("slug"))
        return None if v is None else str(v)
    return None if value is None else str(value)


def netbox_to_district(data: NetboxData, *, role_kinds: dict[str, str] | None = None,
                       students_field: str | None = None, staff_field: str | None = None,
                       internet_circuit_types: list[str] | None = None,
                       unknown_speed_mbps: float | None = None) -> NetboxImport:
    """Map NetBox objects onto a district (see the module docstring for the rules).

    ``role_kinds`` entries are added to (and win over) the shipped role table.
    Raises :class:`~netstage.simulator.errors.TopologyError` when the result is not a
    consistent district (e.g. a school without devices or without a path to a circuit).
    """
    m = mapping_defaults()
    roles = {**m["role_kinds"], **(role_kinds or {})}
    for slug, kind in roles.items():
        if kind not in {k.value for k in NodeKind}:
            raise ConfigError(f"role '{slug}' maps to unknown node kind '{kind}'; "
                              f"use one of {', '.join(k.value for k in NodeKind)}")
    cf_names = {**m["custom_fields"]}
    if students_field:
        cf_names["students"] = students_field
    if staff_field:
        cf_names["staff"] = staff_field
    inet_types = set(internet_circuit_types or m["internet_circuit_types"])
    fallback_mbps = float(unknown_speed_mbps or m["unknown_speed_mbps"])
    warnings: list[str] = []

    site_slug = {s["id"]: s["slug"] for s in data.sites}
    sites = []
    for s in data.sites:
        cf = s.get("custom_fields") or {}
        students = int(cf.get(cf_names["students"]) or 0)
        row: dict[str, Any] = {"id": _safe_id(s["slug"]), "name": s.get("name"),
                               "kind": "school" if students else "office",
                               "students": students, "staff": int(cf.get(cf_names["staff"]) or 0)}
        if cf.get(cf_names["classrooms"]):
            row["classrooms"] = int(cf[cf_names["classrooms"]])
        sites.append(row)

    node_of: dict[int, str] = {}  # NetBox device id -> node id
    nodes: list[dict[str, Any]] = []
    skipped: dict[str, int] = defaultdict(int)
    for d in sorted(data.devices, key=lambda x: x["id"]):
        role = d.get("role") or d.get("device_role") or {}
        slug = str(role.get("slug", ""))
        status = _choice(d.get("status")) or "active"
        if slug in m["passthrough_roles"]:
            continue
        if status in m["skip_statuses"]:
            skipped[f"status {status}"] += 1
            continue
        if slug not in roles:
            skipped[f"role '{slug or '(none)'}'"] += 1
            continue
        base = _safe_id(d.get("name") or f"device-{d['id']}")
        nid = base if base not in node_of.values() else f"{base}-{d['id']}"
        node_of[d["id"]] = nid
        dtype = d.get("device_type") or {}
        ip = (d.get("primary_ip4") or d.get("primary_ip") or {}).get("address")
        site_id = (d.get("site") or {}).get("id")
        nodes.append({k: v for k, v in {
            "id": nid, "kind": roles[slug], "name": d.get("name"),
            "site": _safe_id(site_slug[site_id]) if site_id in site_slug else None,
            "vendor": (dtype.get("manufacturer") or {}).get("name"), "model": dtype.get("model"),
            "mgmt_address": ip.split("/")[0] if ip else None}.items() if v is not None})
    for why, n in sorted(skipped.items()):
        warnings.append(f"skipped {n} device(s) with {why} (map roles with --role SLUG=KIND)")

    trace = _Tracer(data)
    ifaces = {i["id"]: i for i in data.interfaces}
    links, link_warnings = _links(data, ifaces, node_of, trace, m["type_speed_mbps"],
                                  fallback_mbps)
    warnings += link_warnings
    circuits, wan_links, circ_warnings = _circuits(data, ifaces, node_of, nodes, trace, inet_types)
    warnings += circ_warnings
    group = data.site_group
    district = district_from_dict(
        {"district": {"name": group.get("name") or group.get("slug") or "NetBox district"},
         "sites": sites, "nodes": nodes, "links": links + wan_links, "circuits": circuits},
        source=f"NetBox site group '{group.get('slug')}'")
    return NetboxImport(district=district, warnings=warnings)


class _Tracer:
    """Follows cables from a port to the far interface or circuit termination."""

    def __init__(self, data: NetboxData) -> None:
        self.peer: dict[tuple[str, int], tuple[str, int]] = {}
        self.cable_type: dict[tuple[str, int], str] = {}
        for c in data.cables:
            if _choice(c.get("status")) in ("planned", "decommissioning"):
                continue
            a = [(t["object_type"], t["object_id"]) for t in c.get("a_terminations") or []]
            b = [(t["object_type"], t["object_id"]) for t in c.get("b_terminations") or []]
            for ends, others in ((a, b), (b, a)):
                for e in ends:
                    if others:
                        self.peer[e] = others[0]
                        self.cable_type[e] = str(c.get("type") or "")
        # front port -> (rear port, position); NetBox <= 4.4 has rear_port +
        # rear_port_position, 4.5+ a list of mappings under rear_ports.
        self.front_to_rear: dict[int, tuple[int, int]] = {}
        for fp in data.front_ports:
            if fp.get("rear_ports"):
                mp = fp["rear_ports"][0]
                rp = mp["rear_port"]
                self.front_to_rear[fp["id"]] = (rp["id"] if isinstance(rp, dict) else int(rp),
                                                int(mp.get("rear_port_position") or 1))
            elif fp.get("rear_port"):
                self.front_to_rear[fp["id"]] = (fp["rear_port"]["id"],
                                                int(fp.get("rear_port_position") or 1))
        self.rear_to_front = {v: k for k, v in self.front_to_rear.items()}

    def far_end(self, start: tuple[str, int]) -> tuple[str, int] | None:
        cur, position = start, 1
        for _ in range(_MAX_HOPS):
            far = self.peer.get(cur)
            if far is None:
                return None
            kind, oid = far
            if kind in (_IFACE, _TERM):
                return far
            if kind == _FRONT:  # through the patch panel to its rear port
                if oid not in self.front_to_rear:
                    return None
                rear, position = self.front_to_rear[oid]
                cur = (_REAR, rear)
            elif kind == _REAR:  # out of the far panel's front port at the same position
                front = self.rear_to_front.get((oid, position))
                if front is None:
                    return None
                cur = (_FRONT, front)
            else:
                return None
        return None


def _speed_mbps(iface: dict[str, Any], type_speeds: dict[str, float]) -> float | None:
    if iface.get("speed"):
        return _kbps_to_mbps(iface["speed"])
    itype = _choice(iface.get("type")) or ""
    for prefix in sorted(type_speeds, key=len, reverse=True):
        if itype.startswith(prefix):
            return float(type_speeds[prefix])
    return None


def _medium(iface: dict[str, Any], cable_type: str) -> str:
    itype = _choice(iface.get("type")) or ""
    if cable_type.startswith(("cat", "dac")) or "base-t" in itype:
        return "copper"
    if cable_type.startswith(("mmf", "smf", "aoc")) or re.search(r"base-[xsle]|sfp", itype):
        return "fiber"
    if itype.startswith("ieee802.11"):
        return "wireless"
    return "unknown"


def _links(data: NetboxData, ifaces: dict[int, dict[str, Any]], node_of: dict[int, str],
           trace: _Tracer, type_speeds: dict[str, float],
           fallback_mbps: float) -> tuple[list[dict[str, Any]], list[str]]:
    warnings: list[str] = []
    groups: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for i in sorted(data.interfaces, key=lambda x: x["id"]):
        if (_choice(i.get("type")) or "") in _NO_LINK_TYPES or i.get("mgmt_only"):
            continue
        far = trace.far_end((_IFACE, i["id"]))
        if far is None or far[0] != _IFACE or far[1] not in ifaces or i["id"] > far[1]:
            continue
        j = ifaces[far[1]]
        dev_i, dev_j = i["device"]["id"], j["device"]["id"]
        if dev_i not in node_of or dev_j not in node_of or dev_i == dev_j:
            continue
        speeds = [s for s in (_speed_mbps(i, type_speeds), _speed_mbps(j, type_speeds)) if s]
        if speeds:
            cap = min(speeds)
        else:
            cap = fallback_mbps
            warnings.append(f"no speed for {node_of[dev_i]}:{i['name']} -- "
                            f"{node_of[dev_j]}:{j['name']}; assumed {fallback_mbps:g} Mbps")
        # LAG members on both ends collapse into one link per LAG pair.
        lag_i, lag_j = i.get("lag"), j.get("lag")
        end_i = f"lag:{lag_i['name']}" if lag_i and lag_j else i["name"]
        end_j = f"lag:{lag_j['name']}" if lag_i and lag_j else j["name"]
        key = (node_of[dev_i], end_i, node_of[dev_j], end_j)
        g = groups.setdefault(key, {"a": key[0], "b": key[2], "capacity_mbps": 0.0,
                                    "members": 0, "lag": bool(lag_i and lag_j),
                                    "medium": _medium(i, trace.cable_type.get((_IFACE, i["id"]),
                                                                              ""))})
        g["capacity_mbps"] += cap
        g["members"] += 1
    links = []
    for (a, end_a, b, end_b), g in groups.items():
        label = f"{a}:{end_a.removeprefix('lag:')}--{b}:{end_b.removeprefix('lag:')}"
        row = {"id": _safe_id(label),
               "a": a, "b": b, "capacity_mbps": g["capacity_mbps"], "medium": g["medium"]}
        if g["lag"] and g["members"] >= 2:
            row["lag_members"] = g["members"]
        links.append(row)
    return links, warnings


def _circuits(data: NetboxData, ifaces: dict[int, dict[str, Any]], node_of: dict[int, str],
              nodes: list[dict[str, Any]], trace: _Tracer, inet_types: set[str]
              ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    warnings: list[str] = []
    by_circuit: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for t in data.circuit_terminations:
        by_circuit[t["circuit"]["id"]].append(t)
    circuits, wan = [], []
    for c in sorted(data.circuits, key=lambda x: x["id"]):
        cid = _safe_id(str(c.get("cid") or f"circuit-{c['id']}"))
        ends: list[str] = []
        speeds = []
        for t in sorted(by_circuit.get(c["id"], []), key=lambda x: str(x.get("term_side"))):
            speeds += [s for s in (_kbps_to_mbps(t.get("port_speed")),) if s]
            far = trace.far_end((_TERM, t["id"]))
            if far is not None and far[0] == _IFACE and far[1] in ifaces:
                dev = ifaces[far[1]]["device"]["id"]
                if dev in node_of:
                    ends.append(node_of[dev])
                    continue
            site = _site_of_termination(t)
            edge = next((n["id"] for n in nodes if n["kind"] == "edge"
                         and site is not None and n.get("site") == _safe_id(site)), None)
            if edge is not None:
                warnings.append(f"circuit {cid} side {t.get('term_side')} is not cabled; "
                                f"attached to edge router {edge} of its site")
                ends.append(edge)
        capacity = _kbps_to_mbps(c.get("commit_rate")) or (min(speeds) if speeds else None)
        if not ends or capacity is None:
            warnings.append(f"circuit {cid} skipped: "
                            + ("no commit_rate or port_speed" if ends else
                               "no termination cabled to an imported device"))
            continue
        ctype = str((c.get("type") or {}).get("slug", ""))
        if len(ends) >= 2 and ends[0] != ends[1] and ctype not in inet_types:
            wan.append({"id": cid, "a": ends[0], "b": ends[1], "capacity_mbps": capacity,
                        "medium": "leased"})
        else:
            circuits.append({"id": cid, "attach": ends[0], "capacity_mbps": capacity,
                             "provider": (c.get("provider") or {}).get("name")})
    return circuits, wan, warnings


def _site_of_termination(t: dict[str, Any]) -> str | None:
    """Site slug of a termination (4.2+ ``termination``, older ``site``)."""
    if t.get("termination_type") == "dcim.site" and isinstance(t.get("termination"), dict):
        return t["termination"].get("slug")
    site = t.get("site")
    return site.get("slug") if isinstance(site, dict) else None
