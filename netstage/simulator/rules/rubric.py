"""The versioned rubric (``simulator/data/rubric.yaml``) and user overrides of it.

An overrides file changes threshold values only::

    # my-district-rubric.yaml
    rules:
      R-NOW:
        max_unserved_p95: 0.03      # stricter than the default 5 %
      R-TARGET:
        min_internet_kbps_per_student_stage4: 1500

Unknown rule ids, unknown threshold names and values of the wrong type or out of
range are :class:`~netstage.simulator.errors.ConfigError` naming ``file:line``.
Every override is kept in :attr:`Rubric.overrides` so reports print them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from netstage.simulator.datafiles import load_data_yaml
from netstage.simulator.errors import ConfigError
from netstage.simulator.io import LineMap, format_loc, load_yaml_located

__all__ = [
    "RENAMED_FACTS",
    "SECURITY_FACTS",
    "Override",
    "Rubric",
    "RuleSpec",
    "Threshold",
    "apply_overrides",
    "default_rubric",
    "load_overrides",
    "parse_overrides",
]

# Facts an R-SECURITY stage list may name (an override may reorder or drop them).
SECURITY_FACTS = (
    "edge_firewall", "content_filter", "default_write_communities_removed",
    "segmentation", "snmp_v3_only", "dot1x",
)
#: Fact names renamed so that ``true`` reads as the good state (old name -> new name);
#: a rubric override or upgrade catalogue naming the old one still works.
RENAMED_FACTS = {"no_default_write_community": "default_write_communities_removed",
                 "no_default_read_community": "default_read_communities_removed"}


@dataclass(frozen=True)
class Threshold:
    name: str
    value: Any
    unit: str
    stage: int
    source: str
    min: float | None = None
    max: float | None = None
    integer: bool = False
    default: Any = None

    @property
    def overridden(self) -> bool:
        return bool(self.value != self.default)

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "default": self.default, "unit": self.unit,
                "stage": self.stage, "source": self.source, "overridden": self.overridden}


@dataclass(frozen=True)
class RuleSpec:
    rule_id: str
    title: str
    smith: str
    fail_allows: int
    thresholds: dict[str, Threshold]
    scenario: str | None = None


@dataclass(frozen=True)
class Override:
    rule_id: str
    name: str
    value: Any
    default: Any
    where: str

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule_id, "threshold": self.name, "value": self.value,
                "default": self.default, "where": self.where}

    def __str__(self) -> str:
        return f"{self.rule_id}.{self.name} = {self.value} (default {self.default}; {self.where})"


@dataclass(frozen=True)
class Rubric:
    version: str
    percentile: float
    rules: dict[str, RuleSpec]
    overrides: tuple[Override, ...] = field(default_factory=tuple)

    def value(self, rule_id: str, name: str) -> Any:
        return self.rules[rule_id].thresholds[name].value

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "overrides": [o.to_json() for o in self.overrides],
            "rules": {rid: {"title": r.title, "smith": r.smith, "fail_allows": r.fail_allows,
                            "thresholds": {k: t.to_json() for k, t in r.thresholds.items()}}
                      for rid, r in self.rules.items()},
        }


def default_rubric() -> Rubric:
    """The shipped rubric, without overrides."""
    raw = load_data_yaml("rubric.yaml")
    rules: dict[str, RuleSpec] = {}
    for rid, r in raw["rules"].items():
        ths = {
            name: Threshold(name=name, value=t["value"], unit=str(t.get("unit", "")),
                            stage=int(t["stage"]), source=str(t["source"]), min=t.get("min"),
                            max=t.get("max"), integer=bool(t.get("integer", False)),
                            default=t["value"])
            for name, t in r["thresholds"].items()
        }
        rules[rid] = RuleSpec(rule_id=rid, title=r["title"], smith=r["smith"],
                              fail_allows=int(r["fail_allows"]), thresholds=ths,
                              scenario=r.get("scenario"))
    policy = raw["policy"]
    return Rubric(version=str(raw["version"]), percentile=float(policy["percentile"]),
                  rules=rules)


def _check_value(t: Threshold, value: Any, where: str, path: str) -> Any:
    if isinstance(t.default, list):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: {path}: expected a list of fact names "
                              f"({', '.join(SECURITY_FACTS)}), got {value!r}")
        value = [RENAMED_FACTS.get(v, v) for v in value]
        bad = [v for v in value if v not in SECURITY_FACTS]
        if bad:
            raise ConfigError(f"{where}: {path}: unknown fact(s) {', '.join(bad)}; "
                              f"known: {', '.join(SECURITY_FACTS)}")
        return list(value)
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or (isinstance(value, int) and value.bit_length() > 1000)
            or not math.isfinite(value)):
        raise ConfigError(f"{where}: {path}: expected a number ({t.unit}), got {value!r}; "
                          f"the default is {t.default}")
    if t.integer and float(value) != int(value):
        raise ConfigError(f"{where}: {path}: expected a whole number ({t.unit}), got {value!r}")
    if (t.min is not None and value < t.min) or (t.max is not None and value > t.max):
        raise ConfigError(f"{where}: {path}: {value} is out of range [{t.min}, {t.max}] "
                          f"({t.unit}); the default is {t.default}")
    return int(value) if t.integer else value


def parse_overrides(data: Any, lines: LineMap | None = None,
                    base: Rubric | None = None) -> list[Override]:
    """Validate override data (as parsed from YAML); raise located ConfigError."""
    base = base or default_rubric()
    lines = lines or LineMap("<overrides>")
    if data is None:
        return []
    if not isinstance(data, dict):
        raise ConfigError(f"{lines.where(())}: expected a mapping with a 'rules' key")
    extra = [k for k in data if k not in ("rules", "note")]
    if extra:
        raise ConfigError(f"{lines.where((extra[0],))}: {extra[0]}: unknown key; an overrides "
                          "file has 'rules' (and an optional 'note')")
    rules = data.get("rules") or {}
    if not isinstance(rules, dict):
        raise ConfigError(f"{lines.where(('rules',))}: rules: expected a mapping of rule ids")
    out: list[Override] = []
    for rid, ths in rules.items():
        loc: tuple[str, ...] = ("rules", str(rid))
        if rid not in base.rules:
            raise ConfigError(f"{lines.where(loc)}: {format_loc(loc)}: unknown rule id "
                              f"'{rid}'; known: {', '.join(base.rules)}")
        spec = base.rules[rid]
        if not isinstance(ths, dict):
            raise ConfigError(f"{lines.where(loc)}: {format_loc(loc)}: expected a mapping of "
                              f"threshold names to values ({', '.join(spec.thresholds)})")
        for name, value in ths.items():
            tloc = (*loc, str(name))
            if name not in spec.thresholds:
                raise ConfigError(f"{lines.where(tloc)}: {format_loc(tloc)}: unknown threshold "
                                  f"'{name}' of {rid}; it has: {', '.join(spec.thresholds)}")
            t = spec.thresholds[name]
            checked = _check_value(t, value, lines.where(tloc), format_loc(tloc))
            out.append(Override(rid, str(name), checked, t.default, lines.where(tloc)))
    return out


def load_overrides(path: str | Path) -> list[Override]:
    """Read and validate an overrides YAML file (located errors)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such rubric overrides file; check the path") from None
    except IsADirectoryError:
        raise ConfigError(f"{p}: is a directory; give --rubric the overrides YAML file") \
            from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read the rubric overrides: {exc}") from None
    data, lines = load_yaml_located(text, str(p))
    return parse_overrides(data, lines)


def apply_overrides(rubric: Rubric, overrides: list[Override]) -> Rubric:
    """A new rubric with ``overrides`` applied (the originals stay as defaults)."""
    rules = dict(rubric.rules)
    for o in overrides:
        spec = rules[o.rule_id]
        ths = dict(spec.thresholds)
        ths[o.name] = replace(ths[o.name], value=o.value)
        rules[o.rule_id] = replace(spec, thresholds=ths)
    return replace(rubric, rules=rules, overrides=rubric.overrides + tuple(overrides))
