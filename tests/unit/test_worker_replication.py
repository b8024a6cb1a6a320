"""Warm replication's pure rules: when a pass makes a replica ready, the forecast, the pace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.errors import ConfigurationError
from orchestrator.gates import Go, Wait, decide
from orchestrator.inventory import Calendar, CalendarFacts
from orchestrator.migrations import (
    Refusal,
    StartCutover,
    SystemState,
    apply_transition,
)
from orchestrator.migrations.replication import (
    PassKind,
    ReplicationPass,
    WarmPolicy,
    forecast_downtime,
    judge_pass,
    pass_due,
)
from orchestrator.worker.replication import Replication, parse_budgets, parse_criticalities

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
OPEN = Calendar.unrestricted()


def facts(criticality: str) -> CalendarFacts:
    return CalendarFacts("Finance Bureau (财政局)", None, criticality)


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
    assert forecast_downtime(0.5, POLICY, service_start_s=0.25) == pytest.approx(1.25)


def test_the_first_pass_runs_at_once_and_the_next_after_the_interval() -> None:
    assert pass_due(None, POLICY)
    assert not pass_due(9.9, POLICY)
    assert pass_due(10.0, POLICY)


def test_a_held_cutover_is_refused_saying_what_holds_it() -> None:
    held = "budget: forecast downtime 45.2 s exceeds the 30 s budget; delta passes go on"
    refused = apply_transition(SystemState.READY, StartCutover("", held=held))
    assert isinstance(refused, Refusal)
    assert refused.reason == f"cutover not started: {held} (system is ready)"


def test_budgets_are_read_by_criticality_over_the_defaults() -> None:
    budgets = parse_budgets("critical=10, low=600")
    assert budgets == {"critical": 10.0, "high": 60.0, "medium": 120.0, "low": 600.0}
    warm = Replication(warm=POLICY, budgets_s=budgets)
    assert warm.budget_for("critical") == 10.0
    assert warm.budget_for("unknown") == 120.0  # counted as medium


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("urgent=5", "criticality is one of critical, high, medium, low"),
        ("high=soon", "seconds must be a number"),
        ("high=0", "seconds must be positive"),
    ],
)
def test_a_bad_budget_is_refused_naming_it(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_budgets(text)


def test_a_caught_up_pass_gives_the_gate_its_forecast_and_budget() -> None:
    warm = Replication(warm=POLICY, budgets_s=parse_budgets("high=4"))
    case = warm.cutover_case(facts("high"), ReplicationPass(PassKind.DELTA, 10, 1.0))
    assert (case.forecast_s, case.budget_s, case.rehearsal_required) == (3.5, 4.0, False)
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert warm.due(None, now)
    assert not warm.due(now - timedelta(seconds=5), now)
    assert warm.due(now - timedelta(seconds=10), now)


def test_the_rehearsal_policy_goes_by_criticality() -> None:
    warm = Replication(warm=POLICY, rehearsal_required=parse_criticalities("critical, high"))
    delta = ReplicationPass(PassKind.DELTA, 10, 0.5)
    high = warm.cutover_case(facts("high"), delta)
    assert (high.rehearsal_required, high.rehearsed) == (True, False)
    assert isinstance(decide(high, OPEN, NOW), Wait)
    rehearsed = warm.cutover_case(facts("high"), delta, rehearsed=True)
    assert isinstance(decide(rehearsed, OPEN, NOW), Go)
    low = warm.cutover_case(facts("low"), delta)
    assert not low.rehearsal_required


def test_the_next_pass_falls_due_an_interval_after_the_last_and_is_never_overdue() -> None:
    warm = Replication(warm=POLICY)
    last = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
    assert warm.next_due_in(last, last + timedelta(seconds=4)) == 6.0
    assert not warm.due(last, last + timedelta(seconds=4))
    assert warm.next_due_in(last, last + timedelta(seconds=10)) == 0.0
    assert warm.due(last, last + timedelta(seconds=10))
    assert warm.next_due_in(last, last + timedelta(minutes=5)) == 0.0
    assert Replication().next_due_in(last, last) == float("inf")  # cold: no next pass
