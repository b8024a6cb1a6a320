"""``wait_until``: what holds at once is seen at once; a long wait probes less and less
often, up to a pause of ``MAX_INTERVAL_S``; the deadline is kept to."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from chaos.polling import MAX_INTERVAL_S, wait_until


class Clock:
    """``time.monotonic`` and ``time.sleep`` of a clock that moves only when slept on."""

    def __init__(self) -> None:
        self.now, self.pauses = 0.0, list[float]()

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(round(seconds, 6))
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    # Only the waits' clock: other threads of this process keep the real one.
    fake = SimpleNamespace(monotonic=clock.monotonic, sleep=clock.sleep)
    monkeypatch.setattr("chaos.polling.time", fake)
    return clock


def test_what_holds_at_once_is_returned_without_a_pause(clock: Clock) -> None:
    assert wait_until(lambda: "found", timeout_s=10, what="it") == "found"
    assert clock.pauses == []


def test_the_pauses_grow_by_half_up_to_the_longest(clock: Clock) -> None:
    answers = iter([None] * 12 + ["found"])
    assert wait_until(lambda: next(answers), timeout_s=60, what="it") == "found"
    assert clock.pauses[:6] == [0.05, 0.075, 0.1125, 0.16875, 0.253125, 0.379688]
    assert clock.pauses[6:] == [MAX_INTERVAL_S] * 6


def test_a_wait_fails_at_its_deadline_naming_what_it_waited_for(clock: Clock) -> None:
    with pytest.raises(AssertionError, match="timed out after 3 s waiting for the answer"):
        wait_until(lambda: None, timeout_s=3, what=lambda: "the answer")
    assert sum(clock.pauses) == pytest.approx(3.0)  # the last pause ends at the deadline


def test_a_probe_that_blocks_by_itself_is_called_again_at_once(clock: Clock) -> None:
    answers = iter([None, None, 1])
    assert wait_until(lambda: next(answers), timeout_s=5, what="it", interval_s=0) == 1
    assert clock.pauses == []


def test_a_longer_first_pause_than_the_longest_is_kept(clock: Clock) -> None:
    answers = iter([None, None, 1])
    assert wait_until(lambda: next(answers), timeout_s=60, what="it", interval_s=2) == 1
    assert clock.pauses == [2, 2]
