"""The store's repositories, the same tests on SQLite and on PostgreSQL.

Systems, processed events, the audit, the nodes and the ledger. Rows the tests
need are registered and moved through the engine (``tests.fixtures.seeding``);
``save_system`` and ``reserve`` are also called directly, being what is tested.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from orchestrator.capacity import NodeStatus, ResourceClass, ResourceInventory
from orchestrator.engine import CauseContext, apply_cause
from orchestrator.errors import PermanentError, TemporaryError
from orchestrator.inventory import load_inventory
from orchestrator.inventory.models import BusinessSystem, Node, NodeCapacity
from orchestrator.inventory.plan import PLAN_MEMORY_GB, PLAN_NODES, PLAN_STORAGE_GB, PLAN_VCPU
from orchestrator.migrations import Register, RequestCancel, RequestRetry
from orchestrator.migrations.states import Phase, SystemState
from orchestrator.store import (
    EventOutcome,
    GenerationConflictError,
    Reserved,
    Session,
    Shortfall,
    StaleSystemError,
    Store,
    claim_events,
    count_by_state,
    dependencies,
    get_node,
    get_system,
    history,
    list_systems,
    node_usage,
    processed_outcomes,
    reserve,
    save_system,
    seed_nodes,
    update_node,
)
from tests.fixtures.seeding import SEEDING, drive, refuse
from tests.fixtures.store import ON_BOTH
from tests.fixtures.systems import business_system

pytestmark = ON_BOTH

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def a_system(system_id: str = "sys-1", *, vcpu: int = 8, city: str = "guangzhou") -> BusinessSystem:
    return business_system(system_id, city, vcpu=vcpu, memory_gb=32, storage_gb=500)


def a_node(node_id: str = "shantou", vcpu: int = 100) -> Node:
    return Node(
        id=node_id,
        city=node_id,
        capacity=NodeCapacity(vcpu=vcpu, memory_gb=1000, storage_gb=10_000),
        reserved=NodeCapacity(vcpu=4, memory_gb=8, storage_gb=100),
        allocation_ratio_vcpu=2.0,
    )


def test_a_registered_system_round_trips(session: Session) -> None:
    system = a_system()
    stored = drive(session, system, SystemState.REGISTERED)
    assert stored == get_system(session, "sys-1")
    assert BusinessSystem.model_validate(stored.record) == system
    assert (stored.state, stored.city, stored.version) == (SystemState.REGISTERED, "guangzhou", 1)
    assert stored.updated_at.tzinfo is UTC
    assert get_system(session, "nobody") is None


def test_re_registering_refreshes_the_record_and_keeps_the_migration(session: Session) -> None:
    seed_nodes(session, [a_node()])
    back = drive(session, a_system(), SystemState.ROLLED_BACK, node="shantou", wave=2)
    apply_cause(session, "sys-1", Register(), context=SEEDING, record=a_system())
    assert get_system(session, "sys-1") == back  # the same record: nothing to write
    apply_cause(session, "sys-1", Register(), context=SEEDING, record=a_system(vcpu=16))
    resized = get_system(session, "sys-1")
    assert resized is not None
    assert (resized.record["vcpu"], resized.state, resized.wave) == (
        16,
        SystemState.ROLLED_BACK,
        2,
    )
    assert resized.version == back.version + 1


def test_save_system_round_trips_every_field(session: Session) -> None:
    read = drive(session, a_system(), SystemState.REGISTERED)
    wanted = replace(
        read,
        state=SystemState.PROVISIONING,
        node="shantou",
        wave=3,
        phase=Phase.PROVISION,
        last_error="disk full on target",
        requested_by="alice",
    )
    later = datetime(2026, 1, 2, 4, 0, tzinfo=UTC)
    saved = save_system(session, wanted, now=later)
    assert saved == replace(wanted, version=2, updated_at=later)
    assert get_system(session, "sys-1") == saved


def test_saving_a_stale_system_is_refused(session: Session) -> None:
    read = drive(session, a_system(), SystemState.REGISTERED)
    save_system(session, replace(read, state=SystemState.QUEUED))
    with pytest.raises(StaleSystemError, match="version 1, now 2") as raised:
        save_system(session, replace(read, state=SystemState.CANCELLED))
    assert isinstance(raised.value, TemporaryError)
    assert get_system(session, "sys-1").state is SystemState.QUEUED  # type: ignore[union-attr]


def test_saving_an_unknown_system_is_a_permanent_error(session: Session) -> None:
    ghost = drive(session, a_system(), SystemState.REGISTERED)
    with pytest.raises(PermanentError, match="never registered"):
        save_system(session, replace(ghost, id="ghost"))


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["a", "b", "c", "d"]),
        ({"state": SystemState.PLACED}, ["b", "c"]),
        ({"node": "shantou"}, ["b"]),
        ({"wave": 1}, ["b", "c"]),
        ({"state": SystemState.PLACED, "node": "yunfu", "wave": 1}, ["c"]),
        ({"state": SystemState.FAILED}, []),
        ({"limit": 2}, ["a", "b"]),
    ],
    ids=["all", "by-state", "by-node", "by-wave", "all-three", "none", "limit"],
)
def test_list_systems_filters(
    session: Session, filters: dict[str, object], expected: list[str]
) -> None:
    seed_nodes(session, [a_node("shantou"), a_node("yunfu")])
    for system_id, state, node, wave in [
        ("d", SystemState.COMPLETED, "yunfu", 2),
        ("a", SystemState.REGISTERED, None, None),
        ("b", SystemState.PLACED, "shantou", 1),
        ("c", SystemState.PLACED, "yunfu", 1),
    ]:
        drive(session, a_system(system_id), state, node=node, wave=wave)
    assert [row.id for row in list_systems(session, **filters)] == expected  # type: ignore[arg-type]


def test_count_by_state_names_every_state(session: Session) -> None:
    for system_id in ("a", "b"):
        drive(session, a_system(system_id), SystemState.REGISTERED)
    counts = count_by_state(session)
    assert set(counts) == set(SystemState)
    assert counts[SystemState.REGISTERED] == 2
    assert sum(counts.values()) == 2


def test_claiming_an_event_again_finds_the_duplicate(session: Session) -> None:
    kind = "gov.cloud.system.registered"
    first, same_id_elsewhere = ("urn:cmdb", "evt-1"), ("urn:cli", "evt-1")
    assert claim_events(session, [(*first, kind)]) == {first}
    assert claim_events(session, [(*first, kind)], EventOutcome.REJECTED) == set()
    # The first outcome stands; the same id from another source is another event.
    assert claim_events(session, [(*same_id_elsewhere, kind)], EventOutcome.REJECTED) == {
        same_id_elsewhere
    }
    assert processed_outcomes(session, [first, same_id_elsewhere, ("urn:cli", "nope")]) == {
        first: EventOutcome.PROCESSED,
        same_id_elsewhere: EventOutcome.REJECTED,
    }


def test_a_duplicate_survives_a_new_transaction(store: Store) -> None:
    with store.transaction() as session:
        assert claim_events(session, [("s", "e", "t")]) == {("s", "e")}
    with store.transaction() as session:
        assert claim_events(session, [("s", "e", "t")]) == set()


def test_the_audit_appends_transitions_and_refusals_in_order(session: Session) -> None:
    inventory = CauseContext("inventory", event_source="urn:cmdb", event_id="e1", at=T0)
    drive(session, a_system(), SystemState.REGISTERED, context=inventory)
    apply_cause(session, "sys-1", RequestCancel("alice"), context=SEEDING)
    refusal = refuse(session, "sys-1", RequestRetry("alice"))
    refuse(session, "other", RequestCancel())
    rows = history(session, "sys-1")
    assert [(row.from_state, row.to_state, row.refused) for row in rows] == [
        (None, SystemState.REGISTERED, False),
        (SystemState.REGISTERED, SystemState.CANCELLED, False),
        (SystemState.CANCELLED, None, True),
    ]
    assert (rows[0].at, rows[0].event_source, rows[0].event_id) == (T0, "urn:cmdb", "e1")
    assert rows[0].actor == "inventory"
    assert (rows[-1].actor, rows[-1].cause, rows[-1].reason) == ("alice", "retry", refusal.reason)
    assert refusal.reason.startswith("cannot retry: system is cancelled")
    assert history(session, "sys-1", limit=2) == rows[1:]
    assert [row.system_id for row in history(session, "other")] == ["other"]


def test_times_must_be_timezone_aware(session: Session) -> None:
    read = drive(session, a_system(), SystemState.REGISTERED)
    with pytest.raises(ValueError, match="timezone-aware"):
        save_system(session, read, now=datetime(2026, 1, 1))


def test_seeding_inserts_missing_nodes_and_never_overwrites(session: Session) -> None:
    assert seed_nodes(session, [a_node("shantou"), a_node("yunfu")]) == ["shantou", "yunfu"]
    update_node(session, "shantou", inventories={ResourceClass.VCPU: ResourceInventory(total=50)})
    assert seed_nodes(session, [a_node("shantou"), a_node("heyuan")]) == ["heyuan"]
    usage = {node.node.node_id: node for node in node_usage(session)}
    assert list(usage) == ["heyuan", "shantou", "yunfu"]
    assert usage["shantou"].node.inventories[ResourceClass.VCPU] == ResourceInventory(total=50)
    yunfu = usage["yunfu"]
    assert yunfu.node.inventories[ResourceClass.VCPU] == ResourceInventory(100, 4, 2.0)
    assert yunfu.node.capacities == {"VCPU": 192, "MEMORY_GB": 992, "STORAGE_GB": 9_900}
    assert (yunfu.generation, yunfu.node.status, dict(yunfu.used)) == (
        0,
        NodeStatus.ONLINE,
        {"VCPU": 0, "MEMORY_GB": 0, "STORAGE_GB": 0},
    )


def test_node_usage_sums_the_allocations(session: Session) -> None:
    seed_nodes(session, [a_node("shantou"), a_node("yunfu")])
    for system_id, node in [("a", "shantou"), ("b", "shantou"), ("c", "yunfu")]:
        drive(session, a_system(system_id), SystemState.REGISTERED)
        reserve(session, system_id, node, {"VCPU": 10, "MEMORY_GB": 20, "STORAGE_GB": 30})
    shantou = get_node(session, "shantou")
    assert shantou is not None
    assert dict(shantou.used) == {"VCPU": 20, "MEMORY_GB": 40, "STORAGE_GB": 60}
    assert all(isinstance(amount, int) for amount in shantou.used.values())
    assert set(shantou.allocations) == {"a", "b"}
    assert shantou.free("VCPU") == 192 - 20
    assert [node.generation for node in node_usage(session)] == [2, 1]
    assert get_node(session, "nowhere") is None


def test_update_node_drains_and_changes_capacity_with_a_new_generation(session: Session) -> None:
    seed_nodes(session, [a_node()])
    drained = update_node(session, "shantou", status=NodeStatus.DRAINING)
    assert (drained.node.status, drained.generation) == (NodeStatus.DRAINING, 1)
    bigger = ResourceInventory(total=1000, reserved=0, allocation_ratio=1.5)
    grown = update_node(
        session,
        "shantou",
        inventories={ResourceClass.MEMORY_GB: bigger},
        status=NodeStatus.ONLINE,
        expected_generation=1,
    )
    assert grown.node.capacities[ResourceClass.MEMORY_GB] == 1500
    assert grown.node.inventories[ResourceClass.VCPU] == ResourceInventory(100, 4, 2.0)  # untouched
    assert (grown.node.status, grown.generation) == (NodeStatus.ONLINE, 2)


def test_update_node_at_a_stale_generation_is_a_conflict(session: Session) -> None:
    seed_nodes(session, [a_node()])
    update_node(session, "shantou", status=NodeStatus.DRAINING)
    with pytest.raises(GenerationConflictError, match="generation 1, not 0"):
        update_node(session, "shantou", status=NodeStatus.OFFLINE, expected_generation=0)
    assert get_node(session, "shantou").node.status is NodeStatus.DRAINING  # type: ignore[union-attr]


def test_update_of_an_unknown_node_is_a_permanent_error(session: Session) -> None:
    with pytest.raises(PermanentError, match="unknown node 'atlantis'"):
        update_node(session, "atlantis", status=NodeStatus.OFFLINE)


def test_seeding_the_real_inventory_stores_the_plan_totals(session: Session) -> None:
    nodes = load_inventory().nodes.values()
    assert len(seed_nodes(session, nodes)) == PLAN_NODES
    assert seed_nodes(session, nodes) == []  # a restart seeds nothing
    stored = node_usage(session)
    totals = {
        resource: sum(node.node.inventories[resource].total for node in stored)
        for resource in ResourceClass
    }
    assert totals == {
        ResourceClass.VCPU: PLAN_VCPU,
        ResourceClass.MEMORY_GB: PLAN_MEMORY_GB,
        ResourceClass.STORAGE_GB: PLAN_STORAGE_GB,
    }


def test_dependencies_lists_only_the_systems_that_depend_on_others(session: Session) -> None:
    drive(session, a_system("a"), SystemState.REGISTERED)
    for system_id, others in (("b", ["a"]), ("c", ["a", "b"])):
        record = {**a_system(system_id).model_dump(), "depends_on": others}
        drive(session, BusinessSystem.model_validate(record), SystemState.REGISTERED)
    assert dependencies(session) == [("b", ("a",)), ("c", ("a", "b"))]


def test_a_resize_on_the_same_node_counts_the_old_size_once(session: Session) -> None:
    # vCPU capacity (40 - 8) x 1 = 32; memory and storage are never the limit here.
    small = Node(
        id="shantou",
        city="shantou",
        capacity=NodeCapacity(vcpu=40, memory_gb=10_000, storage_gb=100_000),
        reserved=NodeCapacity(vcpu=8, memory_gb=1, storage_gb=1),
    )
    seed_nodes(session, [small])
    for system_id in ("a", "b"):
        drive(session, a_system(system_id), SystemState.REGISTERED)
    assert isinstance(reserve(session, "a", "shantou", vcpus(20)), Reserved)
    assert isinstance(reserve(session, "b", "shantou", vcpus(8)), Reserved)
    assert isinstance(reserve(session, "a", "shantou", vcpus(24)), Reserved)
    shortfall = reserve(session, "a", "shantou", vcpus(25))
    assert isinstance(shortfall, Shortfall)
    assert (shortfall.resource, shortfall.amount) == ("VCPU", 1)


def vcpus(count: int) -> dict[str, int]:
    return {"VCPU": count, "MEMORY_GB": 1, "STORAGE_GB": 1}
