"""A request read before its system's registration waits for it, on SQLite, without a broker.

The intake holds it (``Processed``: its record is in the store), the
registration applies it through the lifecycle as if it had just arrived, and
one whose wait ends first is dead-lettered by the sweep with ``unknown_system``
and the original record, exactly as the reactor dead-letters. The producer is a
stand-in; ``tests/integration/test_awaiting_registration.py`` runs it on Kafka.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest

from orchestrator.bus import Producer
from orchestrator.bus.types import RawRecord
from orchestrator.cli.render import unregistered_document, unregistered_tables
from orchestrator.engine.awaiting import (
    ExpiredRequests,
    dead_letter_expired,
    expired_message,
    waited_note,
)
from orchestrator.engine.intake import IntakeHandler
from orchestrator.errors import TemporaryError
from orchestrator.events.codec import KafkaRecord
from orchestrator.events.data import (
    MigrationCancelRequested,
    MigrationRequested,
    MigrationRetryRequested,
)
from orchestrator.events.envelope import event_key
from orchestrator.hooks import Hooks
from orchestrator.migrations import SystemState
from orchestrator.observability.snapshot import read_snapshot
from orchestrator.reactor.deadletter import describe, original
from orchestrator.reactor.handler import Delivery, Processed, Rejected
from orchestrator.store import (
    EventOutcome,
    Store,
    get_system,
    history,
    processed_outcomes,
    seed_nodes,
)
from orchestrator.store import awaiting as awaiting_store
from orchestrator.store.awaiting import HeldRequest
from tests.unit.test_engine_intake import INVENTORY, KNOWN, delivery, kinds, system

S = SystemState
WAIT = timedelta(minutes=5)
DLQ = "govcloud.events.dlq"


@pytest.fixture(autouse=True)
def city_nodes(store: Store) -> None:
    with store.transaction() as session:
        seed_nodes(session, INVENTORY.nodes.values())


@pytest.fixture
def waiting(store: Store) -> IntakeHandler:
    """An intake whose requests wait five minutes for their system's registration."""
    return IntakeHandler(store, known=KNOWN, registration_wait=WAIT)


@pytest.fixture
def refusing(store: Store) -> IntakeHandler:
    """An intake that waits for no registration (``GOVMIG_REGISTRATION_WAIT_S=0``)."""
    return IntakeHandler(store, known=KNOWN)


def held_for(store: Store, system_id: str) -> list[HeldRequest]:
    with store.transaction() as session:
        return awaiting_store.awaiting(session, system_id)


def migrate(system_id: str) -> MigrationRequested:
    return MigrationRequested(system_id=system_id, requested_by="alice")


class Broker:
    """Acknowledges every dead letter sent to it, unless it is down."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, RawRecord]] = []
        self.down = False

    def send_all(self, topic: str, records: Sequence[RawRecord]) -> None:
        if self.down:
            raise TemporaryError("broker unreachable")
        self.sent.extend((topic, record) for record in records)


class Expiries(Hooks):
    def __init__(self) -> None:
        self.codes: list[str] = []
        self.expired = 0

    def after_dead_letter(self, code: str) -> None:
        self.codes.append(code)

    def after_registration_wait_expired(self, count: int) -> None:
        self.expired += count


def test_a_request_before_its_registration_is_held_then_applied_after_it(
    store: Store, waiting: IntakeHandler
) -> None:
    request = delivery(migrate("mz-late"), event_id="m-1")
    assert kinds(waiting.handle([request])) == ["Processed"]
    (held,) = held_for(store, "mz-late")
    assert (held.request, held.requested_by, held.event_id) == ("migrate", "alice", "m-1")
    assert held.deadline - held.arrived_at == WAIT
    with store.transaction() as session:
        assert get_system(session, "mz-late") is None
        assert processed_outcomes(session, [("/test", "m-1")]) == {
            ("/test", "m-1"): EventOutcome.PROCESSED
        }

    assert kinds(waiting.handle([delivery(system("mz-late"))])) == ["Processed"]

    assert held_for(store, "mz-late") == []
    with store.transaction() as session:
        row = get_system(session, "mz-late")
        assert row is not None
        assert row.state is S.PLACED
        audit = history(session, "mz-late")
    assert [t.to_state for t in audit] == [S.REGISTERED, S.QUEUED, S.PLACED]
    queued = audit[1]
    assert (queued.event_id, queued.actor) == ("m-1", "alice")
    assert queued.reason is not None
    assert "s for the system's registration" in queued.reason


def test_held_requests_apply_in_arrival_order_within_the_registrations_batch(
    store: Store, waiting: IntakeHandler
) -> None:
    batch = [
        delivery(migrate("mz-b")),
        delivery(MigrationCancelRequested(system_id="mz-b", requested_by="bob")),
        delivery(system("mz-b")),
    ]
    assert kinds(waiting.handle(batch)) == ["Processed"] * 3
    with store.transaction() as session:
        row = get_system(session, "mz-b")
        causes = [t.cause for t in history(session, "mz-b")]
    assert row is not None
    assert row.state is S.CANCELLED
    assert causes == ["register", "migrate", "place", "cancel"]


def test_a_held_request_the_machine_refuses_is_audited_as_a_refusal(
    store: Store, waiting: IntakeHandler
) -> None:
    waiting.handle([delivery(MigrationRetryRequested(system_id="mz-c", requested_by="ops"))])
    waiting.handle([delivery(system("mz-c"))])
    with store.transaction() as session:
        audit = history(session, "mz-c")
    assert [(t.cause, t.refused) for t in audit] == [("register", False), ("retry", True)]


def test_with_no_wait_an_unknown_system_is_refused_at_once_as_before(
    store: Store, refusing: IntakeHandler
) -> None:
    (outcome,) = refusing.handle([delivery(migrate("nobody"))])
    assert isinstance(outcome, Rejected)
    assert (outcome.rejection.code, outcome.rejection.message) == (
        "unknown_system",
        "system 'nobody' is not registered",
    )
    assert held_for(store, "nobody") == []


def hold_expired(store: Store, handler: IntakeHandler, request: Delivery) -> None:
    """``request`` held, then its deadline moved back so it has passed."""
    handler.handle([request])
    (held,) = held_for(store, event_key(request.event))
    with store.transaction() as session:
        awaiting_store.forget(session, [held.id])
        past = held.arrived_at - timedelta(seconds=1)
        awaiting_store.hold(session, replace(held, arrived_at=past - WAIT, deadline=past))


def test_a_registration_leaves_a_request_past_its_deadline_to_the_sweep(
    store: Store, waiting: IntakeHandler
) -> None:
    hold_expired(store, waiting, delivery(migrate("mz-d"), event_id="m-d"))
    waiting.handle([delivery(system("mz-d"))])
    with store.transaction() as session:
        row = get_system(session, "mz-d")
    assert row is not None
    assert row.state is S.REGISTERED
    assert [held.event_id for held in held_for(store, "mz-d")] == ["m-d"]


def test_an_expired_wait_is_dead_lettered_with_the_original_record_and_its_reason(
    store: Store, waiting: IntakeHandler
) -> None:
    request = delivery(migrate("mz-e"), event_id="m-e")
    hold_expired(store, waiting, request)
    broker, hooks = Broker(), Expiries()
    sweep = ExpiredRequests(store, cast(Producer, broker), DLQ, hooks=[hooks])

    assert sweep.sweep() == 1

    ((topic, dead),) = broker.sent
    assert topic == DLQ
    as_read = KafkaRecord(DLQ, 0, 7, dead.key, dead.value, tuple(dead.headers))
    seen = describe(as_read)
    assert (seen.reason, seen.message) == (
        "unknown_system",
        "system 'mz-e' is not registered: the migrate request waited 300 s for its registration",
    )
    assert (seen.source_topic, seen.source_offset) == ("govcloud.events", request.record.offset)
    kept = request.record
    assert original(as_read) == RawRecord(kept.key, kept.value, kept.headers)
    assert held_for(store, "mz-e") == []
    assert (hooks.codes, hooks.expired) == (["unknown_system"], 1)
    with store.transaction() as session:
        assert processed_outcomes(session, [("/test", "m-e")]) == {
            ("/test", "m-e"): EventOutcome.REJECTED
        }
    # Replaying the dead letter once the system is registered applies it.
    waiting.handle([delivery(system("mz-e"))])
    assert kinds(waiting.handle([request])) == ["Processed"]
    with store.transaction() as session:
        row = get_system(session, "mz-e")
    assert row is not None
    assert row.state is S.PLACED


def test_a_dead_letter_the_broker_did_not_take_leaves_the_request_held(
    store: Store, waiting: IntakeHandler
) -> None:
    hold_expired(store, waiting, delivery(migrate("mz-f"), event_id="m-f"))
    broker = Broker()
    broker.down = True
    sweep = ExpiredRequests(store, cast(Producer, broker), DLQ)
    assert sweep.flush_quietly() == 0
    assert [held.event_id for held in held_for(store, "mz-f")] == ["m-f"]
    broker.down = False
    assert sweep.sweep() == 1


def test_a_request_within_its_wait_is_not_swept(store: Store, waiting: IntakeHandler) -> None:
    waiting.handle([delivery(migrate("mz-g"))])
    broker = Broker()
    now = datetime.now(UTC)
    assert dead_letter_expired(store, cast(Producer, broker), DLQ, now=now) == []
    assert broker.sent == []


def test_a_processed_hold_is_not_a_rejection_for_the_reactor(waiting: IntakeHandler) -> None:
    (outcome,) = waiting.handle([delivery(migrate("mz-h"))])
    assert outcome == Processed()


AT = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
HELD = HeldRequest(
    id=1,
    system_id="mz-x",
    request="cancel",
    requested_by="bob",
    event_source="/govmig/cli",
    event_id="e-1",
    record=KafkaRecord("govcloud.events", 2, 40, b"mz-x", b"{}", ()),
    arrived_at=AT,
    deadline=AT + timedelta(seconds=7.5),
)


@pytest.mark.parametrize(
    ("after", "note"),
    [
        (timedelta(seconds=3.25), "waited 3.2 s for the system's registration"),
        (timedelta(seconds=42.6), "waited 43 s for the system's registration"),
    ],
)
def test_the_audit_note_says_how_long_a_request_waited(after: timedelta, note: str) -> None:
    assert waited_note(HELD, AT + after) == note


def test_the_dead_letter_message_names_the_system_the_request_and_the_wait() -> None:
    assert expired_message(HELD) == (
        "system 'mz-x' is not registered: the cancel request waited 7.5 s for its registration"
    )


def test_the_fleet_snapshot_counts_the_held_requests_and_the_oldest_wait(
    store: Store, waiting: IntakeHandler
) -> None:
    waiting.handle([delivery(migrate("mz-i")), delivery(migrate("mz-j"))])
    later = datetime.now(UTC) + timedelta(seconds=30)
    with store.transaction() as session:
        count, longest = read_snapshot(session, now=later).awaiting_registration
    assert count == 2
    assert 29 < longest < 60


def test_status_of_a_system_not_registered_yet_shows_what_awaits_it() -> None:
    document = unregistered_document([HELD], [])
    assert document["system"] is None
    assert document["awaiting_registration"] == [
        {
            "request": "cancel",
            "requested_by": "bob",
            "event_source": "/govmig/cli",
            "event_id": "e-1",
            "arrived_at": "2026-12-02T08:00:00Z",
            "deadline": "2026-12-02T08:00:07.500000Z",
        }
    ]
    ((title, (line,)),) = unregistered_tables("mz-x", [HELD], [], AT + timedelta(seconds=2))
    assert title == "mz-x is not registered yet: requests awaiting its registration"
    assert (line["request"], line["by"], line["left"]) == ("cancel", "bob", "6 s")
