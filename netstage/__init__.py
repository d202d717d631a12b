"""netstage: how ready is a school district's network for one device per student?

Library use in five lines (``docs/library.md``)::

    import netstage as ns
    s = ns.load("example:stage2")      # a district YAML file, or a shipped example
    s.classify().stage                 # Stage 1-4, every rule's verdict and evidence
    s.plan(target=4)                   # the cheapest verified upgrades
    s.report("out/")                   # HTML, JSON, PDF and charts

The layers, each importing only the ones below it (checked by import-linter):

* :mod:`netstage.cli` - the ``netstage`` command line, a thin layer over the library
* :mod:`netstage.auditor` - SNMP and capture collectors, history store (the edge)
* :mod:`netstage.simulator` - district model, simulation, stage, plan, charts (pure core)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from netstage.simulator.errors import NetstageError

if TYPE_CHECKING:
    from netstage.simulator.study import Study, load

__version__ = "0.1.0"
__all__ = ["NetstageError", "Study", "__version__", "load"]


def __getattr__(name: str) -> Any:
    # The simulation stack (numpy, numba, matplotlib) loads only when the API is used, so
    # `import netstage.auditor...` and the CLI's start-up stay light.
    if name in ("Study", "load"):
        from netstage.simulator import study

        return getattr(study, name)
    raise AttributeError(f"module 'netstage' has no attribute {name!r}")
