"""The loop's pure bookkeeping: decoding a batch, pairing outcomes, offsets, backoff."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.bus import Partition
from orchestrator.errors import TemporaryError
from orchestrator.events.codec import KafkaRecord
from orchestrator.events.envelope import InboundEvent
from orchestrator.events.reasons import Rejection
from orchestrator.reactor import Duplicate, Outcome, Processed, Rejected, RetryPolicy
from orchestrator.reactor.batch import decode_batch, first_offsets, next_offsets, plan_outputs


def rec(partition: int, offset: int, value: bytes = b"ok") -> KafkaRecord:
    return KafkaRecord("t", partition, offset, b"k", value, ())


def fake_decode(record: KafkaRecord) -> InboundEvent:
    if record.value != b"ok":
        raise Rejection("not_json", "bad")
    return object()  # type: ignore[return-value]  # the plan never looks inside events


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
    status: Any = object()  # the plan passes status events on without looking inside
    refusal = Rejection("unknown_system", "who?")
    outcomes: list[Outcome] = [Processed(outbound=(status,)), Duplicate(), Rejected(refusal)]
    plan = plan_outputs(batch, outcomes)
    assert (plan.processed, plan.duplicates, plan.status) == (1, 1, (status,))
    assert [(r.offset, rej.code) for r, rej in plan.dead] == [
        (9, "not_json"), (7, "not_json"), (10, "unknown_system")
    ]  # fmt: skip
    assert plan.reasons(BATCH) == [None, "not_json", None, "unknown_system", "not_json"]


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
