"""Halted waves, shared by every instance through the store.

The first instance to see a wave go over its health threshold records the
halt (``record_halts``: one row per wave, a repeat is a no-op); an operator's
``govmig wave resume`` closes it (``resume``) with who asked and why. A wave
with an open halt holds every wave after it; a resumed one holds nothing.
``wave_tallies`` counts each wave's systems by state, for the gate to weigh.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from orchestrator.gates.waves import WaveTally
from orchestrator.migrations import SystemState
from orchestrator.store._sql import as_utc, insert_many_if_absent, stored_time
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
