"""LLDP and CDP system capabilities: one vocabulary for SNMP, captures and the normaliser.

A neighbour's advertised capabilities say what kind of box it is when it does not
answer SNMP itself: an IP phone (``telephone``), a Wi-Fi access point
(``wlanAccessPoint``), a router, a switch (``bridge``), a server or PC
(``stationOnly``). Names follow IEEE 802.1AB (LLDP-MIB ``LldpSystemCapabilitiesMap``):

====  =====================  =====================================================
bit   name                   source
====  =====================  =====================================================
0     other                  IEEE 802.1AB-2009 §8.5.8.1, LLDP-MIB (RFC-less, IEEE)
1     repeater
2     bridge
3     wlanAccessPoint
4     router
5     telephone
6     docsisCableDevice
7     stationOnly
8     cVLANComponent         IEEE 802.1AB-2009 (LLDP-V2-MIB)
9     sVLANComponent
10    twoPortMACRelay
====  =====================  =====================================================

Three encodings of the same set are decoded here:

* the LLDP TLV (type 7) carries a 16-bit field whose *least* significant bit is
  ``other`` (:func:`from_lldp_tlv`);
* LLDP-MIB / LLDP-V2-MIB ``lldpRemSysCapEnabled`` is an SNMP BITS value, bit 0 being the
  *most* significant bit of the first octet (:func:`from_lldp_mib`). Some recordings
  hold net-snmp's display form instead of the octets (``"28 2 4"``: hex octets, then the
  bit numbers), which is accepted when the two parts agree;
* CISCO-CDP-MIB ``cdpCacheCapabilities`` / the CDP capabilities TLV is a 32-bit word
  (Cisco's CDP specification: 0x01 router, 0x02 transparent bridge, 0x04 source-route
  bridge, 0x08 switch, 0x10 host, 0x20 IGMP, 0x40 repeater, 0x80 phone, 0x100 remotely
  managed, 0x200 CVTA, 0x400 two-port MAC relay), mapped to the LLDP names
  (:func:`from_cdp`).
"""

from __future__ import annotations

import re

from netstage.simulator.model import NodeKind

__all__ = ["LLDP_NAMES", "from_cdp", "from_lldp_mib", "from_lldp_tlv", "kind_hint"]

LLDP_NAMES = ("other", "repeater", "bridge", "wlanAccessPoint", "router", "telephone",
              "docsisCableDevice", "stationOnly", "cVLANComponent", "sVLANComponent",
              "twoPortMACRelay")

# CDP capability bit -> LLDP name (IGMP snooping says nothing about the box's kind).
_CDP = {0x01: "router", 0x02: "bridge", 0x04: "bridge", 0x08: "bridge", 0x10: "stationOnly",
        0x40: "repeater", 0x80: "telephone", 0x100: "other", 0x200: "other",
        0x400: "twoPortMACRelay"}
_CDP_KNOWN = 0x7FF

_NETSNMP_BITS = re.compile(r"^\s*((?:[0-9A-Fa-f]{2}\s+)*[0-9A-Fa-f]{2})((?:\s+\d+)*)\s*$")


def _names(bits: set[int]) -> list[str]:
    return [LLDP_NAMES[b] for b in sorted(bits) if b < len(LLDP_NAMES)]


def from_lldp_tlv(field: int) -> list[str]:
    """Names of the bits set in a 16-bit LLDP TLV capabilities field (LSB = other)."""
    return _names({b for b in range(16) if field >> b & 1})


def _bits_msb_first(octets: bytes) -> set[int]:
    return {i * 8 + (7 - j) for i, byte in enumerate(octets) for j in range(8)
            if byte >> j & 1}


def _display_octets(tokens: list[str]) -> bytes | None:
    """The octets of net-snmp's BITS display (``"28 2 4"``): the split into leading hex
    octets and trailing bit numbers whose bits agree (bit numbers such as ``10`` look like
    octets, so every split is tried, longest octet run first)."""
    for n_octets in range(min(len(tokens), 16), 0, -1):
        head, tail = tokens[:n_octets], tokens[n_octets:]
        if all(len(t) == 2 for t in head) and all(t.isdigit() for t in tail):
            octets = bytes(int(t, 16) for t in head)
            if _bits_msb_first(octets) == {int(t) for t in tail}:
                return octets
    return None


def from_lldp_mib(value: bytes | str | int | None) -> list[str] | None:
    """Names from an LLDP-MIB BITS value; ``None`` when the value is missing or unreadable.

    Octets are read MSB-first. A text value in net-snmp's display form (``"28 2 4"``) is
    read as its hex octets when the bit numbers after them match those octets. An
    INTEGER (RouterOS) is read as the TLV field, byte-swapped.
    """
    if value is None:
        return None
    if isinstance(value, int):
        # RouterOS answers an INTEGER: the TLV's 16-bit field in little-endian order
        # (5120 = 0x1400 -> 0x0014 = bridge + router on a Comware switch, 1024 -> bridge
        # on a ProCurve; seen in a real RouterOS 6.48 recording)
        if not 0 <= value <= 0xFFFF:
            return None
        return from_lldp_tlv((value & 0xFF) << 8 | value >> 8)
    if isinstance(value, str):
        value = value.encode("latin-1", "replace")
    text = value.decode("latin-1")
    # Real octets are never ASCII hex digits (0x28, 0x20, 0x10 ...), so a value that reads
    # as hex-digit text is the display form.
    if _NETSNMP_BITS.match(text) is not None:
        octets = _display_octets(text.split())
        if octets is None:
            return None
        if _NETSNMP_BITS.match(octets.decode("latin-1")) is not None:
            # the agent itself sent display text as the octets (Dell OS10 does:
            # "36 38 20 31 ..." is the text "68 1 2 4"); read that text
            return from_lldp_mib(octets)
        return _names(_bits_msb_first(octets))
    if len(value) > 4:
        return None
    return _names(_bits_msb_first(value))


def from_cdp(value: bytes | str | int | None) -> list[str] | None:
    """Names from a CDP capabilities word (4 octets big-endian, or an int)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.encode("latin-1", "replace")
    if isinstance(value, bytes):
        if len(value) != 4:
            return None
        word = int.from_bytes(value, "big")
        little = int.from_bytes(value, "little")
        if word & ~_CDP_KNOWN and not little & ~_CDP_KNOWN:
            word = little  # a few agents put the word in host (little-endian) order
    else:
        word = value
    if word & ~_CDP_KNOWN:
        return None
    out: list[str] = []
    for bit, name in _CDP.items():
        if word & bit and name not in out:
            out.append(name)
    return sorted(out, key=LLDP_NAMES.index)


def kind_hint(capabilities: list[str] | None) -> NodeKind | str | None:
    """What advertised capabilities say about a neighbour that did not answer SNMP.

    ``"endpoint"`` for a phone (phones also advertise ``bridge`` for their PC port) and for
    a station only (a PC, printer or server: an end device, not part of the network);
    :attr:`NodeKind.AP` for a Wi-Fi AP (many APs also advertise ``router`` and ``bridge``:
    Ruckus, Cisco Business); :attr:`NodeKind.EDGE` for a
    router that does not bridge; ``None`` for switches (``bridge``: their tier comes from
    the topology) and for nothing advertised.
    """
    caps = set(capabilities or ())
    if "telephone" in caps or caps == {"stationOnly"}:
        return "endpoint"
    if "wlanAccessPoint" in caps:
        return NodeKind.AP
    if "router" in caps and "bridge" not in caps:
        return NodeKind.EDGE
    return None


def is_network_gear(capabilities: list[str] | None) -> bool:
    """True when the capabilities name forwarding: bridge, router, AP or repeater."""
    return bool(set(capabilities or ()) & {"bridge", "router", "wlanAccessPoint", "repeater",
                                           "twoPortMACRelay", "cVLANComponent",
                                           "sVLANComponent"})
