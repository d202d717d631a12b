"""Inventory protocol names -> pysnmp USM protocol identifiers."""

from __future__ import annotations

from pysnmp.hlapi.v3arch import asyncio as hl

__all__ = ["auth_protocol_oid", "priv_protocol_oid"]

_AUTH = {
    "none": hl.usmNoAuthProtocol,
    "md5": hl.usmHMACMD5AuthProtocol,
    "sha": hl.usmHMACSHAAuthProtocol,
    "sha224": hl.usmHMAC128SHA224AuthProtocol,
    "sha256": hl.usmHMAC192SHA256AuthProtocol,
    "sha384": hl.usmHMAC256SHA384AuthProtocol,
    "sha512": hl.usmHMAC384SHA512AuthProtocol,
}
_PRIV = {
    "none": hl.usmNoPrivProtocol,
    "des": hl.usmDESPrivProtocol,
    "3des": hl.usm3DESEDEPrivProtocol,
    "aes128": hl.usmAesCfb128Protocol,
    # draft-blumenthal-aes-usm key localisation (net-snmp "AES-192"/"AES-256")
    "aes192": hl.usmAesBlumenthalCfb192Protocol,
    "aes256": hl.usmAesBlumenthalCfb256Protocol,
    # Reeder key extension (Cisco and others; net-snmp "AES-192C"/"AES-256C")
    "aes192-cisco": hl.usmAesCfb192Protocol,
    "aes256-cisco": hl.usmAesCfb256Protocol,
}


def auth_protocol_oid(name: str) -> tuple[int, ...]:
    """pysnmp identifier of an auth protocol name from :data:`AUTH_PROTOCOLS`."""
    return tuple(_AUTH[name])


def priv_protocol_oid(name: str) -> tuple[int, ...]:
    """pysnmp identifier of a priv protocol name from :data:`PRIV_PROTOCOLS`."""
    return tuple(_PRIV[name])
