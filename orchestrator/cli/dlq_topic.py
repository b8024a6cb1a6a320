"""Operator tools over the dead-letter topic: list and replay (``govmig dlq ...``).

Both read the DLQ topic from the beginning without a consumer group, so they
never move the orchestrator's offsets. Replaying sends the original key, value
and headers back to the inbound topic; it is safe to repeat because the
orchestrator processes each event id once, and a record that is still bad is
simply dead-lettered again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice

from orchestrator.bus import Producer, read_topic
from orchestrator.bus.reader import UnknownTopicError
from orchestrator.events.codec import KafkaRecord
from orchestrator.reactor.deadletter import DeadLetterView, describe, original
from orchestrator.settings import KafkaSettings


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """What ``replay_dead_letters`` selected and what the broker acknowledged."""

    topic: str
    selected: int
    replayed: int
    dry_run: bool


def select(
    settings: KafkaSettings, *, reason: str | None = None, limit: int | None = None
) -> Iterator[KafkaRecord]:
    """DLQ records in topic order, those with ``reason`` only if given, at most ``limit``."""
    try:
        matching = (
            record
            for record in read_topic(settings, settings.dlq_topic)
            if reason is None or describe(record).reason == reason
        )
        yield from islice(matching, limit)
    except UnknownTopicError:
        return  # no DLQ topic yet: nothing has ever been dead-lettered


def list_dead_letters(
    settings: KafkaSettings, *, reason: str | None = None, limit: int | None = None
) -> list[DeadLetterView]:
    """The dead letters as ``govmig dlq list`` shows them."""
    return [describe(record) for record in select(settings, reason=reason, limit=limit)]


def replay_dead_letters(
    settings: KafkaSettings,
    *,
    reason: str | None = None,
    limit: int | None = None,
    dry_run: bool = False,
    on_ack: Callable[[], None] | None = None,
) -> ReplayReport:
    """Send the chosen dead letters back to the inbound topic, as they first arrived."""
    chosen = [original(record) for record in select(settings, reason=reason, limit=limit)]
    topic = settings.events_topic
    if dry_run or not chosen:
        return ReplayReport(topic=topic, selected=len(chosen), replayed=0, dry_run=dry_run)
    with Producer(settings) as producer:
        report = producer.send_all(topic, chosen, on_ack=on_ack)
    return ReplayReport(topic=topic, selected=len(chosen), replayed=report.sent, dry_run=False)
