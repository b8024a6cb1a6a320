"""Conversion of kafka-python's consumed records into the codec's ``KafkaRecord``."""

from __future__ import annotations

from typing import Any

from orchestrator.events.codec import KafkaRecord


def to_kafka_record(raw: Any) -> KafkaRecord:
    """One consumed record as plain bytes and tuples; a null header value becomes ``b""``."""
    # kafka-python already hands (str, bytes) pairs; only a null value needs replacing.
    headers = tuple(
        header if header[1] is not None else (header[0], b"") for header in raw.headers or ()
    )
    return KafkaRecord(
        topic=raw.topic,
        partition=raw.partition,
        offset=raw.offset,
        key=raw.key,
        value=raw.value,
        headers=headers,
        timestamp_ms=raw.timestamp,
    )
