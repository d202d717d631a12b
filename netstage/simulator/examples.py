"""The example districts shipped with netstage (``netstage/topologies/``), by name.

Every command that reads a district also takes ``example:NAME``, where NAME is a file in
``netstage/topologies`` with or without ``.yaml`` or a unique prefix of one
(``example:stage2`` is ``stage2-organic.yaml``). They are package data, so they work the
same from a source checkout and from an installed wheel.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from netstage.simulator.errors import TopologyError

__all__ = ["EXAMPLE_PREFIX", "bundled_capture", "example_names", "resolve_district",
           "topologies_dir"]

EXAMPLE_PREFIX = "example:"


def topologies_dir() -> Path:
    """The folder of the shipped example districts (and ``captures/``)."""
    return Path(str(resources.files("netstage") / "topologies"))


def example_names() -> list[str]:
    """Names of the shipped example districts (file names without ``.yaml``)."""
    return sorted(p.stem for p in topologies_dir().glob("*.yaml"))


def resolve_district(ref: str | Path) -> Path:
    """A district argument as a path: ``example:NAME`` names a shipped example."""
    text = str(ref)
    if not text.startswith(EXAMPLE_PREFIX):
        return Path(ref)
    name = text[len(EXAMPLE_PREFIX):].removesuffix(".yaml")
    names = example_names()
    if name in names:
        return topologies_dir() / f"{name}.yaml"
    matches = [n for n in names if n.startswith(name)] if name else []
    if len(matches) == 1:
        return topologies_dir() / f"{matches[0]}.yaml"
    which = "matches several shipped examples" if matches else "matches no shipped example"
    raise TopologyError(f"{text}: {which}; use one of: "
                        + ", ".join(f"example:{n}" for n in names))


def bundled_capture() -> Path:
    """The capture shipped with netstage (made by ``netstage.auditor.capture.synth``)."""
    caps = sorted((topologies_dir() / "captures").glob("*.pcap*"))
    if not caps:
        raise TopologyError(f"{topologies_dir() / 'captures'}: no bundled capture; pass "
                            "--capture FILE or --no-capture")
    return caps[0]
