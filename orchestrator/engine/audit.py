"""The audit row of each decision: who asked, why, and what the system looked like after.

Pure. The engine appends one row per transition or refusal; the same row is
the status outbox entry, so it carries what the status event needs (the node
and requester right after the change, and the inbound event's id). ``actor``
is the requester when a person asked (an approver too), else the deciding
component; a request that named its change (an approval or a rejection always
does) adds its change reference.
"""

from __future__ import annotations

from orchestrator.engine.context import CauseContext, cause_name, change_ref, requester
from orchestrator.migrations import Cause, Refusal, Transition
from orchestrator.store import AuditEntry, SystemRow


def transition_entry(
    row: SystemRow, transition: Transition, cause: Cause, context: CauseContext
) -> AuditEntry:
    """The audit row of ``transition``; ``row`` is the system right after it."""
    return AuditEntry(
        system_id=row.id,
        from_state=transition.from_state,
        to_state=transition.to_state,
        reason=_with_note(transition.reason, context),
        cause=cause_name(cause),
        actor=requester(cause) or context.component,
        event_source=context.event_source,
        event_id=context.event_id,
        node=row.node,
        requested_by=row.requested_by,
        at=context.at,
        downtime_seconds=context.downtime_s,
        bytes_sent=context.bytes_sent,
        change_ref=change_ref(cause, context),
    )


def refusal_entry(
    system_id: str, row: SystemRow | None, refusal: Refusal, context: CauseContext
) -> AuditEntry:
    """The audit row of ``refusal``; ``row`` is the system as it stays (None: unknown)."""
    return AuditEntry(
        system_id=system_id,
        from_state=refusal.state,
        to_state=None,
        reason=_with_note(refusal.reason, context),
        cause=cause_name(refusal.cause),
        actor=requester(refusal.cause) or context.component,
        event_source=context.event_source,
        event_id=context.event_id,
        node=None if row is None else row.node,
        requested_by=requester(refusal.cause),
        at=context.at,
        change_ref=change_ref(refusal.cause, context),
    )


def _with_note(reason: str, context: CauseContext) -> str:
    return f"{reason} ({context.note})" if context.note else reason
