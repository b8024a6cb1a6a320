"""Requests held for their system's registration, the same tests on SQLite and on PostgreSQL.

The deadline splits the rows: the intake takes only those still waiting, the
sweep only those past it. On PostgreSQL the sweep's claim skips rows another
transaction holds, so two instances never dead-letter one request twice.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from orchestrator.events.codec import KafkaRecord
from orchestrator.store import Store
from orchestrator.store import awaiting as awaiting_store
from orchestrator.store.awaiting import NewHold
from tests.fixtures.store import ON_BOTH, ON_POSTGRES

T0 = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
WAIT = timedelta(minutes=5)
HEADERS = (("ce_type", b"gov.cloud.migration.requested"), ("ce_id", b"\x00\xffbytes"))


def new(system_id: str, event_id: str, *, arrived_at: datetime = T0) -> NewHold:
    record = KafkaRecord("govcloud.events", 4, 99, system_id.encode(), b'{"a":1}', HEADERS)
    return NewHold(
        system_id, "migrate", "alice", "/govmig/cli", event_id, record, arrived_at,
        arrived_at + WAIT,
    )  # fmt: skip


@ON_BOTH
def test_held_requests_keep_their_record_and_go_to_the_intake_or_the_sweep(store: Store) -> None:
    with store.transaction() as session:
        awaiting_store.hold(session, new("sys-a", "e-1"))
        awaiting_store.hold(session, new("sys-a", "e-2", arrived_at=T0 + timedelta(seconds=1)))
        awaiting_store.hold(session, new("sys-b", "e-3"))
    with store.transaction() as session:
        assert awaiting_store.awaited_among(session, ["sys-a", "sys-c"]) == {"sys-a"}
        assert awaiting_store.count_awaiting(session) == (3, T0)
        (first, _) = awaiting_store.awaiting(session, "sys-a")
    assert first.record == new("sys-a", "e-1").record
    assert (first.arrived_at, first.deadline) == (T0, T0 + WAIT)

    past_b = T0 + WAIT + timedelta(milliseconds=500)  # e-1 and e-3 expired, e-2 not yet
    with store.transaction() as session:
        taken = awaiting_store.take_waiting(session, "sys-a", past_b)
    assert [held.event_id for held in taken] == ["e-2"]
    with store.transaction() as session:
        expired = awaiting_store.claim_expired(session, past_b, limit=10)
        assert [held.event_id for held in expired] == ["e-1", "e-3"]
        assert awaiting_store.forget(session, [held.id for held in expired]) == 2
        assert awaiting_store.count_awaiting(session) == (0, None)


@ON_POSTGRES
def test_a_sweep_skips_what_another_instance_has_claimed(store: Store) -> None:
    with store.transaction() as session:
        for n in range(3):
            awaiting_store.hold(session, new("sys-a", f"e-{n}"))
    later = T0 + 2 * WAIT
    with store.transaction() as first:
        claimed = awaiting_store.claim_expired(first, later, limit=2)
        with store.transaction() as second:
            rest = awaiting_store.claim_expired(second, later, limit=10)
    assert [held.event_id for held in claimed] == ["e-0", "e-1"]
    assert [held.event_id for held in rest] == ["e-2"]


@ON_POSTGRES
def test_the_intake_waits_for_a_row_the_sweep_claimed_and_then_finds_it_gone(
    store: Store,
) -> None:
    """Even with the intake's clock behind the sweep's, a request is never taken twice."""
    with store.transaction() as session:
        awaiting_store.hold(session, new("sys-a", "e-1"))
    taken: list[list[str]] = []

    def intake() -> None:  # its clock says the request still waits
        with store.transaction() as session:
            waiting = awaiting_store.take_waiting(session, "sys-a", T0)
            taken.append([held.event_id for held in waiting])

    with store.transaction() as sweep:
        (claimed,) = awaiting_store.claim_expired(sweep, T0 + 2 * WAIT, limit=10)
        thread = threading.Thread(target=intake)
        thread.start()
        thread.join(1.0)
        assert thread.is_alive(), "the intake did not wait for the sweep's row lock"
        awaiting_store.forget(sweep, [claimed.id])
    thread.join(10)
    assert taken == [[]]
