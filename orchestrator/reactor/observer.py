"""Hooks around the reactor loop, in the style of dramatiq's middleware.

The loop calls these at each step and never touches metrics itself; the
Prometheus observer (observability/) and tests subclass ``Observer``. Every
hook is a no-op by default, so a subclass overrides only what it needs. Hooks
run on the loop's thread and must be quick and must not raise.

``after_event`` is called once per (event type, result) of a batch with a
count, not once per record, and ``after_lag`` at most about once a second:
both sit on the hot path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from orchestrator.bus.types import Partition
from orchestrator.reactor.flood import FloodTrip


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What one polled batch became."""

    records: int
    processed: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    published: int = 0
    committed: bool = False
    duration_s: float = 0.0


class Observer:
    """No-op hooks; subclass and override the ones you need."""

    def before_batch(self, records: int) -> None:
        """A batch of ``records`` was polled and is about to be decoded."""

    def after_batch(self, result: BatchResult) -> None:
        """A batch was handled, published and (if ``result.committed``) committed."""

    def after_event(self, event_type: str, result: str, count: int = 1) -> None:
        """``count`` records of ``event_type`` ended as ``result`` (their batch is published).

        ``result`` is ``processed``, ``duplicate`` or ``dead_lettered``; ``event_type``
        is the decoded CloudEvents type, or ``unknown`` for a record that did not decode.
        """

    def after_lag(self, lags: Mapping[Partition, int]) -> None:
        """Records not yet consumed on every partition this consumer owns now."""

    def after_dead_letter(self, code: str) -> None:
        """One record was acknowledged on the DLQ topic with reason ``code``."""

    def after_retry(self, error: BaseException, attempt: int, delay_s: float) -> None:
        """A batch failed (attempt ``attempt`` in a row) and will be re-read after ``delay_s``."""

    def after_commit_failed(self, error: BaseException) -> None:
        """Offsets could not be committed; the records will be delivered again."""

    def after_pause(self, trip: FloodTrip) -> None:
        """The flood guard tripped and intake is paused."""

    def after_resume(self) -> None:
        """The flood guard's cooldown ended and intake resumed."""
