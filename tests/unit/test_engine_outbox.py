"""One outbox round on SQLite: audit rows and wave notices go out together, marked only once acked.

The producer is a stand-in that acknowledges what it is given, or fails as a
broker that does not answer would; ``test_engine_kafka`` runs the round on the
real broker.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest

from orchestrator.bus import Producer
from orchestrator.engine import publish_pending
from orchestrator.errors import TemporaryError
from orchestrator.events import decode_any
from orchestrator.events.codec import OutboundRecord
from orchestrator.migrations import SystemState
from orchestrator.store import Store, pending_status
from orchestrator.store import waves as wave_store
from tests.fixtures.seeding import drive
from tests.fixtures.systems import business_system

T0 = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
TOPIC = "govcloud.status"


class Broker:
    """Acknowledges every record sent to it, unless it is down."""

    def __init__(self) -> None:
        self.acknowledged: list[OutboundRecord] = []
        self.down = False

    def send_all(self, topic: str, records: Sequence[OutboundRecord]) -> None:
        if self.down:
            raise TemporaryError("broker unreachable")
        assert topic == TOPIC
        self.acknowledged.extend(records)

    def ids(self) -> list[str]:
        return [decode_any(record.as_record(TOPIC)).id for record in self.acknowledged]


def publish(store: Store, broker: Broker) -> int:
    return publish_pending(store, cast(Producer, broker), TOPIC)


def pending(store: Store) -> tuple[int, list[str]]:
    with store.transaction() as session:
        rows = pending_status(session, 100)
        waves = wave_store.pending_wave_notices(session)
    return len(rows), [f"{n.halt.wave}-{n.change}" for n in waves]


@pytest.fixture
def halted(store: Store) -> Store:
    """A registered system (one audit row) and wave 1 halted, none of it announced yet."""
    with store.transaction() as session:
        drive(session, business_system("sys-1"), SystemState.REGISTERED)
        wave_store.record_halts(session, {1: "1 of 2 rolled back or failed"}, at=T0)
    return store


def test_a_round_sends_rows_and_wave_notices_together_then_marks_them(halted: Store) -> None:
    broker = Broker()
    assert publish(halted, broker) == 2
    assert broker.ids() == ["transition-1", "wave-1-halted"]
    assert pending(halted) == (0, [])
    assert publish(halted, broker) == 0
    with halted.transaction() as session:
        wave_store.resume(session, 1, by="ops", reason=None, at=T0 + timedelta(hours=1))
    assert publish(halted, broker) == 1
    assert broker.ids()[2:] == ["wave-1-resumed"]


def test_nothing_is_marked_when_the_broker_does_not_acknowledge(halted: Store) -> None:
    broker = Broker()
    broker.down = True
    with pytest.raises(TemporaryError):
        publish(halted, broker)
    assert pending(halted) == (1, ["1-halted"])
    broker.down = False
    assert publish(halted, broker) == 2
    assert broker.ids() == ["transition-1", "wave-1-halted"]
