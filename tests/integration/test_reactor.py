"""The reactor loop against a real broker: foreign producers, duplicates, retries, stop, floods.

Every test gets fresh topics and its own consumer group, and drives the loop
with ``run_once`` (or ``run`` where stopping is the point) so it is deterministic.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import confluent_kafka
import pytest

from orchestrator.bus import Consumer, Partition, Producer, read_topic
from orchestrator.errors import PermanentError, TemporaryError
from orchestrator.events import event_key
from orchestrator.hooks import BatchSummary, Hooks
from orchestrator.reactor import (
    Delivery,
    FloodGuard,
    FloodPolicy,
    Outcome,
    Reactor,
    RetryPolicy,
)
from orchestrator.settings import KafkaSettings
from tests.fixtures.polling import wait_until
from tests.fixtures.recording import RecordingHandler

pytestmark = pytest.mark.kafka

# confluent-kafka's own header type, so its stubs accept our lists.
Raw = tuple[bytes | None, bytes | None, list[tuple[str, str | bytes | None]]]


def registered(system: str, *, event_id: str | None = None) -> dict[str, Any]:
    """A valid structured-mode ``gov.cloud.system.registered`` envelope."""
    return {
        "specversion": "1.0",
        "id": event_id or uuid.uuid4().hex,
        "source": "/cmdb/shantou",
        "type": "gov.cloud.system.registered",
        "time": "2025-03-03T09:00:00+08:00",
        "data": {
            "id": system,
            "name": "不动产登记信息平台",
            "city": "shantou",
            "department": "汕头市自然资源局",
            "vcpu": 16,
            "memory_gb": 64,
            "storage_gb": 2000,
            "source": {"city": "shantou", "site": "机房A", "host": "bdcdj.st.gd.gov.cn"},
        },
    }


def structured(envelope: dict[str, Any]) -> Raw:
    key = envelope["data"]["id"].encode()
    value = json.dumps(envelope, ensure_ascii=False).encode()
    return key, value, [("content-type", b"application/cloudevents+json")]


def produce_foreign(bootstrap: str, topic: str, records: Sequence[Raw]) -> None:
    """Send with confluent-kafka (librdkafka), a client this project did not write."""
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    failures: list[str] = []

    def report(error: Any, _message: Any) -> None:
        if error is not None:
            failures.append(str(error))

    for key, value, headers in records:
        producer.produce(topic, key=key, value=value, headers=headers, on_delivery=report)
    assert producer.flush(15) == 0
    assert failures == []


class Recorder(Hooks):
    """Keeps every hook call, so tests can assert what the loop reported."""

    def __init__(self) -> None:
        self.batches: list[BatchSummary] = []
        self.dead: list[str] = []
        self.retries: list[tuple[BaseException, int, float]] = []
        self.pauses: list[tuple[str, float]] = []
        self.resumes = 0
        self.events: dict[tuple[str, str], int] = {}
        self.event_calls = 0
        self.lags: list[dict[tuple[str, int], int]] = []

    def after_batch(self, summary: BatchSummary) -> None:
        self.batches.append(summary)

    def after_dead_letter(self, code: str) -> None:
        self.dead.append(code)

    def after_event(self, event_type: str, result: str, count: int = 1) -> None:
        self.event_calls += 1
        self.events[(event_type, result)] = self.events.get((event_type, result), 0) + count

    def after_lag(self, lags: Mapping[tuple[str, int], int]) -> None:
        self.lags.append(dict(lags))

    def after_retry(self, error: BaseException, attempt: int, delay_s: float) -> None:
        self.retries.append((error, attempt, delay_s))

    def after_pause(self, reason: str, cooldown_s: float) -> None:
        self.pauses.append((reason, cooldown_s))

    def after_resume(self) -> None:
        self.resumes += 1


@pytest.fixture
def settings(kafka_bootstrap: str, new_topic: Callable[..., str]) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=kafka_bootstrap,
        events_topic=new_topic("events", partitions=1),
        status_topic=new_topic("status", partitions=1),
        dlq_topic=new_topic("dlq", partitions=1),
        consumer_group=f"test-{uuid.uuid4().hex[:12]}",
        request_timeout_s=5.0,
    )


@contextmanager
def reactor_for(
    settings: KafkaSettings, handler: Any, **options: Any
) -> Iterator[tuple[Reactor, Consumer]]:
    max_poll_records = options.pop("max_poll_records", 500)
    consumer = Consumer(settings, topics=[settings.events_topic], max_poll_records=max_poll_records)
    producer = Producer(settings)
    observer = options.pop("observer", None)
    if observer is not None:
        options["hooks"] = [observer]
    options.setdefault("poll_timeout_s", 0.3)
    try:
        yield (
            Reactor(
                consumer=consumer,
                producer=producer,
                handler=handler,
                dlq_topic=settings.dlq_topic,
                **options,
            ),
            consumer,
        )
    finally:
        consumer.close()
        producer.close()


def run_until(reactor: Reactor, done: Callable[[], bool], timeout_s: float = 20.0) -> None:
    def turned() -> bool:
        if done():
            return True
        reactor.run_once()
        return False

    wait_until(turned, timeout_s=timeout_s, what="the loop to get there", interval_s=0)


def status_records(settings: KafkaSettings) -> int:
    """What reached the status topic: the reactor itself never publishes there."""
    return sum(1 for _ in read_topic(settings, settings.status_topic))


def test_foreign_producer_binary_and_structured(
    settings: KafkaSettings, kafka_bootstrap: str
) -> None:
    as_structured = registered("shantou-bdcdj")
    as_binary = registered("shantou-gjj")
    data = json.dumps(as_binary["data"], ensure_ascii=False).encode()
    binary_headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", as_binary["id"].encode()),
        ("ce_source", b"/cmdb/shantou"),
        ("ce_type", b"gov.cloud.system.registered"),
        ("ce_time", b"2025-03-03T09:00:00+08:00"),
        ("content-type", b"application/json"),
    ]
    produce_foreign(
        kafka_bootstrap,
        settings.events_topic,
        [structured(as_structured), (b"shantou-gjj", data, binary_headers)],
    )
    handler = RecordingHandler()
    with reactor_for(settings, handler) as (reactor, _):
        run_until(reactor, lambda: len(handler.processed) == 2)
    seen = {(event.id, event_key(event)) for event in handler.processed}
    assert seen == {(as_structured["id"], "shantou-bdcdj"), (as_binary["id"], "shantou-gjj")}
    assert status_records(settings) == 0  # status events are the engine outbox's job


def test_events_are_reported_per_type_and_result_once_per_batch(
    settings: KafkaSettings, kafka_bootstrap: str
) -> None:
    same = structured(registered("shantou-bdcdj"))
    garbage: Raw = (b"shantou-x", b"{not json", [])
    produce_foreign(kafka_bootstrap, settings.events_topic, [same, same, garbage, same])
    handler, observer = RecordingHandler(), Recorder()
    with reactor_for(settings, handler, observer=observer) as (reactor, _):
        run_until(reactor, lambda: sum(observer.events.values()) == 4)
    assert observer.events == {
        ("gov.cloud.system.registered", "processed"): 1,
        ("gov.cloud.system.registered", "duplicate"): 2,
        ("unknown", "dead_lettered"): 1,
    }
    # One call per (type, result) of a batch, not one per record.
    assert observer.event_calls <= 3 * len(observer.batches)


def test_lag_is_end_offset_minus_position_after_each_batch(
    settings: KafkaSettings, kafka_bootstrap: str
) -> None:
    records = [structured(registered(f"shantou-s{n}")) for n in range(3)]
    produce_foreign(kafka_bootstrap, settings.events_topic, records)
    observer = Recorder()
    part = Partition(settings.events_topic, 0)
    options = {"observer": observer, "max_poll_records": 1, "lag_interval_s": 0.0}
    with reactor_for(settings, RecordingHandler(), **options) as (reactor, consumer):
        after_batches: list[dict[tuple[str, int], int]] = []
        while len(after_batches) < 3:
            if reactor.run_once() is not None:
                after_batches.append(observer.lags[-1])
        assert after_batches == [{part: 2}, {part: 1}, {part: 0}]
        assert consumer.lag() == {part: 0}


def test_lag_is_reported_at_most_once_per_interval(
    settings: KafkaSettings, kafka_bootstrap: str
) -> None:
    observer = Recorder()
    options = {"observer": observer, "lag_interval_s": 60.0, "poll_timeout_s": 0.1}
    with reactor_for(settings, RecordingHandler(), **options) as (reactor, _):
        for _ in range(5):
            reactor.run_once()
    assert len(observer.lags) == 1


def test_duplicate_delivery_is_processed_once(
    settings: KafkaSettings, kafka_bootstrap: str
) -> None:
    same = structured(registered("shantou-bdcdj"))
    produce_foreign(kafka_bootstrap, settings.events_topic, [same, same, same])
    handler, observer = RecordingHandler(), Recorder()
    with reactor_for(settings, handler, observer=observer) as (reactor, consumer):
        run_until(reactor, lambda: len(handler.outcomes) == 3)
        assert consumer.committed(Partition(settings.events_topic, 0)) == 3
    assert len(handler.processed) == 1
    assert handler.duplicates == 2
    assert observer.dead == []


class PoisonedBy:
    """A ``RecordingHandler`` that fails for good on every batch holding ``system``."""

    def __init__(self, system: str) -> None:
        self.inner = RecordingHandler()
        self.system = system
        self.calls = 0

    def handle(self, batch: Sequence[Delivery]) -> Sequence[Outcome]:
        self.calls += 1
        if any(event_key(delivery.event) == self.system for delivery in batch):
            raise PermanentError(f"inconsistent record for {self.system}")
        return self.inner.handle(batch)


def test_a_poison_event_is_dead_lettered_alone_and_the_batch_goes_on(
    settings: KafkaSettings, kafka_bootstrap: str
) -> None:
    systems = [f"shantou-p{n}" for n in range(5)]
    produce_foreign(
        kafka_bootstrap, settings.events_topic, [structured(registered(s)) for s in systems]
    )
    handler, observer = PoisonedBy("shantou-p2"), Recorder()
    with reactor_for(settings, handler, observer=observer) as (reactor, consumer):
        run_until(reactor, lambda: consumer.committed(Partition(settings.events_topic, 0)) == 5)
    assert sorted(event_key(event) for event in handler.inner.processed) == [
        s for s in systems if s != "shantou-p2"
    ]
    assert observer.dead == ["unprocessable"]
    assert observer.retries == []  # isolated at once, never retried as a whole
    (letter,) = read_topic(settings, settings.dlq_topic)
    headers = dict(letter.headers)
    assert letter.key == b"shantou-p2"
    assert headers["govmig_dlq_reason"] == b"unprocessable"
    assert b"inconsistent record for shantou-p2" in headers["govmig_dlq_message"]


class FailingOnce:
    """Raises ``error`` on the first batch, then behaves like a ``RecordingHandler``."""

    def __init__(self, error: Exception) -> None:
        self.inner = RecordingHandler()
        self.error: Exception | None = error
        self.calls = 0

    def handle(self, batch: Sequence[Delivery]) -> Sequence[Outcome]:
        self.calls += 1
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        return self.inner.handle(batch)


@pytest.mark.parametrize(
    "error",
    [TemporaryError("database is restarting", delay=0.1), RuntimeError("a bug in the handler")],
    ids=["temporary-error", "unexpected-exception"],
)
def test_failed_batch_is_delivered_again_and_committed_only_after(
    settings: KafkaSettings,
    kafka_bootstrap: str,
    error: Exception,
    caplog: pytest.LogCaptureFixture,
) -> None:
    records = [structured(registered(f"shantou-s{n}")) for n in range(6)]
    produce_foreign(kafka_bootstrap, settings.events_topic, records)
    handler, observer = FailingOnce(error), Recorder()
    part = Partition(settings.events_topic, 0)
    retry = RetryPolicy(initial_s=0.1, max_attempts=5)
    with reactor_for(settings, handler, observer=observer, retry=retry) as (reactor, consumer):
        with caplog.at_level(logging.WARNING, logger="orchestrator.reactor"):
            run_until(reactor, lambda: len(observer.retries) == 1)
        assert consumer.committed(part) is None  # the failed batch was not committed
        run_until(reactor, lambda: len(handler.inner.processed) == 6)
        assert consumer.committed(part) == 6
    assert handler.inner.duplicates == 0
    assert observer.retries[0][0] is error
    logged = [record for record in caplog.records if record.name == "orchestrator.reactor.loop"]
    if isinstance(error, TemporaryError):
        assert "read again in 0.1 s" in logged[0].getMessage()
    else:
        assert logged[0].exc_info is not None
        assert logged[0].exc_info[1] is error


def test_stop_finishes_the_batch_commits_and_returns(
    settings: KafkaSettings, kafka_bootstrap: str
) -> None:
    records = [structured(registered(f"shantou-s{n}")) for n in range(10)]
    produce_foreign(kafka_bootstrap, settings.events_topic, records)
    inner = RecordingHandler()
    holder: list[Reactor] = []

    class StopsMidBatch:
        def handle(self, batch: Sequence[Delivery]) -> Sequence[Outcome]:
            holder[0].stop()  # as a SIGTERM handler would, while the batch is in flight
            return inner.handle(batch)

    with reactor_for(settings, StopsMidBatch(), max_poll_records=4) as (reactor, consumer):
        holder.append(reactor)
        reactor.run()  # returns: a hang would be the suite's timeout
        assert len(inner.batches) == 1
        handled = len(inner.batches[0])
        assert 1 <= handled <= 4
        assert consumer.committed(Partition(settings.events_topic, 0)) == handled


def test_flood_guard_pauses_intake(settings: KafkaSettings, kafka_bootstrap: str) -> None:
    garbage: Raw = (b"shantou-x", b"\x00 not an event", [])
    good = [structured(registered(f"shantou-s{n}")) for n in range(30)]
    records = [garbage if n % 10 else good[n // 10] for n in range(300)]  # 90% garbage
    produce_foreign(kafka_bootstrap, settings.events_topic, records)
    policy = FloodPolicy(window=40, max_share=0.5, min_count=20, cooldown_s=3.0)
    guard, observer, handler = FloodGuard(policy), Recorder(), RecordingHandler()
    options = {"flood": guard, "observer": observer, "max_poll_records": 20}
    with reactor_for(settings, handler, **options) as (reactor, consumer):
        run_until(reactor, lambda: bool(observer.pauses))
        dead_at_pause = len(observer.dead)
        assert guard.state().paused
        assert consumer.paused() == {Partition(settings.events_topic, 0)}
        hold_until = time.monotonic() + 1.0
        while time.monotonic() < hold_until:
            assert reactor.run_once() is None
        assert len(observer.dead) == dead_at_pause  # nothing dead-lettered while paused
        assert sum(1 for _ in read_topic(settings, settings.dlq_topic)) == dead_at_pause
        run_until(reactor, lambda: observer.resumes == 1)
        run_until(reactor, lambda: len(observer.dead) > dead_at_pause)  # intake goes on
    reason, cooldown_s = observer.pauses[0]
    assert "top reason: not_json" in reason
    assert cooldown_s == policy.cooldown_s
    assert 0 < dead_at_pause < 270  # the guard stopped it long before the topic was drained


def test_rebalance_listener_logs_assignment(
    settings: KafkaSettings, kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    produce_foreign(kafka_bootstrap, settings.events_topic, [structured(registered("shantou-a"))])
    handler = RecordingHandler()
    with (
        caplog.at_level(logging.INFO, logger="orchestrator.bus"),
        reactor_for(settings, handler) as (reactor, _),
    ):
        run_until(reactor, lambda: len(handler.processed) == 1)
    messages = [record.getMessage() for record in caplog.records]
    assert f"partitions assigned: {settings.events_topic}[0]" in messages


def test_dead_letter_time_is_utc(settings: KafkaSettings, kafka_bootstrap: str) -> None:
    produce_foreign(kafka_bootstrap, settings.events_topic, [(b"k", b"[]", [])])
    fixed = datetime(2025, 1, 31, 8, 0, 0, 123456, tzinfo=UTC)
    observer = Recorder()
    with reactor_for(settings, RecordingHandler(), observer=observer, now=lambda: fixed) as (
        reactor,
        _,
    ):
        run_until(reactor, lambda: observer.dead == ["not_object"])
    (letter,) = list(read_topic(settings, settings.dlq_topic))
    assert ("govmig_dlq_time", b"2025-01-31T08:00:00.123Z") in letter.headers


class AuditOfDeadLetters:
    """Records each batch's dead letters with how many the DLQ topic held then; fails first
    ``failures`` times."""

    def __init__(self, settings: KafkaSettings, failures: int = 0) -> None:
        self.settings, self.failures = settings, failures
        self.told: list[tuple[list[bytes | None], int]] = []

    def __call__(self, letters: Sequence[tuple[Any, Any]]) -> None:
        on_dlq = sum(1 for _ in read_topic(self.settings, self.settings.dlq_topic))
        if self.failures:
            self.failures -= 1
            raise RuntimeError("the audit's database is away")
        self.told.append(([record.key for record, _ in letters], on_dlq))


def test_dead_letters_are_audited_once_the_broker_has_them_before_the_commit(
    settings: KafkaSettings, kafka_bootstrap: str
) -> None:
    produce_foreign(
        kafka_bootstrap,
        settings.events_topic,
        [(b"shantou-bad", b"{not json", []), structured(registered("shantou-ok"))],
    )
    audit = AuditOfDeadLetters(settings)
    part = Partition(settings.events_topic, 0)
    with reactor_for(settings, RecordingHandler(), audit_dead_letters=audit) as (reactor, consumer):
        run_until(reactor, lambda: consumer.committed(part) == 2)
    assert audit.told == [([b"shantou-bad"], 1)]  # after the DLQ had it


def test_an_audit_that_fails_reads_the_batch_again_and_commits_only_after(
    settings: KafkaSettings, kafka_bootstrap: str
) -> None:
    produce_foreign(kafka_bootstrap, settings.events_topic, [(b"shantou-bad", b"{", [])])
    audit, observer = AuditOfDeadLetters(settings, failures=1), Recorder()
    part = Partition(settings.events_topic, 0)
    retry = RetryPolicy(initial_s=0.1, max_attempts=5)
    options = {"audit_dead_letters": audit, "observer": observer, "retry": retry}
    with reactor_for(settings, RecordingHandler(), **options) as (reactor, consumer):
        run_until(reactor, lambda: len(observer.retries) == 1)
        assert consumer.committed(part) is None  # not past an unaudited dead letter
        run_until(reactor, lambda: consumer.committed(part) == 1)
    # Sent twice (at least once), audited once.
    assert audit.told == [([b"shantou-bad"], 2)]
    assert str(observer.retries[0][0]) == "the audit's database is away"
