"""Reading and writing district files (YAML) with located error messages.

:func:`load_yaml_located` parses YAML and remembers the line of every mapping key
and sequence item, so that a pydantic error at ``links[3].capacity_mbps`` becomes
``district.yaml:42: links[3].capacity_mbps: ...``. Duplicate keys, which plain
PyYAML silently overwrites, are errors here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from netstage.simulator.errors import ConfigError, TopologyError
from netstage.simulator.examples import resolve_district
from netstage.simulator.model import District, problems

__all__ = [
    "LineMap",
    "district_from_dict",
    "dump_district",
    "ensure_output_dir",
    "format_loc",
    "load_district",
    "load_model",
    "load_yaml_located",
]

M = TypeVar("M", bound=BaseModel)


class LineMap:
    """Line numbers (1-based) of the items of a parsed YAML document, keyed by path."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._lines: dict[tuple[str, ...], int] = {}

    def set(self, path: tuple[str, ...], line: int) -> None:
        self._lines.setdefault(path, line)

    def line(self, loc: Sequence[str | int]) -> int | None:
        """Line of the longest prefix of ``loc`` that the document has."""
        key = tuple(str(x) for x in loc)
        while key:
            if key in self._lines:
                return self._lines[key]
            key = key[:-1]
        return self._lines.get((), None)

    def where(self, loc: Sequence[str | int]) -> str:
        line = self.line(loc)
        return f"{self.source}:{line}" if line is not None else self.source


def format_loc(loc: Sequence[str | int]) -> str:
    """``('links', 3, 'b')`` -> ``links[3].b``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _walk(node: yaml.Node, path: tuple[str, ...], lines: LineMap, source: str) -> None:
    lines.set(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                raise ConfigError(
                    f"{source}:{key_node.start_mark.line + 1}: duplicate key '{key}' "
                    f"(first at line {seen[key]}); remove one of them"
                )
            seen[key] = key_node.start_mark.line + 1
            lines.set((*path, key), key_node.start_mark.line + 1)
            _walk(value_node, (*path, key), lines, source)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, str(i)), lines, source)


def load_yaml_located(text: str, source: str) -> tuple[Any, LineMap]:
    """Parse YAML ``text``; return the data and a :class:`LineMap`.

    Raises :class:`ConfigError` naming ``source`` and the line for syntax errors.
    """
    lines = LineMap(source)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ConfigError(
            f"{where}: malformed YAML: {exc.problem or exc.context}; fix the syntax there"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: malformed YAML: {exc}") from None
    if root is not None:
        _walk(root, (), lines, source)
    return data, lines


def _validation_message(exc: ValidationError, lines: LineMap, what: str,
                        schema_hint: bool = True) -> str:
    rows = []
    for err in exc.errors():
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        msg = err["msg"]
        if loc and loc[-1] == "[key]":  # the key itself is wrong, not its value
            loc = loc[:-1]
            msg = f"key '{loc[-1] if loc else ''}' is not allowed here: {msg}"
        if err["type"] == "extra_forbidden":
            msg = ("unknown field (check the spelling; see `netstage schema`)" if schema_hint
                   else "unknown field (check the spelling)")
        rows.append(f"  {lines.where(loc)}: {format_loc(loc)}: {msg}")
    n = len(rows)
    return f"{what} is invalid ({n} problem{'s' if n != 1 else ''}):\n" + "\n".join(rows)


def load_model(path: str | Path, model: type[M], what: str | None = None) -> tuple[M, LineMap]:
    """Load a YAML file into a pydantic model with located errors."""
    p = Path(path)
    what = what or f"{p}"
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such file; check the path") from None
    except IsADirectoryError:
        raise ConfigError(f"{p}: is a directory; give the YAML file inside it") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not a UTF-8 text file (byte {exc.start} is 0x"
                          f"{exc.object[exc.start]:02x}); give a YAML file") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror or exc}") from None
    data, lines = load_yaml_located(text, str(p))
    if data is None:
        kind = "" if what == str(p) else f" ({what.removesuffix(str(p)).strip()})"
        raise ConfigError(f"{p}: the file is empty (or only comments); expected YAML "
                          f"'key: value' lines{kind}")
    if not isinstance(data, dict):
        raise ConfigError(f"{p}:1: expected a mapping ('key: value' lines) at the top level, "
                          f"got a {_yaml_kind(data)}; is this the right file?")
    try:
        obj = model.model_validate(data)
    except ValidationError as exc:
        message = _validation_message(exc, lines, what, schema_hint=model is District)
        if model is not District and {"sites", "nodes", "links"} <= set(map(str, data)):
            message = (f"{p} looks like a district file, not the expected file here; "
                       f"check the argument order\n{message}")
        raise ConfigError(message) from None
    return obj, lines


def _yaml_kind(data: Any) -> str:
    if isinstance(data, list):
        return "list"
    if isinstance(data, str):
        return "plain text"
    return type(data).__name__


def district_from_dict(data: dict[str, Any], source: str = "<district>") -> District:
    """Validate a district given as a dict (no line numbers); raise on any problem."""
    lines = LineMap(source)
    try:
        d = District.model_validate(data)
    except ValidationError as exc:
        raise TopologyError(_validation_message(exc, lines, source)) from None
    _raise_problems(d, lines, source)
    return d


def _raise_problems(d: District, lines: LineMap, source: str) -> None:
    found = problems(d)
    if found:
        rows = [f"  {lines.where(p.loc)}: {format_loc(p.loc)}: {p.message}" for p in found]
        n = len(rows)
        raise TopologyError(
            f"{source} is inconsistent ({n} problem{'s' if n != 1 else ''}):\n" + "\n".join(rows)
        )


def load_district(path: str | Path) -> District:
    """Load and check a district YAML file (or ``example:NAME``, a shipped example).

    Raises :class:`ConfigError` / :class:`TopologyError` whose message lists every
    problem as ``file:line: path: message``.
    """
    path = resolve_district(path)
    if path.suffix.lower() in (".graphml", ".xml", ".gml"):
        raise TopologyError(f"{path}: a GraphML file, but this command reads district YAML; "
                            f"convert it first: netstage import graphml {path} --out "
                            "district.yaml")
    try:
        d, lines = load_model(path, District)
    except TopologyError:
        raise
    except ConfigError as exc:
        raise TopologyError(str(exc)) from None
    _raise_problems(d, lines, str(path))
    return d


def dump_district(d: District) -> str:
    """The district as YAML text (defaults omitted, so the file stays short)."""
    data = d.model_dump(mode="json", exclude_defaults=True)
    # keep the district block even where everything in it is a default
    data.setdefault("district", {"name": d.district.name})
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def ensure_output_dir(path: str | Path, option: str = "--out", what: str = "output") -> Path:
    """Create the output directory ``path`` (and parents) before any long work starts.

    Raises :class:`ConfigError` naming the path, what it is for and the option to change
    when it cannot be created or written (an existing file of that name, a read-only
    location, ...). Used by every command and library function that writes a directory.
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ConfigError(f"{p}: exists and is not a directory; give {option} a directory "
                          f"for the {what} (it is created if missing)")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{p}: cannot create the {what} directory "
                          f"({exc.strerror or exc}); give {option} a writable directory") \
            from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise ConfigError(f"{p}: the {what} directory is not writable; give {option} a "
                          "writable directory")
    return p
