"""The reactor's observer hooks forwarded to the Prometheus ``MetricsObserver``.

The reactor takes an ``Observer`` subclass; observability's ``MetricsObserver``
has the same hooks but does not import the reactor (it sits beside it). This
adapter joins them, so neither has to know the other.
"""

from __future__ import annotations

from collections.abc import Mapping

from orchestrator.bus import Partition
from orchestrator.observability import MetricsObserver
from orchestrator.reactor import BatchResult, FloodTrip, Observer


class MetricsHooks(Observer):
    """Every reactor hook, passed on to a ``MetricsObserver``."""

    def __init__(self, metrics: MetricsObserver) -> None:
        self._metrics = metrics

    def before_batch(self, records: int) -> None:
        """A batch was polled."""
        self._metrics.before_batch(records)

    def after_batch(self, result: BatchResult) -> None:
        """A batch was handled, published and perhaps committed."""
        self._metrics.after_batch(result)

    def after_event(self, event_type: str, result: str, count: int = 1) -> None:
        """``count`` records of one type had one result."""
        self._metrics.after_event(event_type, result, count)

    def after_lag(self, lags: Mapping[Partition, int]) -> None:
        """The lag of every owned partition (about once a second, so the copy is cheap)."""
        self._metrics.after_lag({(part.topic, part.partition): lag for part, lag in lags.items()})

    def after_dead_letter(self, code: str) -> None:
        """A record was dead-lettered."""
        self._metrics.after_dead_letter(code)

    def after_retry(self, error: BaseException, attempt: int, delay_s: float) -> None:
        """A batch will be read again."""
        self._metrics.after_retry(error, attempt, delay_s)

    def after_commit_failed(self, error: BaseException) -> None:
        """Offsets could not be committed."""
        self._metrics.after_commit_failed(error)

    def after_pause(self, trip: FloodTrip) -> None:
        """The flood guard paused intake."""
        self._metrics.after_pause(trip)

    def after_resume(self) -> None:
        """Intake resumed."""
        self._metrics.after_resume()
