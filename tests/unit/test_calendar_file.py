"""The calendar file: the sample loads, and every rejection names the file, the entry and the field.

Each case is a small calendar in YAML text (so YAML's own readings, such as an
unquoted 22:00, are part of the test), checked against a two-department register.
"""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from orchestrator.data_files import INVENTORY_DIR
from orchestrator.errors import InventoryError
from orchestrator.inventory.calendar import Scope, Window
from orchestrator.inventory.calendar_file import build_calendar
from orchestrator.inventory.departments import DepartmentRegister
from orchestrator.inventory.loader import load_calendar, load_departments
from orchestrator.inventory.sources import parse_yaml

SOURCE = "calendar.yml"
REGISTER = DepartmentRegister(
    {"psb": "Public Security Bureau (公安局)", "tax": "Tax Service (税务局)"}, "departments.yml"
)
WEEKEND = '{name: weekend, days: [sat], start: "00:00", end: "06:00"}'
SPRING = "{name: spring, start: 2027-02-05, end: 2027-02-13}"


def document(
    *windows: str, freezes: tuple[str, ...] = (), head: str = "time_zone: Asia/Shanghai"
) -> str:
    lines = [head, "windows:", *(f"  - {w}" for w in windows), "freezes:"]
    return "\n".join([*lines, *(f"  - {f}" for f in freezes)]) + "\n"


def problems(text: str) -> list[str]:
    with pytest.raises(InventoryError) as caught:
        build_calendar(parse_yaml(text, source=SOURCE), source=SOURCE, departments=REGISTER)
    lines = str(caught.value).splitlines()
    assert all(line.startswith(f"{SOURCE}: ") for line in lines), lines
    return [line.removeprefix(f"{SOURCE}: ") for line in lines]


def test_the_sample_calendar_loads_against_the_shipped_register() -> None:
    calendar = load_calendar(INVENTORY_DIR / "calendar.yml", load_departments())
    assert calendar.time_zone == ZoneInfo("Asia/Shanghai")
    assert calendar.windows[0] == Window("weekend-night", frozenset({5, 6}), time(0), time(6))
    assert [f.name for f in calendar.freezes] == [
        "Spring Festival 2027 (春节封网)",
        "Two Sessions 2027 (全国两会)",
        "Cyber-defence exercise 2027 (护网重保)",
    ]


def test_a_good_file_becomes_windows_and_freezes_in_the_zone(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yml"
    path.write_text(
        document(
            WEEKEND,
            '{name: late, days: [fri], start: "22:00", end: "00:00", ends_next_day: true, '
            "applies_to: {departments: [psb], waves: [1, 2], criticalities: [critical, high]}}",
            freezes=(SPRING, '{name: 两会, start: "2027-03-03 08:00", end: "2027-03-11 18:30"}'),
        )
    )
    calendar = load_calendar(path, REGISTER)
    zone = ZoneInfo("Asia/Shanghai")
    assert calendar.windows[1] == Window(
        "late",
        frozenset({4}),
        time(22),
        time(0),
        True,
        Scope(("psb",), (1, 2), ("critical", "high")),
    )
    spring, sessions = calendar.freezes
    # A date is the whole day; an end date is inclusive, an end date-time exclusive.
    assert (spring.starts_at, spring.ends_at) == (
        datetime(2027, 2, 5, tzinfo=zone),
        datetime(2027, 2, 14, tzinfo=zone),
    )
    assert (sessions.starts_at, sessions.ends_at) == (
        datetime(2027, 3, 3, 8, tzinfo=zone),
        datetime(2027, 3, 11, 18, 30, tzinfo=zone),
    )


def test_windows_may_touch_a_freeze_may_overlap_and_disjoint_scopes_may_share_time() -> None:
    text = document(
        WEEKEND,
        '{name: after, days: [sat], start: "06:00", end: "07:00"}',
        '{name: psb, days: [sat], start: "07:00", end: "09:00", applies_to: {departments: [psb]}}',
        '{name: tax, days: [sat], start: "07:00", end: "09:00", applies_to: {departments: [tax]}}',
        freezes=(SPRING, "{name: spring-again, start: 2027-02-10, end: 2027-02-20}"),
    )
    calendar = build_calendar(parse_yaml(text, source=SOURCE), source=SOURCE, departments=REGISTER)
    assert [w.name for w in calendar.windows] == ["weekend", "after", "psb", "tax"]


def test_overlapping_windows_name_both() -> None:
    # 'low' is for wave 3 and 'psb' for one department: a low-criticality psb system of
    # wave 3 is in both, from 08:00.
    text = document(
        '{name: psb, days: [sat], start: "07:00", end: "09:00", applies_to: {departments: [psb]}}',
        '{name: low, days: [sat], start: "08:00", end: "10:00", applies_to: {waves: [3], '
        "criticalities: [low]}}",
    )
    assert problems(text) == [
        "window 'low': field 'days': overlaps window 'psb' from sat 08:00 for systems both apply to"
    ]


W = "{name: w, days: [sat], start: %s, end: %s%s}"
HH_MM = 'must be a time "HH:MM" from 00:00 to 23:59'
UNQUOTED = 'must be a quoted "HH:MM": YAML reads an unquoted 22:00 as a number'
INVERTED = (
    "inverted window: end 02:00 is before start 22:00 (set ends_next_day: true for a window "
    "that crosses midnight)"
)
ZERO_LENGTH = (
    'zero-length window: end 04:00 equals start (a whole day is start and end "00:00" with '
    "ends_next_day: true)"
)
OVER_A_DAY = "is true, but end 02:00 is after start 01:00: the window would last over 24 hours"
NOT_A_BOOL = "must be a valid boolean, got 'yes'"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            document("{name: w, days: [sat], start: '00:00', end: '06:00', colour: red}"),
            ["window 'w': field 'colour': unknown field"],
        ),
        (
            document(WEEKEND, head="timezone: Asia/Shanghai"),
            [
                "field 'timezone': unknown field",
                "field 'time_zone': is required (an IANA name such as 'Asia/Shanghai')",
            ],
        ),
        (
            document(WEEKEND, head="time_zone: Asia/Shangai"),
            [
                "field 'time_zone': unknown time zone 'Asia/Shangai' (an IANA name such as "
                "'Asia/Shanghai')"
            ],
        ),
        (
            document(WEEKEND, head="time_zone: Asia"),
            ["field 'time_zone': unknown time zone 'Asia' (an IANA name such as 'Asia/Shanghai')"],
        ),
        (
            document(WEEKEND, head="time_zone: ../../etc/passwd"),
            [
                "field 'time_zone': unknown time zone '../../etc/passwd' (an IANA name such as "
                "'Asia/Shanghai')"
            ],
        ),
        (
            document("{name: w, days: [saturday], start: '00:00', end: '06:00'}"),
            [
                "window 'w': field 'days[0]': must be 'mon', 'tue', 'wed', 'thu', 'fri', 'sat' "
                "or 'sun', got 'saturday'"
            ],
        ),
        (
            document("{name: w, days: [], start: '00:00', end: '06:00'}"),
            ["window 'w': field 'days': must not be empty"],
        ),
        (
            document(WEEKEND, freezes=("{name: f, start: 2027-02-13, end: 2027-02-05}",)),
            [
                "freeze 'f': field 'end': inverted freeze: end 2027-02-05 is not after start "
                "2027-02-13"
            ],
        ),
        (
            document(
                WEEKEND, freezes=('{name: f, start: "2027-02-13 08:00", end: "2027-02-13 08:00"}',)
            ),
            [
                "freeze 'f': field 'end': inverted freeze: end 2027-02-13 08:00:00 is not after "
                "start 2027-02-13 08:00:00"
            ],
        ),
        (
            document(
                WEEKEND, freezes=("{name: f, start: 2027-02-05T08:00:00+08:00, end: '2027-02-30'}",)
            ),
            [
                "freeze 'f': field 'start': must be a local date-time without a UTC offset: "
                "times are in the calendar's time zone",
                "freeze 'f': field 'end': must be a date such as 2027-02-05 or a date-time "
                "\"2027-02-05 08:00\", got '2027-02-30'",
            ],
        ),
        (
            document(
                "{name: w, days: [sat], start: '00:00', end: '06:00', applies_to: "
                "{departments: [psb, police]}}"
            ),
            [
                "window 'w': field 'applies_to.departments[1]': unknown department 'police' "
                "(not in departments.yml)"
            ],
        ),
        (
            document(
                WEEKEND,
                freezes=(
                    "{name: f, start: 2027-02-05, end: 2027-02-06, applies_to: {departments: "
                    "[PSB]}}",
                ),
            ),
            [
                "freeze 'f': field 'applies_to.departments[0]': unknown department 'PSB' (not "
                "in departments.yml)"
            ],
        ),
        (
            document(
                "{name: w, days: [sat], start: '00:00', end: '06:00', applies_to: "
                "{criticalities: [urgent], waves: [0], teams: [ops]}}"
            ),
            [
                "window 'w': field 'applies_to.waves[0]': must be greater than or equal to 1, "
                "got 0",
                "window 'w': field 'applies_to.criticalities[0]': must be 'low', 'medium', 'high' "
                "or 'critical', got 'urgent'",
                "window 'w': field 'applies_to.teams': unknown field",
            ],
        ),
        (
            document(
                WEEKEND,
                "{name: weekend, days: [sun], start: '00:00', end: '06:00'}",
                freezes=("{name: weekend, start: 2027-02-05, end: 2027-02-06}",),
            ),
            [
                "window 'weekend': field 'name': duplicate name: window 1 has it too",
                "freeze 'weekend': field 'name': duplicate name: window 1 has it too",
            ],
        ),
        (
            document(
                WEEKEND,
                "{name: fri-late, days: [fri], start: '22:00', end: '01:00', ends_next_day: true, "
                "applies_to: {criticalities: [low]}}",
            ),
            [
                "window 'fri-late': field 'days': overlaps window 'weekend' from sat 00:00 for "
                "systems both apply to"
            ],
        ),
        (
            document(
                "{name: monday, days: [mon], start: '00:00', end: '03:00'}",
                "{name: sun-late, days: [sun], start: '23:00', end: '01:00', ends_next_day: true}",
            ),
            [
                "window 'sun-late': field 'days': overlaps window 'monday' from mon 00:00 for "
                "systems both apply to"
            ],
        ),
        (
            document("{days: [sat], start: '00:00', end: '06:00'}", "sat 00:00-06:00"),
            ["window 1: field 'name': is required", "window 2: must be a mapping of fields"],
        ),
        ("- time_zone: Asia/Shanghai\n", ["must be a mapping with time_zone, windows and freezes"]),
        ("time_zone: Asia/Shanghai\nwindows: weekend\n", ["field 'windows': must be a list"]),
    ],
    ids=[
        "unknown-field",
        "misspelt-top-level-field",
        "invalid-time-zone",
        "time-zone-directory",
        "time-zone-path",
        "bad-weekday",
        "no-days",
        "inverted-freeze",
        "empty-freeze",
        "offset-and-bad-date",
        "unknown-department",
        "unknown-department-in-freeze",
        "unknown-criticality-wave-field",
        "duplicate-names",
        "overlapping-windows",
        "overlap-across-the-weeks-end",
        "unnamed-and-not-a-mapping",
        "not-a-mapping",
        "windows-not-a-list",
    ],
)
def test_a_bad_calendar_names_the_file_entry_and_field(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


@pytest.mark.parametrize(
    ("start", "end", "more", "field", "message"),
    [
        ('"24:00"', '"06:00"', "", "start", f"{HH_MM}, got '24:00'"),
        ('"6:00"', '"07:00"', "", "start", f"{HH_MM}, got '6:00'"),
        ('"06:00"', '"7:5"', "", "end", f"{HH_MM}, got '7:5'"),
        ("22:00", '"23:00"', "", "start", f"{UNQUOTED}, got 1320"),
        ('"22:00"', '"02:00"', "", "end", INVERTED),
        ('"04:00"', '"04:00"', "", "end", ZERO_LENGTH),
        ('"01:00"', '"02:00"', ", ends_next_day: true", "ends_next_day", OVER_A_DAY),
        ('"01:00"', '"02:00"', ", ends_next_day: 'yes'", "ends_next_day", NOT_A_BOOL),
    ],
    ids=[
        "hour-24",
        "hour-without-zero",
        "minute-without-zero",
        "unquoted-time",
        "inverted-window",
        "zero-length-window",
        "over-24-hours",
        "ends-next-day-not-a-bool",
    ],
)
def test_a_bad_window_time_names_the_field(
    start: str, end: str, more: str, field: str, message: str
) -> None:
    assert problems(document(W % (start, end, more))) == [f"window 'w': field {field!r}: {message}"]


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    text = document(
        W % ('"22:00"', '"02:00"', ""),
        "{name: x, days: [sat], start: '00:00', end: '06:00', applies_to: {departments: [nope]}}",
        freezes=("{name: f, start: 2027-02-13, end: 2027-02-05}",),
        head="time_zone: Mars/Olympus",
    )
    assert problems(text) == [
        "field 'time_zone': unknown time zone 'Mars/Olympus' (an IANA name such as "
        "'Asia/Shanghai')",
        "window 'x': field 'applies_to.departments[0]': unknown department 'nope' (not in "
        "departments.yml)",
        f"window 'w': field 'end': {INVERTED}",
        "freeze 'f': field 'end': inverted freeze: end 2027-02-05 is not after start 2027-02-13",
    ]
