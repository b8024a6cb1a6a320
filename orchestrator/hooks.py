"""Hooks: what the two loops tell the rest of the process, in the style of dramatiq's middleware.

The intake reactor and the phase worker each take a *list* of ``Hooks`` and
call ``before_<signal>`` / ``after_<signal>`` at each step (the intake handler
too, for what only the engine sees: the ledger's lost swaps); none touches
Prometheus or logs a figure itself. The metrics observer
(``observability.MetricsObserver``) subclasses ``Hooks``; tests and the
benchmarks subclass it too, overriding only what they need.

This module sits below every loop and imports nothing of theirs, so each
argument is a plain value or a domain value. Hooks run on the caller's thread
and must be quick; ``notify`` keeps a failing hook from breaking the loop that called it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Concatenate, ParamSpec

from orchestrator.migrations.replication import ReplicationPass

log = logging.getLogger(__name__)
P = ParamSpec("P")


@dataclass(frozen=True, slots=True)
class BatchSummary:
    """What one polled intake batch became."""

    records: int
    processed: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    committed: bool = False
    duration_s: float = 0.0


class Hooks:
    """Every signal of the intake reactor and the phase worker; each a no-op here."""

    # --- the intake reactor ----------------------------------------------------------

    def before_batch(self, records: int) -> None:
        """A batch of ``records`` was polled and is about to be decoded."""

    def after_batch(self, summary: BatchSummary) -> None:
        """A batch was handled and (if ``summary.committed``) committed."""

    def after_event(self, event_type: str, result: str, count: int = 1) -> None:
        """``count`` records of ``event_type`` ended as ``result`` in one batch.

        ``result`` is ``processed``, ``duplicate`` or ``dead_lettered``; ``event_type``
        is the CloudEvents type, or ``unknown`` for a record that did not decode.
        Called once per (type, result) of a batch, not once per record.
        """

    def after_lag(self, lags: Mapping[tuple[str, int], int]) -> None:
        """Records not yet consumed, per owned (topic, partition); about once a second."""

    def after_dead_letter(self, code: str) -> None:
        """One record was acknowledged on the DLQ topic with reason ``code``."""

    def after_retry(self, error: BaseException, attempt: int, delay_s: float) -> None:
        """A batch failed (attempt ``attempt`` in a row) and is read again after ``delay_s``."""

    def after_commit_failed(self, error: BaseException) -> None:
        """Offsets could not be committed; the records will be delivered again."""

    def after_pause(self, reason: str, cooldown_s: float) -> None:
        """The flood guard tripped: intake is paused for ``cooldown_s`` seconds."""

    def after_resume(self) -> None:
        """The flood guard's cooldown ended and intake resumed."""

    def after_ledger_conflicts(self, count: int) -> None:
        """``count`` compare-and-swaps on a node's generation lost to another writer in one
        batch, each redone on a fresh read of the node."""

    def after_registration_wait_expired(self, count: int) -> None:
        """``count`` held requests waited their whole time for their system's registration
        and were dead-lettered (each also told as ``after_dead_letter``)."""

    # --- the phase worker ------------------------------------------------------------

    def after_playbook(self, phase: str, status: str, batch_size: int) -> None:
        """One playbook run of ``phase`` for ``batch_size`` systems ended in ``status``."""

    def after_phase(self, phase: str, duration_s: float) -> None:
        """One system left ``phase`` after ``duration_s`` seconds in it."""

    def after_replication(self, replicated: ReplicationPass) -> None:
        """A replication pass a provider reported was recorded."""

    def after_cutover(self, downtime_s: float) -> None:
        """A cutover was recorded with the downtime it measured."""

    def after_give_up(self, job: str, system_ids: Sequence[str], error: BaseException) -> None:
        """The worker stopped retrying ``job`` for ``system_ids``: ``error`` is permanent."""


def notify(
    hooks: Sequence[Hooks],
    signal: Callable[Concatenate[Hooks, P], object],
    *args: P.args,
    **kwargs: P.kwargs,
) -> None:
    """Send ``signal`` (e.g. ``Hooks.after_batch``) to every hook, in order.

    Each hook's own override is called; one that raises is logged and the rest still run.
    """
    for hook in hooks:
        try:
            getattr(hook, signal.__name__)(*args, **kwargs)
        except Exception:  # a metric must never stop intake or a migration
            log.exception("hook %s failed on %s", type(hook).__name__, signal.__name__)
