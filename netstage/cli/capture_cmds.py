"""CLI: ``netstage capture`` (analyse a pcap/pcapng) and ``netstage capture-synth``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from netstage.cli.common import (
    atomic_output,
    check_output_file,
    console,
    err_console,
    print_json,
    progress,
)

if TYPE_CHECKING:  # the capture engine (numba) loads only when a capture is analysed
    from netstage.auditor.capture import CaptureSummary
    from netstage.auditor.capture_merge import CaptureMergeResult

__all__ = ["print_summary", "register"]

_MB = 1_000_000


def _size(n: int) -> str:
    for unit, div in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{n} B"


def print_summary(s: CaptureSummary, top: int = 10) -> None:
    """Human-readable tables of a capture summary."""
    ifs = ", ".join(f"{i['linktype']}/{i['ts_resolution']}" for i in s.interfaces)
    console.print(f"[bold]{escape(Path(s.path).name)}[/]: {s.format} ({s.byte_order}-endian), "
                  + escape(f"{len(s.interfaces)} interface(s) [linktype/resolution: {ifs}]"))
    console.print(f"{s.packets:,} packets, {s.bytes:,} bytes on the wire "
                  f"({s.captured_bytes:,} captured) over {s.duration_s:.3f} s, "
                  f"first {s.first_ts} last {s.last_ts}")
    console.print(f"throughput (1 s bins): peak {s.peak_mbps:.2f} Mbps, "
                  f"p95 {s.p95_mbps:.2f} Mbps, mean {s.mean_mbps:.2f} Mbps")
    if not s.complete:
        err_console.print(f"[yellow]warning:[/] reading stopped at byte offset "
                          f"{s.stopped_at_offset}: {escape(str(s.stop_reason))}; the "
                          f"{s.packets:,} packets before it are counted")
    for w in s.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(str(w))}")
    total = sum(a["bytes"] for a in s.apps.values()) or 1
    t = Table(title="traffic mix (IP bytes by application)")
    for c in ("application", "bytes", "share", "packets", "flows"):
        t.add_column(c, justify="left" if c == "application" else "right")
    for name, a in sorted(s.apps.items(), key=lambda kv: -kv[1]["bytes"]):
        if a["bytes"]:
            t.add_row(escape(name), _size(a["bytes"]), f"{100 * a['bytes'] / total:.1f} %",
                      f"{a['packets']:,}", f"{a['flows']:,}")
    console.print(t)
    named = sum(s.sni_names.values())
    if named or s.dns_names:
        console.print(f"named by TLS SNI: {named:,} flows ({s.quic_client_hellos:,} over "
                      f"QUIC), {len(s.sni_names):,} server names; DNS answers for "
                      f"{len(s.dns_names):,} names", highlight=False)
        if s.sni_names:
            console.print("top server names: " + ", ".join(
                f"{escape(n)} ({c:,})" for n, c in list(s.sni_names.items())[:top]),
                highlight=False)
    for label, convs, n_conv in (("IPv4", s.conversations, s.conversations_total),
                                 ("IPv6", s.ipv6_conversations, s.ipv6_conversations_total)):
        if not convs:
            continue
        t = Table(title=f"top {label} conversations (of {n_conv:,})")
        for c in ("a", "b", "frames", "bytes", "a->b", "b->a"):  # addresses wrap, never cut
            t.add_column(c, justify="left" if c in ("a", "b") else "right",
                         overflow="fold" if c in ("a", "b") else "ellipsis")
        for cv in convs[:top]:
            t.add_row(escape(str(cv.a)), escape(str(cv.b)), f"{cv.frames:,}", _size(cv.bytes),
                      _size(cv.bytes_a_to_b), _size(cv.bytes_b_to_a))
        console.print(t)
    if s.top_talkers:
        t = Table(title=f"top talkers (of {s.hosts_total:,} hosts)")
        for c in ("host", "bytes", "sent", "received", "packets"):
            t.add_column(c, justify="left" if c == "host" else "right",
                         overflow="fold" if c == "host" else "ellipsis")
        for h in s.top_talkers[:top]:
            t.add_row(escape(str(h["host"])), _size(h["bytes"]), _size(h["bytes_sent"]),
                      _size(h["bytes_received"]), f"{h['packets']:,}")
        console.print(t)
    if s.vlans:
        console.print("VLANs: " + ", ".join(f"{v['vlan']} ({v['frames']:,} frames)"
                                            for v in s.vlans))
    if s.neighbours:
        t = Table(title="LLDP/CDP neighbours")
        for c in ("protocol", "system", "port", "chassis / platform", "mgmt address",
                  "vlan", "frames"):
            t.add_column(c)
        for n in s.neighbours:
            if n["protocol"] == "lldp":
                row = ("LLDP", str(n["system_name"] or "-"), str(n["port_id"]),
                       str(n["chassis_id"]), ", ".join(n["management_ipv4"]) or "-",
                       str(n["port_vlan_id"] or "-"), str(n["frames"]))
            else:
                row = ("CDP", str(n["device_id"]), str(n["port_id"]),
                       str(n["platform"]), ", ".join(n["addresses_ipv4"]) or "-",
                       str(n["native_vlan"] or "-"), str(n["frames"]))
            t.add_row(*(escape(c) for c in row))
        console.print(t)
    if s.dhcp.get("frames"):
        mt = ", ".join(f"{k} {v}" for k, v in s.dhcp["message_types"].items())
        per = ", ".join(f"VLAN {k}: {v}" for k, v in s.dhcp["clients_per_vlan"].items())
        console.print(escape(f"DHCP: {s.dhcp['frames']} messages ({mt}); clients {per}"))
    if s.stp:
        roots = sorted({f"{b.get('root_priority')}/{b.get('root_mac')}" for b in s.stp})
        console.print(f"STP: {sum(b['frames'] for b in s.stp)} BPDUs, root(s) "
                      + escape(", ".join(roots)))


def _print_merge(m: CaptureMergeResult) -> None:
    """The neighbours-to-district merge as a table and one line of DHCP clients."""
    t = Table(title=f"neighbours in the district (observer: {escape(str(m.observer or '-'))})")
    for c in ("protocol", "system", "port", "vlan", "node", "link"):
        t.add_column(c)
    for r in m.neighbours:
        t.add_row(*(escape(str(r[k] if r[k] is not None else "-")) for k in
                    ("protocol", "system_name", "port", "vlan", "node", "link")))
    console.print(t)
    for a in m.added_links:
        console.print(escape(f"added link {a['key']}: {a['capacity_mbps']:g} Mb/s "
                             f"({a['capacity_source']})"))
    if m.unknown_neighbours:
        console.print(escape("neighbours matching no node: " + ", ".join(
            str(u["system_name"] or u["chassis_id"]) for u in m.unknown_neighbours)))
    if m.clients_per_vlan:
        console.print(escape("DHCP clients (distinct MACs) per VLAN: " + ", ".join(
            f"{k}: {v}" for k, v in m.clients_per_vlan.items())))


def _is_pipe(path: Path) -> bool:
    """True for a FIFO, character device or socket (no size; read as data arrives)."""
    import stat

    try:
        mode = path.stat().st_mode
    except OSError:
        return False  # the reader reports a missing file with its own message
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def capture_cmd(
    file: Annotated[Path | None, typer.Argument(
        help="pcap or pcapng file (format detected from the magic bytes); omit with "
        "--live", show_default=False)] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the summary as "
                                                          "JSON")] = False,
    calibrate_out: Annotated[Path | None, typer.Option(
        "--calibrate", help="write measured application profiles to OUT.yaml and the "
        "'measured' scenario type to OUT.scenarios.yaml (simulator format)",
        show_default=False, metavar="OUT.yaml")] = None,
    mapping: Annotated[Path | None, typer.Option(
        "--mapping", help="YAML file extending the application mapping "
        "(domains/ports -> application)", show_default=False)] = None,
    no_control: Annotated[bool, typer.Option(
        "--no-control-plane", help="skip LLDP/CDP/STP/DHCP decoding (no scapy "
        "needed)")] = False,
    top: Annotated[int, typer.Option("--top", min=1, max=50,
                                     help="rows in the top-N tables")] = 10,
    live: Annotated[str | None, typer.Option(
        "--live", help="capture this interface live (dumpcap) instead of reading FILE",
        show_default=False, metavar="IFACE")] = None,
    seconds: Annotated[float, typer.Option(
        "--seconds", min=1, max=3600, help="with --live: how long to capture")] = 10.0,
    save: Annotated[Path | None, typer.Option(
        "--save", help="with --live: keep the capture in this pcapng file",
        show_default=False)] = None,
    district: Annotated[Path | None, typer.Option(
        "--district", help="merge the LLDP/CDP neighbours and DHCP clients into this "
        "district model (report; write it with --district-out)", show_default=False,
        metavar="D.yaml")] = None,
    observer: Annotated[str | None, typer.Option(
        "--observer", help="with --district: node id of the switch whose port was "
        "captured (neighbours become links to it)", show_default=False,
        metavar="NODE")] = None,
    district_out: Annotated[Path | None, typer.Option(
        "--district-out", help="with --district: write the merged district here",
        show_default=False, metavar="OUT.yaml")] = None,
    max_packets: Annotated[int | None, typer.Option(
        "--max-packets", min=1, help="stop after this many packets (for a FIFO or "
        "pipe that never ends; the summary is marked partial)",
        show_default=False)] = None,
    max_seconds: Annotated[float | None, typer.Option(
        "--max-seconds", min=0.1, help="stop reading after this many seconds (for a "
        "FIFO or pipe; the summary is marked partial)", show_default=False)] = None,
) -> None:
    """Analyse a capture: traffic mix, conversations, talkers, VLANs, LLDP/CDP/DHCP."""
    if (file is None) == (live is None):
        raise typer.BadParameter("give a capture FILE or --live IFACE (not both)")
    # outputs checked before the (long) capture or analysis: one-line errors
    inputs = tuple(p for p in (file, mapping) if p is not None)
    if calibrate_out is not None:
        check_output_file(calibrate_out, "--calibrate", inputs=inputs)
    if save is not None:
        check_output_file(save, "--save", inputs=inputs)
    base = None
    if district is None and (observer is not None or district_out is not None):
        raise typer.BadParameter("--observer and --district-out need --district")
    if district is not None:
        if no_control:
            raise typer.BadParameter("--district needs the control plane (LLDP/CDP/"
                                     "DHCP); drop --no-control-plane")
        from netstage.auditor.capture_merge import check_observer
        from netstage.simulator.io import load_district

        base = load_district(district)
        check_observer(base, observer)
        if district_out is not None:
            check_output_file(district_out, "--district-out", inputs=(*inputs, district))
    if live is not None:
        import tempfile

        from netstage.auditor.capture.live import capture_live

        target = save or Path(tempfile.mkdtemp(prefix="netstage-live-")) / "live.pcapng"
        err_console.print(f"capturing {escape(live)} for {seconds:g} s ...")
        file = capture_live(live, seconds, target)
    assert file is not None
    streaming = _is_pipe(file)
    if streaming and max_packets is None and max_seconds is None:
        err_console.print(f"reading {escape(str(file))} (not a regular file) until its "
                          "writer closes it; --max-packets N or --max-seconds S stop "
                          "earlier", highlight=False)
    with progress() as bar:
        task = bar.add_task(f"reading {escape(file.name)}", total=None)

        def step(done: int, total: int) -> None:
            # a pipe has no size: the bar shows the bytes read so far
            bar.update(task, completed=done, total=total or None)

        from netstage.auditor.capture import analyse_capture

        s = analyse_capture(file, progress=step, mapping=mapping,
                            control_plane=not no_control, max_packets=max_packets,
                            max_seconds=max_seconds)
    written: list[Path] = []
    if calibrate_out is not None:
        from netstage.auditor.capture.calibrate import write_calibration

        written = write_calibration(s, calibrate_out)
    merged = None
    if base is not None:
        from netstage.auditor.capture_merge import merge_capture

        merged = merge_capture(base, s, observer=observer)
        if district_out is not None:
            from netstage.simulator.io import dump_district

            with atomic_output(district_out, "--district-out") as tmp:
                tmp.write_text(dump_district(merged.district), encoding="utf-8")
            written.append(district_out)
    if json_out:
        print_json(s.to_json() if merged is None
                   else {**s.to_json(), "district_merge": merged.to_json()})
        if not s.complete:
            err_console.print(f"[yellow]warning:[/] reading stopped at byte offset "
                              f"{s.stopped_at_offset}: {escape(str(s.stop_reason))}")
    else:
        print_summary(s, top=top)
        if merged is not None:
            _print_merge(merged)
    for p in written:
        err_console.print(f"wrote {escape(str(p))}", highlight=False)


def synth_cmd(
    out: Annotated[Path, typer.Argument(help="pcapng file to write",
                                        show_default=False)],
    seed: Annotated[int, typer.Option("--seed", help="random seed (same seed, same "
                                                     "bytes)")] = 2026,
    seconds: Annotated[float, typer.Option("--seconds", min=5, max=600,
                                           help="capture length")] = 40.0,
) -> None:
    """Write the synthetic school demo capture (the bundled one is the default)."""
    from netstage.auditor.capture.synth import write_synthetic_capture

    p = write_synthetic_capture(out, seed=seed, seconds=seconds)
    console.print(f"wrote {escape(str(p))} ({_size(p.stat().st_size)})", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``capture`` and ``capture-synth`` to ``app``."""
    app.command("capture")(capture_cmd)
    app.command("capture-synth")(synth_cmd)
