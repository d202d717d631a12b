"""Turning raw SNMP values into text, MAC addresses and table rows.

Shared by every parser module. Strings from devices are bytes of unknown encoding:
they are decoded as UTF-8 when that yields printable text, else shown as hex.
"""

from __future__ import annotations

from netstage.auditor.snmp.values import Oid, OidTree, Value

__all__ = ["as_int", "as_mac", "as_text", "rows"]


def _printable(s: str) -> bool:
    return all(c.isprintable() or c in "\t\r\n" for c in s)


def as_text(v: Value) -> str | None:
    """Display text of a value; ``None`` for missing or empty values.

    NUL padding and surrounding whitespace are stripped; non-printable bytes are
    rendered as colon-separated hex (``00:1b:...``) so that ids stay comparable.
    """
    if v is None:
        return None
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        s = v
    else:
        try:
            s = v.decode("utf-8")
        except UnicodeDecodeError:
            s = v.decode("latin-1")
        s = s.strip("\x00")
        if not _printable(s):
            return ":".join(f"{b:02x}" for b in v) or None
    s = s.strip()
    return s or None


def as_mac(v: Value) -> str | None:
    """A 6-byte value as ``aa:bb:cc:dd:ee:ff``; other values as :func:`as_text`."""
    if isinstance(v, bytes) and len(v) == 6:
        return ":".join(f"{b:02x}" for b in v)
    return as_text(v)


def as_int(v: Value) -> int | None:
    if isinstance(v, int):
        return v
    if isinstance(v, (bytes, str)):
        try:
            return int(v)
        except ValueError:
            return None
    return None


def rows(tree: OidTree, entry: Oid) -> dict[Oid, dict[int, Value]]:
    """A conceptual table under ``entry``: ``{row index: {column number: value}}``."""
    n = len(entry)
    out: dict[Oid, dict[int, Value]] = {}
    for key, value in tree.subtree(entry):
        if len(key) <= n + 1:
            continue  # a malformed OID with no index part
        out.setdefault(key[n + 1:], {})[key[n]] = value
    return out
