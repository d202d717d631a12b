"""Importers: other sources of truth as districts (GraphML; NetBox lives in the auditor)."""

from __future__ import annotations

from netstage.simulator.importers.graphml import GraphmlImport, import_graphml, read_graphml

__all__ = ["GraphmlImport", "import_graphml", "read_graphml"]
