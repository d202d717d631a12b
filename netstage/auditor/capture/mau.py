"""IEEE 802.3 MAC/PHY Configuration/Status (LLDP TLV 127, OUI 00-12-0F, subtype 1).

The TLV value after OUI and subtype is 5 bytes (IEEE 802.1AB-2009 Annex F.2):
auto-negotiation support/status (bit 0 supported, bit 1 enabled), the PMD
auto-negotiation advertised capability (16 bits, ifMauAutoNegCapAdvertisedBits) and the
operational MAU type (16 bits, the last arc of a dot3MauType OID, RFC 4836 /
IANA-MAU-MIB). The MAU type -> speed/duplex table is ``auditor/data/mau_types.yaml``.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from netstage.simulator.errors import ConfigError

__all__ = ["IEEE_8023_OUI", "decode_mac_phy", "mau_table", "mau_type_info"]

IEEE_8023_OUI = b"\x00\x12\x0f"
MAC_PHY_SUBTYPE = 1


@lru_cache(maxsize=1)
def mau_table() -> dict[int, dict[str, Any]]:
    """``{mau_type: {"name", "speed_mbps", "duplex"}}`` from the shipped YAML."""
    name = "mau_types.yaml"
    ref = resources.files("netstage.auditor") / "data" / name
    try:
        raw = yaml.safe_load(ref.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"shipped data file {name} is missing; reinstall netstage") from None
    types = raw.get("types") if isinstance(raw, dict) else None
    if not isinstance(types, dict):
        raise ConfigError(f"{name}: expected a 'types' mapping of MAU type -> speed/duplex")
    out: dict[int, dict[str, Any]] = {}
    for k, v in types.items():
        if not isinstance(k, int) or not isinstance(v, dict) or not isinstance(
                v.get("speed_mbps"), int) or v.get("duplex") not in ("full", "half", None):
            raise ConfigError(f"{name}: entry {k!r} needs an integer key, an integer "
                              "speed_mbps and duplex full/half/null")
        out[k] = {"name": str(v.get("name", "")), "speed_mbps": v["speed_mbps"],
                  "duplex": v["duplex"]}
    return out


def mau_type_info(mau_type: int) -> dict[str, Any] | None:
    """Name, speed (Mb/s) and duplex of an operational MAU type, None when not listed."""
    return mau_table().get(mau_type)


def decode_mac_phy(value: bytes) -> dict[str, Any] | None:
    """Fields of a MAC/PHY Configuration/Status TLV value (starting at the OUI).

    None unless it is OUI 00-12-0F subtype 1 with the 5 data bytes. ``mau_speed_mbps``
    and ``mau_duplex`` are None for a MAU type not in the table (0 = other/unknown).
    """
    if len(value) < 9 or value[:3] != IEEE_8023_OUI or value[3] != MAC_PHY_SUBTYPE:
        return None
    status = value[4]
    caps = (value[5] << 8) | value[6]
    mau = (value[7] << 8) | value[8]
    info = mau_type_info(mau)
    return {
        "autoneg_supported": bool(status & 0x01),
        "autoneg_enabled": bool(status & 0x02),
        "pmd_autoneg_advertised": f"0x{caps:04x}",
        "mau_type": mau,
        "mau_name": info["name"] if info else None,
        "mau_speed_mbps": info["speed_mbps"] if info else None,
        "mau_duplex": info["duplex"] if info else None,
    }
