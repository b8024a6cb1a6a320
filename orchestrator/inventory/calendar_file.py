"""The calendar file (``inventory/calendar.yml``): its format, checked into a ``Calendar``.

```yaml
time_zone: Asia/Shanghai
windows:
  - name: weekend-night
    days: [sat, sun]
    start: "00:00"          # quoted: YAML reads an unquoted 22:00 as the number 1320
    end: "06:00"
    applies_to: {departments: [psb], waves: [1, 2], criticalities: [critical, high]}
  - name: friday-late
    days: [fri]
    start: "22:00"
    end: "02:00"
    ends_next_day: true     # required when end is not after start
freezes:
  - name: Spring Festival 2027
    start: 2027-02-05       # a date (from the start of that day) or "2027-02-05 08:00"
    end: 2027-02-13         # a date is inclusive (to the end of that day), a date-time exclusive
```

``applies_to`` is optional (absent: every system); department codes come from the
department register. ``build_calendar`` reports every problem at once, each naming
the file, the entry (``window 'friday-late'``, or ``window 3`` if it has no usable
name) and the field: unknown fields, an invalid time zone, a bad weekday or time,
an inverted or zero-length window, an inverted freeze, an unknown department or
criticality, a name used twice, and two windows that overlap in the week for
systems both apply to. A freeze may overlap anything: it wins. Pure: ``loader``
reads the file.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from itertools import combinations
from typing import Annotated, Any
from zoneinfo import ZoneInfo, available_timezones

from pydantic import AfterValidator, Field, PlainValidator, ValidationError
from pydantic_core import PydanticCustomError

from orchestrator.errors import InventoryError
from orchestrator.inventory.calendar import WEEKDAYS, Calendar, Freeze, Scope, Weekday, Window
from orchestrator.inventory.departments import DepartmentRegister, unknown_departments
from orchestrator.inventory.models import Criticality, Frozen, Label
from orchestrator.inventory.problems import Problem, from_validation_error, raise_problems, show

_TOP_FIELDS = ("time_zone", "windows", "freezes")
_WEEK_MINUTES = 7 * 24 * 60


def _clock_time(value: object) -> time:
    """``"HH:MM"``, 00:00 to 23:59; an unquoted YAML time arrives as a number of minutes."""
    if isinstance(value, int) and not isinstance(value, bool):
        raise PydanticCustomError(
            "clock_time", 'must be a quoted "HH:MM": YAML reads an unquoted 22:00 as a number'
        )
    if isinstance(value, str) and len(value) == 5 and value[2] == ":":
        try:
            return time.fromisoformat(value)
        except ValueError:
            pass
    raise PydanticCustomError("clock_time", 'must be a time "HH:MM" from 00:00 to 23:59')


def _local_moment(value: object) -> date | datetime:
    """A date, or a date-time without an offset (it is read in the calendar's zone)."""
    moment = value
    if isinstance(value, str):
        try:
            moment = (
                date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)
            )
        except ValueError:
            moment = None
    if isinstance(moment, datetime) and moment.tzinfo is not None:
        raise PydanticCustomError(
            "local_moment",
            "must be a local date-time without a UTC offset: times are in the calendar's time zone",
        )
    if not isinstance(moment, date):
        raise PydanticCustomError(
            "local_moment", 'must be a date such as 2027-02-05 or a date-time "2027-02-05 08:00"'
        )
    return moment


def _not_empty(values: tuple[Any, ...]) -> tuple[Any, ...]:
    if not values:
        raise PydanticCustomError("empty", "must not be empty")
    return values


ClockTime = Annotated[time, PlainValidator(_clock_time)]
LocalMoment = Annotated[date | datetime, PlainValidator(_local_moment)]
# As events/fields.py's Wave: 1 to 999.
WaveNumber = Annotated[int, Field(strict=True, ge=1, le=999)]


class ScopeFields(Frozen):
    """``applies_to``: each list narrows the systems; a list left out means all of them."""

    departments: Annotated[tuple[str, ...], AfterValidator(_not_empty)] | None = None
    waves: Annotated[tuple[WaveNumber, ...], AfterValidator(_not_empty)] | None = None
    criticalities: Annotated[tuple[Criticality, ...], AfterValidator(_not_empty)] | None = None

    def scope(self) -> Scope:
        levels = None if self.criticalities is None else tuple(c.value for c in self.criticalities)
        return Scope(self.departments, self.waves, levels)


class WindowFields(Frozen):
    """One entry of ``windows``, as written."""

    name: Label
    days: Annotated[tuple[Weekday, ...], AfterValidator(_not_empty)]
    start: ClockTime
    end: ClockTime
    ends_next_day: Annotated[bool, Field(strict=True)] = False
    applies_to: ScopeFields = ScopeFields()


class FreezeFields(Frozen):
    """One entry of ``freezes``, as written."""

    name: Label
    start: LocalMoment
    end: LocalMoment
    applies_to: ScopeFields = ScopeFields()


def build_calendar(document: object, *, source: str, departments: DepartmentRegister) -> Calendar:
    """Validate a parsed calendar file; ``InventoryError`` listing every problem."""
    if not isinstance(document, Mapping):
        raise InventoryError(
            str(Problem(source, "must be a mapping with time_zone, windows and freezes"))
        )
    problems = [
        Problem(source, "unknown field", field=str(key))
        for key in document
        if key not in _TOP_FIELDS
    ]
    zone = _zone(document.get("time_zone"), source, problems)
    windows = _entries(document, "windows", WindowFields, source, problems)
    freezes = _entries(document, "freezes", FreezeFields, source, problems)
    named = [("window", i, w.name, w.applies_to) for i, w in windows] + [
        ("freeze", i, f.name, f.applies_to) for i, f in freezes
    ]
    for kind, _, name, scope in named:
        problems += unknown_departments(
            scope.departments or (),
            departments,
            source=source,
            record=f"{kind} {show(name)}",
            field="applies_to.departments",
        )
    problems.extend(_repeated_names(named, source))
    problems.extend(p for _, w in windows if (p := _inverted_window(w, source)))
    problems.extend(p for _, f in freezes if (p := _inverted_freeze(f, source)))
    problems.extend(_overlaps([w for _, w in windows], source))
    raise_problems(problems)
    assert zone is not None  # a missing or unknown zone is a problem raised above
    return Calendar(
        time_zone=zone,
        windows=tuple(_window(w) for _, w in windows),
        freezes=tuple(_freeze(f, zone) for _, f in freezes),
        departments=departments,
    )


def _zone(value: object, source: str, problems: list[Problem]) -> ZoneInfo | None:
    """The IANA time zone; ``None`` and a problem if it is missing or unknown."""
    if value is None:
        problems.append(
            Problem(source, "is required (an IANA name such as 'Asia/Shanghai')", field="time_zone")
        )
        return None
    # Asked of the known names, not of ZoneInfo: a key is also a path ('Asia', '../x').
    if isinstance(value, str) and value in available_timezones():
        return ZoneInfo(value)
    message = f"unknown time zone {show(value)} (an IANA name such as 'Asia/Shanghai')"
    problems.append(Problem(source, message, field="time_zone"))
    return None


def _entries(
    document: Mapping[str, Any],
    key: str,
    model: type[WindowFields] | type[FreezeFields],
    source: str,
    problems: list[Problem],
) -> list[tuple[int, Any]]:
    """The valid entries of ``key`` with their 1-based positions; a problem per bad field."""
    entries = document.get(key) or []
    if not isinstance(entries, list):
        problems.append(Problem(source, "must be a list", field=key))
        return []
    kind = key.removesuffix("s")
    valid = []
    for index, entry in enumerate(entries, start=1):
        label = _label(kind, index, entry)
        if not isinstance(entry, Mapping):
            problems.append(Problem(source, "must be a mapping of fields", label))
            continue
        try:
            valid.append((index, model.model_validate(entry)))
        except ValidationError as error:
            problems.extend(from_validation_error(error, source=source, record=label))
    return valid


def _label(kind: str, index: int, entry: object) -> str:
    """``window 'friday-late'``, or ``window 3`` when the entry has no usable name."""
    name = entry.get("name") if isinstance(entry, Mapping) else None
    return f"{kind} {show(name)}" if isinstance(name, str) and name.strip() else f"{kind} {index}"


def _repeated_names(
    named: Sequence[tuple[str, int, str, ScopeFields]], source: str
) -> Iterator[Problem]:
    first: dict[str, str] = {}
    for kind, index, name, _ in named:
        if name in first:
            message = f"duplicate name: {first[name]} has it too"
            yield Problem(source, message, f"{kind} {show(name)}", "name")
        first.setdefault(name, f"{kind} {index}")


def _inverted_window(window: WindowFields, source: str) -> Problem | None:
    """A window must last more than nothing and at most 24 hours."""
    start, end = f"{window.start:%H:%M}", f"{window.end:%H:%M}"
    if window.ends_next_day and window.end > window.start:
        field = "ends_next_day"
        message = (
            f"is true, but end {end} is after start {start}: the window would last over 24 hours"
        )
    elif not window.ends_next_day and window.end == window.start:
        field = "end"
        message = (
            f"zero-length window: end {end} equals start (a whole day is start and end "
            '"00:00" with ends_next_day: true)'
        )
    elif not window.ends_next_day and window.end < window.start:
        field = "end"
        message = (
            f"inverted window: end {end} is before start {start} (set ends_next_day: true "
            "for a window that crosses midnight)"
        )
    else:
        return None
    return Problem(source, message, f"window {show(window.name)}", field)


def _inverted_freeze(freeze: FreezeFields, source: str) -> Problem | None:
    if _freeze_end(freeze.end) > _freeze_start(freeze.start):
        return None
    message = f"inverted freeze: end {freeze.end} is not after start {freeze.start}"
    return Problem(source, message, f"freeze {show(freeze.name)}", "end")


def _overlaps(windows: Sequence[WindowFields], source: str) -> Iterator[Problem]:
    """Two windows for the same systems at the same time of the week: which one holds?"""
    for first, second in combinations(windows, 2):
        if not first.applies_to.scope().meets(second.applies_to.scope()):
            continue
        shared = _first_shared_minute(_weekly(first), _weekly(second))
        if shared is not None:
            day, minute = divmod(shared, 24 * 60)
            when = f"{WEEKDAYS[day]} {minute // 60:02d}:{minute % 60:02d}"
            message = f"overlaps window {show(first.name)} from {when} for systems both apply to"
            yield Problem(source, message, f"window {show(second.name)}", "days")


def _weekly(window: WindowFields) -> list[tuple[int, int]]:
    """The window's minutes of the week ``[start, end)``, counted from Monday 00:00."""
    start = window.start.hour * 60 + window.start.minute
    end = window.end.hour * 60 + window.end.minute + (24 * 60 if window.ends_next_day else 0)
    return [
        (WEEKDAYS.index(day) * 24 * 60 + start, WEEKDAYS.index(day) * 24 * 60 + end)
        for day in set(window.days)
    ]


def _first_shared_minute(
    mine: Sequence[tuple[int, int]], theirs: Sequence[tuple[int, int]]
) -> int | None:
    """The first minute of the week both sets of stretches hold (Sunday's wrap into Monday too)."""
    shared = [
        max(a_start, b_start + shift) % _WEEK_MINUTES
        for a_start, a_end in mine
        for b_start, b_end in theirs
        for shift in (-_WEEK_MINUTES, 0, _WEEK_MINUTES)
        if max(a_start, b_start + shift) < min(a_end, b_end + shift)
    ]
    return min(shared, default=None)


def _window(fields: WindowFields) -> Window:
    days = frozenset(WEEKDAYS.index(day) for day in fields.days)
    return Window(
        fields.name, days, fields.start, fields.end, fields.ends_next_day, fields.applies_to.scope()
    )


def _freeze(fields: FreezeFields, zone: ZoneInfo) -> Freeze:
    starts_at = _freeze_start(fields.start).replace(tzinfo=zone)
    ends_at = _freeze_end(fields.end).replace(tzinfo=zone)
    return Freeze(fields.name, starts_at, ends_at, fields.applies_to.scope())


def _freeze_start(moment: date) -> datetime:
    """A date starts at its midnight."""
    return moment if isinstance(moment, datetime) else datetime.combine(moment, time())


def _freeze_end(moment: date) -> datetime:
    """A date is inclusive: the freeze ends at the next midnight."""
    return (
        moment
        if isinstance(moment, datetime)
        else datetime.combine(moment + timedelta(days=1), time())
    )
