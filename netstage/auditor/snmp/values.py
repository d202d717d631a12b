"""Walked SNMP values in one neutral form, shared by the live and the replay collector.

Both pysnmp responses and ``.snmprec`` lines are turned into the same Python values
(:data:`Value`): ``int`` for INTEGER/Counter/Gauge/TimeTicks, ``bytes`` for OCTET
STRING and Opaque, ``str`` for OBJECT IDENTIFIER (dotted, no leading dot) and
IpAddress (dotted quad), ``None`` for NULL. An :class:`OidTree` holds them sorted by
OID so that one parser (:mod:`.parse`) reads tables the same way from either source.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from netstage.simulator.errors import CollectorError

__all__ = ["Oid", "OidTree", "Value", "oid", "oid_str", "parse_snmprec", "parse_walk",
           "read_recording", "read_snmprec", "read_walk"]

Oid = tuple[int, ...]
Value = int | bytes | str | None

# BER tags used by snmprec (see ../shared/data/snmprec/README.md): 2 Integer32,
# 4 OCTET STRING, 5 NULL, 6 OID, 64 IpAddress, 65 Counter32, 66 Gauge32,
# 67 TimeTicks, 68 Opaque, 70 Counter64, 71 Unsigned... (snmpsim: 66 also Unsigned32).
_INT_TAGS = {2, 65, 66, 67, 70, 71}


def oid(text: str) -> Oid:
    """``"1.3.6.1"`` or ``".1.3.6.1"`` -> ``(1, 3, 6, 1)``."""
    return tuple(int(p) for p in text.strip().lstrip(".").split(".") if p != "")


def oid_str(o: Oid) -> str:
    return ".".join(str(p) for p in o)


def _variation_value(module: str, raw: str, where: str) -> str:
    """The value a snmpsim variation-module entry (``OID|TAG:MODULE|k=v,...``) starts at.

    A replay is one snapshot, so ``numeric`` (what ``netstage twin --live`` writes for
    counters and sysUpTime) is read as its ``initial`` value (else ``min``, else 0, as
    snmpsim starts it); a module with a plain ``value=`` parameter gives that value.
    Other modules generate their answers at run time and are refused with a message.
    """
    params: dict[str, str] = {}
    for item in raw.split(","):
        key, sep, val = item.partition("=")
        if sep:
            params[key.strip()] = val.strip()
    if module == "numeric":
        return params.get("initial", params.get("min", "0"))
    if "value" in params:
        return params["value"]
    raise CollectorError(f"{where}: snmpsim variation module {module!r} has no fixed value "
                         "to replay; serve this recording with snmpsim (netstage audit "
                         "without --replay), or record the device with plain OID|TAG|VALUE "
                         "lines")


def _snmprec_value(tag_text: str, raw: str, where: str) -> Value:
    # snmpsim variation modules write tags like "65:numeric" (and "4x:module");
    # keep the BER tag and read the module's parameters for the starting value.
    tag_text, colon, module = tag_text.partition(":")
    if colon:
        raw = _variation_value(module.strip(), raw, where)
    hexed = tag_text.endswith("x")
    tag_digits = tag_text[:-1] if hexed else tag_text
    try:
        tag = int(tag_digits)
        data = bytes.fromhex(raw) if hexed else None
    except ValueError:
        raise CollectorError(f"{where}: bad snmprec tag or hex value {tag_text!r}; "
                             "expected OID|TAG|VALUE with a numeric BER tag") from None
    if tag in _INT_TAGS:
        if data is not None:
            return int.from_bytes(data, "big")
        try:
            return int(raw)
        except ValueError:
            raise CollectorError(f"{where}: integer expected for tag {tag}, got {raw!r}") from None
    if tag == 5:
        return None
    if tag == 6:
        return raw.lstrip(".") if data is None else data.decode("ascii", "replace")
    if tag == 64:
        if data is not None:
            return ".".join(str(b) for b in data)
        return raw
    # 4 OCTET STRING, 68 Opaque and anything else: bytes
    return data if data is not None else raw.encode("utf-8", "surrogateescape")


def parse_snmprec(lines: Iterable[str], source: str = "<snmprec>") -> Iterator[tuple[Oid, Value]]:
    """Yield ``(oid, value)`` from snmprec text lines (``OID|TAG|VALUE``).

    Splits on the first two ``|`` only (values may contain ``|``) and skips blank lines.
    """
    for n, line in enumerate(lines, 1):
        line = line.rstrip("\r\n")
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("|", 2)
        if len(parts) != 3:
            raise CollectorError(f"{source}:{n}: expected OID|TAG|VALUE, got {line[:60]!r}")
        try:
            key = oid(parts[0])
        except ValueError:
            raise CollectorError(f"{source}:{n}: bad OID {parts[0]!r}") from None
        yield key, _snmprec_value(parts[1], parts[2], f"{source}:{n}")


def read_snmprec(path: str | Path) -> OidTree:
    """Load a ``.snmprec`` file into an :class:`OidTree`."""
    p = Path(path)
    try:
        with p.open(encoding="utf-8", errors="surrogateescape") as fh:
            return OidTree(parse_snmprec(fh, str(p)))
    except FileNotFoundError:
        raise CollectorError(f"{p}: no such recording; check the path") from None


_WALK_START = re.compile(r"^\.?(\d+(?:\.\d+)+) = (.*)$")
_PARENS = re.compile(r"\((-?\d+)\)")
_UNSIGNED_WALK = {"Counter32", "Counter64", "Gauge32", "Unsigned32", "UInteger32"}


def _walk_value(kind: str, text: str, where: str) -> Value:
    """One value of net-snmp ``snmpwalk -On`` output (``TYPE: text``)."""
    if kind == "STRING":
        if len(text) >= 2 and text[0] == text[-1] == '"':
            text = text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        return text.encode("utf-8", "surrogateescape")
    if kind in ("Hex-STRING", "BITS"):  # "00 1B 21 ..." (BITS: then bit names)
        octets = []
        for token in text.split():
            if len(token) != 2 or any(c not in "0123456789abcdefABCDEF" for c in token):
                if kind == "BITS":
                    break
                raise CollectorError(f"{where}: bad hex {text[:40]!r}")
            octets.append(token)
        return bytes.fromhex("".join(octets))
    if kind in ("INTEGER", "Timeticks") or kind in _UNSIGNED_WALK:
        m = _PARENS.search(text)  # "up(1)", "(65814) 0:10:58.14"
        token = m.group(1) if m else (text.split() or [""])[0]
        try:
            return int(token)
        except ValueError:
            raise CollectorError(f"{where}: {kind} expected a number, got {text[:40]!r}") \
                from None
    if kind == "OID":
        return text.strip().lstrip(".")
    if kind == "IpAddress":
        return text.strip()
    if kind == "NULL":
        return None
    return text.encode("utf-8", "surrogateescape")  # Opaque, Network Address, ...


def parse_walk(lines: Iterable[str], source: str = "<walk>") -> Iterator[tuple[Oid, Value]]:
    """Yield ``(oid, value)`` from net-snmp ``snmpwalk -On`` (or ``snmpbulkwalk -On``)
    output: ``.1.3.6.1.2.1.1.5.0 = STRING: "sw1"``. Strings that span lines and wrapped
    Hex-STRINGs are joined; ``No Such ...`` and ``No more variables`` lines are skipped."""
    current: tuple[Oid, str, int] | None = None  # (oid, rest of the line, line number)
    extra: list[str] = []

    def finish() -> Iterator[tuple[Oid, Value]]:
        if current is None:
            return
        key, rest, n = current
        # a "\r" inside a multi-line string is the device's; one at the very end is
        # the file's line ending
        text = ("\n".join([rest, *extra]) if extra else rest).rstrip("\r")
        if text in ('""', ""):
            yield key, b""
            return
        if text.startswith(("No Such", "No more variables")):
            return
        kind, sep, value = text.partition(": ")
        if not sep:  # "STRING:" with nothing after it
            kind, value = text.rstrip(":").strip(), ""
        yield key, _walk_value(kind, value if kind == "STRING" else value.strip(),
                               f"{source}:{n}")

    for n, raw in enumerate(lines, 1):
        line = raw.removesuffix("\n")
        m = _WALK_START.match(line)
        if m:
            yield from finish()
            current, extra = (oid(m.group(1)), m.group(2), n), []
        elif current is not None:
            extra.append(line)
        elif line.strip():
            line = line.rstrip("\r")
            raise CollectorError(f"{source}:{n}: expected 'OID = TYPE: value' "
                                 f"(snmpwalk -On output), got {line[:60]!r}")
    yield from finish()


def read_walk(path: str | Path) -> OidTree:
    """Load net-snmp ``snmpwalk -On`` output into an :class:`OidTree`."""
    p = Path(path)
    try:
        # newline="": keep a "\r" that is part of a multi-line string value
        with p.open(encoding="utf-8", errors="surrogateescape", newline="") as fh:
            return OidTree(parse_walk(fh, str(p)))
    except FileNotFoundError:
        raise CollectorError(f"{p}: no such walk file; check the path") from None


def read_recording(path: str | Path) -> OidTree:
    """``.snmprec`` (snmpsim) or anything else as ``snmpwalk -On`` output."""
    return read_snmprec(path) if str(path).endswith(".snmprec") else read_walk(path)


class OidTree:
    """Values sorted by OID, with subtree and table-column access."""

    def __init__(self, items: Iterable[tuple[Oid, Value]] = ()) -> None:
        self._values: dict[Oid, Value] = dict(items)
        self._keys: list[Oid] = sorted(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def get(self, key: Oid) -> Value:
        return self._values.get(key)

    def update(self, items: Iterable[tuple[Oid, Value]]) -> None:
        self._values.update(items)
        self._keys = sorted(self._values)

    def subtree(self, prefix: Oid) -> Iterator[tuple[Oid, Value]]:
        """Every ``(oid, value)`` under ``prefix`` in OID order."""
        i = bisect.bisect_left(self._keys, prefix)
        n = len(prefix)
        while i < len(self._keys) and self._keys[i][:n] == prefix:
            k = self._keys[i]
            yield k, self._values[k]
            i += 1

    def next_after(self, key: Oid) -> tuple[Oid, Value] | None:
        """The first ``(oid, value)`` strictly after ``key`` (GETNEXT semantics)."""
        i = bisect.bisect_right(self._keys, key)
        if i >= len(self._keys):
            return None
        k = self._keys[i]
        return k, self._values[k]

    def column(self, prefix: Oid) -> dict[Oid, Value]:
        """A table column: ``{index suffix: value}`` for every row under ``prefix``."""
        n = len(prefix)
        return {k[n:]: v for k, v in self.subtree(prefix)}

    def int_column(self, prefix: Oid) -> dict[int, Value]:
        """A column of a table indexed by one integer (ifIndex, entPhysicalIndex, ...)."""
        return {k[0]: v for k, v in self.column(prefix).items() if len(k) == 1}
