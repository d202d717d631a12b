"""The district model: what a district's network is, as pydantic v2 models.

A district file (YAML) describes

* ``district``: name, growth assumptions, devices per student;
* ``sites``: schools and offices with students, staff, classrooms, wired lab PCs,
  and optional device ``populations`` (client devices are populations per site,
  never listed one by one);
* ``nodes``: edge routers, firewalls, core/distribution/access switches, access
  points (an AP entry may stand for ``count`` identical APs), wireless
  controllers and servers;
* ``links``: between two nodes, with ``capacity_mbps`` (the total over LAG members);
* ``circuits``: Internet circuits, each attached to one node;
* ``declared``: facts the stage rubric needs that cannot be measured (security,
  management, standardisation), each ``true``/``false`` or absent (= unknown);
* ``measured``: facts the auditor measured (SNMP coverage, versions, history).

Every model forbids unknown fields, so a typo is an error, not a silent default.
Consistency across entries (unknown node ids, duplicate ids, sites without a path
to the Internet) is checked by :func:`problems`, which returns located problems.
"""

from __future__ import annotations

from collections import deque
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from netstage.simulator.errors import TopologyError

__all__ = [
    "RENAMED_SECURITY_KEYS",
    "AccessPoint",
    "BusyHour",
    "Circuit",
    "Declared",
    "District",
    "DistrictInfo",
    "Growth",
    "Link",
    "Management",
    "Measured",
    "Medium",
    "Node",
    "NodeKind",
    "Population",
    "Problem",
    "Security",
    "Site",
    "SiteKind",
    "SnmpFacts",
    "Stack",
    "Standardisation",
    "WifiClients",
    "WifiRadio",
    "advisories",
    "problems",
]

Id = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:/@#\-]+$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, validate_assignment=True,
                              allow_inf_nan=False)


class NodeKind(StrEnum):
    """What a node is. ``edge`` is the district's Internet/ISP edge router."""

    EDGE = "edge"
    FIREWALL = "firewall"
    CORE = "core"
    DISTRIBUTION = "distribution"
    ACCESS = "access"
    AP = "ap"
    WLC = "wlc"
    SERVER = "server"


INFRASTRUCTURE_KINDS = frozenset(
    {
        NodeKind.EDGE,
        NodeKind.FIREWALL,
        NodeKind.CORE,
        NodeKind.DISTRIBUTION,
        NodeKind.ACCESS,
        NodeKind.WLC,
    }
)
SWITCH_KINDS = frozenset({NodeKind.CORE, NodeKind.DISTRIBUTION, NodeKind.ACCESS})


class SiteKind(StrEnum):
    SCHOOL = "school"
    OFFICE = "office"
    DATACENTER = "datacenter"


class Medium(StrEnum):
    COPPER = "copper"
    FIBER = "fiber"
    WIRELESS = "wireless"
    LEASED = "leased"
    UNKNOWN = "unknown"


WifiGeneration = Literal["wifi4", "wifi5", "wifi6", "wifi6e", "wifi7"]


def _band_text(v: Any) -> Any:
    """YAML reads ``band: 5`` as a number and ``band: 2.4`` as a float: accept both."""
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return "2.4" if v == 2.4 else str(int(v)) if float(v).is_integer() else str(v)
    return v


class WifiClients(_Strict):
    """A share of the Wi-Fi clients with one capability (district.wifi_clients)."""

    share: float = Field(gt=0, le=1)
    generation: WifiGeneration
    spatial_streams: int = Field(1, ge=1, le=8)


def _check_mix(mix: list[WifiClients] | None) -> list[WifiClients] | None:
    if mix is not None:
        if not mix:
            raise ValueError("wifi_clients is empty; give at least one {share, generation, "
                             "spatial_streams} or leave it out for the default mix")
        total = sum(c.share for c in mix)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"wifi_clients shares sum to {total:g}, not 1; fix the shares")
    return mix


class Growth(_Strict):
    """How demand grows (R-FUTURE). Defaults: EducationSuperHighway planning guidance."""

    horizon_years: float = Field(3.0, ge=0, le=20)
    growth_per_year: float = Field(0.5, ge=0, le=5)


class BusyHour(_Strict):
    """The planner's own busy hour (district.busy_hour): overrides of the R-NOW and
    R-FUTURE scenario types ('now' and 'future' in simulator/data/scenarios.yaml, or a
    --scenario-file's) for this district. Absent fields keep the scenario file's values.
    """

    active_share: float | None = Field(
        None, ge=0, le=1, description="share of student, staff and lab devices active in "
        "the busy hour (the scenario file's 'active'; IoT devices stay always on)")
    app_mix: str | None = Field(
        None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$",
        description="scenario type whose per-class application mix the busy hour uses "
        "(shipped: now, testing, update-storm; classes it does not list keep theirs)")


class DistrictInfo(_Strict):
    name: str = Field(min_length=1)
    students: int | None = Field(None, ge=0, description="defaults to the sum over sites")
    staff: int | None = Field(None, ge=0, description="defaults to the sum over sites")
    devices_per_student: float = Field(1.0, ge=0, le=10)
    devices_per_staff: float = Field(
        1.0, ge=0, le=10, description="devices per staff member where a site does not "
        "list its populations")
    busy_hour: BusyHour | None = Field(
        None, description="the district's busy-hour assumptions (default: the scenario file)")
    default_wired_lab_pcs: int = Field(
        30, ge=0,
        description="wired lab PCs per school where a site does not say (docs/stages.md R-LAB)",
    )
    growth: Growth = Field(default_factory=lambda: Growth())
    wifi_clients: list[WifiClients] | None = Field(
        None, description="Wi-Fi client mix (shares sum to 1); default: wifi.yaml")

    _mix = field_validator("wifi_clients")(_check_mix)


class Population(_Strict):
    """A population of identical client devices at one site.

    ``count`` gives the number directly; ``per_student``/``per_staff`` derive it.
    ``attach`` names the node(s) they connect to (APs for Wi-Fi, access switches
    for wired); devices are spread evenly over the attached APs or switches.
    """

    device_class: Literal["student", "staff", "lab", "iot"]
    count: int | None = Field(None, ge=0, le=5_000_000)
    per_student: float | None = Field(None, ge=0, le=100)
    per_staff: float | None = Field(None, ge=0, le=100)
    attach: list[Id] = Field(default_factory=list)
    connection: Literal["wifi", "wired"] = "wifi"

    @model_validator(mode="after")
    def _one_size(self) -> Population:
        given = [x is not None for x in (self.count, self.per_student, self.per_staff)]
        if sum(given) != 1:
            raise ValueError("give exactly one of count, per_student, per_staff")
        return self


class Site(_Strict):
    id: Id
    name: str | None = None
    kind: SiteKind = SiteKind.SCHOOL
    students: int = Field(0, ge=0, le=2_000_000)
    staff: int = Field(0, ge=0, le=1_000_000)
    classrooms: int | None = Field(None, ge=0, le=100_000)
    wired_lab_pcs: int | None = Field(None, ge=0, le=1_000_000)
    distance_km: float | None = Field(
        None, ge=0, description="route length to the district hub; prices a new path")
    populations: list[Population] | None = Field(
        None, description="client devices; derived from students/staff when absent"
    )
    wifi_clients: list[WifiClients] | None = Field(
        None, description="this site's Wi-Fi client mix; default: district.wifi_clients")

    _mix = field_validator("wifi_clients")(_check_mix)


class WifiRadio(_Strict):
    """One AP's Wi-Fi. The radio model and its numbers: simulator/wifi.py and
    simulator/data/wifi.yaml (docs/stages.md, "Wi-Fi model")."""

    generation: WifiGeneration = "wifi5"
    channel_width_mhz: Literal[20, 40, 80, 160] = 40
    band: Annotated[Literal["2.4", "5", "6"], BeforeValidator(_band_text)] = Field(
        "5", description="band of the primary radio; '5' = dual-band 5 + 2.4 GHz with "
        "band steering, '6' = tri-band 6 + 5 + 2.4 GHz, '2.4' = one 2.4 GHz radio")
    spatial_streams: int | None = Field(
        None, ge=1, le=16, description="AP radio spatial streams (default: wifi.yaml)")
    air_capacity_mbps: float | None = Field(
        None, gt=0, description="measured shared capacity; overrides the radio model "
        "(the AP is then one radio of this capacity)"
    )
    max_clients: int | None = Field(None, gt=0, description="active clients per radio")


class Stack(_Strict):
    """A switch stack or a chassis with redundant members (supervisors, line cards).

    ``redundant`` (default true) says the members back each other up: losing one member
    leaves the others forwarding, so the node is not a single point of failure for its
    own member failures (N-1 does not fail it as a whole; the redundancy analysis does
    not count it as a cut vertex). ``redundant: false`` keeps it an ordinary node.
    """

    members: int = Field(ge=2, le=64, description="stack members or redundant chassis units")
    redundant: bool = True
    kind: Literal["stack", "chassis"] = "stack"


class Node(_Strict):
    id: Id
    kind: NodeKind
    site: Id | None = None
    name: str | None = None
    vendor: str | None = None
    model: str | None = None
    firmware: str | None = None
    mgmt_address: str | None = None
    count: int = Field(
        1, ge=1, le=10000, description="APs only: identical APs this entry stands for"
    )
    wifi: WifiRadio | None = None
    stack: Stack | None = Field(
        None, description="stack/chassis with redundant members (not a single point of failure)"
    )

    @property
    def redundant_stack(self) -> bool:
        """True when the node is a declared redundant stack or chassis."""
        return self.stack is not None and self.stack.redundant

    @model_validator(mode="after")
    def _ap_fields(self) -> Node:
        if self.kind != NodeKind.AP:
            if self.count != 1:
                raise ValueError("count is only allowed on access points (kind: ap)")
            if self.wifi is not None:
                raise ValueError("wifi is only allowed on access points (kind: ap)")
        elif self.stack is not None:
            raise ValueError("stack is not allowed on access points (kind: ap); "
                             "declare stacks on switches, routers or firewalls")
        return self


AccessPoint = Node  # an AP is a node of kind "ap"; alias kept for readers of the API


class Link(_Strict):
    a: Id
    b: Id
    capacity_mbps: float = Field(gt=0, description="total capacity, all LAG members together")
    id: Id | None = None
    medium: Medium = Medium.UNKNOWN
    lag_members: int | None = Field(None, ge=2)
    background_mbps: float = Field(
        0.0, ge=0, description="measured load not modelled as devices (p95, from SNMP)"
    )
    srlg: list[Id] = Field(
        default_factory=list,
        description="shared-risk groups (conduit, building entrance): links in one group "
        "fail together",
    )
    distance_km: float | None = Field(
        None, ge=0, description="route length; the planner prices a new path by it")

    @property
    def key(self) -> str:
        return self.id or f"{self.a}--{self.b}"


class Circuit(_Strict):
    id: Id
    attach: Id = Field(description="node the circuit terminates on (usually an edge router)")
    capacity_mbps: float = Field(gt=0)
    provider: str | None = None
    background_mbps: float = Field(0.0, ge=0)
    srlg: list[Id] = Field(
        default_factory=list,
        description="shared-risk groups (one provider, one building entrance): circuits and "
        "links in one group fail together",
    )
    # load sharing (docs/simulation.md, "Load sharing: circuits and equal-cost paths")
    role: Literal["active", "standby"] = Field(
        "active", description="active circuits share load; standby ones carry traffic only "
        "when every active circuit has failed")
    weight: float | None = Field(
        None, gt=0, description="share of devices relative to the other active circuits "
        "(default: capacity_mbps)")

    @property
    def load_weight(self) -> float:
        """Weight of the circuit in load sharing (``weight``, else its capacity)."""
        return float(self.weight if self.weight is not None else self.capacity_mbps)


#: Keys renamed so that ``true`` always means the good state; the old key still loads
#: (its value inverted where the old name was negative) and ``netstage validate`` warns.
#: ``old key -> (new key, inverted)``.
RENAMED_SECURITY_KEYS: dict[str, tuple[str, bool]] = {
    "default_snmp_write_community": ("default_write_communities_removed", True),
}


class Security(_Strict):
    """Declared security facts: ``true`` = in place, ``false`` = not in place, left out
    = unknown (never a silent pass). Every key is documented, with what ``true`` and
    ``false`` mean, in docs/district-format.md ("Declared facts")."""

    edge_firewall: bool | None = Field(
        None, description="true: a firewall (or UTM) sits between the district and the "
        "Internet")
    content_filter: bool | None = Field(
        None, description="true: web content filtering is in place (CIPA)")
    segmentation: bool | None = Field(
        None, description="true: student, staff and management networks are separate "
        "VLANs/subnets")
    dot1x: bool | None = Field(
        None, description="true: devices sign in to the network (802.1X / WPA-Enterprise)")
    snmp_v3_only: bool | None = Field(
        None, description="true: every infrastructure device is managed over SNMPv3 only "
        "(v1/v2c turned off)")
    default_write_communities_removed: bool | None = Field(
        None, description="true: no device accepts a default SNMP write community "
        "(public/private); replaces default_snmp_write_community (its opposite)")
    _renamed_keys: list[str] = PrivateAttr(default_factory=list)

    @model_validator(mode="wrap")
    @classmethod
    def _renamed(cls, data: Any, handler: Any) -> Any:
        """Old key names (:data:`RENAMED_SECURITY_KEYS`) load as the new ones."""
        used: list[str] = []
        if isinstance(data, dict) and any(k in data for k in RENAMED_SECURITY_KEYS):
            data = dict(data)
            for old, (new, inverted) in RENAMED_SECURITY_KEYS.items():
                if old not in data:
                    continue
                used.append(old)
                value = data.pop(old)
                if value is not None and not isinstance(value, bool):
                    raise ValueError(f"'{old}' (the old name of '{new}') must be true or "
                                     f"false, got {value!r}")
                if value is not None and inverted:
                    value = not value
                if new in data and data[new] is not None and value is not None \
                        and data[new] != value:
                    raise ValueError(
                        f"'{old}' (the old name) and '{new}' disagree: {old}: "
                        f"{not value if inverted else value} means {new}: {value}; "
                        f"keep only '{new}'")
                if data.get(new) is None:
                    data[new] = value
        m = handler(data)
        if used and isinstance(m, Security):
            m._renamed_keys = used
        return m


class Management(_Strict):
    """Declared management facts: ``true`` = in place, ``false`` = not, left out =
    unknown."""

    mdm: bool | None = Field(
        None, description="true: student and staff devices are under mobile device "
        "management")
    config_backup: bool | None = Field(
        None, description="true: network device configurations are backed up "
        "automatically")
    monitoring: bool | None = Field(
        None, description="true: the network is monitored (informational: no rule reads it)")


class Standardisation(_Strict):
    plan: bool | None = Field(
        None, description="true: the district has a written hardware standardisation plan")


class Declared(_Strict):
    security: Security = Field(default_factory=lambda: Security())
    management: Management = Field(default_factory=lambda: Management())
    standardisation: Standardisation = Field(default_factory=lambda: Standardisation())


class SnmpFacts(_Strict):
    """What an SNMP audit measured about the infrastructure."""

    infrastructure_devices: int = Field(ge=0)
    answered: int = Field(ge=0)
    v3_devices: int = Field(0, ge=0)
    v1v2c_devices: int = Field(0, ge=0)
    default_community_accepted: int | None = Field(None, ge=0)
    default_write_community_accepted: int | None = Field(None, ge=0)
    history_days: float | None = Field(None, ge=0)


class Measured(_Strict):
    source: str | None = Field(None, description="which audit produced these facts, and when")
    snmp: SnmpFacts | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class District(_Strict):
    """A whole district. Load one with :func:`netstage.simulator.io.load_district`."""

    district: DistrictInfo
    sites: list[Site] = Field(default_factory=list)
    nodes: list[Node] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)
    circuits: list[Circuit] = Field(default_factory=list)
    declared: Declared = Field(default_factory=lambda: Declared())
    measured: Measured | None = None

    # -- derived figures ---------------------------------------------------------------
    @property
    def total_students(self) -> int:
        if self.district.students is not None:
            return self.district.students
        return sum(s.students for s in self.sites)

    @property
    def total_staff(self) -> int:
        if self.district.staff is not None:
            return self.district.staff
        return sum(s.staff for s in self.sites)

    @property
    def internet_capacity_mbps(self) -> float:
        return float(sum(c.capacity_mbps for c in self.circuits))

    @property
    def active_internet_capacity_mbps(self) -> float:
        """Capacity of the active circuits (standby circuits carry load only on failure)."""
        return float(sum(c.capacity_mbps for c in self.circuits if c.role == "active"))

    def with_capacity(self, *, circuits: dict[str, float] | None = None,
                      links: dict[str, float] | None = None,
                      links_at_least: dict[str, float] | None = None) -> District:
        """This district with new capacities (Mbps): ``circuits`` by id, ``links`` by key
        (every link with that key), ``links_at_least`` raised to at least the value.

        A typed operation for the planner's capacity changes: only the changed links
        and circuits are copied (``model_copy``) and the rest is shared, so the district
        is not dumped and validated again (a capacity, > 0, is the only constraint such a
        change can break; it is checked here). The arrays are derived from the result as
        from any district (:func:`~netstage.simulator.arrays.to_arrays`): routing's
        tie-breaks and the circuits' load weights depend on capacities, so they cannot
        simply be patched. Returns this district itself when no value changes; treat
        districts as read-only (they share objects). Raises ``KeyError`` for an unknown
        circuit id or link key, :class:`TopologyError` for a capacity that is not > 0
        (as validating the district would).
        """
        want: list[tuple[str, dict[str, float], bool]] = [
            ("circuit", dict(circuits or {}), False), ("link", dict(links or {}), False),
            ("link", dict(links_at_least or {}), True)]
        for what, caps, _ in want:
            for k, v in caps.items():
                if not v > 0 or v == float("inf"):
                    raise TopologyError(f"{what} '{k}': capacity_mbps must be > 0 and "
                                        f"finite, not {v!r}")
        ids = {c.id for c in self.circuits}
        keys = {lk.key for lk in self.links}
        for what, caps, _ in want:
            unknown = next((k for k in caps if k not in (ids if what == "circuit" else keys)),
                           None)
            if unknown is not None:
                raise KeyError(unknown)

        def changed(obj: Link | Circuit, k: str, caps: dict[str, float],
                    at_least: bool) -> Link | Circuit | None:
            if k not in caps:
                return None
            cap = float(caps[k])
            if cap == obj.capacity_mbps or (at_least and cap < obj.capacity_mbps):
                return None
            return obj.model_copy(update={"capacity_mbps": cap})

        new_circuits = [changed(c, c.id, want[0][1], False) or c for c in self.circuits]
        new_links = []
        for lk in self.links:
            out: Link = lk
            for _what, caps, at_least in want[1:]:
                got = changed(out, lk.key, caps, at_least)
                out = got if isinstance(got, Link) else out
            new_links.append(out)
        update: dict[str, Any] = {}
        if any(a is not b for a, b in zip(new_circuits, self.circuits, strict=True)):
            update["circuits"] = new_circuits
        if any(a is not b for a, b in zip(new_links, self.links, strict=True)):
            update["links"] = new_links
        return self.model_copy(update=update) if update else self

    def node(self, node_id: str) -> Node:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)

    def site(self, site_id: str) -> Site:
        for s in self.sites:
            if s.id == site_id:
                return s
        raise KeyError(site_id)


class Problem(BaseModel):
    """One consistency problem, located by its path in the file (e.g. ``links.3.b``)."""

    model_config = ConfigDict(frozen=True)
    loc: tuple[str | int, ...]
    message: str


def _did_you_mean(name: str, known: set[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest known id, or ``""``."""
    import difflib

    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def problems(d: District) -> list[Problem]:
    """All consistency problems of ``d`` that field validation cannot see."""
    out: list[Problem] = []

    def dupes(kind: str, ids: list[str]) -> None:
        seen: dict[str, int] = {}
        for i, x in enumerate(ids):
            if x in seen:
                out.append(
                    Problem(
                        loc=(kind, i, "id"),
                        message=f"duplicate {kind[:-1]} id '{x}' (first at {kind}.{seen[x]})",
                    )
                )
            else:
                seen[x] = i

    dupes("sites", [s.id for s in d.sites])
    dupes("nodes", [n.id for n in d.nodes])
    dupes("circuits", [c.id for c in d.circuits])
    dupes("links", [lk.key for lk in d.links])
    site_ids = {s.id for s in d.sites}
    node_ids = {n.id for n in d.nodes}
    node_kind = {n.id: n.kind for n in d.nodes}
    for i, n in enumerate(d.nodes):
        if n.site is not None and n.site not in site_ids:
            out.append(
                Problem(
                    loc=("nodes", i, "site"), message=f"node '{n.id}' names unknown site '{n.site}'"
                    + _did_you_mean(n.site, site_ids)
                )
            )
    for i, lk in enumerate(d.links):
        for end in ("a", "b"):
            ref = getattr(lk, end)
            if ref not in node_ids:
                out.append(
                    Problem(
                        loc=("links", i, end), message=f"link '{lk.key}' names unknown node '{ref}'"
                        + _did_you_mean(ref, node_ids)
                    )
                )
        if lk.a == lk.b:
            out.append(
                Problem(loc=("links", i), message=f"link '{lk.key}' connects '{lk.a}' to itself")
            )
    srlg_lists = [("links", i, lk.srlg) for i, lk in enumerate(d.links)]
    srlg_lists += [("circuits", i, c.srlg) for i, c in enumerate(d.circuits)]
    for kind, i, groups in srlg_lists:
        if groups:
            seen_g: set[str] = set()
            for j, gid in enumerate(groups):
                if gid in seen_g:
                    out.append(Problem(
                        loc=(kind, i, "srlg", j),
                        message=f"shared-risk group '{gid}' is named twice on one "
                        f"{kind[:-1]}; name each group once"))
                seen_g.add(gid)
    for i, c in enumerate(d.circuits):
        if c.attach not in node_ids:
            out.append(
                Problem(
                    loc=("circuits", i, "attach"),
                    message=f"circuit '{c.id}' attaches to unknown node '{c.attach}'"
                    + _did_you_mean(c.attach, node_ids),
                )
            )
    for si, s in enumerate(d.sites):
        for pi, p in enumerate(s.populations or []):
            for ai, a in enumerate(p.attach):
                if a not in node_ids:
                    out.append(
                        Problem(
                            loc=("sites", si, "populations", pi, "attach", ai),
                            message=f"population at site '{s.id}' attaches to unknown node '{a}'"
                            + _did_you_mean(a, node_ids),
                        )
                    )
                elif p.connection == "wifi" and node_kind[a] != NodeKind.AP:
                    out.append(
                        Problem(
                            loc=("sites", si, "populations", pi, "attach", ai),
                            message=f"wifi population at site '{s.id}' attaches to '{a}', "
                            "which is not an access point",
                        )
                    )
    if not d.circuits:
        out.append(
            Problem(
                loc=("circuits",),
                message="the district has no Internet circuit; add one under 'circuits'",
            )
        )
    elif all(c.role == "standby" for c in d.circuits):
        out.append(
            Problem(
                loc=("circuits", 0, "role"),
                message="every circuit is 'standby', so none carries traffic while all are "
                "up; mark the main circuit(s) 'role: active' (the default)",
            )
        )
    if out:
        return out
    # Reachability: every site with people must reach a circuit.
    adj: dict[str, list[str]] = {n: [] for n in node_ids}
    for lk in d.links:
        adj[lk.a].append(lk.b)
        adj[lk.b].append(lk.a)
    seen = {c.attach for c in d.circuits}
    queue = deque(seen)
    while queue:
        u = queue.popleft()
        for v in adj[u]:
            if v not in seen:
                seen.add(v)
                queue.append(v)
    site_nodes: dict[str, list[str]] = {}
    for n in d.nodes:
        if n.site is not None:
            site_nodes.setdefault(n.site, []).append(n.id)
    for si, s in enumerate(d.sites):
        if s.students + s.staff == 0 and not s.populations:
            continue
        members = site_nodes.get(s.id, [])
        if not members:
            out.append(
                Problem(
                    loc=("sites", si),
                    message=f"site '{s.id}' has people but no nodes (give nodes 'site: {s.id}')",
                )
            )
        elif not any(m in seen for m in members):
            out.append(
                Problem(
                    loc=("sites", si),
                    message=f"site '{s.id}' has no path to the Internet edge "
                    f"(no chain of links from its nodes {', '.join(members[:3])}"
                    f"{' ...' if len(members) > 3 else ''} to a circuit); add the missing "
                    "uplink under 'links'",
                )
            )
    return out


def advisories(d: District) -> list[Problem]:
    """Things a valid district says that are probably not what its author meant.

    Not errors (the file loads and simulates): ``netstage validate`` prints them as
    warnings, because each one silently changes a verdict.
    """
    out: list[Problem] = []
    for old in d.declared.security._renamed_keys:
        new, inverted = RENAMED_SECURITY_KEYS[old]
        out.append(Problem(loc=("declared", "security", old), message=(
            f"'{old}' is deprecated: use '{new}'"
            + (f" (its opposite: {old}: false is {new}: true)" if inverted else "")
            + "; the old key still loads, with its meaning kept")))
    for field_name, declared, summed in (("students", d.district.students,
                                          sum(s.students for s in d.sites)),
                                         ("staff", d.district.staff,
                                          sum(s.staff for s in d.sites))):
        if declared is not None and summed and declared != summed:
            out.append(Problem(loc=("district", field_name), message=(
                f"district.{field_name} is {declared:,} but the sites hold {summed:,}; the "
                f"per-{field_name.removesuffix('s')} figures use {declared:,} and the "
                f"simulation the sites' {summed:,} (remove one or make them agree)")))
    aps_at = {n.site for n in d.nodes if n.kind == NodeKind.AP}
    for si, s in enumerate(d.sites):
        if (s.kind == SiteKind.SCHOOL and s.students and s.populations is None
                and s.id not in aps_at):
            out.append(Problem(loc=("sites", si), message=(
                f"school '{s.id}' has {s.students:,} students and no access point: their "
                "devices are simulated as wired on the site's switches, with no Wi-Fi air "
                "limit; add its APs (kind: ap, site: " + s.id + ") for a realistic verdict")))
        if s.populations is None:
            continue
        classes = {p.device_class for p in s.populations}
        if s.staff and "staff" not in classes:
            out.append(Problem(loc=("sites", si, "populations"), message=(
                f"site '{s.id}' lists populations without a staff population, so its "
                f"{s.staff:,} staff devices are not simulated; add "
                "{device_class: staff, per_staff: 1.0, attach: [...]}")))
        if s.students and "student" not in classes:
            out.append(Problem(loc=("sites", si, "populations"), message=(
                f"site '{s.id}' lists populations without a student population, so its "
                f"{s.students:,} students' devices are not simulated; add "
                "{device_class: student, per_student: 1.0, attach: [...]}")))
        labs, where = s.wired_lab_pcs, f"sites[{si}].wired_lab_pcs"
        if labs is None and s.kind == SiteKind.SCHOOL:
            labs, where = d.district.default_wired_lab_pcs, "district.default_wired_lab_pcs"
        if labs and "lab" not in classes:
            out.append(Problem(loc=("sites", si, "populations"), message=(
                f"site '{s.id}' lists populations without a lab population, so its "
                f"{labs:,} wired lab PCs ({where}) are not simulated; add "
                f"{{device_class: lab, count: {labs}, attach: [...], connection: wired}} "
                "(or set wired_lab_pcs: 0 if the site has none)")))
    return out
