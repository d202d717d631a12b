"""Reading and writing district files (YAML) with located error messages.

:func:`load_yaml_located` parses YAML and remembers the line of every mapping key
and sequence item, so that a pydantic error at ``links[3].capacity_mbps`` becomes
``district.yaml:42: links[3].capacity_mbps: ...``. Duplicate keys, which plain
PyYAML silently overwrites, are errors here.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from netstage.simulator.errors import ConfigError, NetstageWarning, TopologyError
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
    "max_input_bytes",
]

M = TypeVar("M", bound=BaseModel)


class LineMap:
    """Line numbers (1-based) of the items of a parsed YAML document, keyed by path."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._lines: dict[tuple[str, ...], int] = {}
        self._texts: dict[tuple[str, ...], str] = {}

    def set(self, path: tuple[str, ...], line: int) -> None:
        self._lines.setdefault(path, line)

    def set_text(self, path: tuple[str, ...], text: str) -> None:
        """Remember the text of an unquoted number (``17.10`` before it became 17.1)."""
        self._texts.setdefault(path, text)

    def text(self, loc: Sequence[str | int]) -> str | None:
        """The written text of the unquoted number at ``loc`` (None if not a number)."""
        return self._texts.get(tuple(str(x) for x in loc))

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


# Limits of an input YAML file. A district of 10,000 devices is about 2 MB of YAML, so the
# size limit leaves room; NETSTAGE_MAX_INPUT_MB (or the global --max-input-mb option)
# raises it. The depth limit is far beyond any netstage format (about 6 levels) and far
# below Python's recursion limit. The expanded-value limit bounds what aliases
# (``*name``) may expand to, so a few hundred bytes cannot become gigabytes.
MAX_INPUT_MB_DEFAULT = 16.0
MAX_DEPTH = 64
MAX_EXPANDED_VALUES = 1_000_000
MAX_ALIASES = 100_000  # e.g. '<<: *defaults' on every target of a large inventory
_ENV_MAX_MB = "NETSTAGE_MAX_INPUT_MB"


def max_input_bytes() -> int:
    """The size limit of an input YAML file in bytes (``NETSTAGE_MAX_INPUT_MB``)."""
    raw = os.environ.get(_ENV_MAX_MB, "").strip()
    if not raw:
        return int(MAX_INPUT_MB_DEFAULT * 1024 * 1024)
    try:
        mb = float(raw)
    except ValueError:
        raise ConfigError(f"{_ENV_MAX_MB}={raw!r}: not a number; give the limit in MB, "
                          f"e.g. {_ENV_MAX_MB}=64") from None
    if not math.isfinite(mb) or mb <= 0:
        raise ConfigError(f"{_ENV_MAX_MB}={raw!r}: must be a positive number of MB")
    return int(mb * 1024 * 1024)


_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present


class _InputLoader(_BaseLoader):
    """PyYAML's safe loader (libyaml's parser when installed) with an iterative composer.

    PyYAML's own composer is recursive (one Python frame per level) and follows alias
    cycles; :meth:`compose_checked` builds the same node graph from the parser's events
    with an explicit stack, refuses nesting deeper than :data:`MAX_DEPTH`, an alias to
    a node that is still open (``a: &a [*a]``, a cycle), an undefined alias and more
    than :data:`MAX_ALIASES` aliases. What the aliases expand to is checked afterwards
    by :func:`_check_expansion` without expanding anything.
    """

    def __init__(self, stream: str, source: str) -> None:
        super().__init__(stream)
        self._source = source
        # (id of the parent collection, position in its value list) -> line of an alias
        self.alias_lines: dict[tuple[int, int], int] = {}
        # filled by compose_checked: with no alias the node graph is a tree, its node
        # count and height are what _check_expansion would compute (so it is skipped)
        self.aliases = 0
        self.nodes = 0
        self.height = 0

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:  # e.g. a date PyYAML cannot represent
            raise ConfigError(f"{self._source}:{node.start_mark.line + 1}: unreadable value "
                              f"{str(node.value)[:40]!r} ({exc}); quote it to keep it as "
                              "text") from None

    def _fail(self, event: Any, what: str, todo: str) -> ConfigError:
        line = event.start_mark.line + 1 if event.start_mark is not None else "?"
        return ConfigError(f"{self._source}:{line}: {what}; {todo}")

    def compose_checked(self) -> yaml.Node | None:
        """The document's root node (None for an empty stream), composed iteratively."""
        self.get_event()  # StreamStart
        if self.check_event(yaml.StreamEndEvent):
            self.get_event()
            return None
        self.get_event()  # DocumentStart
        anchors: dict[str, yaml.Node] = {}
        stack: list[yaml.CollectionNode] = []
        pending_key: list[yaml.Node | None] = []
        root: yaml.Node | None = None
        aliases = 0
        while True:
            event: Any = self.get_event()
            if isinstance(event, yaml.DocumentEndEvent):
                break
            if isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
                done = stack.pop()
                done.end_mark = event.end_mark
                pending_key.pop()
                continue
            node: yaml.Node
            start: Any = event.start_mark
            end: Any = event.end_mark
            name: Any = getattr(event, "anchor", None)
            if isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > MAX_ALIASES:
                    raise self._fail(event, f"more than {MAX_ALIASES} aliases (*name)",
                                     "write the values out instead of referring to anchors")
                found = anchors.get(name)
                if found is None:
                    raise self._fail(event, f"alias *{event.anchor} has no anchor "
                                     f"&{event.anchor} before it", "define the anchor first "
                                     "or write the value out")
                if isinstance(found, yaml.CollectionNode) and found.end_mark is None:
                    raise self._fail(event, f"alias *{event.anchor} refers to a value that "
                                     "contains it (a cycle)",
                                     "write the value out instead of using the alias")
                node = found
            elif isinstance(event, yaml.ScalarEvent):
                self.nodes += 1
                if len(stack) >= self.height:
                    self.height = len(stack) + 1
                tag = event.tag
                if tag is None or tag == "!":
                    tag = self.resolve(yaml.ScalarNode, event.value, event.implicit)
                node = yaml.ScalarNode(tag, event.value, start, end,
                                       style=event.style)
            elif isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
                if len(stack) >= MAX_DEPTH:
                    raise self._fail(event, f"nested more than {MAX_DEPTH} levels deep",
                                     "flatten the structure (no netstage file needs more "
                                     "than a few levels)")
                self.nodes += 1
                if len(stack) >= self.height:
                    self.height = len(stack) + 1
                seq = isinstance(event, yaml.SequenceStartEvent)
                cls = yaml.SequenceNode if seq else yaml.MappingNode
                tag = event.tag
                if tag is None or tag == "!":
                    tag = self.resolve(cls, None, event.implicit)
                node = cls(tag, [], start, None, flow_style=event.flow_style)
            else:  # pragma: no cover - the parser emits nothing else inside a document
                raise self._fail(event, f"unexpected YAML event {type(event).__name__}",
                                 "check the file")
            anchor = getattr(event, "anchor", None)
            if anchor is not None and not isinstance(event, yaml.AliasEvent):
                anchors[anchor] = node
            if not stack:
                root = node
            else:
                parent = stack[-1]
                if isinstance(event, yaml.AliasEvent):
                    self.alias_lines[(id(parent), len(parent.value))] = start.line + 1
                if isinstance(parent, yaml.SequenceNode):
                    parent.value.append(node)
                elif pending_key[-1] is None:
                    pending_key[-1] = node
                else:
                    parent.value.append((pending_key[-1], node))
                    pending_key[-1] = None
            if isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
                assert isinstance(node, yaml.CollectionNode)
                stack.append(node)
                pending_key.append(None)
        if not self.check_event(yaml.StreamEndEvent):
            raise self._fail(self.get_event(), "a second YAML document ('---') in the file",
                             "keep one document per file")
        self.get_event()
        self.aliases = aliases
        return root


def _check_expansion(root: yaml.Node, source: str) -> None:
    """Refuse a document whose aliases would expand to too many or too deep values.

    Counts, without expanding, how many values each node stands for once every alias
    is written out (a node shared by aliases counts once per use), iteratively.
    """
    count: dict[int, int] = {}
    depth: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if key in count:
            continue
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                children += (k, v)
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        if not done:
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in count)
            continue
        n = 1 + sum(count.get(id(c), 1) for c in children)
        d = 1 + max((depth.get(id(c), 1) for c in children), default=0)
        if n > MAX_EXPANDED_VALUES or d > MAX_DEPTH:
            what = (f"the aliases (*name) here expand to more than {MAX_EXPANDED_VALUES:,} "
                    "values" if n > MAX_EXPANDED_VALUES else
                    f"the aliases (*name) here expand to more than {MAX_DEPTH} levels of "
                    "nesting")
            raise ConfigError(f"{source}:{node.start_mark.line + 1}: {what}; write the "
                              "values out instead of nesting aliases")
        count[key] = n
        depth[key] = d


def _walk(root: yaml.Node, lines: LineMap, source: str,
          alias_lines: dict[tuple[int, int], int]) -> None:
    """Record the line of every key and item; refuse duplicate keys (iteratively).

    A node reached again through an alias is not walked again: paths below an alias
    take the alias's line.
    """
    seen_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, tuple[str, ...], int]] = [(root, (), root.start_mark.line + 1)]
    while stack:
        node, path, line = stack.pop()
        lines.set(path, line)
        if isinstance(node, yaml.ScalarNode):
            if node.tag in _NUMBER_TAGS:
                lines.set_text(path, node.value)
            continue
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for pos, (key_node, value_node) in enumerate(node.value):
                key = str(key_node.value)
                if key in seen:
                    raise ConfigError(
                        f"{source}:{key_node.start_mark.line + 1}: duplicate key '{key}' "
                        f"(first at line {seen[key]}); remove one of them"
                    )
                seen[key] = key_node.start_mark.line + 1
                lines.set((*path, key), key_node.start_mark.line + 1)
                stack.append((value_node, (*path, key),
                              alias_lines.get((id(node), pos), value_node.start_mark.line + 1)))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                stack.append((item, (*path, str(i)),
                              alias_lines.get((id(node), i), item.start_mark.line + 1)))


_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


def _check_size(size: int, source: str) -> None:
    limit = max_input_bytes()
    if size > limit:
        raise ConfigError(
            f"{source}: the file is {size:,} bytes, over the {limit:,}-byte limit for "
            f"input files ({limit / 1048576:.3g} MB); if it really is that large, raise "
            f"the limit with --max-input-mb or {_ENV_MAX_MB}")


def load_yaml_located(text: str, source: str) -> tuple[Any, LineMap]:
    """Parse YAML ``text``; return the data and a :class:`LineMap`.

    Raises :class:`ConfigError` naming ``source`` and the line for syntax errors, and
    for input that is too large (:func:`max_input_bytes`), nested too deep
    (:data:`MAX_DEPTH`) or whose aliases form a cycle or expand too far.
    """
    limit = max_input_bytes()
    _check_size(len(text.encode("utf-8", "surrogatepass")) if len(text) * 4 > limit
                else len(text), source)
    lines = LineMap(source)
    loader = _InputLoader(text, source)
    try:
        root = loader.compose_checked()
        if root is not None:
            if (loader.aliases or loader.nodes > MAX_EXPANDED_VALUES
                    or loader.height > MAX_DEPTH):
                _check_expansion(root, source)  # aliases: count what they expand to
            _walk(root, lines, source, loader.alias_lines)
            data = loader.construct_document(root)
        else:
            data = None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ConfigError(
            f"{where}: malformed YAML: {exc.problem or exc.context}; fix the syntax there"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: malformed YAML: {exc}; fix the syntax") from None
    finally:
        loader.dispose()
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
        if err["type"] == "string_type" and isinstance(err.get("input"), int | float):
            msg += " (YAML read a number or yes/no here; put the value in quotes)"
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
        _check_size(p.stat().st_size, str(p))  # before reading it all into memory
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
        obj = _validate_numbers_as_text(model, data, lines)
    except ValidationError as exc:
        message = _validation_message(exc, lines, what, schema_hint=model is District)
        if model is not District and {"sites", "nodes", "links"} <= set(map(str, data)):
            message = (f"{p} looks like a district file, not the expected file here; "
                       f"check the argument order\n{message}")
        raise ConfigError(message) from None
    return obj, lines


def _validate_numbers_as_text(model: type[M], data: Any, lines: LineMap) -> M:
    """Validate; where a text field got an unquoted number, use its text and warn.

    ``firmware: 17.10`` is the number 17.1 to YAML; a text field there takes the text
    as written (``"17.10"``) and a :class:`NetstageWarning` says to quote it.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fixed = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            inp = err.get("input")
            if (err["type"] != "string_type" or isinstance(inp, bool)
                    or not isinstance(inp, int | float)):
                continue
            text = lines.text(loc)
            if text is None or not _set_at(data, loc, text):
                continue
            fixed.append(f"{lines.where(loc)}: {format_loc(loc)}: the number {text} is "
                         f"read as the text '{text}'; quote it ('{text}') to say so")
        if not fixed:
            raise
    obj = model.model_validate(data)  # the remaining errors, if any, are raised
    for message in fixed:
        warnings.warn(message, NetstageWarning, stacklevel=3)
    return obj


def _set_at(data: Any, loc: tuple[Any, ...], value: str) -> bool:
    """Replace the value at ``loc`` inside ``data`` (dicts and lists); False if absent."""
    cur = data
    for part in loc[:-1]:
        try:
            cur = cur[part]
        except (KeyError, IndexError, TypeError):
            return False
    try:
        if (isinstance(cur, dict) and loc[-1] in cur) or isinstance(cur, list):
            cur[loc[-1]] = value
            return True
    except (IndexError, TypeError):
        return False
    return False


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
