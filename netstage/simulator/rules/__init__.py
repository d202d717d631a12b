"""The stage rules, one registered function per rule id (see :mod:`.base`).

Importing this package registers every rule in :data:`RULES`, in rubric order.
"""

from __future__ import annotations

from netstage.simulator.rules import (  # noqa: F401  (imported to register the rules)
    availability_rule,
    capacity,
    declared_rules,
    target,
)
from netstage.simulator.rules.availability_rule import HADetails
from netstage.simulator.rules.base import (
    RULES,
    Check,
    NoDetails,
    RuleContext,
    RuleDetails,
    RuleInput,
    RuleVerdict,
)
from netstage.simulator.rules.capacity import CapacityDetails
from netstage.simulator.rules.declared_rules import StandardDetails
from netstage.simulator.rules.rubric import (
    Override,
    Rubric,
    apply_overrides,
    default_rubric,
    load_overrides,
    parse_overrides,
)
from netstage.simulator.rules.target import TargetDetails

__all__ = [
    "RULES",
    "RULE_ORDER",
    "CapacityDetails",
    "Check",
    "HADetails",
    "NoDetails",
    "Override",
    "Rubric",
    "RuleContext",
    "RuleDetails",
    "RuleInput",
    "RuleVerdict",
    "StandardDetails",
    "TargetDetails",
    "apply_overrides",
    "default_rubric",
    "load_overrides",
    "parse_overrides",
]

RULE_ORDER = ("R-LAB", "R-NOW", "R-FUTURE", "R-TARGET", "R-HA", "R-SECURITY", "R-MANAGE",
              "R-STANDARD")
