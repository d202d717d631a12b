"""netstage: how ready is a school district's network for one device per student?

The two halves live in one import namespace:

* :mod:`netstage.simulator` - district model, simulation, stage, plan, charts (pure core)
* :mod:`netstage.auditor` - SNMP and capture collectors, history store, CLI (the edge)
"""

from netstage.simulator.errors import NetstageError

__version__ = "0.1.0"
__all__ = ["NetstageError", "__version__"]
