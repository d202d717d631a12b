"""The ids of expanded network elements: one definition for who writes and who reads them.

:func:`~netstage.simulator.arrays.to_arrays` expands the model into simulated elements
and names them; simulation results, N-1 rows and the planner's candidates carry these
names, and the charts, the wording and the planner read them back:

* a model link is its key (``a--b``); a link that carries the uplinks of a counted AP
  entry (``count: k > 1``) becomes ``k`` member links ``<key>#<j>`` (``j`` from 0);
* an AP member of a counted entry is ``<ap>#<j>``; each client-serving radio of a
  member is an attachment point: the first keeps the member's id, the others are
  ``<member>#<band>`` (``2.4``, ``5``, ``6``);
* the air link of an attachment point is ``air:<attachment point>``;
* a shared-risk group failed as one element is ``srlg:<group>``.
"""

from __future__ import annotations

__all__ = ["AIR", "SRLG", "air_link_id", "air_point", "belongs_to", "is_air", "is_srlg",
           "member_id", "model_id", "parts", "radio_point", "split_member", "srlg_id"]

AIR = "air:"
SRLG = "srlg:"
_MEMBER = "#"


def member_id(model_id: str, j: int, count: int) -> str:
    """Member ``j`` of an element expanded ``count`` times (the id itself when 1)."""
    return model_id if count == 1 else f"{model_id}{_MEMBER}{j}"


def radio_point(member: str, band: str) -> str:
    """The attachment point of a member's radio on ``band`` other than its first."""
    return f"{member}{_MEMBER}{band}"


def srlg_id(group: str) -> str:
    """A shared-risk group failed as one element."""
    return f"{SRLG}{group}"


def air_link_id(point: str) -> str:
    """The air link of the attachment point ``point``."""
    return f"{AIR}{point}"


def is_air(eid: str) -> bool:
    return eid.startswith(AIR)


def is_srlg(eid: str) -> bool:
    return eid.startswith(SRLG)


def air_point(eid: str) -> str:
    """The attachment point of an air link id (``air:es-ap#3#2.4`` -> ``es-ap#3#2.4``)."""
    return eid[len(AIR):]


def model_id(eid: str) -> str:
    """The element of the district an expanded id belongs to, with its ``air:`` prefix
    kept: ``core--es-sw#2`` -> ``core--es-sw``, ``air:es-ap#3#5`` -> ``air:es-ap``."""
    return eid.split(_MEMBER)[0]


def belongs_to(eid: str, key: str) -> bool:
    """Whether the expanded id ``eid`` is the model element ``key`` or one of its members
    (``core--es-sw#2`` belongs to ``core--es-sw``; ``core--es-sw2`` does not)."""
    return eid == key or eid.startswith(key + _MEMBER)


def parts(eid: str) -> list[str]:
    """An expanded id split at its member and band separators (``es-ap#3#5`` ->
    ``["es-ap", "3", "5"]``)."""
    return eid.split(_MEMBER)


def split_member(eid: str) -> tuple[str, str]:
    """``(model id, the rest)`` at the first separator: ``core--es-sw#2`` ->
    ``("core--es-sw", "2")``, ``es-ap#3#5`` -> ``("es-ap", "3#5")``; rest "" if none."""
    base, _, rest = eid.partition(_MEMBER)
    return base, rest
