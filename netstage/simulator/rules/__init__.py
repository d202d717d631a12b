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
from netstage.simulator.rules.base import (
    RULES,
    Check,
    RuleContext,
    RuleInput,
    RuleVerdict,
)
from netstage.simulator.rules.rubric import (
    Override,
    Rubric,
    apply_overrides,
    default_rubric,
    load_overrides,
    parse_overrides,
)

__all__ = [
    "RULES",
    "RULE_ORDER",
    "Check",
    "Override",
    "Rubric",
    "RuleContext",
    "RuleInput",
    "RuleVerdict",
    "apply_overrides",
    "default_rubric",
    "load_overrides",
    "parse_overrides",
]

RULE_ORDER = ("R-LAB", "R-NOW", "R-FUTURE", "R-TARGET", "R-HA", "R-SECURITY", "R-MANAGE",
              "R-STANDARD")
