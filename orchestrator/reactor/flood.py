"""The flood guard: pause intake when most recent records are being dead-lettered.

A producer that suddenly sends garbage (a wrong schema version, a mis-wired
topic) would otherwise pour the whole topic into the DLQ in seconds. Over a
sliding window of the last ``window`` records, if more than ``max_share`` were
rejected (once at least ``min_count`` were seen), the guard trips: the reactor
pauses its partitions for ``cooldown_s``, then resumes with an empty window.

Pure logic with an injected clock; the reactor does the pausing.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FloodPolicy:
    """When the guard trips, and for how long intake pauses."""

    window: int = 200
    max_share: float = 0.5
    min_count: int = 50
    cooldown_s: float = 60.0

    def __post_init__(self) -> None:
        if self.window < 1 or not 1 <= self.min_count <= self.window:
            raise ValueError("flood guard needs 1 <= min_count <= window")
        if not 0.0 <= self.max_share < 1.0:
            raise ValueError("flood guard max_share must be in [0, 1)")
        if self.cooldown_s < 0:
            raise ValueError("flood guard cooldown_s must be >= 0")


@dataclass(frozen=True, slots=True)
class FloodTrip:
    """Why the guard tripped: what the loop logs and reports."""

    rejected: int
    seen: int
    top_reason: str
    cooldown_s: float

    @property
    def message(self) -> str:
        """The loud, actionable log line."""
        return (
            f"dead-letter flood: {self.rejected} of the last {self.seen} events were rejected "
            f"(top reason: {self.top_reason}); pausing intake for {self.cooldown_s:g} s"
            " — check the producer; `govmig intake resume` resumes it now"
        )


@dataclass(frozen=True, slots=True)
class FloodState:
    """A snapshot for metrics and status output."""

    paused: bool
    resumes_in_s: float
    seen: int
    rejected: int
    trips: int


class FloodGuard:
    """Sliding-window share of dead letters, with a pause and a cooldown."""

    def __init__(self, policy: FloodPolicy, *, clock: Callable[[], float] = time.monotonic):
        self._policy = policy
        self._clock = clock
        self._window: deque[str | None] = deque()
        self._reasons: Counter[str] = Counter()
        self._paused_until: float | None = None
        self._trips = 0

    @property
    def policy(self) -> FloodPolicy:
        """The thresholds this guard applies."""
        return self._policy

    @property
    def paused(self) -> bool:
        """True from a trip until ``resume_due`` has acknowledged the end of the cooldown."""
        return self._paused_until is not None

    def observe(self, rejected_reason: str | None) -> None:
        """Count one record: ``None`` if it was accepted, else its dead-letter reason code."""
        self._window.append(rejected_reason)
        if rejected_reason is not None:
            self._reasons[rejected_reason] += 1
        if len(self._window) > self._policy.window:
            dropped = self._window.popleft()
            if dropped is not None:
                self._reasons[dropped] -= 1

    def trip(self) -> FloodTrip | None:
        """If the window is over the limit: start the pause, reset the window, say why."""
        seen, rejected = len(self._window), self._rejected()
        if self.paused or seen < self._policy.min_count:
            return None
        if rejected / seen <= self._policy.max_share:
            return None
        top_reason = self._reasons.most_common(1)[0][0]
        self._paused_until = self._clock() + self._policy.cooldown_s
        self._trips += 1
        self._reset_window()
        return FloodTrip(rejected, seen, top_reason, self._policy.cooldown_s)

    def end_pause(self) -> None:
        """End the pause now (an operator asked): ``resume_due`` says so at its next call."""
        if self._paused_until is not None:
            self._paused_until = self._clock()

    def resume_due(self) -> bool:
        """True once, when a pause's cooldown has passed; the guard is then watching again."""
        if self._paused_until is None or self._clock() < self._paused_until:
            return False
        self._paused_until = None
        return True

    def state(self) -> FloodState:
        """Where the guard stands now."""
        remaining = 0.0
        if self._paused_until is not None:
            remaining = max(self._paused_until - self._clock(), 0.0)
        return FloodState(
            paused=self.paused,
            resumes_in_s=remaining,
            seen=len(self._window),
            rejected=self._rejected(),
            trips=self._trips,
        )

    def _rejected(self) -> int:
        return sum(self._reasons.values())

    def _reset_window(self) -> None:
        self._window.clear()
        self._reasons.clear()
