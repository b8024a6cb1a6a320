"""Pure bookkeeping for one polled batch: decoding, pairing outcomes, offsets.

No I/O here, so the rules that keep delivery at least once (commit the next
offset after the last record; re-read from the first) are plain functions.
The tally of event types and results that ``govcloud_events_total`` counts is
made here too, once per batch, so the hooks are called once per (type,
result) rather than once per record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from orchestrator.bus.types import Partition
from orchestrator.events.codec import KafkaRecord
from orchestrator.events.envelope import InboundEvent
from orchestrator.events.reasons import Rejection
from orchestrator.reactor.handler import Delivery, Duplicate, Outcome, Processed, Rejected

# The event type reported for a record that could not be decoded far enough to know it.
UNDECODED_TYPE: Final = "unknown"
# The results an event can have, as ``Hooks.after_event`` reports them.
PROCESSED: Final = "processed"
DUPLICATE: Final = "duplicate"
DEAD_LETTERED: Final = "dead_lettered"


@dataclass(frozen=True, slots=True)
class DecodedBatch:
    """A polled batch split into decoded deliveries and records the codec refused."""

    records: tuple[KafkaRecord, ...]
    deliveries: tuple[Delivery, ...]
    rejections: tuple[tuple[KafkaRecord, Rejection], ...]


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """What a handled batch asks the reactor to dead-letter, and how it went."""

    dead: tuple[tuple[KafkaRecord, Rejection], ...]
    processed: int
    duplicates: int
    # (event type, result, how many records): one entry per pair seen in the batch.
    events: tuple[tuple[str, str, int], ...] = ()
    # An operator asked for the flood guard's pause to end.
    resumes_intake: bool = False

    def reasons(self, records: Iterable[KafkaRecord]) -> list[str | None]:
        """Per record, in order: its dead-letter reason code, or None if it was accepted."""
        refused = {(r.partition, r.offset): rejection.code for r, rejection in self.dead}
        return [refused.get((record.partition, record.offset)) for record in records]


def decode_batch(
    records: Sequence[KafkaRecord], decode: Callable[[KafkaRecord], InboundEvent]
) -> DecodedBatch:
    """Decode each record; a ``Rejection`` sets the record aside for the DLQ."""
    deliveries: list[Delivery] = []
    rejections: list[tuple[KafkaRecord, Rejection]] = []
    for record in records:
        try:
            deliveries.append(Delivery(record=record, event=decode(record)))
        except Rejection as rejection:
            rejections.append((record, rejection))
    return DecodedBatch(tuple(records), tuple(deliveries), tuple(rejections))


def plan_outputs(batch: DecodedBatch, outcomes: Sequence[Outcome]) -> BatchPlan:
    """Pair each delivery with its outcome; a handler answering the wrong count is a bug."""
    if len(outcomes) != len(batch.deliveries):
        raise ValueError(
            f"handler returned {len(outcomes)} outcomes for {len(batch.deliveries)} deliveries"
        )
    dead = list(batch.rejections)
    # Per result, per event type: how many. Plain dict increments on the hot path.
    tally: dict[str, dict[str, int]] = {PROCESSED: {}, DUPLICATE: {}, DEAD_LETTERED: {}}
    if batch.rejections:
        tally[DEAD_LETTERED][UNDECODED_TYPE] = len(batch.rejections)
    for delivery, outcome in zip(batch.deliveries, outcomes, strict=True):
        match outcome:
            case Processed():
                counts = tally[PROCESSED]
            case Duplicate():
                counts = tally[DUPLICATE]
            case Rejected(rejection=rejection):
                counts = tally[DEAD_LETTERED]
                dead.append((delivery.record, rejection))
        kind = delivery.event.type
        counts[kind] = counts.get(kind, 0) + 1
    events = tuple(
        (kind, result, count) for result, counts in tally.items() for kind, count in counts.items()
    )
    processed, duplicates = sum(tally[PROCESSED].values()), sum(tally[DUPLICATE].values())
    resumes = any(isinstance(o, Processed) and o.resumes_intake for o in outcomes)
    return BatchPlan(tuple(dead), processed, duplicates, events, resumes)


def first_offsets(records: Iterable[KafkaRecord]) -> dict[Partition, int]:
    """Per partition, the lowest offset in the batch: where a retry re-reads from."""
    first: dict[Partition, int] = {}
    for record in records:
        part = Partition(record.topic, record.partition)
        first[part] = min(first.get(part, record.offset), record.offset)
    return first


def next_offsets(records: Iterable[KafkaRecord]) -> dict[Partition, int]:
    """Per partition, one past the highest offset in the batch: what a commit records."""
    after: dict[Partition, int] = {}
    for record in records:
        part = Partition(record.topic, record.partition)
        after[part] = max(after.get(part, 0), record.offset + 1)
    return after
