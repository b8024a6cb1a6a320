"""The reactor loop: consume → decode → handle → publish → commit, one batch at a time.

For each polled batch the loop decodes every record (a ``Rejection`` becomes a
dead letter), gives the decoded ones to the handler in one call, publishes the
status events and dead letters and waits for their acknowledgements, and only
then commits the batch's offsets. So a crash at any point re-delivers, never
loses, and the handler's dedupe on event id makes re-delivery harmless.

If the handler raises a ``PermanentError`` for a batch, one event in it is
poison: the loop hands the batch's events to the handler one at a time, so the
good ones go through and only the event that fails again is dead-lettered
(``unprocessable``, with the error as its message). A poison event never
stalls intake.

If the handler fails otherwise (a ``TemporaryError`` or any unexpected
exception), nothing is committed: the loop seeks back to the batch's first offsets, backs off and
reads the batch again. Processing is synchronous between polls and rebalances
happen inside ``poll()``, so no partition is revoked while its batch is being
handled; a commit refused after an eviction only means the new owner reads
those records again.

If publishing fails after the handler made the batch durable, the loop retries
the publish in place (the handler is not asked again). Should the process stop
before that succeeds, the batch is re-delivered and the handler answers
``Duplicate``, so its status events are not re-emitted: a handler whose status
events must survive that keeps them in an outbox in the same transaction.

After each batch the observer hears each (event type, result) once with its
count, and at most once a second (``lag_interval_s``) the consumer's lag per
owned partition, idle or not: metrics cost the loop a few calls per batch.

``stop()`` (from a SIGTERM handler) lets the current batch finish and commit;
``run()`` then returns.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from orchestrator.bus import Consumer, Producer
from orchestrator.bus.types import RawRecord, RecordLike
from orchestrator.errors import GovmigError, TemporaryError
from orchestrator.events import codec
from orchestrator.events.codec import KafkaRecord
from orchestrator.events.envelope import Event, InboundEvent
from orchestrator.events.reasons import Rejection
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
from orchestrator.reactor.observer import BatchResult, Observer

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


@dataclass(frozen=True, slots=True)
class Topics:
    """Where the loop publishes: status events and dead letters."""

    status: str
    dlq: str


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
        topics: Topics,
        flood: FloodGuard | None = None,
        observer: Observer | None = None,
        retry: RetryPolicy | None = None,
        decode: Callable[[KafkaRecord], InboundEvent] = codec.decode,
        encode: Callable[[Event], RecordLike] = codec.encode,
        poll_timeout_s: float = 1.0,
        lag_interval_s: float = 1.0,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._consumer, self._producer, self._handler = consumer, producer, handler
        self._topics = topics
        self._flood = flood if flood is not None else FloodGuard(FloodPolicy())
        self._observer = observer if observer is not None else Observer()
        self._retry = retry if retry is not None else RetryPolicy()
        self._decode, self._encode = decode, encode
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
        log.info("reactor started: status → %s, dead letters → %s", *self._topics_names())
        while not self._stopping.is_set():
            self.run_once()
        log.info("reactor stopped")

    def run_once(self) -> BatchResult | None:
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

    def _process(self, records: Sequence[KafkaRecord]) -> BatchResult | None:
        started = time.monotonic()
        self._observer.before_batch(len(records))
        try:
            plan, status = self._handle(records)
        except Exception as error:  # any failure re-reads the batch: never lose, never skip
            self._retry_later(records, error)
            return None
        self._failures = 0
        dead = [self._dead_letter(record, rejection) for record, rejection in plan.dead]
        if not self._publish(status, dead):
            self._consumer.seek(first_offsets(records))
            return None
        for _, rejection in plan.dead:
            self._observer.after_dead_letter(rejection.code)
        for event_type, outcome, count in plan.events:
            self._observer.after_event(event_type, outcome, count)
        committed = self._commit(records)
        self._watch_flood(records, plan)
        result = _result(records, plan, len(status), committed, time.monotonic() - started)
        self._observer.after_batch(result)
        return result

    def _handle(self, records: Sequence[KafkaRecord]) -> tuple[BatchPlan, list[RecordLike]]:
        batch = decode_batch(records, self._decode)
        outcomes = handle_isolating(self._handler, batch.deliveries) if batch.deliveries else ()
        plan = plan_outputs(batch, outcomes)
        return plan, [self._encode(event) for event in plan.status]

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
        self._observer.after_retry(error, self._failures, delay)
        limit = self._retry.max_attempts
        if limit is not None and self._failures >= limit:
            raise ReactorStalledError(f"a batch failed {self._failures} times in a row: {error}")
        self._stopping.wait(delay)

    def _publish(self, status: Sequence[RecordLike], dead: Sequence[RecordLike]) -> bool:
        """Send until acknowledged; False if ``stop()`` came while the broker kept failing."""
        attempt = 0
        while True:
            try:
                if status:
                    self._producer.send_all(self._topics.status, status)
                if dead:
                    self._producer.send_all(self._topics.dlq, dead)
                return True
            except GovmigError as error:
                attempt += 1
                delay = self._retry.delay(attempt, error)
                log.error(
                    "publishing %d status events and %d dead letters failed (attempt %d), "
                    "retrying in %.1f s: %s",
                    len(status),
                    len(dead),
                    attempt,
                    delay,
                    error,
                )
                if self._stopping.wait(delay):
                    return False

    def _commit(self, records: Sequence[KafkaRecord]) -> bool:
        try:
            self._consumer.commit(next_offsets(records))
        except TemporaryError as error:
            log.warning("%s", error)
            self._observer.after_commit_failed(error)
            return False
        return True

    def _watch_flood(self, records: Sequence[KafkaRecord], plan: BatchPlan) -> None:
        for code in plan.reasons(records):
            self._flood.observe(code)
        trip = self._flood.trip()
        if trip is not None:
            log.error("%s", trip.message)
            self._consumer.pause()
            self._observer.after_pause(trip)

    def _watch_lag(self) -> None:
        """Report the lag per owned partition, at most once per ``lag_interval_s``."""
        now = time.monotonic()
        if now < self._lag_due:
            return
        self._lag_due = now + self._lag_interval_s
        self._observer.after_lag(self._consumer.lag())

    def _hold(self) -> None:
        """While paused, keep polling (group membership) and hand back anything fetched."""
        self._consumer.pause()  # again: a rebalance may have brought unpaused partitions
        records = self._poll()
        if records:
            self._consumer.seek(first_offsets(records))

    def _leave_pause(self) -> bool:
        if not self._flood.resume_due():
            return False
        self._consumer.resume()
        log.warning("dead-letter flood cooldown over: resuming intake")
        self._observer.after_resume()
        return True

    def _topics_names(self) -> tuple[str, str]:
        return self._topics.status, self._topics.dlq


def _result(
    records: Sequence[KafkaRecord], plan: BatchPlan, published: int, committed: bool, took: float
) -> BatchResult:
    return BatchResult(
        records=len(records),
        processed=plan.processed,
        duplicates=plan.duplicates,
        dead_letters=len(plan.dead),
        published=published,
        committed=committed,
        duration_s=took,
    )
