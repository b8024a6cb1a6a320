"""The store-backed intake handler on SQLite, fed decoded deliveries without a broker."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from orchestrator.engine import announces
from orchestrator.engine.intake import IntakeHandler
from orchestrator.events import KnownIds, decode, encode, new_event
from orchestrator.events.data import (
    MigrationApproved,
    MigrationCancelRequested,
    MigrationRequested,
    NodeState,
    NodeTotals,
    NodeUpdated,
)
from orchestrator.events.envelope import EventData
from orchestrator.hooks import Hooks
from orchestrator.inventory import load_inventory
from orchestrator.inventory.cutover_policy import ApprovalPolicy, ChangeRefPolicy, CutoverPolicy
from orchestrator.inventory.models import BusinessSystem, Criticality, SourceLocation
from orchestrator.migrations import SystemState
from orchestrator.reactor.handler import Delivery, Duplicate, Outcome, Processed, Rejected
from orchestrator.store import (
    EventOutcome,
    Store,
    get_node,
    get_system,
    history,
    pending_status,
    processed_outcomes,
    seed_nodes,
)
from orchestrator.store import approvals as approval_store
from tests.fixtures.store import losing_swaps

S = SystemState
INVENTORY = load_inventory()
KNOWN = KnownIds(cities=frozenset(INVENTORY.cities), nodes=frozenset(INVENTORY.nodes))


def system(system_id: str, city: str = "meizhou", *, vcpu: int = 8) -> BusinessSystem:
    return BusinessSystem(
        id=system_id,
        name="公积金管理系统",
        city=city,
        department="住房公积金管理中心",
        vcpu=vcpu,
        memory_gb=32,
        storage_gb=500,
        source=SourceLocation(city=city, site="机房B", host=f"{system_id}.gd.gov.cn"),
    )


_offsets = iter(range(1_000_000))


def delivery(
    data: EventData,
    *,
    event_id: str | None = None,
    source: str = "/test",
    extensions: dict[str, bool | int | str] | None = None,
) -> Delivery:
    event = new_event(data, source=source, id=event_id, extensions=extensions)
    record = encode(event).as_record("govcloud.events", offset=next(_offsets))
    return Delivery(record=record, event=decode(record))


@pytest.fixture(autouse=True)
def city_nodes(store: Store) -> None:
    """Every test here starts with the 14 city nodes seeded."""
    with store.transaction() as session:
        seed_nodes(session, INVENTORY.nodes.values())


@pytest.fixture
def handler(store: Store) -> IntakeHandler:
    return IntakeHandler(store, known=KNOWN)


def kinds(outcomes: Sequence[Outcome]) -> list[str]:
    return [type(outcome).__name__ for outcome in outcomes]


def test_the_same_event_three_times_is_processed_once(store: Store, handler: IntakeHandler) -> None:
    registered = delivery(system("mz-gjj"), event_id="reg-1")
    assert kinds(handler.handle([registered, registered])) == ["Processed", "Duplicate"]
    assert kinds(handler.handle([registered])) == ["Duplicate"]
    with store.transaction() as session:
        assert [row.to_state for row in history(session, "mz-gjj")] == [S.REGISTERED]
        assert processed_outcomes(session, [("/test", "reg-1")]) == {
            ("/test", "reg-1"): EventOutcome.PROCESSED
        }


def test_a_batch_registers_requests_and_places_in_order(
    store: Store, handler: IntakeHandler
) -> None:
    batch = [
        delivery(system("mz-a")),
        delivery(MigrationRequested(system_id="mz-a", wave=1, requested_by="ops")),
        delivery(system("mz-b", "shenzhen")),
        delivery(MigrationRequested(system_id="mz-b", requested_by="ops")),
    ]
    assert kinds(handler.handle(batch)) == ["Processed"] * 4
    with store.transaction() as session:
        a, b = get_system(session, "mz-a"), get_system(session, "mz-b")
        assert a is not None
        assert b is not None
        assert (a.state, a.node, a.wave) == (S.PLACED, "meizhou", 1)
        # A PRD city has no city node: the policy picks one.
        assert b.state is S.PLACED
        assert b.node in INVENTORY.nodes
        assert len(pending_status(session, 100)) == 6


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (MigrationRequested(system_id="nobody", requested_by="ops"), "unknown_system"),
        (MigrationCancelRequested(system_id="nobody", requested_by="ops"), "unknown_system"),
        (
            MigrationRequested(system_id="mz-a", target_node="guangzhou", requested_by="ops"),
            "unknown_node",
        ),
        (system("gz-x", "atlantis"), "unknown_city"),
        (NodeUpdated(node_id="atlantis", state=NodeState.DRAINING), "unknown_node"),
        (
            NodeUpdated(
                node_id="yunfu", capacity=NodeTotals(vcpu=100, memory_gb=10, storage_gb=10)
            ),
            "schema",
        ),
    ],
    ids=["request", "cancel", "target", "city", "node", "reserved-over-total"],
)
def test_events_naming_what_does_not_exist_are_rejected(
    store: Store, handler: IntakeHandler, data: EventData, code: str
) -> None:
    handler.handle([delivery(system("mz-a"))])
    rejected = delivery(data, event_id="bad-1")
    (outcome,) = handler.handle([rejected])
    assert isinstance(outcome, Rejected)
    assert outcome.rejection.code == code
    with store.transaction() as session:
        assert processed_outcomes(session, [("/test", "bad-1")]) == {
            ("/test", "bad-1"): EventOutcome.REJECTED
        }


def test_a_rejected_event_is_processed_when_replayed_after_a_fix(
    store: Store, handler: IntakeHandler
) -> None:
    request = delivery(MigrationRequested(system_id="mz-late", requested_by="ops"), event_id="r-1")
    assert kinds(handler.handle([request])) == ["Rejected"]
    handler.handle([delivery(system("mz-late"))])
    assert kinds(handler.handle([request, request])) == ["Processed", "Duplicate"]
    with store.transaction() as session:
        row = get_system(session, "mz-late")
        assert row is not None
        assert row.state is S.PLACED
        assert processed_outcomes(session, [("/test", "r-1")]) == {
            ("/test", "r-1"): EventOutcome.PROCESSED
        }


def test_a_refused_request_is_processed_not_dead_lettered(
    store: Store, handler: IntakeHandler
) -> None:
    handler.handle([delivery(system("mz-x"))])
    cancel = MigrationCancelRequested(system_id="mz-x", requested_by="ops", reason="推迟上线")
    (outcome,) = handler.handle([delivery(cancel)])
    assert isinstance(outcome, Processed)
    (again,) = handler.handle([delivery(cancel)])  # cancelled already: refused
    assert isinstance(again, Processed)
    with store.transaction() as session:
        rows = history(session, "mz-x")
        assert [(row.to_state, row.refused) for row in rows] == [
            (S.REGISTERED, False),
            (S.CANCELLED, False),
            (None, True),
        ]
        assert rows[1].reason == "cancelled by ops while registered (given reason: 推迟上线)"
        assert rows[2].reason is not None
        assert rows[2].reason.startswith("cannot cancel: system is cancelled already")


def test_a_request_without_the_change_the_policy_requires_is_refused_and_audited(
    store: Store,
) -> None:
    strict = CutoverPolicy(change_ref=ChangeRefPolicy(criticalities=frozenset({"critical"})))
    handler = IntakeHandler(store, known=KNOWN, cutover=strict)
    critical = system("mz-crit").model_copy(update={"criticality": Criticality.CRITICAL})
    outcomes = handler.handle(
        [
            delivery(critical),
            delivery(system("mz-low")),
            delivery(MigrationRequested(system_id="mz-crit", requested_by="ops", reason="迁移")),
            delivery(MigrationRequested(system_id="mz-low", requested_by="ops")),
            delivery(
                MigrationRequested(
                    system_id="mz-crit", requested_by="ops", reason="迁移", change_ref="CHG-88"
                )
            ),
        ]
    )
    assert all(isinstance(outcome, Processed) for outcome in outcomes)  # none dead-lettered
    with store.transaction() as session:
        crit = history(session, "mz-crit")
        low = history(session, "mz-low")
    refused = crit[1]
    assert (refused.refused, refused.cause, refused.actor, refused.change_ref) == (
        True,
        "migrate",
        "ops",
        None,
    )
    assert refused.reason == (
        "cannot migrate: the change policy requires a change reference for critical systems; "
        "name the change (ticket) with --change-ref (given reason: 迁移)"
    )
    assert announces(refused)  # a request_refused status event
    # Refused before the state machine: still registered, nothing reserved; the second ask,
    # under its change, is queued and placed (in that change too), its reason in the audit.
    assert [(row.to_state, row.change_ref) for row in crit[2:]] == [
        (S.QUEUED, "CHG-88"),
        (S.PLACED, "CHG-88"),
    ]
    assert crit[2].reason == "migration requested by ops (given reason: 迁移)"
    assert [row.to_state for row in low] == [S.REGISTERED, S.QUEUED, S.PLACED]


def approval(by: str, ref: str, comment: str | None = None) -> Delivery:
    return delivery(
        MigrationApproved(system_id="mz-a", change_ref=ref, comment=comment, approved_by=by)
    )


def test_an_approval_needs_four_eyes_unless_the_policy_allows_self_approval(
    store: Store, handler: IntakeHandler
) -> None:
    outcomes = handler.handle(
        [
            delivery(system("mz-a")),
            delivery(MigrationRequested(system_id="mz-a", requested_by="alice")),
            approval("Alice", "CHG-1"),  # who requested it, in the same batch: refused
            approval("bob", "CHG-2", "rehearsed"),
        ]
    )
    assert all(isinstance(outcome, Processed) for outcome in outcomes)
    lenient = CutoverPolicy(approval=ApprovalPolicy(self_approval=True))
    IntakeHandler(store, known=KNOWN, cutover=lenient).handle([approval("alice", "CHG-3")])
    with store.transaction() as session:
        rows = [row for row in history(session, "mz-a") if row.cause == "approve"]
        approvals = approval_store.approvals_of(session, "mz-a")
        system_row = get_system(session, "mz-a")
    assert [(r.actor, r.change_ref, r.refused, announces(r)) for r in rows] == [
        ("Alice", "CHG-1", True, True),
        ("bob", "CHG-2", False, False),  # no state changed: audited, not announced
        ("alice", "CHG-3", False, False),
    ]
    assert rows[0].reason == (
        "approval refused: Alice approves the migration alice requested (change CHG-1); "
        "four eyes need another approver (system is placed)"
    )
    assert rows[1].reason == "cutover approved by bob under change CHG-2 (comment: rehearsed)"
    assert [(a.approver, a.change_ref, a.comment) for a in approvals] == [
        ("bob", "CHG-2", "rehearsed"),
        ("alice", "CHG-3", None),
    ]
    assert system_row is not None
    assert (system_row.state, system_row.migration_requested_by) == (S.PLACED, "alice")


def test_a_drained_node_takes_no_new_system_and_keeps_what_it_has(
    store: Store, handler: IntakeHandler
) -> None:
    handler.handle(
        [
            delivery(system("mz-old")),
            delivery(MigrationRequested(system_id="mz-old", requested_by="ops")),
        ]
    )
    handler.handle(
        [
            delivery(NodeUpdated(node_id="meizhou", state=NodeState.DRAINING)),
            delivery(system("mz-new")),
            delivery(MigrationRequested(system_id="mz-new", requested_by="ops")),
        ]
    )
    with store.transaction() as session:
        old, new = get_system(session, "mz-old"), get_system(session, "mz-new")
        assert old is not None
        assert new is not None
        assert (old.state, old.node) == (S.PLACED, "meizhou")
        assert new.state is S.PLACED
        assert new.node != "meizhou"
        meizhou = get_node(session, "meizhou")
        assert meizhou is not None
        assert list(meizhou.allocations) == ["mz-old"]


def test_duplicates_across_batches_and_sources_are_told_apart(
    store: Store, handler: IntakeHandler
) -> None:
    first = delivery(system("mz-s"), event_id="same-id", source="/cmdb/a")
    other = delivery(system("mz-s"), event_id="same-id", source="/cmdb/b")
    outcomes = handler.handle([first, other, first])
    assert [type(o) for o in outcomes] == [Processed, Processed, Duplicate]


def test_extension_attributes_are_audited_as_ignored_and_never_acted_on(
    store: Store, handler: IntakeHandler
) -> None:
    handler.handle([delivery(system("mz-x"))])
    hostile: dict[str, bool | int | str] = {
        "playbook": "{{ lookup('pipe', 'id') }}",
        "targetnode": "shantou",
        "priority": 9,
    }
    cancel = MigrationCancelRequested(system_id="mz-x", requested_by="ops", reason="later")
    (outcome,) = handler.handle([delivery(cancel, extensions=hostile)])
    assert isinstance(outcome, Processed)
    with store.transaction() as session:
        row = history(session, "mz-x")[-1]
    assert row.to_state is S.CANCELLED
    assert row.reason == (
        "cancelled by ops while registered (given reason: later; "
        "ignored extension attributes: playbook, priority, targetnode)"
    )
    assert "lookup" not in row.reason, "names only, never values"


class ConflictsHeard(Hooks):
    def __init__(self) -> None:
        self.counts: list[int] = []

    def after_ledger_conflicts(self, count: int) -> None:
        self.counts.append(count)


def test_a_batch_tells_its_lost_swaps_to_the_hooks_once(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    losing_swaps(monkeypatch, 2)  # as if another instance wrote the node first, twice
    heard = ConflictsHeard()
    handler = IntakeHandler(store, known=KNOWN, hooks=[heard])
    batch = [
        delivery(system("mz-a")),
        delivery(MigrationRequested(system_id="mz-a", requested_by="ops")),
    ]
    assert kinds(handler.handle(batch)) == ["Processed"] * 2
    assert kinds(handler.handle([delivery(system("mz-b"))])) == ["Processed"]
    assert heard.counts == [2]  # the batch without a lost swap told nothing
    with store.transaction() as session:
        placed = get_system(session, "mz-a")
    assert placed is not None
    assert placed.state is S.PLACED
