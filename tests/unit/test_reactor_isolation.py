"""Poison-event isolation, with a fake handler (pure logic; the real-broker test is in
tests/integration/test_reactor.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import pytest

from orchestrator.errors import PermanentError, TemporaryError
from orchestrator.events.reasons import Rejection
from orchestrator.reactor.handler import Delivery, Outcome, Processed, Rejected
from orchestrator.reactor.isolation import handle_isolating


class Handler:
    """Processes ints; raises ``errors[n]`` for any batch holding n."""

    def __init__(self, errors: dict[int, Exception]) -> None:
        self.errors = errors
        self.batches: list[list[int]] = []

    def handle(self, batch: Sequence[Delivery]) -> Sequence[Outcome]:
        items = cast(list[int], list(batch))
        self.batches.append(items)
        for item in items:
            if item in self.errors:
                raise self.errors[item]
        return [Processed() for _ in items]


def deliveries(*items: int) -> Sequence[Delivery]:
    return cast(Sequence[Delivery], list(items))


def test_a_healthy_batch_is_one_call() -> None:
    handler = Handler({})
    assert handle_isolating(handler, deliveries(1, 2, 3)) == [Processed()] * 3
    assert handler.batches == [[1, 2, 3]]


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (PermanentError("broken record"), "unprocessable"),
        (Rejection("unknown_system", "no such system"), "unknown_system"),
    ],
    ids=["permanent-error", "rejection-raised-not-returned"],
)
def test_a_poison_event_fails_alone(error: Exception, code: str) -> None:
    handler = Handler({2: error})

    outcomes = handle_isolating(handler, deliveries(1, 2, 3))

    assert outcomes[0] == Processed()
    assert outcomes[2] == Processed()
    rejected = outcomes[1]
    assert isinstance(rejected, Rejected)
    assert rejected.rejection.code == code
    assert handler.batches == [[1, 2, 3], [1], [2], [3]]


def test_a_temporary_error_is_left_to_the_loop() -> None:
    handler = Handler({2: TemporaryError("database restarting")})
    with pytest.raises(TemporaryError):
        handle_isolating(handler, deliveries(1, 2, 3))
