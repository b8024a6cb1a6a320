"""The halts as an outbox, the same tests on SQLite and on PostgreSQL.

A halt and its resume each wait, unannounced, until the publisher marks them
acknowledged; marking covers only what was read, so a resume recorded while
the halt's event was on its way is announced in the next round.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orchestrator.store import Session
from orchestrator.store import waves as wave_store
from orchestrator.store.waves import WaveNotice
from tests.fixtures.store import ON_BOTH

pytestmark = ON_BOTH

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
BREACH = "1 of 2 rolled back or failed (50%), over 20%"


def pending(session: Session) -> list[tuple[int, str, datetime]]:
    return [(n.halt.wave, n.change, n.at) for n in wave_store.pending_wave_notices(session)]


def halt(session: Session, *waves: int) -> None:
    wave_store.record_halts(session, dict.fromkeys(waves, BREACH), at=T0)


def resume(session: Session, wave: int) -> None:
    assert wave_store.resume(session, wave, by="ops", reason="understood", at=T0 + timedelta(1))


def publish(session: Session, notices: list[WaveNotice]) -> int:
    return wave_store.mark_wave_notices_published(session, notices, now=T0 + timedelta(2))


def test_a_halt_then_its_resume_each_wait_until_marked_published(session: Session) -> None:
    assert pending(session) == []
    halt(session, 1)
    halted = wave_store.pending_wave_notices(session)
    assert [(n.halt.reason, n.change, n.at) for n in halted] == [(BREACH, "halted", T0)]
    assert publish(session, halted) == 1
    assert pending(session) == []
    resume(session, 1)
    resumed = wave_store.pending_wave_notices(session)
    assert [(n.change, n.at, n.halt.resumed_by) for n in resumed] == [
        ("resumed", T0 + timedelta(1), "ops")
    ]
    assert publish(session, resumed) == 1
    assert pending(session) == []


def test_a_halt_resumed_before_it_was_announced_goes_out_halt_first(session: Session) -> None:
    halt(session, 2, 1)
    resume(session, 1)
    assert pending(session) == [
        (1, "halted", T0),
        (1, "resumed", T0 + timedelta(1)),
        (2, "halted", T0),
    ]


def test_marking_covers_only_what_was_read(session: Session) -> None:
    halt(session, 1)
    read = wave_store.pending_wave_notices(session)
    resume(session, 1)  # while the halt's event was on its way to the broker
    assert publish(session, read) == 1
    assert pending(session) == [(1, "resumed", T0 + timedelta(1))]


def test_marking_again_changes_nothing(session: Session) -> None:
    halt(session, 1)
    read = wave_store.pending_wave_notices(session)
    assert publish(session, read) == 1
    assert publish(session, read) == 0
    assert publish(session, []) == 0
