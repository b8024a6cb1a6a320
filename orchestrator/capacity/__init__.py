"""Capacity: the ledger arithmetic of the 14 city nodes, and placement onto them.

What it is: pure functions over immutable values. ``ledger`` holds the
OpenStack-Placement-style arithmetic (inventories, allocation checks,
allocate/release with a generation for compare-and-swap); ``placement``
chooses a node for one system, ``planning`` dry-runs many (``govmig plan``),
and ``groups`` finds dependency groups and assigns waves.

What it is not: the store. Persisting a ``NodeUsage`` and the
compare-and-swap on its generation live in ``orchestrator.store``; this
package imports no database, broker or Ansible code (import-linter checks).
"""

from orchestrator.capacity.groups import assign_waves, dependency_groups
from orchestrator.capacity.ledger import (
    AllocationConflictError,
    CapacityShortfall,
    InsufficientCapacityError,
    Inventory,
    NodeState,
    NodeStatus,
    NodeUsage,
    ResourceClass,
    ShortfallKind,
    allocate,
    capacity,
    check_allocation,
    empty_usage,
    node_state,
    release,
    system_request,
    update_node,
)
from orchestrator.capacity.placement import (
    Placement,
    PlacementOutcome,
    PlacementPolicy,
    Strategy,
    SystemRequest,
    Unplaceable,
    place_on_target,
    place_system,
    place_together,
)
from orchestrator.capacity.planning import PlanResult, plan_placements

__all__ = [
    "AllocationConflictError",
    "CapacityShortfall",
    "InsufficientCapacityError",
    "Inventory",
    "NodeState",
    "NodeStatus",
    "NodeUsage",
    "Placement",
    "PlacementOutcome",
    "PlacementPolicy",
    "PlanResult",
    "ResourceClass",
    "ShortfallKind",
    "Strategy",
    "SystemRequest",
    "Unplaceable",
    "allocate",
    "assign_waves",
    "capacity",
    "check_allocation",
    "dependency_groups",
    "empty_usage",
    "node_state",
    "place_on_target",
    "place_system",
    "place_together",
    "plan_placements",
    "release",
    "system_request",
    "update_node",
]
