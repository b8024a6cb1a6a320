"""Capacity: the ledger arithmetic of the 14 city nodes, and placement onto them.

What it is: pure functions over immutable values. ``resources`` is the one
vocabulary for "how much" (``Resources``: vCPU, memory, storage); ``ledger``
holds the OpenStack-Placement-style arithmetic (inventories, allocation
checks, allocate/deallocate with a generation for compare-and-swap);
``placement`` chooses a node for one system or one set of systems,
``group_placement`` is the dependency-group rule both ``govmig plan`` and the
engine place with, ``planning`` dry-runs many (``govmig plan``), and
``groups`` finds dependency groups and assigns waves.

What it is not: the store. Persisting a ``NodeUsage`` and the
compare-and-swap on its generation live in ``orchestrator.store``; this
package imports no database, broker or Ansible code (import-linter checks).
"""

from orchestrator.capacity.group_placement import group_nodes, place_group
from orchestrator.capacity.groups import DependencyGraph, assign_waves, dependency_groups
from orchestrator.capacity.ledger import (
    AllocationConflictError,
    Amounts,
    CapacityShortfall,
    InsufficientCapacityError,
    NodeKind,
    NodeState,
    NodeStatus,
    NodeUsage,
    ResourceInventory,
    ShortfallKind,
    allocate,
    capacity,
    check_allocation,
    deallocate,
    empty_usage,
    node_state,
    update_node,
)
from orchestrator.capacity.placement import (
    Placement,
    PlacementOutcome,
    PlacementPolicy,
    PlacementStrategy,
    SystemRequest,
    Unplaceable,
    place_on_target,
    place_system,
    place_together,
    placement_policy,
)
from orchestrator.capacity.planning import PlanResult, plan_placements
from orchestrator.capacity.resources import FIELD_NAMES, ResourceClass, Resources

__all__ = [
    "FIELD_NAMES",
    "AllocationConflictError",
    "Amounts",
    "CapacityShortfall",
    "DependencyGraph",
    "InsufficientCapacityError",
    "NodeKind",
    "NodeState",
    "NodeStatus",
    "NodeUsage",
    "Placement",
    "PlacementOutcome",
    "PlacementPolicy",
    "PlacementStrategy",
    "PlanResult",
    "ResourceClass",
    "ResourceInventory",
    "Resources",
    "ShortfallKind",
    "SystemRequest",
    "Unplaceable",
    "allocate",
    "assign_waves",
    "capacity",
    "check_allocation",
    "deallocate",
    "dependency_groups",
    "empty_usage",
    "group_nodes",
    "node_state",
    "place_group",
    "place_on_target",
    "place_system",
    "place_together",
    "placement_policy",
    "plan_placements",
    "update_node",
]
