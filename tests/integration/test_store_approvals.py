"""Approvals in the store, the same tests on SQLite and on PostgreSQL.

Approvals are granted and withdrawn through the engine (the state machine's
``GrantApproval`` and ``WithdrawApprovals``, carried out in the decision's
transaction), at times the tests choose; which are live is read at a clock
the tests choose too. The audit keeps who approved, under which change.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.engine import CauseContext, apply_cause
from orchestrator.inventory import load_inventory
from orchestrator.migrations import Approve, Reject, Transition
from orchestrator.migrations.states import SystemState
from orchestrator.store import Session, get_system, history, seed_nodes
from orchestrator.store import approvals as approval_store
from orchestrator.store.aggregates import count_approvals, count_refused
from tests.fixtures.seeding import drive, refuse
from tests.fixtures.store import ON_BOTH
from tests.fixtures.systems import business_system

pytestmark = ON_BOTH

S = SystemState
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
TTL = timedelta(hours=72)


@pytest.fixture(autouse=True)
def city_nodes(session: Session) -> None:
    seed_nodes(session, load_inventory().nodes.values())


def at(moment: datetime) -> CauseContext:
    return CauseContext(component="test", at=moment)


def approve(session: Session, system_id: str, by: str, ref: str, when: datetime) -> None:
    cause = Approve(ref, by, "rehearsed", migration_requested_by="alice")
    outcome = apply_cause(session, system_id, cause, context=at(when))
    assert isinstance(outcome, Transition), outcome


def placed(session: Session, system_id: str) -> None:
    drive(session, business_system(system_id), S.PLACED, requested_by="alice")


def test_the_migration_requester_is_kept_whoever_asks_next(session: Session) -> None:
    placed(session, "sys-1")
    approve(session, "sys-1", "bob", "CHG-1", T0)
    row = get_system(session, "sys-1")
    assert row is not None
    assert (row.requested_by, row.migration_requested_by) == ("bob", "alice")


def test_an_approval_is_live_until_it_expires(session: Session) -> None:
    placed(session, "sys-1")
    approve(session, "sys-1", "bob", "CHG-1", T0)
    live = approval_store.live(session, "sys-1", now=T0 + TTL - timedelta(seconds=1), ttl=TTL)
    assert live is not None
    assert (live.approver, live.change_ref, live.comment) == ("bob", "CHG-1", "rehearsed")
    assert (live.granted_at, live.expires_at(TTL)) == (T0, T0 + TTL)
    assert approval_store.live(session, "sys-1", now=T0 + TTL, ttl=TTL) is None
    assert approval_store.live(session, "sys-1", now=T0 - timedelta(seconds=1), ttl=TTL) is None
    # The time to live is the reader's: a shorter policy ends it sooner.
    assert approval_store.live(session, "sys-1", now=T0 + timedelta(hours=2), ttl=TTL / 72) is None


def test_the_newest_live_approval_is_the_one_shown(session: Session) -> None:
    placed(session, "sys-1")
    placed(session, "sys-2")
    approve(session, "sys-1", "bob", "CHG-1", T0)
    approve(session, "sys-1", "carol", "CHG-2", T0 + timedelta(hours=1))
    approve(session, "sys-2", "dave", "CHG-3", T0)
    now = T0 + timedelta(hours=2)
    found = approval_store.live_approvals(session, ["sys-1", "sys-2", "sys-3"], now=now, ttl=TTL)
    assert {system: row.approver for system, row in found.items()} == {
        "sys-1": "carol",
        "sys-2": "dave",
    }


def test_a_reject_withdraws_every_approval_whatever_its_change(session: Session) -> None:
    placed(session, "sys-1")
    placed(session, "sys-2")
    approve(session, "sys-1", "bob", "CHG-1", T0)
    approve(session, "sys-1", "carol", "CHG-2", T0)
    approve(session, "sys-2", "bob", "CHG-1", T0)
    later = T0 + timedelta(hours=1)
    rejected = apply_cause(session, "sys-1", Reject("CHG-9", "erin"), context=at(later))
    assert isinstance(rejected, Transition)
    assert approval_store.live(session, "sys-1", now=later, ttl=TTL) is None
    assert approval_store.live(session, "sys-2", now=later, ttl=TTL) is not None
    kept = approval_store.approvals_of(session, "sys-1")
    assert [(a.change_ref, a.withdrawn_by, a.withdrawn_at) for a in kept] == [
        ("CHG-1", "erin", later),
        ("CHG-2", "erin", later),
    ]
    # A new approval after the veto is live again.
    approve(session, "sys-1", "bob", "CHG-10", later + timedelta(minutes=1))
    assert approval_store.live(session, "sys-1", now=later + timedelta(hours=1), ttl=TTL)


def test_the_audit_keeps_approver_change_and_refusals(session: Session) -> None:
    placed(session, "sys-1")
    approve(session, "sys-1", "bob", "CHG-1", T0)
    refuse(session, "sys-1", Approve("CHG-2", "alice", migration_requested_by="alice"))
    rows = history(session, "sys-1")[-2:]
    assert [(r.cause, r.actor, r.requested_by, r.change_ref, r.refused) for r in rows] == [
        ("approve", "bob", "bob", "CHG-1", False),
        ("approve", "alice", "alice", "CHG-2", True),
    ]
    assert rows[0].at == T0
    assert rows[0].reason == "cutover approved by bob under change CHG-1"
    assert rows[1].reason is not None
    assert rows[1].reason.startswith("approval refused: alice approves the migration alice")


def test_the_counts_only_grow(session: Session) -> None:
    placed(session, "sys-1")
    assert (count_approvals(session), count_refused(session, "approve")) == ((0, 0), 0)
    approve(session, "sys-1", "bob", "CHG-1", T0)
    approve(session, "sys-1", "carol", "CHG-2", T0)
    refuse(session, "sys-1", Approve("CHG-3", "Alice", migration_requested_by="alice"))
    apply_cause(session, "sys-1", Reject("CHG-4", "bob"), context=at(T0))
    apply_cause(session, "sys-1", Reject("CHG-5", "bob"), context=at(T0))  # nothing left
    assert (count_approvals(session), count_refused(session, "approve")) == ((2, 2), 1)
