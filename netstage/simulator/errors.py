"""The one exception tree of netstage.

Every error a user can act on derives from :class:`NetstageError`. Messages say
*what* was wrong, *where* (file:line, OID, byte offset, device) and *what to do*.
The CLI prints them without a traceback and exits with code 1.
"""

from __future__ import annotations

__all__ = [
    "CaptureFormatError",
    "CollectorError",
    "ConfigError",
    "MissingExtraError",
    "NetstageError",
    "NetstageWarning",
    "SimulationError",
    "TopologyError",
]


class NetstageError(Exception):
    """Root of every error netstage raises on purpose."""


class NetstageWarning(UserWarning):
    """Something in an input was accepted but should be changed (the CLI prints it as
    ``warning: file:line: what: what to do``)."""


class ConfigError(NetstageError):
    """A configuration, profile, rubric or inventory file is malformed."""


class TopologyError(ConfigError):
    """A district model is malformed or inconsistent (unknown node, no path, ...)."""


class SimulationError(NetstageError):
    """A simulation cannot run on the given inputs (e.g. NaN in a profile)."""


class CollectorError(NetstageError):
    """A collector could not run at all (per-device failures are results instead)."""


class CaptureFormatError(NetstageError):
    """A capture file cannot be read; the message names the byte offset."""


class MissingExtraError(NetstageError):
    """An optional dependency is not installed; the message names the extra."""

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(
            f"{module} is not installed; install it with: pip install 'netstage[{extra}]'"
        )
        self.module = module
        self.extra = extra
