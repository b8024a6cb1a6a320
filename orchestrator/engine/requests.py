"""Inbound events as causes: what each ``gov.cloud.*`` request asks of the state machine.

Pure. The intake handler calls ``cause_of`` for every system event and
``context_of`` for where it came from; ``gov.cloud.node.updated`` is no cause
(it changes a node, not a system) and maps to None.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from orchestrator.engine.context import CauseContext
from orchestrator.events.data import (
    MigrationCancelRequested,
    MigrationFinalizeRequested,
    MigrationRehearsalRequested,
    MigrationRequested,
    MigrationRetryRequested,
    MigrationRevertRequested,
    MigrationRollbackRequested,
)
from orchestrator.events.envelope import InboundEvent
from orchestrator.inventory.models import BusinessSystem
from orchestrator.migrations import (
    Cause,
    Register,
    RequestCancel,
    RequestFinalize,
    RequestMigration,
    RequestRehearsal,
    RequestRetry,
    RequestRevert,
    RequestRollback,
)

Command = (
    MigrationCancelRequested
    | MigrationRetryRequested
    | MigrationRollbackRequested
    | MigrationRevertRequested
    | MigrationRehearsalRequested
    | MigrationFinalizeRequested
)
# A command about one system names only who asked (and why): one cause each.
COMMAND_CAUSES: Mapping[type[Command], Callable[[str], Cause]] = MappingProxyType(
    {
        MigrationCancelRequested: RequestCancel,
        MigrationRetryRequested: RequestRetry,
        MigrationRollbackRequested: RequestRollback,
        MigrationRevertRequested: RequestRevert,
        MigrationRehearsalRequested: RequestRehearsal,
        MigrationFinalizeRequested: RequestFinalize,
    }
)


def cause_of(event: InboundEvent) -> Cause | None:
    """The cause an inbound event carries; None for a node update."""
    data = event.data
    if isinstance(data, BusinessSystem):
        return Register()
    if isinstance(data, MigrationRequested):
        return RequestMigration(data.target_node, data.wave, data.requested_by)
    if isinstance(data, Command):
        return COMMAND_CAUSES[type(data)](data.requested_by)
    return None


def context_of(event: InboundEvent, *, component: str) -> CauseContext:
    """Where ``event``'s cause came from, with the requester's own reason if it gave one.

    Extension attributes are not part of the contract: nothing acts on them,
    and the audit records their names as ignored (never their values).
    """
    data = event.data
    given = data.reason if isinstance(data, Command) else None
    notes = [] if given is None else [f"given reason: {given}"]
    if event.extensions:
        notes.append(f"ignored extension attributes: {', '.join(sorted(event.extensions))}")
    return CauseContext(
        component=component,
        event_source=event.source,
        event_id=event.id,
        note="; ".join(notes) or None,
    )
