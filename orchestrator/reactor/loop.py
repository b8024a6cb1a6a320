"""The reactor loop: consume → decode → handle → dead-letter → commit, one batch at a time.

For each polled batch the loop decodes every record (a ``Rejection`` becomes a
dead letter), gives the decoded ones to the handler in one call, publishes the
dead letters and waits for their acknowledgements, and only then commits the
batch's offsets. Status events are not the loop's business: the handler
writes them to its outbox in the same transaction as the change. So a crash at
any point re-delivers, never loses, and the handler's dedupe on event id makes
re-delivery harmless.

If the handler raises a ``PermanentError`` for a batch, one event in it is
poison: the loop hands the batch's events to the handler one at a time, so the
good ones go through and only the event that fails again is dead-lettered
(``unprocessable``, with the error as its message). A poison event never
stalls intake.

If the handler fails otherwise (a ``TemporaryError`` or any unexpected
exception), nothing is committed: the loop seeks back to the batch's first
offsets, backs off and reads the batch again. Processing is synchronous between polls and rebalances
happen inside ``poll()``, so no partition is revoked while its batch is being
handled; a commit refused after an eviction only means the new owner reads
those records again.

If publishing dead letters fails after the handler made the batch durable, the
loop retries the publish in place (the handler is not asked again). Once they
are acknowledged, ``audit_dead_letters`` (the orchestrator's audit) is told them
before the commit; if it fails, the batch is read again, as for a failed handler.

After each batch the hooks hear each (event type, result) once with its
count, and at most once a second (``lag_interval_s``) the consumer's lag per
owned partition, idle or not: metrics cost the loop a few calls per batch.

``stop()`` (from a SIGTERM handler) lets the current batch finish and commit;
``run()`` then returns.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from orchestrator.bus import Consumer, Producer
from orchestrator.bus.types import RawRecord
from orchestrator.errors import GovmigError, TemporaryError
from orchestrator.events import codec
from orchestrator.events.codec import KafkaRecord
from orchestrator.events.envelope import InboundEvent
from orchestrator.events.reasons import Rejection
from orchestrator.hooks import BatchSummary, Hooks, notify
from orchestrator.reactor.batch import (
    BatchPlan,
    decode_batch,
    first_offsets,
    next_offsets,
    plan_outputs,
)
from orchestrator.reactor.deadletter import dead_letter
from orchestrator.reactor.flood import FloodGuard, FloodPolicy
from orchestrator.reactor.handler import Handler
from orchestrator.reactor.isolation import handle_isolating

log = logging.getLogger(__name__)


class ReactorStalledError(GovmigError):
    """The same batch failed ``max_attempts`` times in a row; the loop gives up loudly."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff for a failing batch or publish: exponential, capped, optionally finite."""

    initial_s: float = 0.5
    factor: float = 2.0
    max_delay_s: float = 30.0
    max_attempts: int | None = None

    def delay(self, attempt: int, error: BaseException) -> float:
        """Seconds to wait before attempt ``attempt + 1``; a ``TemporaryError`` names its own."""
        if isinstance(error, TemporaryError):
            return min(error.delay, self.max_delay_s)
        return min(self.initial_s * self.factor ** max(attempt - 1, 0), self.max_delay_s)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Reactor:
    """Runs the intake loop over one consumer, one producer and one handler."""

    def __init__(
        self,
        *,
        consumer: Consumer,
        producer: Producer,
        handler: Handler,
        dlq_topic: str,
        flood: FloodGuard | None = None,
        pausable: Collection[str] | None = None,
        pause_ended: Callable[[], bool] = lambda: False,
        hooks: Sequence[Hooks] = (),
        retry: RetryPolicy | None = None,
        decode: Callable[[KafkaRecord], InboundEvent] = codec.decode,
        poll_timeout_s: float = 1.0,
        lag_interval_s: float = 1.0,
        now: Callable[[], datetime] = _utcnow,
        audit_dead_letters: Callable[[Sequence[tuple[KafkaRecord, Rejection]]], object]
        | None = None,
    ) -> None:
        self._consumer, self._producer, self._handler = consumer, producer, handler
        self._dlq_topic = dlq_topic
        # Told each batch's dead letters once the broker has them, before the commit.
        self._audit_dead_letters = audit_dead_letters
        self._flood = flood if flood is not None else FloodGuard(FloodPolicy())
        # The topics a flood pauses (None: all); the others, such as a control
        # topic, are read and handled while intake is paused.
        self._pausable = None if pausable is None else frozenset(pausable)
        self._pause_ended = pause_ended
        self._hooks = tuple(hooks)
        self._retry = retry if retry is not None else RetryPolicy()
        self._decode = decode
        self._poll_timeout_s = poll_timeout_s
        self._lag_interval_s = lag_interval_s
        self._lag_due = 0.0  # time.monotonic() of the next lag report
        self._now = now
        self._stopping = threading.Event()
        self._failures = 0

    @property
    def flood(self) -> FloodGuard:
        """The flood guard, whose ``state()`` metrics can export."""
        return self._flood

    def stop(self) -> None:
        """Finish the current batch, commit it, and make ``run()`` return. Thread-safe."""
        self._stopping.set()

    def run(self) -> None:
        """Process batches until ``stop()``."""
        log.info("reactor started: dead letters → %s", self._dlq_topic)
        while not self._stopping.is_set():
            self.run_once()
        log.info("reactor stopped")

    def run_once(self) -> BatchSummary | None:
        """Poll once and process what came; None when nothing was processed."""
        if self._flood.paused and not self._leave_pause():
            self._hold()
            self._watch_lag()
            return None
        records = self._poll()
        result = self._process(records) if records else None
        self._watch_lag()
        return result

    def _poll(self) -> list[KafkaRecord]:
        try:
            return self._consumer.poll(self._poll_timeout_s)
        except TemporaryError as error:
            log.warning("%s; polling again in %.1f s", error, error.delay)
            self._stopping.wait(min(error.delay, self._retry.max_delay_s))
            return []

    def _process(self, records: Sequence[KafkaRecord]) -> BatchSummary | None:
        started = time.monotonic()
        notify(self._hooks, Hooks.before_batch, len(records))
        try:
            plan = self._handle(records)
        except Exception as error:  # any failure re-reads the batch: never lose, never skip
            self._retry_later(records, error)
            return None
        self._failures = 0
        dead = [self._dead_letter(record, rejection) for record, rejection in plan.dead]
        if not self._publish(dead):
            self._consumer.seek(first_offsets(records))
            return None
        if plan.dead and self._audit_dead_letters is not None:
            try:
                self._audit_dead_letters(plan.dead)
            except Exception as error:  # unaudited: read the batch again, never commit past it
                self._retry_later(records, error)
                return None
        for _, rejection in plan.dead:
            notify(self._hooks, Hooks.after_dead_letter, rejection.code)
        for event_type, outcome, count in plan.events:
            notify(self._hooks, Hooks.after_event, event_type, outcome, count)
        committed = self._commit(records)
        if plan.resumes_intake and self._flood.paused:
            log.warning("an operator asked intake to resume: ending the flood guard's pause")
            self._flood.end_pause()
        self._watch_flood(records, plan)
        summary = _summary(records, plan, committed, time.monotonic() - started)
        notify(self._hooks, Hooks.after_batch, summary)
        return summary

    def _handle(self, records: Sequence[KafkaRecord]) -> BatchPlan:
        batch = decode_batch(records, self._decode)
        outcomes = handle_isolating(self._handler, batch.deliveries) if batch.deliveries else ()
        return plan_outputs(batch, outcomes)

    def _dead_letter(self, record: KafkaRecord, rejection: Rejection) -> RawRecord:
        return dead_letter(record, code=rejection.code, message=rejection.message, now=self._now())

    def _retry_later(self, records: Sequence[KafkaRecord], error: BaseException) -> None:
        self._failures += 1
        delay = self._retry.delay(self._failures, error)
        if isinstance(error, TemporaryError):
            log.warning(
                "batch of %d records will be read again in %.1f s: %s", len(records), delay, error
            )
        else:
            log.error(
                "handler failed on a batch of %d records (attempt %d); reading it again in %.1f s",
                len(records),
                self._failures,
                delay,
                exc_info=error,
            )
        self._consumer.seek(first_offsets(records))
        notify(self._hooks, Hooks.after_retry, error, self._failures, delay)
        limit = self._retry.max_attempts
        if limit is not None and self._failures >= limit:
            raise ReactorStalledError(f"a batch failed {self._failures} times in a row: {error}")
        self._stopping.wait(delay)

    def _publish(self, dead: Sequence[RawRecord]) -> bool:
        """Send until acknowledged; False if ``stop()`` came while the broker kept failing."""
        attempt = 0
        while dead:
            try:
                self._producer.send_all(self._dlq_topic, dead)
                return True
            except GovmigError as error:
                attempt += 1
                delay = self._retry.delay(attempt, error)
                log.error(
                    "publishing %d dead letters failed (attempt %d), retrying in %.1f s: %s",
                    len(dead),
                    attempt,
                    delay,
                    error,
                )
                if self._stopping.wait(delay):
                    return False
        return True

    def _commit(self, records: Sequence[KafkaRecord]) -> bool:
        try:
            self._consumer.commit(next_offsets(records))
        except TemporaryError as error:
            log.warning("%s", error)
            notify(self._hooks, Hooks.after_commit_failed, error)
            return False
        return True

    def _watch_flood(self, records: Sequence[KafkaRecord], plan: BatchPlan) -> None:
        for code in plan.reasons(records):
            self._flood.observe(code)
        trip = self._flood.trip()
        if trip is not None:
            log.error("%s", trip.message)
            self._consumer.pause(self._pausable)
            notify(self._hooks, Hooks.after_pause, trip.message, trip.cooldown_s)

    def _watch_lag(self) -> None:
        """Report the lag per owned partition, at most once per ``lag_interval_s``."""
        now = time.monotonic()
        if now < self._lag_due:
            return
        self._lag_due = now + self._lag_interval_s
        lags = {(part.topic, part.partition): lag for part, lag in self._consumer.lag().items()}
        notify(self._hooks, Hooks.after_lag, lags)

    def _hold(self) -> None:
        """While paused, keep polling (group membership): handle what the pause leaves
        flowing (the control topic), hand back anything else fetched."""
        self._consumer.pause(self._pausable)  # again: a rebalance may bring unpaused partitions
        held: list[KafkaRecord] = []
        flowing: list[KafkaRecord] = []
        for record in self._poll():
            paused = self._pausable is None or record.topic in self._pausable
            (held if paused else flowing).append(record)
        if held:
            self._consumer.seek(first_offsets(held))
        if flowing:
            self._process(flowing)

    def _leave_pause(self) -> bool:
        if self._pause_ended():  # ended by a request another instance consumed
            self._flood.end_pause()
        if not self._flood.resume_due():
            return False
        self._consumer.resume()
        log.warning("dead-letter flood cooldown over: resuming intake")
        notify(self._hooks, Hooks.after_resume)
        return True


def _summary(
    records: Sequence[KafkaRecord], plan: BatchPlan, committed: bool, took: float
) -> BatchSummary:
    return BatchSummary(
        records=len(records),
        processed=plan.processed,
        duplicates=plan.duplicates,
        dead_letters=len(plan.dead),
        committed=committed,
        duration_s=took,
    )
