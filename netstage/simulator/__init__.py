"""netstage.simulator: the pure core (district model, demand, capacity, redundancy,
stage rules, planner, charts). It never imports :mod:`netstage.auditor`."""

import os as _os
import tempfile as _tempfile

# numba caches compiled kernels beside the source, else in the user's cache folder. A
# system-wide install run by a user without a writable home (a service account, `nobody`)
# has neither, and numba then fails with "no locator available"; a per-user folder in
# the temporary directory keeps the kernels cached instead. An explicit NUMBA_CACHE_DIR
# always wins.
if "NUMBA_CACHE_DIR" not in _os.environ and not _os.access(_os.path.dirname(__file__),
                                                           _os.W_OK):
    _home_cache = _os.path.join(_os.path.expanduser("~"), ".cache")
    if not _os.access(_home_cache if _os.path.isdir(_home_cache)
                      else _os.path.expanduser("~"), _os.W_OK):
        _os.environ["NUMBA_CACHE_DIR"] = _os.path.join(
            _tempfile.gettempdir(), f"netstage-numba-{_os.getuid()}")

from netstage.simulator.errors import (
    CaptureFormatError,
    CollectorError,
    ConfigError,
    MissingExtraError,
    NetstageError,
    SimulationError,
    TopologyError,
)

__all__ = [
    "CaptureFormatError",
    "CollectorError",
    "ConfigError",
    "MissingExtraError",
    "NetstageError",
    "SimulationError",
    "TopologyError",
]
