"""igraph, imported without its matplotlib drawing backend.

``import igraph`` imports ``matplotlib.pyplot`` when matplotlib is installed (its
drawing backends probe for it at import time), which costs 0.5-2 s of a command's
start-up; netstage uses igraph for graph algorithms only and never draws with it.
When matplotlib is not loaded yet, it is hidden from that one import (igraph then
keeps a placeholder for its plotting functions); matplotlib itself still imports
normally afterwards (charts, reports). If anything loaded matplotlib first, igraph is
imported as usual.
"""

from __future__ import annotations

import sys
from types import ModuleType


def _load() -> ModuleType:
    if "igraph" in sys.modules or "matplotlib" in sys.modules:
        import igraph

        return igraph
    sys.modules["matplotlib"] = None  # type: ignore[assignment]  # -> ImportError inside
    try:
        import igraph
    finally:
        if "matplotlib" in sys.modules and sys.modules["matplotlib"] is None:
            del sys.modules["matplotlib"]
    return igraph


ig = _load()

__all__ = ["ig"]
