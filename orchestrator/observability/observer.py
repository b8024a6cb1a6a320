"""``MetricsObserver``: the loops' before/after hooks, turned into Prometheus metrics.

Like dramatiq's Prometheus middleware, this is the only place that updates the
process-local pipeline metrics (``metrics.py``): it is an ``orchestrator.hooks.Hooks``
that the reactor and the phase worker each take in their list of hooks, and
neither loop touches Prometheus. Hooks run on the loop's thread; each is a few
dictionary lookups.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from orchestrator.hooks import BatchSummary, Hooks
from orchestrator.migrations.replication import ReplicationPass
from orchestrator.observability.metrics import (
    DEAD_LETTER_REASONS,
    EVENT_RESULTS,
    EVENT_TYPES,
    PHASES,
    PLAYBOOK_RESULTS,
    WORKER_JOBS,
    PipelineMetrics,
    bounded,
)


class MetricsObserver(Hooks):
    """Hooks that update ``PipelineMetrics``; every other hook is a no-op."""

    def __init__(self, metrics: PipelineMetrics) -> None:
        self._metrics = metrics

    def after_batch(self, summary: BatchSummary) -> None:
        """One batch was handled: its duration goes into the histogram."""
        self._metrics.batch_duration.observe(max(summary.duration_s, 0.0))

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

    def after_ledger_conflicts(self, count: int) -> None:
        """The ledger redid ``count`` reservations that lost a compare-and-swap."""
        if count > 0:  # a counter refuses to go down, and a hook must not raise
            self._metrics.ledger_conflicts.inc(count)

    def after_registration_wait_expired(self, count: int) -> None:
        """``count`` requests waited in vain for their system's registration: dead-lettered."""
        if count > 0:  # a counter refuses to go down, and a hook must not raise
            self._metrics.registration_waits_expired.inc(count)

    def after_commit_failed(self, error: BaseException) -> None:
        """Offsets could not be committed; the records will be delivered again."""
        self._metrics.commit_failures.inc()

    def after_pause(self, reason: str, cooldown_s: float) -> None:
        """The flood guard tripped: intake is paused."""
        self._metrics.intake_paused.set(1)
        self._metrics.intake_pauses.inc()
        self._metrics.intake_paused_until.set(time.time() + max(cooldown_s, 0.0))

    def after_resume(self) -> None:
        """The flood guard's cooldown ended: intake runs again."""
        self._metrics.intake_paused.set(0)
        self._metrics.intake_paused_until.set(0)

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

    def after_give_up(self, job: str, system_ids: Sequence[str], error: BaseException) -> None:
        """The worker stopped retrying ``job`` for these systems."""
        self._metrics.worker_give_ups.labels(bounded(job, WORKER_JOBS)).inc(len(system_ids))

    def after_replication(self, replicated: ReplicationPass) -> None:
        """A replication pass was recorded: its bytes by kind, its duration when timed."""
        self._metrics.replication_bytes.labels(replicated.kind.value).inc(replicated.bytes_sent)
        if replicated.seconds is not None:
            self._metrics.replication_pass_duration.observe(replicated.seconds)

    def after_cutover(self, downtime_s: float) -> None:
        """A cutover was recorded: its downtime goes into the histogram."""
        self._metrics.cutover_downtime.observe(max(downtime_s, 0.0))
