"""Audit rows and wave halts as outbound events: what the status topic says of each change.

Pure. A state change becomes ``gov.cloud.system.status_changed``, a refused
request ``gov.cloud.system.request_refused`` (``announces`` says which rows
are announced at all), a wave's halt or resume ``gov.cloud.wave.status_changed``.
The event id is derived from what is announced (``transition-<n>`` from the
audit row's id, ``wave-<N>-halted`` and ``wave-<N>-resumed``: a wave halts at
most once), so publishing it again after a crash repeats its id and consumers
can drop the repeat. Text from the store is fitted to the contract (one line,
bounded) rather than trusted: an event that failed validation here would block
the outbox behind it.
"""

from __future__ import annotations

import re
from typing import Final

from orchestrator.events import Event, new_event
from orchestrator.events.data import RequestRefused, SystemStatusChanged, WaveStatusChanged
from orchestrator.events.fields import ACTOR_PATTERN, EVENT_ID_PATTERN, STATE_PATTERN
from orchestrator.migrations import phase_in
from orchestrator.store import TransitionRow
from orchestrator.store.waves import WaveNotice

SOURCE: Final = "urn:govmig:orchestrator"
MAX_REASON: Final = 500
_ACTOR = re.compile(ACTOR_PATTERN)
_EVENT_ID = re.compile(EVENT_ID_PATTERN)
_NAME = re.compile(STATE_PATTERN)


def notice_id(row: TransitionRow) -> str:
    """The event id of ``row``'s notice: the same every time the row is published."""
    return f"transition-{row.id}"


def announces(row: TransitionRow) -> bool:
    """Whether ``row`` is announced: every refusal and every change of state.

    A re-registration that keeps the state is audited but not announced: the
    state machine asks for a status event only when the state changes.
    """
    return row.refused or row.from_state is not row.to_state


def notice_for(row: TransitionRow) -> Event:
    """The outbound event announcing ``row``: a status change, or a refused request."""
    data: SystemStatusChanged | RequestRefused
    if row.to_state is None:
        data = RequestRefused(
            system_id=row.system_id,
            state=row.from_state,
            request=_fits(row.cause, _NAME) or "unknown",
            reason=one_line(row.reason) or "refused",
            requested_by=_fits(row.requested_by, _ACTOR),
            caused_by=_fits(row.event_id, _EVENT_ID),
            at=row.at,
        )
    else:
        phase = phase_in(row.to_state)
        data = SystemStatusChanged(
            system_id=row.system_id,
            from_state=row.from_state,
            to_state=row.to_state,
            node=row.node,
            phase=None if phase is None else phase.value,
            reason=one_line(row.reason),
            caused_by=_fits(row.event_id, _EVENT_ID),
            requested_by=_fits(row.requested_by, _ACTOR),
            downtime_seconds=row.downtime_seconds,
            bytes_sent=row.bytes_sent,
            at=row.at,
        )
    return new_event(data, source=SOURCE, id=notice_id(row), time=row.at)


def wave_notice_id(notice: WaveNotice) -> str:
    """The event id of ``notice``: the same every time the wave's halt (or resume) is published."""
    return f"wave-{notice.halt.wave}-{notice.change}"


def wave_notice_for(notice: WaveNotice) -> Event:
    """The outbound event announcing a wave's halt, or an operator's resume of it."""
    halt, resumed = notice.halt, notice.change == "resumed"
    data = WaveStatusChanged(
        wave=halt.wave,
        state=notice.change,
        reason=one_line(halt.resume_reason if resumed else halt.reason),
        requested_by=_fits(halt.resumed_by, _ACTOR) if resumed else None,
        at=notice.at,
    )
    return new_event(data, source=SOURCE, id=wave_notice_id(notice), time=notice.at)


def one_line(text: str | None) -> str | None:
    """``text`` as one line of printable characters, at most ``MAX_REASON`` long."""
    if not text:
        return None
    # Character by character only when needed: the outbox runs this for every change.
    printable = text if text.isprintable() else "".join(c if c.isprintable() else " " for c in text)
    flat = " ".join(printable.split())
    if len(flat) > MAX_REASON:
        flat = flat[: MAX_REASON - 1] + "…"
    return flat or None


def _fits(value: str | None, pattern: re.Pattern[str]) -> str | None:
    return value if value is not None and pattern.fullmatch(value) else None
