"""SNMP collection: credentials, numeric OIDs, the live pysnmp collector and the replay
collector, and the one parser from walked values to :class:`~netstage.auditor.facts.DeviceFacts`.

Import the pieces from their modules (``netstage.auditor.snmp.live.SnmpCollector``,
``netstage.auditor.snmp.collector.ReplayCollector``); this package file stays light so
that importing the replay side does not pull in pysnmp.
"""

from __future__ import annotations

__all__: list[str] = []
