"""Capture auditor: fast pcap/pcapng analysis (traffic mix, conversations, VLANs,
LLDP/CDP/STP/DHCP facts) and calibration of the simulator's demand profiles.

Public API::

    analyse_capture(path, *, progress=None, mapping=None) -> CaptureSummary
    calibrate(summary) -> dict            # simulator profile format
    write_synthetic_capture(path, ...)    # the project's own demo capture
"""

from __future__ import annotations

from netstage.auditor.capture.analyse import CaptureSummary, Conversation, analyse_capture
from netstage.auditor.capture.apps import AppMapping, load_mapping

__all__ = [
    "AppMapping",
    "CaptureSummary",
    "Conversation",
    "analyse_capture",
    "load_mapping",
]
