"""The accumulators of one capture analysis, filled chunk by chunk and read at the end."""

from __future__ import annotations

from netstage.auditor.capture.aggregate import KeyedSums, Totals
from netstage.auditor.capture.quic import HelloAssembler


class _State:
    """Accumulators of one analysis."""

    def __init__(self, control_plane: bool) -> None:
        self.totals = Totals()
        self.conv = KeyedSums(n_sum=2, n_min=2, n_max=1)  # bytes, frames | ts, index | ts
        self.conv6 = KeyedSums(n_sum=2, n_min=2, n_max=1)  # same, keys src16+dst16 (void)
        self.flow4 = KeyedSums(n_sum=3, n_min=1, n_max=1)  # bytes, frames, bytes_a2b
        self.flow6 = KeyedSums(n_sum=3, n_min=1, n_max=1)
        self.bins = KeyedSums(n_sum=1)
        self.vlan = KeyedSums(n_sum=2)  # frames, bytes
        self.vlan_frames = 0
        self.v4 = 0
        self.v6 = 0
        self.control_plane = control_plane
        self.control: dict[tuple[str, bytes, str | None, int], list[int]] = {}
        self.control_dropped = 0
        self.sni: dict[bytes, str] = {}
        self.sni_count: dict[str, int] = {}
        # flow -> (client port, hello bytes so far, file index of the hello's first frame)
        self.tls_pending: dict[bytes, tuple[int, bytearray, int]] = {}
        self.quic: dict[tuple[bytes, bytes], HelloAssembler] = {}
        self.quic_tried = 0
        self.quic_hellos = 0
        self.dns_ip: dict[bytes, str] = {}
        self.dns_parsed = 0
        self.dns_count: dict[str, int] = {}
