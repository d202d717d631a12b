"""Upgrade planner: the cheapest set of catalog actions that reaches a stage.

>>> from netstage.simulator.io import load_district
>>> p = plan_upgrades(load_district("netstage/topologies/stage2-organic.yaml"))   # doctest: +SKIP
>>> p.stage_before, p.stage_after, round(p.cost_usd)                     # doctest: +SKIP

Method (greedy with re-simulation, then pruning, then verification):

1. Classify the district; the target is ``target_stage`` or the next stage.
2. While some rule allows less than the target (at most ``max_steps`` times):
   generate candidate actions from the catalog (``simulator/data/upgrades.yaml``) for
   the failing rules only (the simulation's hottest links, the Internet circuit, the
   single points of failure of the redundancy analysis, the missing security and
   management facts, ...), apply each to a copy of the district, re-run the failing
   rules (fewer scenarios while searching) and take the action with the largest
   reduction of the *gap* per dollar. The gap is, over failing rules, the stages
   missing plus a continuous shortfall (e.g. p95 unserved above its limit), so steps
   that help without yet flipping a rule still count.
3. Prune: drop any action (most expensive first) without which the target is still
   reached.
4. Verify: classify the upgraded district with the caller's ``n_scenarios``/``seed``;
   :attr:`UpgradePlan.stage_after` is *that* stage, never a prediction. If the
   verification misses the target (sampling noise near a threshold), search resumes
   at full precision.

Costs are indicative (see the catalog's header); the plan is a ranking of options to
put in front of a board, with every number's assumption in the catalog.

The planner is a package split along its seams (issue 13 item 6):
:mod:`~netstage.simulator.plan.catalogue` (prices, tiers, the action list),
:mod:`~netstage.simulator.plan.actions` (an action and how it edits a district),
:mod:`~netstage.simulator.plan.gap` (how far a district is from the target),
:mod:`~netstage.simulator.plan.candidates` (which actions could close a gap) and
:mod:`~netstage.simulator.plan.search` (greedy search, pruning, verification, the plan).
Every public name is importable from ``netstage.simulator.plan`` as before.
"""

from __future__ import annotations

from netstage.simulator.plan.actions import Data, UpgradeAction, apply_action, apply_actions
from netstage.simulator.plan.catalogue import PRICE_KEYS, Catalog, Cost, load_catalog
from netstage.simulator.plan.gap import CAPACITY_RULES, DECLARED_RULES, SIMULATED_RULES
from netstage.simulator.plan.search import (
    SEARCH_SCENARIOS,
    UpgradePlan,
    best_plan_within,
    exhaustive_plan,
    plan_upgrades,
)

__all__ = ["CAPACITY_RULES", "DECLARED_RULES", "PRICE_KEYS", "SEARCH_SCENARIOS",
           "SIMULATED_RULES", "Catalog", "Cost", "Data", "UpgradeAction", "UpgradePlan",
           "apply_action", "apply_actions", "best_plan_within", "exhaustive_plan",
           "load_catalog", "plan_upgrades"]
