"""Warm replication's pure rules: when a pass makes a replica ready, the forecast, the pace."""

from __future__ import annotations

import pytest

from orchestrator.migrations import Refusal, StartCutover, SystemState, apply_transition
from orchestrator.migrations.replication import (
    PassKind,
    ReplicationPass,
    WarmPolicy,
    forecast_downtime,
    judge_pass,
    pass_due,
)

POLICY = WarmPolicy(ready_budget_s=3.0, interval_s=10.0, safety_factor=2.0, service_start_s=1.5)


@pytest.mark.parametrize(
    ("kind", "seconds", "caught_up"),
    [
        (PassKind.DELTA, 0.4, True),
        (PassKind.DELTA, 3.0, True),
        (PassKind.DELTA, 3.1, False),
        (PassKind.DELTA, None, False),  # an untimed pass proves nothing
        (PassKind.FULL, 0.2, False),  # the first copy is never the last small delta
    ],
)
def test_only_a_timed_delta_within_the_ready_budget_catches_up(
    kind: PassKind, seconds: float | None, caught_up: bool
) -> None:
    judged = judge_pass(ReplicationPass(kind, 4096, seconds), POLICY)
    assert judged.caught_up is caught_up
    assert f"{kind} pass of 4096 bytes" in judged.detail
    assert "the 3 s ready budget" in judged.detail


def test_the_forecast_is_the_last_delta_times_the_factor_plus_the_service_start() -> None:
    assert forecast_downtime(0.5, POLICY) == pytest.approx(2.5)
    assert forecast_downtime(None, POLICY) is None


def test_the_first_pass_runs_at_once_and_the_next_after_the_interval() -> None:
    assert pass_due(None, POLICY)
    assert not pass_due(9.9, POLICY)
    assert pass_due(10.0, POLICY)


def test_a_cutover_over_its_budget_is_refused_saying_both_figures() -> None:
    refused = apply_transition(SystemState.READY, StartCutover(forecast_s=45.2, budget_s=30))
    assert isinstance(refused, Refusal)
    assert refused.reason == (
        "cutover not started: forecast downtime 45.2 s exceeds the 30 s budget; "
        "delta passes go on (system is ready)"
    )
