"""Inbound events as causes: what each ``gov.cloud.*`` request asks of the state machine.

Pure. The intake handler calls ``cause_of`` for every system event and
``context_of`` for where it came from; ``gov.cloud.node.updated`` and
``gov.cloud.platform.*`` are no cause (they change a ledger target, not a
system) and map to None. An approval needs more
than its event to be decided: ``with_approval_facts`` adds who requested the
migration (from the stored system) and whether the cutover policy allows
self-approval. ``change_ref_refusal`` is the change policy's word on any
request: a request about a system the policy names must name its change. The
engine and the CLI (before sending) both ask it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from types import MappingProxyType

from orchestrator.engine.context import REQUEST_CAUSES, CauseContext, cause_name
from orchestrator.events.data import (
    MigrationApproved,
    MigrationCancelRequested,
    MigrationFinalizeRequested,
    MigrationRehearsalRequested,
    MigrationRejected,
    MigrationRequested,
    MigrationRetryRequested,
    MigrationRevertRequested,
    MigrationRollbackRequested,
    MigrationScheduled,
)
from orchestrator.events.envelope import InboundEvent
from orchestrator.gates import calendar_facts
from orchestrator.inventory.cutover_policy import CutoverPolicy
from orchestrator.inventory.models import BusinessSystem
from orchestrator.migrations import (
    Approve,
    Cause,
    Refusal,
    Register,
    Reject,
    RequestCancel,
    RequestFinalize,
    RequestMigration,
    RequestRehearsal,
    RequestRetry,
    RequestRevert,
    RequestRollback,
    ScheduleCutover,
)
from orchestrator.store import SystemRow

Command = (
    MigrationCancelRequested
    | MigrationRetryRequested
    | MigrationRollbackRequested
    | MigrationRevertRequested
    | MigrationRehearsalRequested
    | MigrationFinalizeRequested
)
# The requests whose data may say why (``reason``): every one but an approval's verdict.
Request = Command | MigrationRequested | MigrationScheduled
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
    """The cause an inbound event carries; None for a node or platform change."""
    data = event.data
    if isinstance(data, BusinessSystem):
        return Register()
    if isinstance(data, MigrationRequested):
        return RequestMigration(data.target_node, data.wave, data.requested_by)
    if isinstance(data, Command):
        return COMMAND_CAUSES[type(data)](data.requested_by)
    if isinstance(data, MigrationApproved):
        return Approve(data.change_ref, data.approved_by, data.comment)
    if isinstance(data, MigrationRejected):
        return Reject(data.change_ref, data.rejected_by, data.comment)
    if isinstance(data, MigrationScheduled):
        return ScheduleCutover(data.at, data.scheduled_by)
    return None


def with_approval_facts(cause: Cause, system: SystemRow | None, policy: CutoverPolicy) -> Cause:
    """``cause``; an approval with who requested ``system``'s migration and the policy's word."""
    if not isinstance(cause, Approve) or system is None:
        return cause
    return replace(
        cause,
        migration_requested_by=system.migration_requested_by,
        self_approval_allowed=policy.self_approval,
    )


def context_of(event: InboundEvent, *, component: str) -> CauseContext:
    """Where ``event``'s cause came from, with the requester's own reason if it gave one.

    Extension attributes are not part of the contract: nothing acts on them,
    and the audit records their names as ignored (never their values).
    """
    data = event.data
    notes = []
    if isinstance(data, Request) and data.reason is not None:
        notes.append(f"given reason: {data.reason}")
    if isinstance(data, MigrationApproved | MigrationRejected) and data.comment is not None:
        notes.append(f"comment: {data.comment}")
    if event.extensions:
        notes.append(f"ignored extension attributes: {', '.join(sorted(event.extensions))}")
    return CauseContext(
        component=component,
        event_source=event.source,
        event_id=event.id,
        note="; ".join(notes) or None,
        change_ref=change_ref_of(event),
    )


def change_ref_of(event: InboundEvent) -> str | None:
    """The change (ticket) a request names, if it names one."""
    data = event.data
    if isinstance(data, Request | MigrationApproved | MigrationRejected):
        return data.change_ref
    return None


def change_ref_refusal(
    cause: Cause | None, system: SystemRow | None, policy: CutoverPolicy, change_ref: str | None
) -> Refusal | None:
    """The refusal of a request naming no change (``change_ref``) about a system the change
    policy names; None when the request may go on (to the state machine, which decides the
    rest)."""
    if change_ref is not None or system is None or not isinstance(cause, REQUEST_CAUSES):
        return None
    facts = calendar_facts(system.record, system.wave)
    criticality, department = facts.criticality, facts.department
    if not policy.needs_change_ref(criticality, department):
        return None
    whose = (
        f"{criticality} systems"
        if criticality in policy.change_ref.criticalities
        else f"systems of {department}"
    )
    return Refusal(
        system.state,
        cause,
        f"cannot {cause_name(cause)}: the change policy requires a change reference for "
        f"{whose}; name the change (ticket) with --change-ref",
    )
