"""The cutover gate on a real calendar: windows, freezes and schedules, with the clock injected.

2027-01-01 is a Friday. Times are Asia/Shanghai (CST, no daylight saving); the
gate is asked in UTC, as the worker's clock gives it, and answers in CST.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from orchestrator.gates import (
    ApprovalGate,
    CutoverCase,
    Go,
    GroupGate,
    Member,
    Wait,
    WaitReason,
    decide,
)
from orchestrator.inventory import CalendarFacts, load_departments
from orchestrator.inventory.calendar_file import build_calendar
from orchestrator.inventory.sources import parse_yaml
from orchestrator.migrations import SystemState as S

SHANGHAI = ZoneInfo("Asia/Shanghai")
CALENDAR = build_calendar(
    parse_yaml(
        """
time_zone: Asia/Shanghai
windows:
  - {name: weekend-night, days: [sat], start: "00:00", end: "06:00"}
  - {name: thursday-late, days: [thu], start: "22:00", end: "02:00", ends_next_day: true,
     applies_to: {criticalities: [low]}}
  - {name: psb-sunday, days: [sun], start: "13:00", end: "17:00",
     applies_to: {departments: [psb]}}
freezes:
  - {name: Spring Festival 2027, start: 2027-02-05, end: 2027-02-13}
  - {name: drill, start: "2027-01-16 04:00", end: "2027-01-16 12:00",
     applies_to: {criticalities: [high]}}
""",
        source="calendar.yml",
    ),
    source="calendar.yml",
    departments=load_departments(),
)
HIGH = CalendarFacts("Finance Bureau (财政局)", 1, "high")
LOW = CalendarFacts("Finance Bureau (财政局)", 1, "low")
PSB = CalendarFacts("Public Security Bureau (公安局)", 1, "high")


def at(day: int, hour: int, minute: int = 0, second: int = 0, month: int = 1) -> datetime:
    """A Shanghai wall-clock moment of 2027, as the worker's UTC clock reads it."""
    return datetime(2027, month, day, hour, minute, second, tzinfo=SHANGHAI).astimezone(UTC)


def case(facts: CalendarFacts = HIGH, **changes: object) -> CutoverCase:
    base: dict[str, object] = {"facts": facts, "forecast_s": 30.0, "budget_s": 60.0}
    return CutoverCase(**(base | changes))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given", "now", "reason", "words"),
    [
        # A Wednesday noon: no window open; the next is Saturday's.
        (
            case(),
            at(6, 12),
            WaitReason.WINDOW,
            "no maintenance window is open; next, window 'weekend-night' opens "
            "Sat 2027-01-09 00:00 CST",
        ),
        # 30 s of downtime does not fit into the window's last 20 s.
        (
            case(),
            at(9, 5, 59, 40),
            WaitReason.WINDOW,
            "30.0 s of downtime does not fit before window 'weekend-night' closes at "
            "Sat 2027-01-09 06:00 CST; next, window 'weekend-night' opens Sat 2027-01-16 00:00",
        ),
        # ... nor do the group's forecasts, though its own would.
        (
            case(group=GroupGate(members=(Member("b", S.READY, cleared=True, forecast_s=60),))),
            at(9, 5, 59),
            WaitReason.WINDOW,
            "90.0 s of downtime does not fit",
        ),
        # A freeze overlapping a window wins, and says when it ends and what opens next.
        (
            case(),
            at(6, 1, month=2),
            WaitReason.FREEZE,
            "freeze 'Spring Festival 2027' is on until Sun 2027-02-14 00:00 CST; next, window "
            "'weekend-night' opens Sat 2027-02-20 00:00 CST",
        ),
        # A freeze ahead closes the window early: the drill starts at 04:00.
        (
            case(forecast_s=40.0),
            at(16, 3, 59, 30),
            WaitReason.WINDOW,
            "does not fit before window 'weekend-night' closes at Sat 2027-01-16 04:00 CST",
        ),
        # Thursday late is a window for low systems only.
        (case(), at(7, 23, 30), WaitReason.WINDOW, "no maintenance window is open"),
        # A schedule holds it until its moment, even inside a window.
        (
            case(scheduled_at=at(9, 3)),
            at(9, 1),
            WaitReason.WINDOW,
            "scheduled for Sat 2027-01-09 03:00 CST",
        ),
    ],
)
def test_the_calendar_holds_a_cutover(
    given: CutoverCase, now: datetime, reason: WaitReason, words: str
) -> None:
    decided = decide(given, CALENDAR, now)
    assert isinstance(decided, Wait), decided
    assert decided.reason is reason
    assert words in decided.text


@pytest.mark.parametrize(
    ("given", "now", "words"),
    [
        (case(), at(9, 0), "window 'weekend-night' open until Sat 2027-01-09 06:00 CST"),
        (case(), at(9, 5, 59), "open until Sat 2027-01-09 06:00 CST"),  # 60 s fit
        # Thursday 22:00 to Friday 02:00, for low systems: open across midnight.
        (case(LOW), at(7, 23, 30), "window 'thursday-late' open until Fri 2027-01-08 02:00 CST"),
        (case(LOW), at(8, 1, 30), "window 'thursday-late' open until Fri 2027-01-08 02:00 CST"),
        # A department's own window.
        (case(PSB), at(10, 14), "window 'psb-sunday' open until Sun 2027-01-10 17:00 CST"),
        # The drill freezes high systems only; a low one goes.
        (case(LOW), at(16, 5), "window 'weekend-night' open until Sat 2027-01-16 06:00 CST"),
        # Its scheduled moment has come, inside the window.
        (case(scheduled_at=at(9, 3)), at(9, 3), "open until Sat 2027-01-09 06:00 CST"),
    ],
)
def test_inside_a_window_the_cutover_goes(given: CutoverCase, now: datetime, words: str) -> None:
    decided = decide(given, CALENDAR, now)
    assert isinstance(decided, Go), decided
    assert words in decided.why


def test_a_freeze_for_high_systems_holds_only_them() -> None:
    decided = decide(case(), CALENDAR, at(16, 5))
    assert isinstance(decided, Wait)
    assert decided.line.startswith("freeze: freeze 'drill' is on until Sat 2027-01-16 12:00 CST")


@pytest.mark.parametrize(
    ("given", "now", "until"),
    [
        # No window open: asked again when Saturday's opens.
        (case(), at(6, 12), at(9, 0)),
        # The forecast does not fit before it closes: when the next Saturday's opens.
        (case(), at(9, 5, 59, 40), at(16, 0)),
        # A freeze: when it ends (the window then is the next question).
        (case(), at(6, 1, month=2), at(14, 0, month=2)),
        (case(), at(16, 5), at(16, 12)),
        # A schedule: at its moment.
        (case(scheduled_at=at(9, 3)), at(9, 1), at(9, 3)),
        # Only an event can open these: no moment.
        (case(approval=ApprovalGate(needed=True, requested_by="alice")), at(9, 1), None),
        (case(forecast_s=90.0), at(9, 1), None),
        (case(rehearsal_required=True), at(9, 1), None),
    ],
)
def test_a_wait_names_the_moment_the_clock_alone_may_change_it(
    given: CutoverCase, now: datetime, until: datetime | None
) -> None:
    decided = decide(given, CALENDAR, now)
    assert isinstance(decided, Wait), decided
    assert decided.until == until
