"""``MetricsObserver``: the reactor's before/after hooks, turned into Prometheus metrics.

Like dramatiq's Prometheus middleware, this is the only place that updates the
process-local pipeline metrics (``metrics.py``); the reactor loop calls hooks
and never touches Prometheus. The hook names and signatures are those of
``orchestrator.reactor.Observer`` (``before_batch``, ``after_batch``,
``after_dead_letter``, ``after_retry``, ``after_commit_failed``,
``after_pause``, ``after_resume``, ``after_event``, ``after_lag``), plus the two
the phase worker calls: ``after_phase`` and ``after_playbook``.

This module does not import the reactor: observability sits beside it, not
above it. Arguments are therefore typed by what is read from them
(``BatchFigures``), which the reactor's ``BatchResult`` satisfies. Hooks run on
the loop's thread; each is a few dictionary lookups and never raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from orchestrator.observability.metrics import (
    DEAD_LETTER_REASONS,
    EVENT_RESULTS,
    EVENT_TYPES,
    PHASES,
    PLAYBOOK_RESULTS,
    PipelineMetrics,
    bounded,
)


class BatchFigures(Protocol):
    """What ``after_batch`` reads from the reactor's ``BatchResult``."""

    @property
    def duration_s(self) -> float:
        """Seconds from decoding the batch to committing its offsets."""
        ...


class MetricsObserver:
    """Reactor hooks that update ``PipelineMetrics``; every other hook is a no-op."""

    def __init__(self, metrics: PipelineMetrics) -> None:
        self._metrics = metrics

    def before_batch(self, records: int) -> None:
        """Nothing to count before the batch is handled: outcomes are counted after."""

    def after_batch(self, result: BatchFigures) -> None:
        """One batch was handled: its duration goes into the histogram."""
        self._metrics.batch_duration.observe(max(result.duration_s, 0.0))

    def after_event(self, event_type: str, result: str, count: int = 1) -> None:
        """``count`` records were ``processed``, a ``duplicate`` or ``dead_lettered``.

        ``event_type`` is the CloudEvents type, or ``unknown`` when the record
        could not be decoded far enough to know it; any other value counts as
        ``other``. The reactor calls this once per type and result of a batch.
        """
        if count <= 0:  # a counter refuses to go down, and a hook must not raise
            return
        labels = bounded(event_type, EVENT_TYPES), bounded(result, EVENT_RESULTS)
        self._metrics.events.labels(*labels).inc(count)

    def after_dead_letter(self, code: str) -> None:
        """One record was acknowledged on the DLQ topic with reason ``code``."""
        self._metrics.dead_letters.labels(bounded(code, DEAD_LETTER_REASONS)).inc()

    def after_retry(self, error: BaseException, attempt: int, delay_s: float) -> None:
        """A batch failed and will be read again."""
        self._metrics.batch_retries.inc()

    def after_commit_failed(self, error: BaseException) -> None:
        """Offsets could not be committed; the records will be delivered again."""
        self._metrics.commit_failures.inc()

    def after_pause(self, trip: object) -> None:
        """The flood guard tripped: intake is paused."""
        self._metrics.intake_paused.set(1)
        self._metrics.intake_pauses.inc()

    def after_resume(self) -> None:
        """The flood guard's cooldown ended: intake runs again."""
        self._metrics.intake_paused.set(0)

    def after_lag(self, lags: Mapping[tuple[str, int], int]) -> None:
        """The lag of every partition this consumer now owns, keyed by (topic, partition).

        Replaces the whole set, so a partition taken away by a rebalance stops
        being reported instead of freezing at its last value.
        """
        gauge = self._metrics.consumer_lag
        gauge.clear()
        for (topic, partition), lag in lags.items():
            gauge.labels(topic, str(partition)).set(max(lag, 0))

    def after_phase(self, phase: str, duration_s: float) -> None:
        """One system left ``phase`` after ``duration_s`` seconds in it."""
        self._metrics.phase_duration.labels(bounded(phase, PHASES)).observe(max(duration_s, 0.0))

    def after_playbook(self, phase: str, status: str, batch_size: int) -> None:
        """One ansible-runner run of ``phase`` for ``batch_size`` systems ended in ``status``."""
        labels = bounded(phase, PHASES), bounded(status, PLAYBOOK_RESULTS)
        self._metrics.playbook_runs.labels(*labels).inc()
        self._metrics.playbook_batch_size.observe(batch_size)
