"""Bounded, group-less reads of a whole topic: what ``govmig dlq list|replay`` look at.

No consumer group, no commit: reading the dead letters never changes where the
orchestrator stands. The read stops at the end offsets seen when it began, so it
always terminates even while new records arrive.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from orchestrator.bus.config import reader_options, timeout_ms_of, unreachable
from orchestrator.bus.probe import ensure_reachable
from orchestrator.bus.records import to_kafka_record
from orchestrator.errors import ConfigurationError, TemporaryError
from orchestrator.events.codec import KafkaRecord
from orchestrator.settings import KafkaSettings

POLL_MS = 200


class UnknownTopicError(ConfigurationError):
    """The topic does not exist on the broker."""


def read_topic(settings: KafkaSettings, topic: str) -> Iterator[KafkaRecord]:
    """Yield every record of ``topic`` from the beginning up to its current end."""
    ensure_reachable(settings)
    try:
        client: Any = KafkaConsumer(**reader_options(settings))
    except KafkaError as error:
        raise unreachable(settings, error) from error
    try:
        yield from _read_all(client, settings, topic)
    finally:
        client.close(autocommit=False)


def _read_all(client: Any, settings: KafkaSettings, topic: str) -> Iterator[KafkaRecord]:
    ids = client.partitions_for_topic(topic)
    if not ids:
        raise UnknownTopicError(f"topic {topic} does not exist on {settings.bootstrap_servers}")
    partitions = [TopicPartition(topic, number) for number in sorted(ids)]
    client.assign(partitions)
    client.seek_to_beginning(*partitions)
    ends = client.end_offsets(partitions)
    stall_s = timeout_ms_of(settings) / 1000
    last_progress = time.monotonic()
    while _behind(client, ends):
        batches = client.poll(timeout_ms=POLL_MS)
        if batches:
            last_progress = time.monotonic()
        elif time.monotonic() - last_progress > stall_s:
            raise TemporaryError(f"reading {topic} stalled for {stall_s:g} s before its end")
        for part, records in batches.items():
            yield from (to_kafka_record(raw) for raw in records if raw.offset < ends[part])


def _behind(client: Any, ends: dict[Any, int]) -> bool:
    return any(client.position(part) < end for part, end in ends.items())
