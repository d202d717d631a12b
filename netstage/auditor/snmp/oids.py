"""Numeric OIDs the collector reads (no MIB compilation at run time).

Each constant names its MIB object; tables end at the ``...Entry`` OID so that
``ENTRY + (column,)`` is a column. :data:`FULL_PLAN` is what ``netstage audit``
walks; smaller plans (:data:`INTERFACE_PLAN`) serve polling and benchmarks.
"""

from __future__ import annotations

from netstage.auditor.snmp.values import Oid

__all__ = [
    "BENCH_PLAN",
    "BENCH_TABLES_PLAN",
    "CDP_CACHE_ENTRY",
    "DOT1D_BASE_PORT_IF_INDEX",
    "DOT1Q_VLAN_STATIC_NAME",
    "DOT3AD_AGG_PORT_ATTACHED_AGG_ID",
    "DOT3_DUPLEX",
    "ENT_PHYSICAL_ENTRY",
    "FULL_PLAN",
    "FULL_TABLES_PLAN",
    "IF_ENTRY",
    "IF_STACK_STATUS",
    "IF_X_ENTRY",
    "INTERFACE_COLUMNS_PLAN",
    "INTERFACE_PLAN",
    "IP_ADDRESS_ENTRY",
    "IP_ADDR_ENTRY",
    "LAG_PLAN",
    "LLDP_LOC_PORT_ENTRY",
    "LLDP_REM_ENTRY",
    "LLDP_REM_MAN_ADDR_ENTRY",
    "LLDP_V2_LOC_PORT_ENTRY",
    "LLDP_V2_REM_ENTRY",
    "MTXR_NEIGHBOR_IF_ID",
    "SYSTEM",
    "SYS_CONTACT",
    "SYS_DESCR",
    "SYS_LOCATION",
    "SYS_NAME",
    "SYS_OBJECT_ID",
    "SYS_UPTIME",
    "WalkPlan",
]

WalkPlan = tuple[Oid, ...]

SYSTEM: Oid = (1, 3, 6, 1, 2, 1, 1)  # SNMPv2-MIB system group
SYS_DESCR: Oid = (*SYSTEM, 1, 0)
SYS_OBJECT_ID: Oid = (*SYSTEM, 2, 0)
SYS_UPTIME: Oid = (*SYSTEM, 3, 0)  # TimeTicks
SYS_CONTACT: Oid = (*SYSTEM, 4, 0)
SYS_NAME: Oid = (*SYSTEM, 5, 0)
SYS_LOCATION: Oid = (*SYSTEM, 6, 0)
SYSTEM_SCALARS = (SYS_DESCR, SYS_OBJECT_ID, SYS_UPTIME, SYS_CONTACT, SYS_NAME, SYS_LOCATION)

IF_ENTRY: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1)  # IF-MIB ifEntry
IF_X_ENTRY: Oid = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)  # IF-MIB ifXEntry
DOT3_DUPLEX: Oid = (1, 3, 6, 1, 2, 1, 10, 7, 2, 1, 19)  # EtherLike-MIB dot3StatsDuplexStatus
# IF-MIB ifStackStatus, indexed by (higher-layer ifIndex, lower-layer ifIndex): a LAG
# (higher) over its member ports (lower), among other stackings (VLANs, sub-interfaces).
IF_STACK_STATUS: Oid = (1, 3, 6, 1, 2, 1, 31, 1, 2, 1, 3)
# IEEE8023-LAG-MIB dot3adAggPortAttachedAggID: port ifIndex -> aggregator ifIndex (0: none)
DOT3AD_AGG_PORT_ATTACHED_AGG_ID: Oid = (1, 2, 840, 10006, 300, 43, 1, 2, 1, 1, 13)
ENT_PHYSICAL_ENTRY: Oid = (1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1)  # ENTITY-MIB entPhysicalEntry
LLDP_LOC_PORT_ENTRY: Oid = (1, 0, 8802, 1, 1, 2, 1, 3, 7, 1)  # LLDP-MIB lldpLocPortEntry
LLDP_REM_ENTRY: Oid = (1, 0, 8802, 1, 1, 2, 1, 4, 1, 1)  # LLDP-MIB lldpRemEntry
LLDP_REM_MAN_ADDR_ENTRY: Oid = (1, 0, 8802, 1, 1, 2, 1, 4, 2, 1)  # lldpRemManAddrEntry
LLDP_V2_LOC_PORT_ENTRY: Oid = (1, 3, 111, 2, 802, 1, 1, 13, 1, 3, 7, 1)  # LLDP-V2-MIB
LLDP_V2_REM_ENTRY: Oid = (1, 3, 111, 2, 802, 1, 1, 13, 1, 4, 1, 1)  # lldpV2RemEntry
CDP_CACHE_ENTRY: Oid = (1, 3, 6, 1, 4, 1, 9, 9, 23, 1, 2, 1, 1)  # CISCO-CDP-MIB cdpCacheEntry
# MIKROTIK-MIB mtxrNeighborInterfaceID: RouterOS indexes lldpRemTable by one integer
# (no local port); this column, keyed by the same integer, gives the local ifIndex.
MTXR_NEIGHBOR_IF_ID: Oid = (1, 3, 6, 1, 4, 1, 14988, 1, 1, 11, 1, 1, 8)
# BRIDGE-MIB dot1dBasePortIfIndex: bridge port number -> ifIndex. LLDP-MIB's LldpPortNumber
# is the dot1dBasePort on a bridge, so some switches number LLDP local ports this way.
DOT1D_BASE_PORT_IF_INDEX: Oid = (1, 3, 6, 1, 2, 1, 17, 1, 4, 1, 2)
IP_ADDR_ENTRY: Oid = (1, 3, 6, 1, 2, 1, 4, 20, 1)  # IP-MIB ipAddrEntry (IPv4, deprecated)
IP_ADDRESS_ENTRY: Oid = (1, 3, 6, 1, 2, 1, 4, 34, 1)  # IP-MIB ipAddressEntry (v4 + v6)
DOT1Q_VLAN_STATIC_NAME: Oid = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 3, 1, 1)  # Q-BRIDGE-MIB

# Walked subtrees. System scalars are fetched with one GET first (it also tells
# whether the credentials work), so they are not in the plans.
INTERFACE_PLAN: WalkPlan = (IF_ENTRY, IF_X_ENTRY)  # whole tables
LAG_PLAN: WalkPlan = (IF_STACK_STATUS, DOT3AD_AGG_PORT_ATTACHED_AGG_ID)  # LAG membership
NEIGHBOUR_PLAN: WalkPlan = (
    LLDP_LOC_PORT_ENTRY, LLDP_REM_ENTRY, LLDP_REM_MAN_ADDR_ENTRY,
    LLDP_V2_REM_ENTRY, CDP_CACHE_ENTRY, MTXR_NEIGHBOR_IF_ID, DOT1D_BASE_PORT_IF_INDEX,
)

# Column plans: only the columns the parser reads (parse.py, neighbours.py), walked
# side by side in each GETBULK. A switch answers about half as many values as for
# whole tables (ifTable has 22 columns, we read 13; ifXTable 19, we read 6), which
# halves the work of its management CPU and of slow agents such as snmpsim.
def _cols(entry: Oid, *columns: int) -> WalkPlan:
    return tuple((*entry, c) for c in columns)


# ifDescr ifType ifMtu ifSpeed ifPhysAddress ifAdmin/OperStatus ifInOctets ifInDiscards
# ifInErrors ifOutOctets ifOutDiscards ifOutErrors
IF_COLUMNS: WalkPlan = _cols(IF_ENTRY, 2, 3, 4, 5, 6, 7, 8, 10, 13, 14, 16, 19, 20)
# ifName ifHCInOctets ifHCOutOctets ifHighSpeed ifAlias ifCounterDiscontinuityTime
IF_X_COLUMNS: WalkPlan = _cols(IF_X_ENTRY, 1, 6, 10, 15, 18, 19)
INTERFACE_COLUMNS_PLAN: WalkPlan = (*IF_COLUMNS, *IF_X_COLUMNS, *LAG_PLAN)
# lldpLocPortIdSubtype/Id/Desc; lldpRemChassisIdSubtype .. lldpRemSysDesc
LLDP_COLUMNS: WalkPlan = (*_cols(LLDP_LOC_PORT_ENTRY, 2, 3, 4),
                          *_cols(LLDP_REM_ENTRY, 4, 5, 6, 7, 8, 9, 10))
NEIGHBOUR_COLUMNS_PLAN: WalkPlan = (
    *LLDP_COLUMNS,
    (*LLDP_REM_ENTRY, 12),  # lldpRemSysCapEnabled (not in LLDP_COLUMNS: the benchmark's set)
    (*LLDP_REM_MAN_ADDR_ENTRY, 3),  # the address is in the index; one column lists rows
    *_cols(LLDP_V2_REM_ENTRY, 5, 6, 7, 8, 9, 10, 11, 13),  # .. lldpV2RemSysCapEnabled
    *_cols(CDP_CACHE_ENTRY, 3, 4, 5, 6, 7, 8, 9),  # .. cdpCacheCapabilities
    MTXR_NEIGHBOR_IF_ID,
    DOT1D_BASE_PORT_IF_INDEX,
)
ENTITY_COLUMNS: WalkPlan = _cols(ENT_PHYSICAL_ENTRY, 2, 4, 5, 7, 8, 9, 10, 11, 13)
IP_COLUMNS: WalkPlan = (*_cols(IP_ADDR_ENTRY, 2, 3), *_cols(IP_ADDRESS_ENTRY, 3, 5))

FULL_PLAN: WalkPlan = (
    *INTERFACE_COLUMNS_PLAN, DOT3_DUPLEX, *ENTITY_COLUMNS, *NEIGHBOUR_COLUMNS_PLAN,
    *IP_COLUMNS, DOT1Q_VLAN_STATIC_NAME,
)
# Whole tables (every column), for comparison and for tools that want raw tables.
FULL_TABLES_PLAN: WalkPlan = (
    *INTERFACE_PLAN, *LAG_PLAN, DOT3_DUPLEX, ENT_PHYSICAL_ENTRY, *NEIGHBOUR_PLAN,
    IP_ADDR_ENTRY, IP_ADDRESS_ENTRY, DOT1Q_VLAN_STATIC_NAME,
)
# ifTable + ifXTable + LLDP: what the benchmark polls (issue 7, Performance).
BENCH_PLAN: WalkPlan = (*IF_COLUMNS, *IF_X_COLUMNS, *LLDP_COLUMNS)
BENCH_TABLES_PLAN: WalkPlan = (*INTERFACE_PLAN, LLDP_LOC_PORT_ENTRY, LLDP_REM_ENTRY)
