"""netstage.auditor: the edge. Inventory and credentials, collectors (SNMP, capture,
replay), the poll-history store, normalisation into the district model, and the CLI."""

__all__: list[str] = []
