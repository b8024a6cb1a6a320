"""The loop's pure bookkeeping: decoding a batch, pairing outcomes, offsets, backoff."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from orchestrator.bus import Partition
from orchestrator.errors import TemporaryError
from orchestrator.events.codec import KafkaRecord
from orchestrator.events.envelope import InboundEvent
from orchestrator.events.reasons import Rejection
from orchestrator.reactor import Duplicate, Outcome, Processed, Rejected, RetryPolicy
from orchestrator.reactor.batch import decode_batch, first_offsets, next_offsets, plan_outputs

REGISTERED = "gov.cloud.system.registered"
REQUESTED = "gov.cloud.migration.requested"


def rec(partition: int, offset: int, value: bytes = b"ok") -> KafkaRecord:
    return KafkaRecord("t", partition, offset, b"k", value, ())


def fake_decode(record: KafkaRecord) -> InboundEvent:
    """Rejects anything but ``ok`` (registered) and ``req`` (requested)."""
    kinds = {b"ok": REGISTERED, b"req": REQUESTED}
    if record.value not in kinds:
        raise Rejection("not_json", "bad")
    # The plan reads only an event's type.
    return SimpleNamespace(type=kinds[record.value])  # type: ignore[return-value]


BATCH = [rec(0, 5), rec(1, 9, b"bad"), rec(0, 6), rec(1, 10), rec(0, 7, b"bad")]


def test_decode_sets_rejections_aside() -> None:
    batch = decode_batch(BATCH, fake_decode)
    assert [d.record.offset for d in batch.deliveries] == [5, 6, 10]
    assert [(r.offset, rej.code) for r, rej in batch.rejections] == [
        (9, "not_json"),
        (7, "not_json"),
    ]


def test_offsets_first_and_next() -> None:
    assert first_offsets(BATCH) == {Partition("t", 0): 5, Partition("t", 1): 9}
    assert next_offsets(BATCH) == {Partition("t", 0): 8, Partition("t", 1): 11}


def test_plan_pairs_outcomes_in_order() -> None:
    batch = decode_batch(BATCH, fake_decode)
    refusal = Rejection("unknown_system", "who?")
    outcomes: list[Outcome] = [Processed(), Duplicate(), Rejected(refusal)]
    plan = plan_outputs(batch, outcomes)
    assert (plan.processed, plan.duplicates) == (1, 1)
    assert [(r.offset, rej.code) for r, rej in plan.dead] == [
        (9, "not_json"), (7, "not_json"), (10, "unknown_system")
    ]  # fmt: skip
    assert plan.reasons(BATCH) == [None, "not_json", None, "unknown_system", "not_json"]


P, D, R = Processed(), Duplicate(), Rejected(Rejection("unknown_system", "who?"))


@pytest.mark.parametrize(
    ("values", "outcomes", "events"),
    [
        ([b"ok", b"ok"], [P, P], {(REGISTERED, "processed", 2)}),
        (
            [b"ok", b"req", b"ok", b"req"],
            [P, D, D, R],
            {
                (REGISTERED, "processed", 1),
                (REGISTERED, "duplicate", 1),
                (REQUESTED, "duplicate", 1),
                (REQUESTED, "dead_lettered", 1),
            },
        ),
        (
            [b"bad", b"ok", b"bad"],
            [R],
            {("unknown", "dead_lettered", 2), (REGISTERED, "dead_lettered", 1)},
        ),
        ([b"bad"], [], {("unknown", "dead_lettered", 1)}),
    ],
    ids=["all-processed", "mixed", "undecoded-and-refused", "only-undecoded"],
)
def test_plan_tallies_events_by_type_and_result(
    values: list[bytes], outcomes: list[Outcome], events: set[tuple[str, str, int]]
) -> None:
    records = [rec(0, offset, value) for offset, value in enumerate(values)]
    plan = plan_outputs(decode_batch(records, fake_decode), outcomes)
    assert set(plan.events) == events
    assert len(plan.events) == len(events), "one entry per (type, result)"
    assert sum(count for _, _, count in plan.events) == len(records)


def test_plan_refuses_a_wrong_outcome_count() -> None:
    with pytest.raises(ValueError, match="2 outcomes for 3 deliveries"):
        plan_outputs(decode_batch(BATCH, fake_decode), [Duplicate(), Duplicate()])


@pytest.mark.parametrize(
    ("attempt", "error", "delay"),
    [
        (1, RuntimeError(), 0.5),
        (2, RuntimeError(), 1.0),
        (4, RuntimeError(), 4.0),
        (20, RuntimeError(), 30.0),
        (1, TemporaryError("db", delay=7.0), 7.0),
        (1, TemporaryError("db", delay=700.0), 30.0),
    ],
    ids=["first", "second", "fourth", "capped", "temporary-names-its-delay", "temporary-capped"],
)
def test_retry_delay(attempt: int, error: BaseException, delay: float) -> None:
    assert RetryPolicy().delay(attempt, error) == delay
