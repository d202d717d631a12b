"""NetBox import against recorded API responses served over real HTTP.

A real NetBox (Django + PostgreSQL + Redis) cannot run here, so these tests replay
API responses instead: ``tests/data/netbox/*.json`` are list responses we wrote by
hand following NetBox's documented REST API (v4.x object shapes: devices with
``role``, cables with ``a_terminations``/``b_terminations``, front ports in both the
<= 4.4 ``rear_port`` and the 4.5+ ``rear_ports`` form, circuit terminations with
``termination_type``/``termination``; speeds and commit rates in Kbps). A small
``http.server`` on 127.0.0.1 in a thread serves them with NetBox's pagination
(``limit``/``offset``, ``next`` links, at most 3 objects per page as if NetBox's
``MAX_PAGE_SIZE`` were 3, so paging is exercised),
the filters the importer sends, and token authentication, so pynetbox talks real
HTTP. The recorded data holds two site groups; only ``lakeside`` must be imported.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from netstage.auditor.netbox import (
    fetch_netbox,
    import_netbox,
    netbox_to_district,
    resolve_token,
)
from netstage.simulator.errors import CollectorError, ConfigError
from netstage.simulator.io import load_district

from .support import CliRunner

DATA = Path(__file__).parent / "data" / "netbox"
TOKEN = "0123456789abcdef0123456789abcdef01234567"
PAGE = 3


def _load(name: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads((DATA / f"{name}.json").read_text())["results"]
    return rows


class _Replay(BaseHTTPRequestHandler):
    """Serves the recorded list responses like NetBox's list views do."""

    requests_seen: list[str]

    def log_message(self, *args: Any) -> None:  # keep pytest output clean
        pass

    def _send(self, code: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("API-Version", "4.3")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.requests_seen.append(self.path)
        if self.headers.get("Authorization") != f"Token {TOKEN}":
            self._send(403, {"detail": "Invalid token"})
            return
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        if parts == ["api"]:
            self._send(200, {"dcim": "/api/dcim/", "circuits": "/api/circuits/"})
            return
        name = "_".join(parts[1:])
        if len(parts) != 3 or not (DATA / f"{name}.json").exists():
            self._send(404, {"detail": "Not found."})
            return
        query = parse_qs(url.query)
        rows = [r for r in _load(name) if _matches(name, r, query)]
        # NetBox caps every page at MAX_PAGE_SIZE (limit=0 means "as many as allowed");
        # the replay's cap is PAGE so that following ``next`` links is exercised.
        limit = min(int(query.get("limit", [PAGE])[0]) or PAGE, PAGE)
        offset = int(query.get("offset", [0])[0])
        nxt = None
        if offset + limit < len(rows):
            q = {k: v for k, v in query.items() if k not in ("limit", "offset")}
            q["limit"], q["offset"] = [str(limit)], [str(offset + limit)]
            nxt = f"http://127.0.0.1:{self.server.server_address[1]}{url.path}?" + urlencode(
                q, doseq=True)
        self._send(200, {"count": len(rows), "next": nxt, "previous": None,
                         "results": rows[offset:offset + limit]})


def _device_site(device_id: int) -> int:
    return next(d["site"]["id"] for d in _load("dcim_devices") if d["id"] == device_id)


def _matches(name: str, row: dict[str, Any], query: dict[str, list[str]]) -> bool:
    """The NetBox filters the importer uses (unknown filters are an error, as with
    NetBox's strict filtering, so a wrong filter name fails the test)."""
    for key, values in query.items():
        if key in ("limit", "offset", "brief"):
            continue
        if key == "slug":
            ok = row["slug"] in values
        elif key == "group":
            ok = (row.get("group") or {}).get("slug") in values
        elif key == "id":
            ok = str(row["id"]) in values
        elif key == "site_id" and name == "circuits_circuit-terminations":
            ok = row["termination_type"] == "dcim.site" and str(row["termination_id"]) in values
        elif key == "site_id" and name == "dcim_cables":
            ends = row["a_terminations"] + row["b_terminations"]
            ok = any("device" in t["object"] and str(_device_site(t["object"]["device"]["id"]))
                     in values for t in ends)
        elif key == "site_id" and "site" in row:
            ok = str(row["site"]["id"]) in values
        elif key == "site_id" and "device" in row:
            ok = str(_device_site(row["device"]["id"])) in values
        else:
            raise AssertionError(f"unexpected filter {key} on {name}")
        if not ok:
            return False
    return True


@pytest.fixture
def netbox_url() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    handler = type("Handler", (_Replay,), {"requests_seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_reads_only_the_site_group_and_pages(netbox_url: tuple[str, list[str]]) -> None:
    url, seen = netbox_url
    data = fetch_netbox(url, TOKEN, "lakeside")
    assert {s["slug"] for s in data.sites} == {"lakeside-do", "lakeside-hs", "lakeside-ms"}
    assert "hc-core" not in {d["name"] for d in data.devices}
    assert len(data.devices) == 13  # more than one page of 3: pagination was followed
    assert len(data.interfaces) == len(_load("dcim_interfaces")) - 1
    assert {c["cid"] for c in data.circuits} == {"ISP-1001", "WAN-MS-01", "ISP-2002"}
    assert any("offset=" in p for p in seen)


def test_district_mapping(netbox_url: tuple[str, list[str]]) -> None:
    url, _ = netbox_url
    result = netbox_to_district(fetch_netbox(url, TOKEN, "lakeside"))
    d = result.district
    assert d.district.name == "Lakeside Unified"
    kinds = {n.id: n.kind.value for n in d.nodes}
    assert kinds == {"do-edge": "edge", "do-fw": "firewall", "do-core": "core",
                     "hs-dist": "distribution", "hs-acc1": "access", "hs-ap1": "ap",
                     "ms-dist": "distribution", "ms-acc1": "access", "ms-ap1": "ap"}
    assert d.node("do-edge").mgmt_address == "10.0.0.1"
    assert d.node("do-core").vendor == "Arista"
    hs = d.site("lakeside-hs")
    assert (hs.kind.value, hs.students, hs.staff, hs.classrooms) == ("school", 1200, 95, 48)
    assert d.site("lakeside-do").kind.value == "office"
    assert d.total_students == 2000
    links = {frozenset((lk.a, lk.b)): lk for lk in d.links}
    # edge has no speed but type 10gbase-x-sfpp (10 Gbps); fw reports 10,000,000 Kbps
    assert links[frozenset(("do-edge", "do-fw"))].capacity_mbps == 10000
    # traced core -> front port -> rear port -> trunk -> rear port -> front port -> dist
    through_panels = links[frozenset(("do-core", "hs-dist"))]
    assert through_panels.capacity_mbps == 10000 and through_panels.medium.value == "fiber"
    lag = [lk for lk in d.links if {lk.a, lk.b} == {"do-core", "ms-dist"} and lk.lag_members]
    assert len(lag) == 1 and lag[0].capacity_mbps == 20000 and lag[0].lag_members == 2
    wan = [lk for lk in d.links if lk.medium.value == "leased"]
    assert [(w.id, w.capacity_mbps) for w in wan] == [("WAN-MS-01", 1000)]
    assert links[frozenset(("hs-acc1", "hs-ap1"))].capacity_mbps == 1000  # type default
    circuits = {c.id: (c.attach, c.capacity_mbps, c.provider) for c in d.circuits}
    assert circuits == {"ISP-1001": ("do-edge", 2000, "Lumen"),
                        "ISP-2002": ("do-edge", 500, "Spectrum")}
    text = "\n".join(result.warnings)
    assert "role 'pdu'" in text and "status planned" in text
    assert "ms-acc1:1/1/1 -- ms-ap1:eth0; assumed 1000 Mbps" in text
    assert "ISP-2002 side A is not cabled" in text


def test_role_override_and_bad_kind(netbox_url: tuple[str, list[str]]) -> None:
    url, _ = netbox_url
    data = fetch_netbox(url, TOKEN, "lakeside")
    d = netbox_to_district(data, role_kinds={"distribution-switch": "core"}).district
    assert d.node("hs-dist").kind.value == "core"
    with pytest.raises(ConfigError, match="unknown node kind 'router'"):
        netbox_to_district(data, role_kinds={"firewall": "router"})


def test_errors_name_what_to_fix(netbox_url: tuple[str, list[str]],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    url, _ = netbox_url
    with pytest.raises(CollectorError, match="no site group with slug 'nowhere'"):
        fetch_netbox(url, TOKEN, "nowhere")
    with pytest.raises(CollectorError, match="HTTP 403"):
        fetch_netbox(url, "wrong-token", "lakeside")
    monkeypatch.delenv("NB_TEST_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="NB_TEST_TOKEN"):
        import_netbox(url, "env:NB_TEST_TOKEN", "lakeside")
    with pytest.raises(ConfigError, match="env:VARIABLE"):
        resolve_token(TOKEN)
    closed = url.rsplit(":", 1)[0] + ":9"  # discard port on loopback: nothing listens
    with pytest.raises(CollectorError, match="cannot reach NetBox"):
        fetch_netbox(closed, TOKEN, "lakeside", timeout_s=2)


def test_cli_import_netbox(netbox_url: tuple[str, list[str]], run_cli: CliRunner,
                           tmp_path: Path) -> None:
    url, _ = netbox_url
    out = tmp_path / "lakeside.yaml"
    env = {"NB_TOKEN": TOKEN}
    r = run_cli("import", "netbox", "--url", url, "--token", "env:NB_TOKEN",
                "--site-group", "lakeside", "--out", str(out), "--role", "pdu=server", env=env)
    assert r.returncode == 0, r.stderr
    assert TOKEN not in r.stdout + r.stderr
    d = load_district(out)
    assert d.node("do-pdu1").kind.value == "server"
    assert TOKEN not in out.read_text()
    info = run_cli("info", str(out), "--json")
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["students"] == 2000
    bad = run_cli("import", "netbox", "--url", url, "--token", TOKEN, "--site-group",
                  "lakeside", env=env)
    assert bad.returncode == 1 and "env:VARIABLE" in bad.stderr
    assert TOKEN not in bad.stdout + bad.stderr


def test_custom_field_names(netbox_url: tuple[str, list[str]]) -> None:
    url, _ = netbox_url
    data = fetch_netbox(url, TOKEN, "lakeside")
    d = netbox_to_district(data, staff_field="classrooms", students_field="staff").district
    # staff counts now read as students: every site with staff becomes a school
    assert {s.id: (s.kind.value, s.students, s.staff) for s in d.sites} == {
        "lakeside-do": ("school", 40, 0), "lakeside-hs": ("school", 95, 48),
        "lakeside-ms": ("school", 60, 0)}
