"""netstage.simulator: the pure core (district model, demand, capacity, redundancy,
stage rules, planner, charts). It never imports :mod:`netstage.auditor`."""

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
