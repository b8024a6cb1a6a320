"""The maintenance calendar: when a cutover may start, and the arithmetic that says so.

A ``Calendar`` holds weekly maintenance windows and dated freezes, each for the
systems its ``Scope`` covers (by department code, wave and criticality). A
cutover may start inside an applicable window and outside every applicable
freeze (a freeze wins over a window); a calendar without windows restricts
nothing but its freezes, and ``Calendar.unrestricted()`` (no calendar file)
restricts nothing at all. The gate decision asks ``freeze_at``, ``window_at``
and ``next_window``; ``govmig calendar`` shows ``occurrences``.

Windows are wall-clock times in the calendar's time zone, computed with
``zoneinfo`` (so a zone with daylight saving works too); a local time that a
clock change skips or repeats is read as PEP 495 does (``fold=0``). Every
method takes aware datetimes in any zone, computes in UTC and answers in the
calendar's zone. Each occurrence of a window is its own span: two windows that
touch are not joined. Pure: the caller passes the clock; ``calendar_file``
builds a calendar from its file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, get_args
from zoneinfo import ZoneInfo

from orchestrator.inventory.departments import DepartmentRegister
from orchestrator.inventory.models import Criticality

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = get_args(Weekday)  # index = ``date.weekday()``
# How far ahead next_window looks for an opening before it answers None.
HORIZON = timedelta(days=366)

_CRITICALITIES = frozenset(level.value for level in Criticality)
_Stretch = tuple[datetime, datetime]  # [start, end) in UTC


@dataclass(frozen=True)
class Scope:
    """Which systems a window or freeze is for; ``None`` in a dimension means all of them."""

    departments: tuple[str, ...] | None = None  # codes of the department register
    waves: tuple[int, ...] | None = None
    criticalities: tuple[str, ...] | None = None

    def covers(self, department: str | None, wave: int | None, criticality: str) -> bool:
        """Whether a system of this department code, wave and criticality is in scope."""
        wanted = (department, wave, criticality)
        return all(
            values is None or value in values
            for values, value in zip(self._dimensions(), wanted, strict=True)
        )

    def meets(self, other: Scope) -> bool:
        """Whether some system could be in both scopes."""
        pairs = zip(self._dimensions(), other._dimensions(), strict=True)
        return all(
            mine is None or theirs is None or set(mine) & set(theirs) for mine, theirs in pairs
        )

    def as_dict(self) -> dict[str, list[str | int]]:
        """The dimensions that restrict, as the file writes them (empty: every system)."""
        names = ("departments", "waves", "criticalities")
        return {
            name: list(values)
            for name, values in zip(names, self._dimensions(), strict=True)
            if values is not None
        }

    def _dimensions(self) -> tuple[Sequence[str | int] | None, ...]:
        return (self.departments, self.waves, self.criticalities)


@dataclass(frozen=True)
class Window:
    """A weekly maintenance window: on ``days`` from ``start`` to ``end`` (local wall clock)."""

    name: str
    days: frozenset[int]  # 0 = Monday, as ``date.weekday``
    start: time
    end: time
    # The window closes on the day after it opens; it lasts at most 24 hours.
    ends_next_day: bool = False
    scope: Scope = field(default_factory=Scope)

    def opening_on(self, day: date, zone: ZoneInfo) -> _Stretch | None:
        """The occurrence that opens on local date ``day``, in UTC, if the window opens then."""
        if day.weekday() not in self.days:
            return None
        closing_day = day + timedelta(days=1) if self.ends_next_day else day
        opens = datetime.combine(day, self.start, zone)
        closes = datetime.combine(closing_day, self.end, zone)
        return opens.astimezone(UTC), closes.astimezone(UTC)


@dataclass(frozen=True)
class Freeze:
    """A named period in which no cutover starts: ``[starts_at, ends_at)``, aware, local."""

    name: str
    starts_at: datetime
    ends_at: datetime
    scope: Scope = field(default_factory=Scope)

    def stretch(self) -> _Stretch:
        """``[starts_at, ends_at)`` in UTC, for arithmetic."""
        return _utc(self.starts_at), _utc(self.ends_at)


@dataclass(frozen=True)
class CalendarFacts:
    """What the calendar needs to know of a system (the department as its record writes it)."""

    department: str
    wave: int | None
    criticality: str

    def __post_init__(self) -> None:
        if self.criticality not in _CRITICALITIES:
            raise ValueError(f"unknown criticality {self.criticality!r}")


@dataclass(frozen=True)
class Span:
    """A stretch in which a cutover may start, in the calendar's zone.

    ``window`` names the window (``None``: the calendar restricts nothing to windows);
    ``closes_at`` is cut short by the next applicable freeze and is ``None`` when nothing
    ever closes it; ``opens_at`` is ``None`` only when nothing ever opened it.
    """

    window: str | None
    opens_at: datetime | None
    closes_at: datetime | None


@dataclass(frozen=True)
class Occurrence:
    """One occurrence of a window, or one freeze, for display."""

    kind: Literal["window", "freeze"]
    name: str
    opens_at: datetime
    closes_at: datetime
    scope: Scope


@dataclass(frozen=True)
class Calendar:
    """Windows and freezes in one time zone, and the register that maps record labels to codes."""

    time_zone: ZoneInfo
    windows: tuple[Window, ...] = ()
    freezes: tuple[Freeze, ...] = ()
    departments: DepartmentRegister = field(default_factory=lambda: DepartmentRegister({}))

    @classmethod
    def unrestricted(cls) -> Calendar:
        """No calendar file: every moment is inside an endless window, and nothing freezes."""
        return cls(ZoneInfo("UTC"))

    @property
    def restricts_to_windows(self) -> bool:
        """Whether a cutover must wait for a window (without windows, only freezes hold it)."""
        return bool(self.windows)

    def freeze_at(self, facts: CalendarFacts, at: datetime) -> Freeze | None:
        """An applicable freeze containing ``at``: of several, the one that ends last."""
        moment = _utc(at)
        found = [f for f in self._freezes_for(facts) if _inside(moment, f.stretch())]
        return max(found, key=lambda f: _utc(f.ends_at), default=None)

    def window_at(self, facts: CalendarFacts, at: datetime) -> Span | None:
        """The span containing ``at`` of an applicable window, cut short by a freeze ahead.

        ``None`` outside every applicable window, and inside an applicable freeze.
        """
        moment = _utc(at)
        frozen = self._frozen(facts)
        if any(_inside(moment, stretch) for stretch in frozen):
            return None
        thawed = _latest(end for _, end in frozen if end <= moment)
        if not self.windows:
            return self._span(None, thawed, _closing(None, moment, frozen))
        today = self._local_day(moment)
        for window, (opens, closes) in self._openings(facts, today - timedelta(days=1), today):
            if opens <= moment < closes:
                opens_at = _latest((opens, thawed))
                return self._span(window.name, opens_at, _closing(closes, moment, frozen))
        return None

    def next_window(self, facts: CalendarFacts, after: datetime) -> Span | None:
        """The first moment at or after ``after`` a cutover could start, and its span.

        Parts of windows inside freezes are cut away: a window that opens during a freeze
        opens when the freeze ends, if that is before it closes. ``None`` when nothing
        opens within ``HORIZON``.
        """
        start = _utc(after)
        frozen = self._frozen(facts)
        if not self.windows:
            thawed = _thaw(start, frozen)
            if thawed - start > HORIZON:
                return None
            return self._span(None, thawed, _closing(None, thawed, frozen))
        days = (self._local_day(start) - timedelta(days=1), self._local_day(start + HORIZON))
        for window, (opens, closes) in self._openings(facts, *days):
            thawed = _thaw(max(opens, start), frozen)
            if thawed < closes:
                return self._span(window.name, thawed, _closing(closes, thawed, frozen))
        return None

    def occurrences(self, start: datetime, until: datetime) -> list[Occurrence]:
        """Every window occurrence and freeze overlapping ``[start, until)``, in time order."""
        first, last = _utc(start), _utc(until)
        days = (self._local_day(first) - timedelta(days=1), self._local_day(last))
        found = [
            Occurrence("window", window.name, self._local(opens), self._local(closes), window.scope)
            for window, (opens, closes) in self._openings(None, *days)
            if opens < last and closes > first
        ]
        found += [
            Occurrence("freeze", freeze.name, freeze.starts_at, freeze.ends_at, freeze.scope)
            for freeze in self.freezes
            if _utc(freeze.starts_at) < last and _utc(freeze.ends_at) > first
        ]
        return sorted(found, key=lambda o: (_utc(o.opens_at), o.kind, o.name))

    def _covers(self, scope: Scope, facts: CalendarFacts) -> bool:
        code = self.departments.code_of(facts.department)
        return scope.covers(code, facts.wave, facts.criticality)

    def _freezes_for(self, facts: CalendarFacts) -> list[Freeze]:
        return [freeze for freeze in self.freezes if self._covers(freeze.scope, facts)]

    def _frozen(self, facts: CalendarFacts) -> list[_Stretch]:
        return [freeze.stretch() for freeze in self._freezes_for(facts)]

    def _openings(
        self, facts: CalendarFacts | None, first: date, last: date
    ) -> Iterator[tuple[Window, _Stretch]]:
        """Occurrences opening on local dates ``first`` to ``last``, in time order (lazily)."""
        windows = [w for w in self.windows if facts is None or self._covers(w.scope, facts)]
        day = first
        while day <= last:
            opened = ((w, w.opening_on(day, self.time_zone)) for w in windows)
            yield from sorted(((w, s) for w, s in opened if s is not None), key=lambda ws: ws[1])
            day += timedelta(days=1)

    def _local_day(self, moment: datetime) -> date:
        return moment.astimezone(self.time_zone).date()

    def _local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.time_zone)

    def _span(self, window: str | None, opens: datetime | None, closes: datetime | None) -> Span:
        return Span(
            window,
            None if opens is None else self._local(opens),
            None if closes is None else self._local(closes),
        )


def _utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is refused, as its zone would be a guess."""
    if moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no time zone: pass an aware datetime")
    return moment.astimezone(UTC)


def _inside(moment: datetime, stretch: _Stretch) -> bool:
    return stretch[0] <= moment < stretch[1]


def _thaw(moment: datetime, frozen: Sequence[_Stretch]) -> datetime:
    """The first moment at or after ``moment`` outside every freeze (freezes may chain)."""
    while True:
        ends = [end for start, end in frozen if start <= moment < end]
        if not ends:
            return moment
        moment = max(ends)


def _closing(
    closes: datetime | None, moment: datetime, frozen: Sequence[_Stretch]
) -> datetime | None:
    """When the span holding ``moment`` closes: at ``closes``, or a freeze that starts first."""
    return _earliest([closes, *(start for start, _ in frozen if start > moment)])


def _earliest(moments: Iterable[datetime | None]) -> datetime | None:
    return min((m for m in moments if m is not None), default=None)


def _latest(moments: Iterable[datetime | None]) -> datetime | None:
    return max((m for m in moments if m is not None), default=None)
