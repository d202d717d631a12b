"""Neighbour-following discovery against a twin served one snmpsim per loopback address."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from netstage.auditor.discover import run_discovery
from netstage.auditor.inventory import Inventory, load_inventory
from netstage.auditor.normalise import facts_to_district
from netstage.auditor.twin import export_twin_by_address, with_loopback_addresses
from netstage.auditor.twin_agent import serve_by_address
from netstage.simulator.io import load_district
from netstage.simulator.model import District

from .support import TOPOLOGIES

SECRET = "disc-c0mmunity-x7"
ENV = {"NETSTAGE_TEST_DISCOVERY_COMMUNITY": SECRET}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[District, int, Path]]:
    d = with_loopback_addresses(load_district(TOPOLOGIES / "stage1-lab-era.yaml"),
                                first="127.0.1.1")
    out = tmp_path_factory.mktemp("twin-by-address")
    export_twin_by_address(d, out, community=SECRET)
    with serve_by_address(out) as ports:
        assert sorted(ports) == [f"127.0.1.{k}" for k in range(1, 6)]
        yield d, next(iter(ports.values())), out


def _inventory(tmp: Path, port: int, seeds: list[str], nets: list[str],
               max_hops: int = 4) -> Inventory:
    body = {"concurrency": 8,
            "defaults": {"port": port, "timeout_s": 1.0, "retries": 1},
            "credentials": {"twin": {"version": "v2c",
                                     "community": "env:NETSTAGE_TEST_DISCOVERY_COMMUNITY"}},
            "discovery": {"seeds": seeds, "allowed_networks": nets, "max_hops": max_hops}}
    path = tmp / "inv.yaml"
    path.write_text(yaml.safe_dump(body))
    return load_inventory(path)


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)


def _addr(d: District, node: str) -> str:
    a = d.node(node).mgmt_address
    assert a is not None
    return a


def test_discovers_whole_twin_from_the_router(served: tuple[District, int, Path],
                                              tmp_path: Path) -> None:
    d, port, _ = served
    inv = _inventory(tmp_path, port, [_addr(d, "rtr")], ["127.0.1.0/24"])
    res = asyncio.run(run_discovery(inv))
    assert all(x.ok for x in res.audit.devices)
    # hops follow the district's links: rtr - core - {es,ms,hs}-sw
    assert res.hops == {_addr(d, "rtr"): 0, _addr(d, "core"): 1, _addr(d, "es-sw"): 2,
                        _addr(d, "ms-sw"): 2, _addr(d, "hs-sw"): 2}
    assert res.stopped_by is None
    # APs announce no management address: listed, not followed
    assert {s.neighbour for s in res.skipped} == {"es-ap", "ms-ap", "hs-ap"}
    got = facts_to_district(res.audit).district
    assert {n.id for n in got.nodes} == {n.id for n in d.nodes}
    assert {frozenset((lk.a, lk.b)) for lk in got.links} == {
        frozenset((lk.a, lk.b)) for lk in d.links}
    text = res.inventory_yaml(inv)
    assert "env:NETSTAGE_TEST_DISCOVERY_COMMUNITY" in text and SECRET not in text
    assert len(yaml.safe_load(text)["targets"]) == 5


def test_bounds_hops_and_networks(served: tuple[District, int, Path], tmp_path: Path) -> None:
    d, port, _ = served
    inv = _inventory(tmp_path, port, [_addr(d, "rtr")], ["127.0.1.0/24"], max_hops=1)
    res = asyncio.run(run_discovery(inv))
    assert set(res.hops) == {_addr(d, "rtr"), _addr(d, "core")}
    assert res.stopped_by == "max_hops"
    assert {s.neighbour for s in res.skipped if "max_hops" in s.reason} == {
        "es-sw", "ms-sw", "hs-sw"}
    # only the router's own /32 is allowed: the core is reported, never queried
    inv = _inventory(tmp_path, port, [_addr(d, "rtr")], [f"{_addr(d, 'rtr')}/32"])
    res = asyncio.run(run_discovery(inv))
    assert list(res.hops) == [_addr(d, "rtr")]
    assert [(s.neighbour, s.reason.split(" (")[0]) for s in res.skipped] == [
        ("core", "outside the allowed networks")]
    # max_devices cuts the breadth-first walk
    res = asyncio.run(run_discovery(inv.model_copy(update={"discovery": inv.discovery.model_copy(
        update={"allowed_networks": ["127.0.1.0/24"]})}) if inv.discovery else inv,
        max_devices=3))
    assert len(res.hops) == 3 and res.stopped_by == "max_devices"


def test_cli_discover_writes_audit_and_inventory(run_cli, served: tuple[District, int, Path],  # type: ignore[no-untyped-def]
                                                 tmp_path: Path) -> None:
    d, port, _ = served
    _inventory(tmp_path, port, [], ["127.0.1.0/24"])
    r = run_cli("discover", _addr(d, "rtr"), "--inventory", "inv.yaml", "--out", "a.json",
                "--write-inventory", "found.yaml", env=ENV)
    assert r.returncode == 0, r.stderr
    assert "5 of 5 addresses answered" in r.stdout
    assert len(yaml.safe_load((tmp_path / "found.yaml").read_text())["targets"]) == 5
    for text in (r.stdout, r.stderr, (tmp_path / "a.json").read_text(),
                 (tmp_path / "found.yaml").read_text()):
        assert SECRET not in text


def test_cli_seed_with_a_port_is_the_discovery_port(run_cli,  # type: ignore[no-untyped-def]
                                                    served: tuple[District, int, Path],
                                                    tmp_path: Path) -> None:
    # The inventory says port 161 (nothing listens there); the seed's port is the twin's.
    d, port, _ = served
    _inventory(tmp_path, 161, [], ["127.0.1.0/24"])
    r = run_cli("discover", f"{_addr(d, 'rtr')}:{port}", "--inventory", "inv.yaml",
                "--out", "a.json", env=ENV)
    assert r.returncode == 0, r.stderr
    assert "5 of 5 addresses answered" in r.stdout
    for bad, says in (("127.0.1.1:99999", "not 1-65535"), ("rtr-1:161", "not an IP address"),
                      ("127.0.1.1:1,127.0.1.2", "'1,127.0.1.2' is not 1-65535")):
        r = run_cli("discover", bad, "--inventory", "inv.yaml", env=ENV)
        assert r.returncode == 1 and says in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert "command line: seed" in r.stderr
