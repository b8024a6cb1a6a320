"""A wave's halt and resume as ``gov.cloud.wave.status_changed`` events: pure, no store."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from orchestrator.engine.notices import SOURCE, wave_notice_for, wave_notice_id
from orchestrator.events import decode_any, encode
from orchestrator.events.data import WaveStatusChanged
from orchestrator.store.waves import WaveHalt, WaveNotice

HALTED_AT = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
RESUMED_AT = HALTED_AT + timedelta(hours=2)
BREACH = "1 of 2 rolled back or failed (50%), over 20%"
HALT = WaveHalt(wave=3, reason=BREACH, halted_at=HALTED_AT)
RESUMED = WaveHalt(
    wave=3,
    reason=BREACH,
    halted_at=HALTED_AT,
    resumed_at=RESUMED_AT,
    resumed_by="ops",
    resume_reason="the rollback was a bad disk, fixed",
)


def test_a_halt_is_announced_with_its_reason_keyed_by_its_wave() -> None:
    event = wave_notice_for(WaveNotice(HALT, "halted", HALTED_AT))
    assert (event.type, event.id, event.source) == (
        "gov.cloud.wave.status_changed",
        "wave-3-halted",
        SOURCE,
    )
    assert (event.subject, event.time) == ("wave-3", HALTED_AT)
    assert event.data == WaveStatusChanged(wave=3, state="halted", reason=BREACH, at=HALTED_AT)
    assert encode(event).key == b"wave-3"


def test_a_resume_is_announced_with_who_resumed_and_why() -> None:
    event = wave_notice_for(WaveNotice(RESUMED, "resumed", RESUMED_AT))
    assert (event.id, event.time) == ("wave-3-resumed", RESUMED_AT)
    assert event.data == WaveStatusChanged(
        wave=3,
        state="resumed",
        reason="the rollback was a bad disk, fixed",
        requested_by="ops",
        at=RESUMED_AT,
    )


def test_the_same_notice_is_the_same_event_every_time_it_is_published() -> None:
    notice = WaveNotice(RESUMED, "resumed", RESUMED_AT)
    assert wave_notice_id(notice) == "wave-3-resumed"
    assert wave_notice_for(notice) == wave_notice_for(notice)
    record = encode(wave_notice_for(notice)).as_record("govcloud.status")
    assert decode_any(record) == wave_notice_for(notice)


def test_stored_text_is_fitted_to_the_contract_not_trusted() -> None:
    unfit = replace(
        RESUMED, resumed_by="$(reboot)", resume_reason="line one\nline two " + "x" * 600
    )
    data = wave_notice_for(WaveNotice(unfit, "resumed", RESUMED_AT)).data
    assert isinstance(data, WaveStatusChanged)
    assert data.requested_by is None
    assert data.reason is not None
    assert data.reason.startswith("line one line two x")
    assert len(data.reason) == 500


def test_a_resume_without_a_reason_says_none() -> None:
    quiet = replace(RESUMED, resume_reason=None)
    data = wave_notice_for(WaveNotice(quiet, "resumed", RESUMED_AT)).data
    assert isinstance(data, WaveStatusChanged)
    assert (data.reason, data.requested_by) == (None, "ops")
