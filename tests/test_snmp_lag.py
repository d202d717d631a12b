"""LAG membership: IF-MIB ifStackTable / IEEE8023-LAG-MIB -> Interface.lag_parent, and
the normaliser's use of it.

Real recordings (../shared/data/snmprec, from LibreNMS): the expected membership is
derived in this file from the raw snmprec lines by a small reader of its own, and every
(aggregate, member) pair must also be a ``ports_stack`` row of LibreNMS's own discovery
where its JSON has one. The normalise path uses small hand-written recordings (two
switches joined by a LAG on which one member has no LLDP row), collected through the
same replay collector, and once live through a real snmpsim agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from netstage.auditor.facts import AuditResult, DeviceFacts, summarise
from netstage.auditor.normalise import facts_to_district
from netstage.auditor.snmp.collector import CollectTarget, ReplayCollector
from netstage.auditor.snmp.credentials import Secret, SnmpCredential
from netstage.auditor.snmp.live import SnmpCollector

from .snmp_fixtures import snmpsim_agent
from .support import SHARED, shared_path

SNMPREC = SHARED / "data" / "snmprec"
STACK = "1.3.6.1.2.1.31.1.2.1.3."
AGG_ID = "1.2.840.10006.300.43.1.2.1.1.13."


def _target(community: str, host: str = "127.0.0.1", port: int = 161) -> CollectTarget:
    return CollectTarget(address=host, port=port, timeout_s=5, retries=1,
                         credential=SnmpCredential(profile="rec", version="v2c",
                                                   community=Secret(community)))


def _collect(collector: Any, name: str, host: str = "127.0.0.1",
             port: int = 161) -> DeviceFacts:
    facts: DeviceFacts = asyncio.run(collector.collect(_target(name, host, port)))
    assert facts.ok, facts.failure
    return facts


# -- independent reading of the raw recordings ------------------------------------------

def _raw_lines(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split("|", 2)
        if len(parts) == 3:
            value = parts[2]
            if parts[1].endswith("x"):
                with contextlib.suppress(ValueError):
                    value = bytes.fromhex(value).decode("utf-8", "replace")
            out[parts[0]] = value
    return out


def _expected_membership(path: Path) -> dict[int, list[int]]:
    """Aggregate ifIndex -> members, straight from the snmprec text: an active stack row
    whose upper ifType is 161 (ieee8023adLag) or 53 with a Port-channel name, over an
    Ethernet-type port, or (Junos) unit N of a type-161 interface over unit N of an
    Ethernet-type port; dot3adAggPortAttachedAggID (non-zero) overrides."""
    raw = _raw_lines(path)

    def col(prefix: str) -> dict[str, str]:
        return {k[len(prefix):]: v for k, v in raw.items() if k.startswith(prefix)}

    types = col("1.3.6.1.2.1.2.2.1.3.")
    names = col("1.3.6.1.2.1.31.1.1.1.1.")
    descrs = col("1.3.6.1.2.1.2.2.1.2.")
    parent: dict[str, str] = {}
    index_of = {v: k for k, v in names.items()}
    for index, status in col(STACK).items():
        hi, lo = index.split(".")
        name = names.get(hi) or descrs.get(hi) or ""
        upper_is_lag = types.get(hi) == "161" or (
            types.get(hi) == "53" and re.match(r"(?i)(po|port-?channel)\s*\d", name))
        if status == "1" and upper_is_lag and types.get(lo) in {"6", "62", "69", "117"}:
            parent.setdefault(lo, hi)
            continue
        # Junos: unit N of a LAG (ae0.0) over unit N of a port (et-0/2/0.0)
        hi_base, _, hi_unit = names.get(hi, "").rpartition(".")
        lo_base, _, lo_unit = names.get(lo, "").rpartition(".")
        if status == "1" and hi_unit and hi_unit == lo_unit and hi_unit.isdigit() \
                and types.get(index_of.get(hi_base, "")) == "161" \
                and types.get(index_of.get(lo_base, "")) in {"6", "62", "69", "117"}:
            parent.setdefault(index_of[lo_base], index_of[hi_base])
    for port, agg in col(AGG_ID).items():
        if agg not in ("", "0") and port in types and agg in types and agg != port:
            parent[port] = agg
    out: dict[int, list[int]] = {}
    for lo, hi in parent.items():
        out.setdefault(int(hi), []).append(int(lo))
    return {k: sorted(v) for k, v in sorted(out.items())}


def _stack_recordings() -> list[Any]:
    names = sorted(p.stem for p in SNMPREC.glob("*.snmprec") if "@" not in p.stem
                   and any(line.startswith((STACK, AGG_ID)) for line in
                           p.read_text(encoding="utf-8", errors="replace").splitlines()))
    return names or [pytest.param("(none)", marks=pytest.mark.skip(
        reason="../shared/data/snmprec not present"))]


@pytest.fixture(scope="module")
def replay() -> ReplayCollector:
    return ReplayCollector(shared_path("snmprec"))


@pytest.mark.shared
@pytest.mark.parametrize("name", _stack_recordings())
def test_lag_membership_of_real_recordings(replay: ReplayCollector, name: str) -> None:
    path = shared_path("snmprec") / f"{name}.snmprec"
    facts = _collect(replay, name)
    got = facts.lag_members()
    assert got == _expected_membership(path)
    exp_json = path.with_suffix(".json")
    if exp_json.exists():
        stack = ((json.loads(exp_json.read_text(encoding="utf-8")).get("ports-stack") or {})
                 .get("discovery") or {}).get("ports_stack") or []
        if stack:  # LibreNMS's own ifStackTable discovery lists every pair we report.
            # Its JSON names the columns the other way round from the IF-MIB index
            # (ifStackHigherLayer.ifStackLowerLayer): in every recording with a LAG its
            # ``low_ifIndex`` is the aggregate (e.g. ios_c3560 Po30 = 5030 over Gi0/4 =
            # 10104 is the raw row ...31.1.2.1.3.5030.10104, JSON high 10104 low 5030).
            pairs = {(r["low_ifIndex"], r["high_ifIndex"]) for r in stack}
            ours = {(agg, m) for agg, members in got.items() for m in members}
            assert ours <= pairs, ours - pairs
    # A member is a real port of this device, and its aggregate is one too.
    for agg, members in got.items():
        assert facts.interface(agg) is not None
        assert all(facts.interface(m) is not None for m in members)


@pytest.mark.shared
def test_recordings_cover_lag_types(replay: ReplayCollector) -> None:
    """The recordings exercise both aggregate styles: ifType 161 and Cisco's propVirtual
    Port-channel; sub-interfaces over a LAG (PAN-OS ae5.10 over ae5) are not members."""
    names = [n for n in _stack_recordings() if isinstance(n, str)]
    with_lag = {n: _collect(replay, n) for n in names}
    with_lag = {n: f for n, f in with_lag.items() if f.lag_members()}
    assert len(with_lag) >= 5, sorted(with_lag)
    agg_types = {f.interface(a).if_type for f in with_lag.values()  # type: ignore[union-attr]
                 for a in f.lag_members()}
    assert {53, 161} <= agg_types
    assert sum(len(m) > 1 for f in with_lag.values() for m in f.lag_members().values()) >= 4
    if "panos_vsys" in names:
        assert _collect(replay, "panos_vsys").lag_members() == {}


@pytest.mark.shared
def test_live_snmpsim_collects_the_same_membership(replay: ReplayCollector) -> None:
    names = [n for n in ("arista_eos", "fortigate_60fospfv3", "ios_c3560")
             if (shared_path("snmprec") / f"{n}.snmprec").exists()]
    with snmpsim_agent([shared_path("snmprec") / f"{n}.snmprec" for n in names]) as agent:
        live = _live(agent.host, agent.port, names)
    for n, got in zip(names, live, strict=True):
        assert got.lag_members() == _collect(replay, n).lag_members()
        assert got.lag_members()


# -- hand-written recordings for the normalise path -------------------------------------

def _switch(name: str, ports: list[tuple[int, str]], peer: str, peer_ports: list[str],
            *, agg: tuple[int, str, int], members: list[int], via: str) -> str:
    """A switch with 10G ports, LLDP rows from the first len(peer_ports) ports to
    ``peer``, and an aggregate ``agg`` = (ifIndex, name, ifType) over ``members``,
    reported by ifStackTable (``via="stack"``) or dot3adAggPortAttachedAggID ("lag")."""
    lines = ["1.3.6.1.2.1.1.1.0|4|test switch", "1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.9.1.1",
             "1.3.6.1.2.1.1.3.0|67|100000", f"1.3.6.1.2.1.1.5.0|4|{name}"]
    ifaces = [(i, n, 6) for i, n in ports] + [agg]
    for idx, nm, typ in ifaces:
        lines += [f"1.3.6.1.2.1.2.2.1.2.{idx}|4|{nm}", f"1.3.6.1.2.1.2.2.1.3.{idx}|2|{typ}",
                  f"1.3.6.1.2.1.2.2.1.5.{idx}|66|4294967295",
                  f"1.3.6.1.2.1.2.2.1.8.{idx}|2|1",
                  f"1.3.6.1.2.1.31.1.1.1.1.{idx}|4|{nm}",
                  f"1.3.6.1.2.1.31.1.1.1.15.{idx}|66|"
                  f"{10000 * len(members) if idx == agg[0] else 10000}"]
    for m in members:
        if via == "stack":
            lines.append(f"{STACK}{agg[0]}.{m}|2|1")
        else:
            lines.append(f"{AGG_ID}{m}|2|{agg[0]}")
    if via == "lag":
        lines += [f"{AGG_ID}{i}|2|0" for i, _ in ports if i not in members]
    for (idx, nm), pport in zip(ports, peer_ports, strict=False):
        lines += [f"1.0.8802.1.1.2.1.3.7.1.2.{idx}|2|5", f"1.0.8802.1.1.2.1.3.7.1.3.{idx}|4|{nm}",
                  f"1.0.8802.1.1.2.1.4.1.1.4.0.{idx}.1|2|7",
                  f"1.0.8802.1.1.2.1.4.1.1.5.0.{idx}.1|4|{peer}",
                  f"1.0.8802.1.1.2.1.4.1.1.6.0.{idx}.1|2|5",
                  f"1.0.8802.1.1.2.1.4.1.1.7.0.{idx}.1|4|{pport}",
                  f"1.0.8802.1.1.2.1.4.1.1.9.0.{idx}.1|4|{peer}"]
    return "\n".join(sorted(lines, key=lambda s: [int(x) for x in s.split("|")[0].split(".")]))


def _lab(tmp: Path, *, b_members: int = 3, lag: bool = True) -> Path:
    """sw-a Te1..Te3 (Po1 = ifIndex 100, ifType 53, ifStackTable) == sw-b xe1..xe3
    (ae0 = ifIndex 200, ifType 161, IEEE8023-LAG-MIB). LLDP runs on two members only."""
    a = _switch("sw-a", [(1, "Te1"), (2, "Te2"), (3, "Te3")], "sw-b", ["xe11", "xe12"],
                agg=(100, "Po1", 53), members=[1, 2, 3] if lag else [], via="stack")
    b = _switch("sw-b", [(11, "xe11"), (12, "xe12"), (13, "xe13")], "sw-a", ["Te1", "Te2"],
                agg=(200, "ae0", 161), members=[11, 12, 13][:b_members] if lag else [],
                via="lag")
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "sw-a.snmprec").write_text(a + "\n", encoding="utf-8")
    (tmp / "sw-b.snmprec").write_text(b + "\n", encoding="utf-8")
    return tmp


def _audit(devices: list[DeviceFacts]) -> AuditResult:
    return AuditResult(devices=devices, summary=summarise(devices), inventory="lag.yaml")


def _live(host: str, port: int, names: list[str]) -> list[DeviceFacts]:
    """Collect ``names`` from a live agent in one event loop (the collector's sockets
    belong to it)."""
    async def run() -> list[DeviceFacts]:
        live = SnmpCollector(concurrency=4)
        try:
            return list(await asyncio.gather(*(live.collect(_target(n, host, port))
                                               for n in names)))
        finally:
            live.close()
    got = asyncio.run(run())
    assert all(d.ok for d in got), [d.failure for d in got]
    return got


def _replay_audit(directory: Path) -> AuditResult:
    rc = ReplayCollector(directory)
    return _audit([_collect(rc, "sw-a"), _collect(rc, "sw-b")])


def test_hand_written_recordings_parse_both_sources(tmp_path: Path) -> None:
    audit = _replay_audit(_lab(tmp_path))
    a, b = audit.devices
    assert a.lag_members() == {100: [1, 2, 3]}  # ifStackTable, Cisco-style propVirtual Po
    assert b.lag_members() == {200: [11, 12, 13]}  # dot3adAggPortAttachedAggID
    assert [n.local_if_index for n in a.neighbours] == [1, 2]


def test_known_membership_counts_members_without_lldp(tmp_path: Path) -> None:
    res = facts_to_district(_replay_audit(_lab(tmp_path)))
    (link,) = res.district.links
    assert {link.a, link.b} == {"sw-a", "sw-b"}
    assert link.lag_members == 3  # the third member has no LLDP row but is in the LAG
    assert link.capacity_mbps == pytest.approx(30000.0)
    assert not [m for m in res.mismatches if m.kind == "lag_member_count"]


def test_without_membership_parallel_links_are_still_inferred(tmp_path: Path) -> None:
    res = facts_to_district(_replay_audit(_lab(tmp_path, lag=False)))
    (link,) = res.district.links
    assert link.lag_members == 2  # fallback: the two LLDP-seen parallel links
    assert link.capacity_mbps == pytest.approx(20000.0)


def test_member_count_disagreement_is_reported(tmp_path: Path) -> None:
    res = facts_to_district(_replay_audit(_lab(tmp_path, b_members=2)))
    (link,) = res.district.links
    found = [m for m in res.mismatches if m.kind == "lag_member_count"
             and m.values.get("source") == "lag_membership"]
    assert len(found) == 1 and found[0].values["sw-a"] == 3 and found[0].values["sw-b"] == 2
    assert link.lag_members == 2  # only members on both ends carry traffic
    assert link.capacity_mbps == pytest.approx(20000.0)


def test_old_audit_json_without_lag_parent_still_loads(tmp_path: Path) -> None:
    audit = _replay_audit(_lab(tmp_path))
    data = json.loads(audit.to_json())
    for dev in data["devices"]:
        for iface in dev["interfaces"]:
            iface.pop("lag_parent", None)
    again = AuditResult.model_validate(data)
    assert all(i.lag_parent is None for d in again.devices for i in d.interfaces)
    assert facts_to_district(again).district.links[0].lag_members == 2


def test_live_snmpsim_hand_written_lag(tmp_path: Path) -> None:
    lab = _lab(tmp_path / "rec")
    with snmpsim_agent(lab) as agent:
        devices = _live(agent.host, agent.port, ["sw-a", "sw-b"])
    assert [d.lag_members() for d in devices] == [{100: [1, 2, 3]}, {200: [11, 12, 13]}]
    (link,) = facts_to_district(_audit(devices)).district.links
    assert link.lag_members == 3 and link.capacity_mbps == pytest.approx(30000.0)


def _two_lag_lab(tmp: Path) -> Path:
    """sw-a Te1..Te4 in Po1 (Te1, Te2) and Po2 (Te3, Te4), all four LLDP-linked to sw-b
    xe11..xe14 in ae0 (xe11, xe12) and ae1 (xe13, xe14): two LAGs between one pair."""
    a = _switch("sw-a", [(1, "Te1"), (2, "Te2"), (3, "Te3"), (4, "Te4")], "sw-b",
                ["xe11", "xe12", "xe13", "xe14"], agg=(100, "Po1", 53), members=[1, 2],
                via="stack")
    b = _switch("sw-b", [(11, "xe11"), (12, "xe12"), (13, "xe13"), (14, "xe14")], "sw-a",
                ["Te1", "Te2", "Te3", "Te4"], agg=(200, "ae0", 161), members=[11, 12],
                via="lag")
    a += "\n" + "\n".join([  # the second aggregate of each switch
        "1.3.6.1.2.1.2.2.1.2.101|4|Po2", "1.3.6.1.2.1.2.2.1.3.101|2|53",
        "1.3.6.1.2.1.31.1.1.1.1.101|4|Po2", f"{STACK}101.3|2|1", f"{STACK}101.4|2|1"])
    b = "\n".join(ln for ln in b.splitlines() if not ln.startswith(f"{AGG_ID}1"))
    b += "\n" + "\n".join([
        "1.3.6.1.2.1.2.2.1.2.201|4|ae1", "1.3.6.1.2.1.2.2.1.3.201|2|161",
        "1.3.6.1.2.1.31.1.1.1.1.201|4|ae1", f"{AGG_ID}11|2|200", f"{AGG_ID}12|2|200",
        f"{AGG_ID}13|2|201", f"{AGG_ID}14|2|201"])
    tmp.mkdir(parents=True, exist_ok=True)
    for name, text in (("sw-a", a), ("sw-b", b)):
        lines = sorted(text.splitlines(),
                       key=lambda s: [int(x) for x in s.split("|")[0].split(".")])
        (tmp / f"{name}.snmprec").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp


def test_two_lags_between_one_pair_are_reported(tmp_path: Path) -> None:
    audit = _replay_audit(_two_lag_lab(tmp_path))
    a, b = audit.devices
    assert a.lag_members() == {100: [1, 2], 101: [3, 4]}
    assert b.lag_members() == {200: [11, 12], 201: [13, 14]}
    res = facts_to_district(audit)
    (link,) = res.district.links
    assert link.lag_members == 4 and link.capacity_mbps == pytest.approx(40000.0)
    (found,) = [m for m in res.mismatches if m.kind == "several_lags"]
    assert found.element == link.key
    assert found.values["sw-a"] == ["Po1", "Po2"] and found.values["sw-b"] == ["ae0", "ae1"]
    assert "spanning tree" in found.detail
