"""The store-backed intake handler: one polled batch, one transaction, one outcome per event.

``IntakeHandler`` is the reactor's real ``Handler``. For each batch it opens ONE
store transaction and, per delivery:

1. dedupes on the CloudEvents identity (source, id): an event already
   processed, or repeated within the batch, is a ``Duplicate``; one that was
   ``rejected`` before is taken up again, so replaying a dead letter after a
   fix works. The whole batch is checked in one query and marked in one
   statement, which is race-safe across instances sharing PostgreSQL;
2. checks the ids it names: cities against the inventory (``unknown_city``), a
   ``--to`` node or an updated node against the city nodes (``unknown_node``),
   a record's data class against the residency rules (``unknown_data_class``),
   and the system against the store (``unknown_system``): a ``Rejected`` event
   is dead-lettered by the reactor with that code. A request about a system not
   registered yet is held instead, for ``registration_wait`` (``awaiting``): a
   producer hashing keys differently may have put the registration on another
   partition, read later. It is ``Processed`` (its record is in the store);
3. applies it: a node update or a platform's connect or disconnect to the ledger
   (a disconnect while systems hold capacity there is rejected, ``platform_in_use``),
   an operator's request to resume intake to every open flood-guard pause
   (``Processed(resumes_intake=True)``),
   anything else as a cause through the engine's ``Lifecycle`` (placement
   included; an approval with who requested the migration and the cutover
   policy's word on self-approval). A request the state machine refuses, or
   the change policy (it names no change about a system whose requests must),
   is *processed*, not rejected: it is audited and announced as
   ``gov.cloud.system.request_refused``. A registration then applies the
   system's held requests, oldest first, the same way (their audit notes how
   long each waited), and they are deleted.

The status events are not returned to the reactor: every change and refusal is
an audit row in the same transaction, i.e. in the outbox, and ``after_commit``
(the orchestrator passes ``Outbox.flush_quietly``) publishes it once the
transaction is durable, before the reactor commits the offsets. A
``TemporaryError`` (a stale row, a lost compare-and-swap, a busy database)
propagates, so the reactor reads the whole batch again.

The ledger's compare-and-swaps lost to other instances while handling a batch
are told to the ``hooks`` (``Hooks.after_ledger_conflicts``) once per batch,
committed or not: the work was redone either way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from orchestrator.engine import (
    Lifecycle,
    PlacementContext,
    apply_node_update,
    apply_platform_connect,
    apply_platform_disconnect,
    cause_of,
    context_of,
)
from orchestrator.engine.awaiting import hold_of, waited_note
from orchestrator.engine.requests import change_ref_refusal, with_approval_facts
from orchestrator.events import (
    InboundEvent,
    KafkaRecord,
    KnownIds,
    Rejection,
    check_references,
    decode,
    event_key,
)
from orchestrator.events.data import (
    IntakeResumeRequested,
    NodeUpdated,
    PlatformConnected,
    PlatformDisconnected,
    WaveResumeRequested,
)
from orchestrator.hooks import Hooks, notify
from orchestrator.inventory.cutover_policy import CutoverPolicy
from orchestrator.inventory.models import BusinessSystem
from orchestrator.migrations import Cause
from orchestrator.reactor.handler import Delivery, Duplicate, Outcome, Processed, Rejected
from orchestrator.store import (
    CasTally,
    EventKey,
    EventOutcome,
    Session,
    Store,
    claim_events,
    processed_outcomes,
    reclaim_rejected,
    set_outcome,
)
from orchestrator.store import awaiting as awaiting_store
from orchestrator.store import intake as intake_store
from orchestrator.store import waves as wave_store

COMPONENT = "intake"
# The inbound types that change a ledger target or the intake, not a system.
_NOT_ABOUT_A_SYSTEM = (
    NodeUpdated,
    PlatformConnected,
    PlatformDisconnected,
    IntakeResumeRequested,
    WaveResumeRequested,
)

log = logging.getLogger(__name__)


class IntakeHandler:
    """Makes each polled batch durable in one transaction; see the module docstring."""

    def __init__(
        self,
        store: Store,
        *,
        known: KnownIds,
        placement: PlacementContext | None = None,
        cutover: CutoverPolicy | None = None,
        registration_wait: timedelta = timedelta(0),
        after_commit: Callable[[], object] | None = None,
        hooks: Sequence[Hooks] = (),
    ) -> None:
        self._store = store
        self._known = known
        self._placement = placement
        self._cutover = cutover if cutover is not None else CutoverPolicy()
        # How long a request about a system not registered yet waits for it; 0: refused at once.
        self._wait = registration_wait
        self._after_commit = after_commit
        self._hooks = hooks

    def handle(self, batch: Sequence[Delivery]) -> Sequence[Outcome]:
        """One outcome per delivery, in order; ``TemporaryError`` to have the batch again."""
        with self._conflicts_told() as tally, self._store.transaction() as session:
            intake = _BatchIntake(
                session, self._known, self._placement, self._cutover, tally, self._wait
            )
            outcomes = intake.run(batch)
        if self._after_commit is not None:
            try:
                self._after_commit()
            except Exception:  # the batch is durable: a failure here must not replay it
                log.exception("after-commit step failed; the outbox keeps the batch's status rows")
        return outcomes

    @contextmanager
    def _conflicts_told(self) -> Iterator[CasTally]:
        """A tally for one batch, told to the hooks when the batch ends, however it ends."""
        tally = CasTally()
        try:
            yield tally
        finally:
            if tally.lost:
                notify(self._hooks, Hooks.after_ledger_conflicts, tally.lost)


class _BatchIntake:
    """The work of one batch inside its transaction."""

    def __init__(
        self,
        session: Session,
        known: KnownIds,
        placement: PlacementContext | None,
        cutover: CutoverPolicy,
        tally: CasTally,
        wait: timedelta,
    ) -> None:
        self._session = session
        self._known = known
        self._cutover = cutover
        self._wait = wait
        self._lifecycle = Lifecycle(session, placement=placement, tally=tally)
        self._awaited: set[str] = set()  # systems of this batch with requests held for them

    def run(self, batch: Sequence[Delivery]) -> list[Outcome]:
        taken = self._claim([delivery.event for delivery in batch])
        events = [delivery.event for delivery, take in zip(batch, taken, strict=True) if take]
        system_ids = [
            event_key(event) for event in events if not isinstance(event.data, _NOT_ABOUT_A_SYSTEM)
        ]
        self._lifecycle.prefetch(system_ids)
        registering = (event_key(e) for e in events if isinstance(e.data, BusinessSystem))
        self._awaited = awaiting_store.awaited_among(self._session, registering)
        outcomes: list[Outcome] = []
        rejected: list[EventKey] = []
        for delivery, take in zip(batch, taken, strict=True):
            outcome = self._one(delivery.event, delivery.record) if take else Duplicate()
            if isinstance(outcome, Rejected):
                rejected.append(_key(delivery.event))
            outcomes.append(outcome)
        set_outcome(self._session, rejected, EventOutcome.REJECTED)
        self._lifecycle.flush()
        return outcomes

    def _claim(self, events: Sequence[InboundEvent]) -> list[bool]:
        """Per event, whether this batch processes it (it is new, or a rejected one replayed)."""
        keys = [_key(event) for event in events]
        seen = processed_outcomes(self._session, keys)
        decided: list[bool | None] = []
        new: list[tuple[str, str, str]] = []
        first: set[EventKey] = set()
        for event, key in zip(events, keys, strict=True):
            prior = seen.get(key)
            if key in first or prior in (EventOutcome.PROCESSED, EventOutcome.DUPLICATE):
                decided.append(False)
            elif prior is EventOutcome.REJECTED:
                decided.append(reclaim_rejected(self._session, *key))
            else:
                decided.append(None)  # new: the claim below decides, race-safely
                new.append((*key, event.type))
            first.add(key)
        claimed = claim_events(self._session, new)
        return [key in claimed if d is None else d for d, key in zip(decided, keys, strict=True)]

    def _one(self, event: InboundEvent, record: KafkaRecord) -> Outcome:
        try:
            check_references(event, self._known)
            if isinstance(event.data, NodeUpdated):
                apply_node_update(self._session, event.data)
                self._lifecycle.nodes_changed()
                return Processed()
            if isinstance(event.data, PlatformConnected | PlatformDisconnected):
                return self._change_platform(event.data)
            if isinstance(event.data, IntakeResumeRequested):
                return self._resume_intake(event.id, event.data)
            if isinstance(event.data, WaveResumeRequested):
                return self._resume_wave(event.data)
            self._apply(event, record)
        except Rejection as rejection:
            return Rejected(rejection)
        return Processed()

    def _change_platform(self, change: PlatformConnected | PlatformDisconnected) -> Outcome:
        if isinstance(change, PlatformConnected):
            apply_platform_connect(self._session, change, cities=self._known.platforms)
        else:
            apply_platform_disconnect(self._session, change)
        self._lifecycle.nodes_changed()
        return Processed()

    def _resume_intake(self, event_id: str, request: IntakeResumeRequested) -> Outcome:
        by, why = request.requested_by, request.reason
        ended = intake_store.resume_all(self._session, by=by, reason=why, event_id=event_id)
        log.warning("intake resume requested by %s (%s): %d pauses ended", by, why or "-", ended)
        return Processed(resumes_intake=True)

    def _resume_wave(self, request: WaveResumeRequested) -> Outcome:
        by, why, wave = request.requested_by, request.reason, request.wave
        now = datetime.now(UTC)
        if wave_store.resume(self._session, wave, by=by, reason=why, at=now):
            log.warning("wave %d resumed by %s (%s): the waves after it may start", wave, by, why)
        else:
            log.warning("wave %d resume requested by %s, but it is not halted", wave, by)
        return Processed()

    def _apply(
        self, event: InboundEvent, kafka_record: KafkaRecord, note: str | None = None
    ) -> None:
        cause = cause_of(event)
        if cause is None:  # every inbound type about a system carries a cause
            raise Rejection("unknown_type", f"type {event.type!r} carries no request")
        system_id = event_key(event)
        record = event.data if isinstance(event.data, BusinessSystem) else None
        system = self._lifecycle.system(system_id)
        if record is None and system is None:
            if self._wait <= timedelta(0):
                raise Rejection("unknown_system", f"system {system_id!r} is not registered")
            self._hold(event, cause, kafka_record)
            return
        cause = with_approval_facts(cause, system, self._cutover)
        context = context_of(event, component=COMPONENT)
        if note is not None:
            context = replace(context, note="; ".join(filter(None, (context.note, note))))
        refusal = change_ref_refusal(cause, system, self._cutover, context.change_ref)
        if refusal is not None:
            self._lifecycle.refuse(system_id, refusal, context=context)
        else:
            self._lifecycle.apply(system_id, cause, context=context, record=record)
        if record is not None and system_id in self._awaited:
            self._apply_held(system_id)

    def _hold(self, event: InboundEvent, cause: Cause, record: KafkaRecord) -> None:
        """Keep a request about a system not registered yet, until it is or the wait ends."""
        held = hold_of(event, cause, record, now=datetime.now(UTC), wait=self._wait)
        awaiting_store.hold(self._session, held)
        self._awaited.add(held.system_id)
        log.info(
            "%s request %s about %s held until %s: the system is not registered yet",
            held.request,
            event.id,
            held.system_id,
            held.deadline.isoformat(),
        )

    def _apply_held(self, system_id: str) -> None:
        """Apply the requests held for a system just registered, oldest first, as if new."""
        self._awaited.discard(system_id)
        now = datetime.now(UTC)
        for held in awaiting_store.take_waiting(self._session, system_id, now):
            try:
                event = decode(held.record)
                self._apply(event, held.record, note=waited_note(held, now))
            except Rejection as rejection:  # decoded once already: only a changed codec gets here
                log.error("held request %s no longer decodes: %s", held.event_id, rejection)
                awaiting_store.hold(self._session, replace(held, deadline=now))  # the sweep's now


def _key(event: InboundEvent) -> EventKey:
    return (event.source, event.id)
