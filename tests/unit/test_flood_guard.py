"""The flood guard's arithmetic: window, share, minimum count, cooldown, reset."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from orchestrator.reactor.flood import FloodGuard, FloodPolicy, FloodTrip


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def feed(guard: FloodGuard, pattern: Sequence[str | None]) -> FloodTrip | None:
    for reason in pattern:
        guard.observe(reason)
    return guard.trip()


POLICY = FloodPolicy(window=10, max_share=0.5, min_count=4, cooldown_s=60.0)


@pytest.mark.parametrize(
    ("pattern", "trips"),
    [
        ([], False),
        (["schema"] * 3, False),  # below min_count
        (["schema"] * 4, True),  # at min_count, all rejected
        (["schema", None, "schema", None], False),  # exactly the limit is not past it
        (["schema", None, "schema", "schema"], True),
        ([None] * 10, False),
        # The window slides: 5 old rejections fall out behind 10 good records.
        (["schema"] * 5 + [None] * 10, False),
        # 6 rejections in the last 10 of 20.
        ([None] * 10 + ["schema"] * 6 + [None] * 4, True),
    ],
    ids=[
        "empty",
        "below-min-count",
        "all-rejected-at-min-count",
        "at-limit",
        "past-limit",
        "all-good",
        "old-rejections-slid-out",
        "recent-rejections",
    ],
)
def test_trip_threshold(pattern: list[str | None], trips: bool) -> None:
    guard = FloodGuard(POLICY, clock=FakeClock())
    assert (feed(guard, pattern) is not None) is trips
    assert guard.paused is trips


def test_trip_reports_counts_and_top_reason() -> None:
    guard = FloodGuard(POLICY, clock=FakeClock())
    trip = feed(guard, ["schema", "not_json", "schema", None, "schema", "empty"])
    assert trip == FloodTrip(rejected=5, seen=6, top_reason="schema", cooldown_s=60.0)
    assert trip.message == (
        "dead-letter flood: 5 of the last 6 events were rejected (top reason: schema); "
        "pausing intake for 60 s — check the producer; `govmig intake resume` resumes it now"
    )


def test_an_operator_ends_a_pause_early_and_a_running_guard_ignores_it() -> None:
    clock = FakeClock()
    guard = FloodGuard(POLICY, clock=clock)
    guard.end_pause()  # not paused: nothing to end
    assert guard.state().trips == 0
    assert feed(guard, ["schema"] * 6) is not None
    assert guard.paused
    assert not guard.resume_due()
    guard.end_pause()
    assert guard.resume_due()
    assert not guard.paused


def test_cooldown_then_resume_with_empty_window() -> None:
    clock = FakeClock()
    guard = FloodGuard(POLICY, clock=clock)
    assert feed(guard, ["schema"] * 8) is not None
    state = guard.state()
    assert (state.paused, state.resumes_in_s, state.seen, state.trips) == (True, 60.0, 0, 1)
    assert feed(guard, []) is None  # already paused: no second trip
    clock.now += 59.9
    assert not guard.resume_due()
    clock.now += 0.1
    assert guard.resume_due()
    assert not guard.resume_due()  # once only
    assert not guard.paused
    assert feed(guard, ["schema"] * 3) is None  # a fresh window needs min_count again
    assert feed(guard, ["schema"]) is not None
    assert guard.state().trips == 2


def test_state_counts_the_window() -> None:
    guard = FloodGuard(POLICY, clock=FakeClock())
    feed(guard, [None, "schema", None])
    state = guard.state()
    assert (state.paused, state.seen, state.rejected, state.trips) == (False, 3, 1, 0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"window": 0},
        {"min_count": 0},
        {"window": 5, "min_count": 6},
        {"max_share": 1.0},
        {"max_share": -0.1},
        {"cooldown_s": -1.0},
    ],
    ids=["zero-window", "zero-min", "min-above-window", "share-one", "share-negative", "cooldown"],
)
def test_policy_refuses_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        FloodPolicy(**kwargs)  # type: ignore[arg-type]
