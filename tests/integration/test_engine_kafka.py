"""The engine against the real broker: duplicates, refusals and re-publishing the outbox.

The orchestrator runs in a thread of the test process (``running_in_thread``),
with a SQLite store in ``tmp_path``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from orchestrator.bus import Producer
from orchestrator.engine import publish_pending
from orchestrator.events import encode, new_event
from orchestrator.events.data import MigrationRequested, MigrationRetryRequested
from orchestrator.events.envelope import (
    SystemRequestRefusedEvent,
    SystemStatusChangedEvent,
    WaveStatusChangedEvent,
)
from orchestrator.inventory import generate_catalogue
from orchestrator.migrations import SystemState
from orchestrator.store import history, open_store, pending_status
from orchestrator.store import waves as wave_store
from tests.fixtures.orchestrator import (
    count_sqlite,
    kafka_settings,
    running_in_thread,
    status_events,
)
from tests.fixtures.polling import wait_until

pytestmark = pytest.mark.kafka

S = SystemState


def test_an_event_delivered_three_times_is_processed_once(
    kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> None:
    settings = kafka_settings(kafka_bootstrap, new_topic)
    db = tmp_path / "govmig.db"
    (system,) = generate_catalogue(1)
    registered = encode(new_event(system, source="/cmdb", id="reg-once"))
    requested = encode(
        new_event(
            MigrationRequested(system_id=system.id, requested_by="ops"), source="/cli", id="req-1"
        )
    )
    retry = encode(
        new_event(MigrationRetryRequested(system_id=system.id, requested_by="ops"), source="/cli")
    )
    with Producer(settings) as producer:
        producer.send_all(settings.events_topic, [registered] * 3 + [requested] * 3 + [retry])
    with running_in_thread(settings, f"sqlite:///{db}"):
        wait_until(
            lambda: (
                count_sqlite(db, "SELECT count(*) FROM transitions WHERE published_at IS NOT NULL")
                == 4
            ),
            timeout_s=30,
            what="three transitions and a refusal announced",
        )
    with open_store(f"sqlite:///{db}", create=False) as store, store.transaction() as session:
        rows = history(session, system.id)
        query = text("SELECT id, outcome FROM processed_events")
        outcomes: dict[str, str] = {row.id: row.outcome for row in session.execute(query)}
    assert [(row.from_state, row.to_state) for row in rows] == [
        (None, S.REGISTERED),
        (S.REGISTERED, S.QUEUED),
        (S.QUEUED, S.PLACED),
        (S.PLACED, None),
    ]
    assert outcomes["reg-once"] == outcomes["req-1"] == "processed"
    assert len(outcomes) == 3
    events = status_events(settings)
    assert Counter(type(event) for event in events) == {
        SystemStatusChangedEvent: 3,
        SystemRequestRefusedEvent: 1,
    }
    refused = next(e for e in events if isinstance(e, SystemRequestRefusedEvent))
    assert (refused.data.request, refused.data.state, refused.data.requested_by) == (
        "retry",
        "placed",
        "ops",
    )
    assert refused.data.reason == (
        "cannot retry: system is placed, only a rolled_back or failed system can be retried"
    )


def test_re_publishing_after_a_crash_repeats_the_same_event_ids(
    kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> None:
    settings = kafka_settings(kafka_bootstrap, new_topic)
    url = f"sqlite:///{tmp_path / 'govmig.db'}"
    systems = generate_catalogue(5)
    with Producer(settings) as producer:
        producer.send_all(
            settings.events_topic,
            [encode(new_event(system, source="/cmdb")) for system in systems],
        )
    with running_in_thread(settings, url):
        wait_until(
            lambda: count_sqlite(tmp_path / "govmig.db", "SELECT count(*) FROM transitions "
                                 "WHERE published_at IS NOT NULL") == 5,
            timeout_s=30,
            what="five registrations announced",
        )  # fmt: skip
    first = status_events(settings)
    # A crash after the broker acknowledged but before the rows were marked published:
    with open_store(url) as store:
        with store.transaction() as session:
            session.execute(text("UPDATE transitions SET published_at = NULL"))
        with Producer(settings) as producer:
            assert publish_pending(store, producer, settings.status_topic) == 5
            assert publish_pending(store, producer, settings.status_topic) == 0
        with store.transaction() as session:
            assert pending_status(session, 10) == []
    events = status_events(settings)
    assert len(events) == 10
    assert Counter(event.id for event in events) == Counter({event.id: 2 for event in first})
    by_id = {event.id: event for event in first}
    assert all(event == by_id[event.id] for event in events)


def test_a_waves_notices_re_published_after_a_crash_repeat_their_ids(
    kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> None:
    settings = kafka_settings(kafka_bootstrap, new_topic)
    halted_at = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    with open_store(f"sqlite:///{tmp_path / 'govmig.db'}") as store, Producer(settings) as producer:
        with store.transaction() as session:
            wave_store.record_halts(session, {1: "1 of 2 rolled back or failed"}, at=halted_at)
            resumed_at = halted_at + timedelta(hours=1)
            wave_store.resume(session, 1, by="ops", reason="understood", at=resumed_at)
        assert publish_pending(store, producer, settings.status_topic) == 2
        # A crash after the broker acknowledged but before the halt was marked published:
        with store.transaction() as session:
            session.execute(text("UPDATE wave_halts SET halt_published_at = NULL"))
        assert publish_pending(store, producer, settings.status_topic) == 1
        assert publish_pending(store, producer, settings.status_topic) == 0
    events = status_events(settings)
    assert all(isinstance(event, WaveStatusChangedEvent) for event in events)
    assert [event.id for event in events] == ["wave-1-halted", "wave-1-resumed", "wave-1-halted"]
    assert events[0] == events[2]
