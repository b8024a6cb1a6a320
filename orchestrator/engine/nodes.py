"""``gov.cloud.node.updated`` applied to the stored ledger: capacity, ratios and status.

Only the fields the event carries change; the others keep their stored value.
The new figures are checked with the ledger's own rules before anything is
written, so an impossible update (more reserved than the node has) is refused
with a reason instead of failing the batch. Draining or taking a node offline
stops new placements only: existing allocations stay, and a capacity cut below
what is used evicts nobody.
"""

from __future__ import annotations

from collections.abc import Mapping

from orchestrator.capacity import (
    FIELD_NAMES,
    NodeStatus,
    NodeUsage,
    ResourceClass,
    ResourceInventory,
)
from orchestrator.events import Rejection
from orchestrator.events.data import NodeUpdated, PlatformConnected
from orchestrator.store import Session, get_node, update_node

# The event's ratio field of each resource; its amounts are named by ``FIELD_NAMES``.
_RATIO_FIELDS = {
    ResourceClass.VCPU: "allocation_ratio_vcpu",
    ResourceClass.MEMORY_GB: "allocation_ratio_memory",
    ResourceClass.STORAGE_GB: "allocation_ratio_storage",
}


def apply_node_update(session: Session, change: NodeUpdated) -> NodeUsage:
    """Write ``change`` to its node; ``Rejection`` (unknown_node, schema) if it cannot apply."""
    current = get_node(session, change.node_id)
    if current is None:
        raise Rejection("unknown_node", f"node {change.node_id!r} is not one of the city nodes")
    inventories = changed_inventories(
        current.node.inventories, change, target=f"node {change.node_id}"
    )
    status = None if change.state is None else NodeStatus(change.state.value)
    return update_node(session, change.node_id, status=status, inventories=inventories or None)


# What a platform connected for the first time holds back and overcommits, unless its event says.
_FIRST_CONNECT = ResourceInventory(total=1, reserved=0, allocation_ratio=1.0)


def changed_inventories(
    current: Mapping[str, ResourceInventory] | None,
    change: NodeUpdated | PlatformConnected,
    *,
    target: str,
) -> dict[str, ResourceInventory]:
    """The resource inventories ``change`` touches, merged with ``current``'s other figures.

    ``current`` None (a platform's first connect): reserved 0 and ratio 1.0 unless given.
    """
    changed: dict[str, ResourceInventory] = {}
    for resource, ratio_field in _RATIO_FIELDS.items():
        unit = FIELD_NAMES[resource]
        total = None if change.capacity is None else getattr(change.capacity, unit)
        held = None if change.reserved is None else getattr(change.reserved, unit)
        ratio = getattr(change, ratio_field)
        if total is None and held is None and ratio is None:
            continue
        stored = _FIRST_CONNECT if current is None else current[resource]
        try:
            changed[resource] = ResourceInventory(
                total=stored.total if total is None else total,
                reserved=stored.reserved if held is None else held,
                allocation_ratio=stored.allocation_ratio if ratio is None else ratio,
            )
        except ValueError as error:
            raise Rejection("schema", f"{target} {unit}: {error}") from None
    return changed
