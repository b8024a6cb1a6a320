"""Dead letters: how a rejected record is wrapped for the DLQ topic, and unwrapped again.

A dead letter is the original record, byte for byte: the same key, value and
headers, in the same order. The reactor appends the headers below, so anyone
with a Kafka client can see why a record was refused and where it came from:

``govmig_dlq_reason``
    Machine-readable reason code (the codec's ``Rejection.code``, e.g. ``schema``).
``govmig_dlq_message``
    Human-readable explanation, UTF-8, at most ``MAX_MESSAGE_CHARS`` characters.
``govmig_dlq_topic`` / ``govmig_dlq_partition`` / ``govmig_dlq_offset``
    Where the original record was read (decimal ASCII for the numbers).
``govmig_dlq_time``
    When it was dead-lettered, RFC 3339 in UTC, e.g. ``2025-01-31T08:00:00.000Z``.
``govmig_dlq_null_value``
    Present (``1``) only when the original had neither key nor value: Kafka
    clients cannot send such a record, so the dead letter carries an empty value.
``govmig_dlq_truncated``
    Present only when the original value was longer than ``MAX_KEPT_VALUE_BYTES``
    (it was refused as ``too_large`` anyway): the dead letter keeps the first
    ``MAX_KEPT_VALUE_BYTES`` and this header holds the original length. Without
    it, an original close to the broker's size limit plus our headers would be
    refused by the broker and block the loop.

If an original already carried ``govmig_dlq_*`` headers, ours come after them
and readers take the last occurrence. Replaying strips every ``govmig_dlq_*``
header, so a replayed record is exactly the original again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from orchestrator.bus.types import Headers, RawRecord
from orchestrator.events.codec import KafkaRecord

PREFIX = "govmig_dlq_"
REASON = "govmig_dlq_reason"
MESSAGE = "govmig_dlq_message"
TOPIC = "govmig_dlq_topic"
PARTITION = "govmig_dlq_partition"
OFFSET = "govmig_dlq_offset"
TIME = "govmig_dlq_time"
NULL_VALUE = "govmig_dlq_null_value"
TRUNCATED = "govmig_dlq_truncated"

MAX_MESSAGE_CHARS = 1000
# Well under the broker's default message.max.bytes (1 MiB), leaving room for headers.
MAX_KEPT_VALUE_BYTES = 512 * 1024


def dead_letter(record: KafkaRecord, *, code: str, message: str, now: datetime) -> RawRecord:
    """The DLQ record for ``record``, refused for ``code`` with ``message``."""
    added: list[tuple[str, bytes]] = [
        (REASON, code.encode()),
        (MESSAGE, message[:MAX_MESSAGE_CHARS].encode("utf-8", "replace")),
        (TOPIC, record.topic.encode()),
        (PARTITION, str(record.partition).encode()),
        (OFFSET, str(record.offset).encode()),
        (TIME, rfc3339(now).encode()),
    ]
    value = record.value
    if record.key is None and value is None:
        value = b""
        added.append((NULL_VALUE, b"1"))
    elif value is not None and len(value) > MAX_KEPT_VALUE_BYTES:
        added.append((TRUNCATED, str(len(value)).encode()))
        value = value[:MAX_KEPT_VALUE_BYTES]
    return RawRecord(key=record.key, value=value, headers=(*record.headers, *added))


def original(record: KafkaRecord) -> RawRecord:
    """The record as it was before it was dead-lettered: what ``dlq replay`` sends back."""
    return RawRecord(key=record.key, value=record.value, headers=strip(record.headers))


def strip(headers: Sequence[tuple[str, bytes]]) -> Headers:
    """``headers`` without any ``govmig_dlq_*`` header, order kept."""
    return tuple((name, value) for name, value in headers if not name.startswith(PREFIX))


def rfc3339(moment: datetime) -> str:
    """``moment`` in UTC, millisecond precision, with a ``Z`` suffix."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class DeadLetterView:
    """One dead letter as ``govmig dlq list`` shows it."""

    partition: int
    offset: int
    key: str | None
    reason: str
    message: str
    source_topic: str
    source_partition: int | None
    source_offset: int | None
    time: str


def describe(record: KafkaRecord) -> DeadLetterView:
    """Read the ``govmig_dlq_*`` headers of a DLQ record (the last occurrence of each wins)."""
    found = {name: value.decode("utf-8", "replace") for name, value in record.headers}
    return DeadLetterView(
        partition=record.partition,
        offset=record.offset,
        key=None if record.key is None else record.key.decode("utf-8", "backslashreplace"),
        reason=found.get(REASON, "unknown"),
        message=found.get(MESSAGE, ""),
        source_topic=found.get(TOPIC, ""),
        source_partition=_int_or_none(found.get(PARTITION)),
        source_offset=_int_or_none(found.get(OFFSET)),
        time=found.get(TIME, ""),
    )


def _int_or_none(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None
