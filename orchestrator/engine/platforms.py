"""``gov.cloud.platform.connected`` and ``.disconnected`` applied to the stored ledger.

A connected PRD platform is a row of the ledger like a city node (``store.platforms``),
so the engine places its own city's systems on it under the same compare-and-swap.
Connecting again changes only what the event carries (``state: draining`` drains it).
Disconnecting deletes the row, or is refused with a ``Rejection`` (dead-lettered,
and audited in the platform's chain like every dead letter) while any system holds
capacity there: nothing placed, moving or running on a platform is ever lost.

The event's platform id was checked against the inventory's PRD platforms before
(``events.check_references``); the platform's city comes from the inventory too.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from orchestrator.capacity import NodeStatus, NodeUsage
from orchestrator.engine.nodes import changed_inventories
from orchestrator.events import Rejection
from orchestrator.events.data import PlatformConnected, PlatformDisconnected
from orchestrator.store import (
    GenerationConflictError,
    Session,
    connect_platform,
    delete_platform,
    get_node,
    platform_targets,
)

log = logging.getLogger(__name__)


def apply_platform_connect(
    session: Session, change: PlatformConnected, *, cities: Mapping[str, str]
) -> NodeUsage:
    """Write ``change`` to its platform's row; ``Rejection`` if it cannot apply.

    ``cities`` maps each PRD platform id to its city, from the inventory.
    """
    platform_id = change.platform_id
    current = get_node(session, platform_id)
    # Without a prefix a placed system could run no phase, not even its rollback.
    if current is None and (change.capacity is None or change.ipv6_prefix is None):
        raise Rejection(
            "platform_not_connected",
            f"platform {platform_id} is not connected yet: its first connect must carry "
            "capacity and ipv6_prefix",
        )
    if current is not None and current.allocations:
        _refuse_new_prefix(session, change, sorted(current.allocations))
    stored = None if current is None else current.node.inventories
    inventories = changed_inventories(stored, change, target=f"platform {platform_id}")
    status = _status(change, first=current is None)
    usage = connect_platform(
        session,
        platform_id,
        city=cities[platform_id],
        status=status,
        inventories=inventories,
        hosts=change.hosts,
        ipv6_prefix=change.ipv6_prefix,
    )
    log.info(
        "platform %s connected (%s) by %s", platform_id, usage.node.status, change.requested_by
    )
    return usage


def _refuse_new_prefix(session: Session, change: PlatformConnected, holders: list[str]) -> None:
    """Its systems' addresses are in the stored prefix: it cannot move under them."""
    stored = platform_targets(session, change.platform_id)[change.platform_id].ipv6_prefix
    if change.ipv6_prefix is not None and change.ipv6_prefix != stored:
        raise Rejection(
            "platform_in_use",
            f"platform {change.platform_id} keeps IPv6 prefix {stored} while it holds "
            f"{_systems(holders)}",
        )


def _status(change: PlatformConnected, *, first: bool) -> NodeStatus | None:
    """The status to write: the event's, else online on a first connect, else unchanged."""
    if change.state is not None:
        return NodeStatus(change.state.value)
    return NodeStatus.ONLINE if first else None


def apply_platform_disconnect(session: Session, change: PlatformDisconnected) -> bool:
    """Delete the platform's row; False if it was not connected. ``Rejection`` while in use."""
    platform_id = change.platform_id
    current = get_node(session, platform_id)
    if current is None:
        log.warning("platform %s disconnect requested, but it is not connected", platform_id)
        return False
    holders = sorted(current.allocations)
    if holders:
        raise Rejection("platform_in_use", in_use_message(platform_id, holders))
    if not delete_platform(session, platform_id, expected_generation=current.generation):
        raise GenerationConflictError(f"platform {platform_id} changed while disconnecting it")
    log.info("platform %s disconnected by %s", platform_id, change.requested_by)
    return True


def in_use_message(platform_id: str, holders: list[str]) -> str:
    """``platform guangzhou holds 2 systems (a, b): drain it ...``: why a disconnect waits."""
    return (
        f"platform {platform_id} holds {_systems(holders)}: drain it "
        "(state draining) so it takes nothing new, and roll them back before disconnecting"
    )


def _systems(holders: list[str]) -> str:
    """``2 systems (a, b)``: at most five ids named."""
    shown = ", ".join(holders[:5]) + (", ..." if len(holders) > 5 else "")
    return f"{len(holders)} {'system' if len(holders) == 1 else 'systems'} ({shown})"
