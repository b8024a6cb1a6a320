"""Halted waves, shared by every instance through the store.

The first instance to see a wave go over its health threshold records the
halt (``record_halts``: one row per wave, a repeat is a no-op); an operator's
``govmig wave resume`` closes it (``resume``) with who asked and why. A wave
with an open halt holds every wave after it; a resumed one holds nothing.
``wave_tallies`` counts each wave's systems by state, for the gate to weigh.

The halts are also an outbox, as the audit rows are (``store.outbox``): a halt
and its resume are written unannounced, in the transaction that records them;
the status outbox's publisher reads them (``pending_wave_notices``), sends one
``gov.cloud.wave.status_changed`` each and marks them announced once the broker
acknowledged them (``mark_wave_notices_published``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from orchestrator.gates.waves import WaveTally
from orchestrator.migrations import SystemState
from orchestrator.store._sql import as_utc, execute, insert_many_if_absent, stored_time
from orchestrator.store.aggregates import count_by_wave
from orchestrator.store.tables import WaveHaltTable

T = WaveHaltTable


@dataclass(frozen=True, slots=True)
class WaveHalt:
    """One wave's halt as stored; ``resumed_at`` None while it holds the waves after it."""

    wave: int
    reason: str
    halted_at: datetime
    resumed_at: datetime | None = None
    resumed_by: str | None = None
    resume_reason: str | None = None


WaveChange = Literal["halted", "resumed"]


@dataclass(frozen=True, slots=True)
class WaveNotice:
    """A wave's halt, or its resume, not yet announced on the status topic."""

    halt: WaveHalt
    change: WaveChange
    at: datetime  # when it happened: the halt's moment, or the resume's


def record_halts(session: Session, reasons: Mapping[int, str], *, at: datetime) -> list[int]:
    """Record each wave's halt unless one is recorded already; the waves newly halted."""
    rows = [{"wave": w, "reason": why, "halted_at": stored_time(at)} for w, why in reasons.items()]
    inserted = insert_many_if_absent(session, T, rows, returning=(T.wave,))
    return sorted(int(wave) for (wave,) in inserted)


def resume(session: Session, wave: int, *, by: str, reason: str | None, at: datetime) -> bool:
    """End ``wave``'s halt; False when it has no open halt."""
    statement = update(T).where(T.wave == wave, T.resumed_at.is_(None))
    values = {"resumed_at": stored_time(at), "resumed_by": by, "resume_reason": reason}
    result = session.execute(statement.values(**values))
    return bool(getattr(result, "rowcount", 0))


def halts(session: Session) -> dict[int, WaveHalt]:
    """Every recorded halt, by wave."""
    return {row.wave: _halt(row) for row in session.execute(select(T)).scalars()}


def pending_wave_notices(session: Session) -> list[WaveNotice]:
    """Every halt and resume not yet announced, by wave, a wave's halt before its resume.

    Not paged: a wave halts at most once, so a wave has at most two.
    """
    unannounced = or_(
        T.halt_published_at.is_(None),
        and_(T.resumed_at.is_not(None), T.resume_published_at.is_(None)),
    )
    notices = []
    for row in session.execute(select(T).where(unannounced).order_by(T.wave)).scalars():
        halt = _halt(row)
        if row.halt_published_at is None:
            notices.append(WaveNotice(halt, "halted", halt.halted_at))
        if halt.resumed_at is not None and row.resume_published_at is None:
            notices.append(WaveNotice(halt, "resumed", halt.resumed_at))
    return notices


def mark_wave_notices_published(
    session: Session, notices: Iterable[WaveNotice], *, now: datetime | None = None
) -> int:
    """Record that the broker acknowledged ``notices``; returns how many changed."""
    at = stored_time(now)
    wanted = list(notices)
    changed = 0
    for change, column in (("halted", T.halt_published_at), ("resumed", T.resume_published_at)):
        waves = [notice.halt.wave for notice in wanted if notice.change == change]
        if waves:
            statement = update(T).where(T.wave.in_(waves), column.is_(None)).values({column: at})
            changed += execute(session, statement)
    return changed


def wave_tallies(session: Session) -> dict[int, WaveTally]:
    """Every wave's systems counted by state (systems without a wave left out)."""
    tallies: dict[int, dict[SystemState, int]] = {}
    for (wave, state), count in count_by_wave(session).items():
        if wave is not None:
            tallies.setdefault(wave, {})[state] = count
    return {wave: WaveTally(wave, states) for wave, states in tallies.items()}


def _halt(row: WaveHaltTable) -> WaveHalt:
    return WaveHalt(
        wave=row.wave,
        reason=row.reason,
        halted_at=as_utc(row.halted_at),
        resumed_at=None if row.resumed_at is None else as_utc(row.resumed_at),
        resumed_by=row.resumed_by,
        resume_reason=row.resume_reason,
    )
