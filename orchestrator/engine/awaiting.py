"""Requests that came before their system's registration: held, then applied or dead-lettered.

Kafka keeps order within a partition only, and producers that hash the key
differently (librdkafka's CRC32 against murmur2) can put a system's
registration and a request about it on different partitions. So the intake
holds a request about a system it does not know yet for ``registration_wait``
(``hold_of``: the record as consumed, its arrival and deadline) instead of
refusing it; the registration's transaction applies it (``intake``).

A request whose deadline passes first is dead-lettered by ``ExpiredRequests``
(``govmig run`` pumps it beside the status outbox) with ``unknown_system``
and how long it waited, exactly as the reactor dead-letters: the original
record and the ``govmig_dlq_*`` headers, and audited like the reactor's dead
letters (``dead_letters``), in the transaction that deletes it. Its event is
then marked rejected, so replaying the dead letter after the registration
applies it. The row is
deleted only once the broker acknowledged its dead letter. On PostgreSQL the
round (claim with a row lock, send, delete) is one transaction, so instances
never dead-letter one request twice; on SQLite (one process) it is two short
transactions, so the database is not locked while waiting for the broker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from orchestrator.bus import Producer
from orchestrator.bus.types import RawRecord
from orchestrator.engine.context import cause_name, requester
from orchestrator.engine.dead_letters import dead_letter_entry
from orchestrator.errors import GovmigError
from orchestrator.events.codec import KafkaRecord
from orchestrator.events.envelope import InboundEvent, event_key
from orchestrator.events.reasons import Rejection
from orchestrator.hooks import Hooks, notify
from orchestrator.migrations import Cause
from orchestrator.reactor.deadletter import dead_letter
from orchestrator.store import AuditEntry, EventOutcome, Session, Store, append_audit, set_outcome
from orchestrator.store.awaiting import (
    HeldRequest,
    NewHold,
    claim_expired,
    forget,
)

log = logging.getLogger(__name__)

EXPIRED_CODE = "unknown_system"
DEFAULT_LIMIT = 500


def hold_of(
    event: InboundEvent, cause: Cause, record: KafkaRecord, *, now: datetime, wait: timedelta
) -> NewHold:
    """What to keep of a request about a system not registered yet, to apply or dead-letter."""
    return NewHold(
        system_id=event_key(event),
        request=cause_name(cause),
        requested_by=requester(cause),
        event_source=event.source,
        event_id=event.id,
        record=record,
        arrived_at=now,
        deadline=now + wait,
    )


def waited_note(held: HeldRequest, now: datetime) -> str:
    """The audit's note on a held request applied: how long it waited for the registration."""
    return f"waited {_seconds(now - held.arrived_at)} s for the system's registration"


def expired_message(held: HeldRequest) -> str:
    """The dead letter's message for a request whose system was not registered in time."""
    return (
        f"system {held.system_id!r} is not registered: the {held.request} request waited "
        f"{_seconds(held.deadline - held.arrived_at)} s for its registration"
    )


def _seconds(span: timedelta) -> str:
    """Whole seconds, or tenths under ten: enough to read, stable enough to test."""
    seconds = max(span.total_seconds(), 0.0)
    return f"{seconds:.1f}" if seconds < 10 else f"{seconds:.0f}"


def dead_letter_expired(
    store: Store, producer: Producer, dlq_topic: str, *, now: datetime, limit: int = DEFAULT_LIMIT
) -> list[HeldRequest]:
    """Dead-letter up to ``limit`` held requests past their deadline; those acknowledged."""
    if store.dialect == "postgresql":
        with store.transaction() as session:
            expired = claim_expired(session, now, limit)
            _send(producer, dlq_topic, expired, now)
            _forget(session, expired, now)
        return expired
    with store.transaction() as session:
        expired = claim_expired(session, now, limit)
    if expired:
        _send(producer, dlq_topic, expired, now)
        with store.transaction() as session:
            _forget(session, expired, now)
    return expired


def _send(producer: Producer, topic: str, expired: Sequence[HeldRequest], now: datetime) -> None:
    if expired:
        producer.send_all(topic, [_dead_letter(held, now) for held in expired])


def _dead_letter(held: HeldRequest, now: datetime) -> RawRecord:
    message = expired_message(held)
    return dead_letter(held.record, code=EXPIRED_CODE, message=message, now=now)


def _forget(session: Session, expired: Sequence[HeldRequest], now: datetime) -> None:
    """Gone from the store, audited as dead letters; their events rejected, so a replayed
    dead letter is applied."""
    forget(session, [held.id for held in expired])
    set_outcome(session, [(h.event_source, h.event_id) for h in expired], EventOutcome.REJECTED)
    append_audit(session, [_audit_entry(held, now) for held in expired])


def _audit_entry(held: HeldRequest, now: datetime) -> AuditEntry:
    return dead_letter_entry(held.record, Rejection(EXPIRED_CODE, expired_message(held)), at=now)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ExpiredRequests:
    """One process's sweep of expired held requests; ``flush_quietly`` is what a pump calls."""

    def __init__(
        self,
        store: Store,
        producer: Producer,
        dlq_topic: str,
        *,
        hooks: Sequence[Hooks] = (),
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._store, self._producer, self._dlq_topic = store, producer, dlq_topic
        self._hooks = tuple(hooks)
        self._now = now

    def sweep(self) -> int:
        """Dead-letter every held request past its deadline; how many."""
        total = 0
        while True:
            now = self._now()
            expired = dead_letter_expired(self._store, self._producer, self._dlq_topic, now=now)
            for held in expired:
                log.warning("dead-lettered %s: %s", held.event_id, expired_message(held))
                notify(self._hooks, Hooks.after_dead_letter, EXPIRED_CODE)
            if expired:
                notify(self._hooks, Hooks.after_registration_wait_expired, len(expired))
            total += len(expired)
            if len(expired) < DEFAULT_LIMIT:
                return total

    def flush_quietly(self) -> int:
        """``sweep``, logging instead of raising: the rows stay and are swept next time."""
        try:
            return self.sweep()
        except GovmigError as error:
            log.warning("requests awaiting registration not swept, will retry: %s", error)
            return 0
