"""Access to the data files shipped in ``netstage/simulator/data`` (profiles, rubric,
catalogs, defaults). Numbers from standards and vendors live there, with sources."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from netstage.simulator.errors import ConfigError

__all__ = ["data_path", "load_data_yaml"]

_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def data_path(name: str) -> str:
    """Filesystem path of a shipped data file (for messages and docs)."""
    return str(resources.files("netstage.simulator") / "data" / name)


@lru_cache(maxsize=32)
def load_data_yaml(name: str) -> Any:
    """Parse a shipped YAML data file (cached; treat the result as read-only)."""
    ref = resources.files("netstage.simulator") / "data" / name
    try:
        # libyaml's C parser where PyYAML has it (10x faster on the shipped tables, which
        # every run reads); the shipped files are ours, so the safe loaders are equivalent.
        return yaml.load(ref.read_text(encoding="utf-8"), Loader=_LOADER)
    except FileNotFoundError:
        raise ConfigError(f"shipped data file {name} is missing; reinstall netstage") from None
