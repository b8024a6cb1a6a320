"""Connected PRD platforms: ledger targets in the ``nodes`` table with ``kind = 'platform'``.

``gov.cloud.platform.connected`` writes a platform's row (first time: inserted at
generation 0; again: its capacity, status and host pool changed by the same
compare-and-swap as a node's); ``gov.cloud.platform.disconnected`` deletes it,
but only while no system holds capacity on it: the delete itself checks the
generation it read and that no allocation exists, so a reservation racing it on
another instance either lands first (and the delete is redone and refused) or
finds the row gone. A platform's row existing is what "connected" means.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, select, update
from sqlalchemy.orm import Session

from orchestrator.capacity import NodeKind, NodeStatus, NodeUsage, ResourceInventory
from orchestrator.errors import PermanentError
from orchestrator.store._sql import execute, insert_if_absent, stored_time
from orchestrator.store.nodes import (
    GenerationConflictError,
    get_node,
    inventory_columns,
    require_node,
    update_node,
)
from orchestrator.store.tables import AllocationTable, NodeTable


def connect_platform(
    session: Session,
    platform_id: str,
    *,
    city: str,
    status: NodeStatus | None,
    inventories: Mapping[str, ResourceInventory],
    hosts: Sequence[str] | None,
    ipv6_prefix: str | None = None,
    now: datetime | None = None,
) -> NodeUsage:
    """Write a connected platform's row, inserted or changed; its usage after the write.

    ``inventories`` may name only the resource classes that change when the row
    exists, and must name all three when it does not (the caller checks). ``status``
    None keeps a stored status (online for a new row), ``hosts`` None a stored pool,
    ``ipv6_prefix`` None a stored prefix.
    """
    extras: dict[str, Any] = {} if hosts is None else {"hosts": list(hosts)}
    extras |= {} if ipv6_prefix is None else {"ipv6_prefix": ipv6_prefix}
    current = get_node(session, platform_id)
    if current is None:
        values: dict[str, Any] = {"id": platform_id, "city": city, "generation": 0}
        values["status"] = (status or NodeStatus.ONLINE).value
        values |= {"kind": NodeKind.PLATFORM.value, "updated_at": stored_time(now)}
        return _insert(session, platform_id, values | inventory_columns(inventories) | extras)
    if current.node.kind is not NodeKind.PLATFORM:
        raise PermanentError(f"{platform_id} is a city node, not a platform")
    usage = update_node(
        session, platform_id, status=status, inventories=inventories or None, now=now
    )
    if extras:
        execute(session, update(NodeTable).where(NodeTable.id == platform_id).values(extras))
    return usage


def _insert(session: Session, platform_id: str, values: dict[str, Any]) -> NodeUsage:
    """A new platform row at generation 0; a conflict if another instance inserted it first."""
    if not insert_if_absent(session, NodeTable, values):
        raise GenerationConflictError(f"platform {platform_id} was connected at the same time")
    return require_node(session, platform_id)


def delete_platform(session: Session, platform_id: str, *, expected_generation: int) -> bool:
    """Delete the platform's row if it is still at ``expected_generation`` and holds nothing.

    False if another writer moved it first (re-read and decide again).
    """
    holds = exists().where(AllocationTable.node_id == NodeTable.id)
    statement = delete(NodeTable).where(
        NodeTable.id == platform_id,
        NodeTable.kind == NodeKind.PLATFORM.value,
        NodeTable.generation == expected_generation,
        ~holds,
    )
    return execute(session, statement) == 1


@dataclass(frozen=True)
class PlatformTarget:
    """What a platform's connect event said about running phases there."""

    hosts: tuple[str, ...]  # the ssh provider's target host pool, as the event named it
    ipv6_prefix: str | None  # the network its systems are addressed in; None: nothing runs


def platform_targets(session: Session, platform_id: str | None = None) -> dict[str, PlatformTarget]:
    """Each connected platform's (or ``platform_id``'s) host pool and IPv6 prefix."""
    statement = select(NodeTable.id, NodeTable.hosts, NodeTable.ipv6_prefix).where(
        NodeTable.kind == NodeKind.PLATFORM.value
    )
    if platform_id is not None:
        statement = statement.where(NodeTable.id == platform_id)
    return {
        platform: PlatformTarget(tuple(hosts or ()), prefix)
        for platform, hosts, prefix in session.execute(statement)
    }
