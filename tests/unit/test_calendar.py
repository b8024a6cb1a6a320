"""The calendar's arithmetic, table by table, with the clock injected.

Dates: 2027-01-01 is a Friday, so Saturday is 01-02, Sunday 01-03, Monday 01-04,
Wednesday 01-06. Times are Asia/Shanghai unless a case says otherwise; the
calendar answers in its own zone whatever zone it is asked in.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from orchestrator.inventory.calendar import HORIZON, Calendar, CalendarFacts, Span
from orchestrator.inventory.calendar_file import build_calendar
from orchestrator.inventory.departments import DepartmentRegister
from orchestrator.inventory.sources import parse_yaml

SHANGHAI = ZoneInfo("Asia/Shanghai")
PSB = "Public Security Bureau (公安局)"
TAX = "Tax Service (税务局)"
REGISTER = DepartmentRegister({"psb": PSB, "tax": TAX}, "departments.yml")
ANY = CalendarFacts(TAX, None, "medium")


def calendar(text: str) -> Calendar:
    document = parse_yaml(text, source="calendar.yml")
    return build_calendar(document, source="calendar.yml", departments=REGISTER)


def at(day: int, hour: int = 0, minute: int = 0, month: int = 1) -> datetime:
    return datetime(2027, month, day, hour, minute, tzinfo=SHANGHAI)


def span(window: str | None, opens: datetime | None, closes: datetime | None) -> Span:
    return Span(window, opens, closes)


def utc_length(found: Span | None) -> timedelta | None:
    """How long a span really lasts: aware datetimes of one zone subtract as wall clocks."""
    if found is None or found.opens_at is None or found.closes_at is None:
        return None
    return found.closes_at.astimezone(UTC) - found.opens_at.astimezone(UTC)


WEEK = calendar(
    """
time_zone: Asia/Shanghai
windows:
  - {name: weekend-night, days: [sat], start: "00:00", end: "06:00"}
  - {name: wednesday-late, days: [wed], start: "23:00", end: "01:00", ends_next_day: true}
  - {name: sunday-late, days: [sun], start: "22:00", end: "02:00", ends_next_day: true}
"""
)
SATURDAY = span("weekend-night", at(2), at(2, 6))
WEDNESDAY = span("wednesday-late", at(6, 23), at(7, 1))
SUNDAY = span("sunday-late", at(3, 22), at(4, 2))

# Four Saturdays, each with a freeze overlapping the weekend night differently.
FROZEN = calendar(
    """
time_zone: Asia/Shanghai
windows:
  - {name: weekend-night, days: [sat], start: "00:00", end: "06:00"}
freezes:
  - {name: cut-start, start: "2027-01-02 00:00", end: "2027-01-02 02:00"}
  - {name: cut-end, start: "2027-01-09 04:00", end: "2027-01-09 12:00"}
  - {name: whole-day, start: 2027-01-16, end: 2027-01-16}
  - {name: middle, start: "2027-01-23 02:00", end: "2027-01-23 03:00"}
  - {name: chain-a, start: "2027-01-30 00:00", end: "2027-01-30 02:00"}
  - {name: chain-b, start: "2027-01-30 01:30", end: "2027-01-30 04:00"}
"""
)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (at(2), SATURDAY),
        (at(2, 5, 59), SATURDAY),
        (at(2, 6), None),
        (at(1, 23), None),
        (at(6, 23, 30), WEDNESDAY),
        (at(7, 0, 30), WEDNESDAY),
        (at(7, 1), None),
        (at(3, 23), SUNDAY),
        (at(4, 1, 59), SUNDAY),
        (at(4, 2), None),
        (datetime(2027, 1, 1, 16, 30, tzinfo=UTC), SATURDAY),
    ],
    ids=[
        "opening-instant",
        "last-minute",
        "closing-instant",
        "friday-night",
        "before-midnight",
        "after-midnight",
        "next-morning",
        "sunday-night",
        "monday-after-the-weeks-end",
        "monday-closed",
        "asked-in-utc",
    ],
)
def test_window_at(moment: datetime, expected: Span | None) -> None:
    assert WEEK.window_at(ANY, moment) == expected


@pytest.mark.parametrize(
    ("moment", "window", "freeze"),
    [
        (at(2, 1), None, "cut-start"),
        (at(2, 3), span("weekend-night", at(2, 2), at(2, 6)), None),
        (at(9, 1), span("weekend-night", at(9), at(9, 4)), None),
        (at(9, 5), None, "cut-end"),
        (at(16, 1), None, "whole-day"),
        (at(23, 1), span("weekend-night", at(23), at(23, 2)), None),
        (at(23, 2, 30), None, "middle"),
        (at(23, 3, 30), span("weekend-night", at(23, 3), at(23, 6)), None),
        (at(30, 1, 45), None, "chain-b"),
    ],
    ids=[
        "inside-a-freeze-at-the-start",
        "after-the-freeze-opens-late",
        "closes-early-for-a-freeze-ahead",
        "inside-a-freeze-at-the-end",
        "whole-day-freeze",
        "closes-at-a-freeze-in-the-middle",
        "inside-the-middle-freeze",
        "reopens-after-the-middle-freeze",
        "two-freezes-the-one-ending-last",
    ],
)
def test_freezes_cut_windows(moment: datetime, window: Span | None, freeze: str | None) -> None:
    assert FROZEN.window_at(ANY, moment) == window
    found = FROZEN.freeze_at(ANY, moment)
    assert (found and found.name) == freeze


@pytest.mark.parametrize(
    ("calendar_", "after", "expected"),
    [
        (WEEK, at(1, 12), SATURDAY),
        (WEEK, at(2, 3), span("weekend-night", at(2, 3), at(2, 6))),
        (WEEK, at(2, 6), SUNDAY),
        (WEEK, at(4, 1), span("sunday-late", at(4, 1), at(4, 2))),
        (WEEK, at(4, 2), WEDNESDAY),
        (WEEK, at(7, 1), span("weekend-night", at(9), at(9, 6))),
        (FROZEN, at(1, 12), span("weekend-night", at(2, 2), at(2, 6))),
        (FROZEN, at(9, 4, 30), span("weekend-night", at(23), at(23, 2))),
        (FROZEN, at(23, 1, 30), span("weekend-night", at(23, 1, 30), at(23, 2))),
        (FROZEN, at(23, 2, 30), span("weekend-night", at(23, 3), at(23, 6))),
        (FROZEN, at(29, 12), span("weekend-night", at(30, 4), at(30, 6))),
    ],
    ids=[
        "friday-waits-for-saturday",
        "inside-a-window-starts-now",
        "at-closing-the-next-one",
        "inside-after-the-weeks-end",
        "monday-waits-for-wednesday",
        "into-the-next-week",
        "opens-when-the-freeze-ends",
        "skips-a-wholly-frozen-saturday",
        "inside-before-a-freeze",
        "inside-a-freeze-waits-for-its-end",
        "chained-freezes",
    ],
)
def test_next_window(calendar_: Calendar, after: datetime, expected: Span) -> None:
    assert calendar_.next_window(ANY, after) == expected


def test_the_answer_is_in_the_calendars_zone_whatever_the_question() -> None:
    found = WEEK.window_at(ANY, datetime(2027, 1, 1, 16, 30, tzinfo=UTC))
    assert found is not None
    assert found.opens_at is not None
    assert found.opens_at.tzinfo == SHANGHAI
    assert found.opens_at.isoformat() == "2027-01-02T00:00:00+08:00"


def test_asia_shanghai_has_no_daylight_saving_so_a_window_keeps_its_utc_hour() -> None:
    winter = WEEK.next_window(ANY, at(1, 12))
    summer = WEEK.next_window(ANY, at(2, 12, month=7))
    assert winter == span("weekend-night", at(2), at(2, 6))
    assert summer == span("weekend-night", at(3, month=7), at(3, 6, month=7))
    assert utc_length(winter) == utc_length(summer) == timedelta(hours=6)
    opens = [found.opens_at for found in (winter, summer) if found and found.opens_at]
    assert [moment.astimezone(UTC).time() for moment in opens] == [time(16), time(16)]


SCOPED = calendar(
    """
time_zone: Asia/Shanghai
windows:
  - name: psb-first-waves
    days: [sat]
    start: "00:00"
    end: "06:00"
    applies_to: {departments: [psb], waves: [1, 2], criticalities: [critical, high]}
  - {name: everyone, days: [sun], start: "00:00", end: "06:00"}
freezes:
  - name: critical-only
    start: 2027-01-03
    end: 2027-01-03
    applies_to: {criticalities: [critical]}
"""
)


@pytest.mark.parametrize(
    ("facts", "saturday", "sunday"),
    [
        (CalendarFacts(PSB, 1, "high"), "psb-first-waves", "everyone"),
        (CalendarFacts(PSB, 2, "critical"), "psb-first-waves", None),
        (CalendarFacts(TAX, 1, "high"), None, "everyone"),
        (CalendarFacts(PSB, 3, "high"), None, "everyone"),
        (CalendarFacts(PSB, None, "high"), None, "everyone"),
        (CalendarFacts(PSB, 1, "low"), None, "everyone"),
        (CalendarFacts("PSB", 1, "high"), None, "everyone"),
    ],
    ids=[
        "in-scope",
        "in-scope-but-frozen-on-sunday",
        "other-department",
        "other-wave",
        "no-wave",
        "other-criticality",
        "label-not-in-the-register",
    ],
)
def test_scope_matching(facts: CalendarFacts, saturday: str | None, sunday: str | None) -> None:
    found = [SCOPED.window_at(facts, moment) for moment in (at(2, 1), at(3, 1))]
    assert [None if span is None else span.window for span in found] == [saturday, sunday]


def test_daylight_saving_is_computed_in_the_zone() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    night = calendar(
        """
time_zone: Europe/Berlin
windows:
  - {name: sunday-night, days: [sun], start: "01:00", end: "04:00"}
"""
    )
    # 2027-03-28: clocks go from 02:00 to 03:00, so the window lasts two hours, not three.
    spring = night.window_at(ANY, datetime(2027, 3, 28, 0, 30, tzinfo=UTC))
    assert spring == span(
        "sunday-night",
        datetime(2027, 3, 28, 1, tzinfo=berlin),
        datetime(2027, 3, 28, 4, tzinfo=berlin),
    )
    assert utc_length(spring) == timedelta(hours=2)
    # 2027-10-31: clocks go from 03:00 back to 02:00, so it lasts four.
    autumn = night.next_window(ANY, datetime(2027, 10, 30, 12, tzinfo=UTC))
    assert autumn == span(
        "sunday-night",
        datetime(2027, 10, 30, 23, tzinfo=UTC),
        datetime(2027, 10, 31, 3, tzinfo=UTC),
    )
    assert utc_length(autumn) == timedelta(hours=4)


def test_next_window_gives_up_beyond_the_horizon() -> None:
    long_freeze = calendar(
        """
time_zone: Asia/Shanghai
windows:
  - {name: weekend-night, days: [sat], start: "00:00", end: "06:00"}
freezes:
  - {name: two-years, start: 2027-01-01, end: 2028-12-31}
  - {name: half-a-year, start: 2029-01-01, end: 2029-06-30}
"""
    )
    assert long_freeze.next_window(ANY, at(1)) is None
    assert long_freeze.next_window(ANY, datetime(2028, 12, 1, tzinfo=SHANGHAI)) == span(
        "weekend-night",
        datetime(2029, 7, 7, tzinfo=SHANGHAI),
        datetime(2029, 7, 7, 6, tzinfo=SHANGHAI),
    )


def test_no_calendar_file_restricts_nothing() -> None:
    anytime = Calendar.unrestricted()
    assert not anytime.restricts_to_windows
    assert anytime.window_at(ANY, at(1)) == span(None, None, None)
    assert anytime.next_window(ANY, at(1)) == span(None, at(1), None)
    assert anytime.freeze_at(ANY, at(1)) is None
    assert anytime.occurrences(at(1), at(1) + HORIZON) == []


def test_without_windows_a_freeze_beyond_the_horizon_gives_none() -> None:
    frozen = calendar(
        "time_zone: Asia/Shanghai\nfreezes: [{name: f, start: 2027-01-01, end: 2028-12-31}]\n"
    )
    assert frozen.next_window(ANY, at(1)) is None
    assert frozen.next_window(ANY, datetime(2028, 6, 1, tzinfo=SHANGHAI)) == span(
        None, datetime(2029, 1, 1, tzinfo=SHANGHAI), None
    )


def test_a_calendar_of_freezes_only_holds_cutovers_only_in_its_freezes() -> None:
    freezes = calendar(
        """
time_zone: Asia/Shanghai
freezes:
  - {name: spring, start: 2027-02-05, end: 2027-02-13}
"""
    )
    assert freezes.window_at(ANY, at(1)) == span(None, None, at(5, month=2))
    assert freezes.window_at(ANY, at(6, month=2)) is None
    assert freezes.next_window(ANY, at(6, month=2)) == span(None, at(14, month=2), None)
    assert freezes.window_at(ANY, at(20, month=2)) == span(None, at(14, month=2), None)
    assert freezes.next_window(ANY, at(1)) == span(None, at(1), at(5, month=2))


def test_occurrences_list_windows_and_freezes_in_time_order() -> None:
    found = FROZEN.occurrences(at(1, 12), at(9, 1))
    assert [(o.kind, o.name, o.opens_at, o.closes_at) for o in found] == [
        ("freeze", "cut-start", at(2), at(2, 2)),
        ("window", "weekend-night", at(2), at(2, 6)),
        ("window", "weekend-night", at(9), at(9, 6)),
    ]
    # One that began before the start and ends after it is shown too.
    assert [o.opens_at for o in WEEK.occurrences(at(4, 1), at(4, 3))] == [at(3, 22)]


@pytest.mark.parametrize(
    "call",
    [
        lambda: WEEK.window_at(ANY, datetime(2027, 1, 2)),
        lambda: WEEK.next_window(ANY, datetime(2027, 1, 2)),
        lambda: WEEK.freeze_at(ANY, datetime(2027, 1, 2)),
    ],
    ids=["window_at", "next_window", "freeze_at"],
)
def test_a_naive_datetime_is_refused(call: object) -> None:
    with pytest.raises(ValueError, match="has no time zone: pass an aware datetime"):
        call()  # type: ignore[operator]


def test_facts_with_an_unknown_criticality_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown criticality 'urgent'"):
        CalendarFacts(PSB, 1, "urgent")
