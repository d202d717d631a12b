"""Resolved SNMP credentials whose secrets cannot leak through repr, str or JSON.

The inventory holds only ``env:VAR`` references; :mod:`netstage.auditor.inventory`
resolves them at run time into a :class:`SnmpCredential`. Its secrets are
:class:`Secret` objects: ``str``/``repr`` print ``***`` and only
:meth:`Secret.reveal` (called once, when the pysnmp auth object is built) returns
the value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "AUTH_PROTOCOLS",
    "PRIV_PROTOCOLS",
    "AuthProtocol",
    "PrivProtocol",
    "Secret",
    "SnmpCredential",
]

AuthProtocol = Literal["none", "md5", "sha", "sha224", "sha256", "sha384", "sha512"]
# aes192/aes256 localise keys per draft-blumenthal-aes-usm (net-snmp's AES-192/256);
# aes192-cisco/aes256-cisco use the Reeder key extension Cisco and others ship.
PrivProtocol = Literal["none", "des", "3des", "aes128", "aes192", "aes256",
                       "aes192-cisco", "aes256-cisco"]
AUTH_PROTOCOLS: tuple[str, ...] = ("none", "md5", "sha", "sha224", "sha256", "sha384", "sha512")
PRIV_PROTOCOLS: tuple[str, ...] = ("none", "des", "3des", "aes128", "aes192", "aes256",
                                   "aes192-cisco", "aes256-cisco")


class Secret:
    """A secret string that prints as ``***`` everywhere except :meth:`reveal`."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: object) -> Secret:
        return self

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret cannot be pickled (it would leave the process)")


@dataclass(frozen=True)
class SnmpCredential:
    """One way to talk to an agent. ``profile`` names the inventory entry it came from.

    v1/v2c use ``community``; v3 uses ``user`` with optional auth and priv.
    """

    profile: str
    version: Literal["v1", "v2c", "v3"]
    community: Secret | None = None
    user: str | None = None
    auth_protocol: AuthProtocol = "none"
    auth_key: Secret | None = None
    priv_protocol: PrivProtocol = "none"
    priv_key: Secret | None = None
    context: str = ""

    @property
    def security_level(self) -> Literal["noAuthNoPriv", "authNoPriv", "authPriv"] | None:
        if self.version != "v3":
            return None
        if self.auth_protocol == "none":
            return "noAuthNoPriv"
        return "authNoPriv" if self.priv_protocol == "none" else "authPriv"

    def secrets(self) -> list[str]:
        """The secret values (for tests that grep outputs for leaks)."""
        return [s.reveal() for s in (self.community, self.auth_key, self.priv_key) if s]
