"""``orchestrator.hooks``: the one hook family of both loops, and ``notify``'s promises."""

from __future__ import annotations

import logging

import pytest

from orchestrator.hooks import BatchSummary, Hooks, notify


class Counting(Hooks):
    """Counts the signals it overrides; everything else stays a no-op."""

    def __init__(self) -> None:
        self.batches: list[BatchSummary] = []
        self.phases: list[tuple[str, float]] = []

    def after_batch(self, summary: BatchSummary) -> None:
        self.batches.append(summary)

    def after_phase(self, phase: str, duration_s: float) -> None:
        self.phases.append((phase, duration_s))


class Broken(Hooks):
    """A hook with a bug."""

    def after_batch(self, summary: BatchSummary) -> None:
        raise RuntimeError("metric exploded")


def test_the_base_hooks_accept_every_signal_and_do_nothing() -> None:
    hooks = Hooks()
    hooks.before_batch(3)
    hooks.after_batch(BatchSummary(records=3))
    hooks.after_event("gov.cloud.system.registered", "processed", 5)
    hooks.after_lag({("t", 0): 1})
    hooks.after_dead_letter("schema")
    hooks.after_retry(RuntimeError("x"), 1, 0.5)
    hooks.after_commit_failed(RuntimeError("x"))
    hooks.after_pause("flood", 60.0)
    hooks.after_resume()
    hooks.after_playbook("preflight", "successful", 2)
    hooks.after_phase("preflight", 1.0)
    hooks.after_give_up("apply_outcomes", ["a"], RuntimeError("x"))
    assert vars(hooks) == {}


def test_notify_calls_each_hooks_own_override_in_order() -> None:
    first, second = Counting(), Counting()
    notify([first, Hooks(), second], Hooks.after_phase, "replicate", 2.5)
    assert first.phases == second.phases == [("replicate", 2.5)]


def test_a_failing_hook_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    after = Counting()
    with caplog.at_level(logging.ERROR, logger="orchestrator.hooks"):
        notify([Broken(), after], Hooks.after_batch, BatchSummary(records=1))
    assert len(after.batches) == 1
    assert "hook Broken failed on after_batch" in caplog.text
