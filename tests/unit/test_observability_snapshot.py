"""Reading the fleet snapshot from a real SQLite store, and the collector serving it."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from orchestrator.capacity import NodeStatus, ResourceClass, ResourceInventory
from orchestrator.engine import apply_cause
from orchestrator.inventory import load_inventory
from orchestrator.inventory.models import GB
from orchestrator.migrations import Approve, Phase, PhaseSucceeded, Reject, SystemState
from orchestrator.migrations.replication import PassKind, Rehearsal, ReplicationPass
from orchestrator.observability import FleetSnapshot, build_registry, read_snapshot
from orchestrator.store import Store, connect_platform
from orchestrator.store import replication as replication_store
from tests.fixtures.fleet import SeededFleet, seed_fleet
from tests.fixtures.seeding import SEEDING, drive_on, refuse

PLATFORM_INVENTORIES: dict[str, ResourceInventory] = {
    ResourceClass.VCPU: ResourceInventory(8_000),
    ResourceClass.MEMORY_GB: ResourceInventory(24_000),
    ResourceClass.STORAGE_GB: ResourceInventory(800_000),
}

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OLDEST_AGE = timedelta(hours=2)


@pytest.fixture
def fleet(store: Store) -> SeededFleet:
    return seed_fleet(store)


@pytest.fixture
def snapshot(store: Store, fleet: SeededFleet) -> FleetSnapshot:
    # Read two hours after the oldest moving system last changed.
    with store.session() as session:
        return read_snapshot(session, now=fleet.oldest_active_update + OLDEST_AGE)


def test_nodes_report_physical_totals_in_decimal_units(snapshot: FleetSnapshot) -> None:
    inventory = load_inventory().nodes
    assert len(snapshot.nodes) == len(inventory) == 14
    for node in snapshot.nodes:
        physical = inventory[node.node].capacity
        assert node.vcpu.capacity == physical.vcpu
        assert node.memory_bytes.capacity == physical.memory_gb * GB
        assert node.storage_bytes.capacity == physical.storage_gb * GB
        assert node.vcpu.allocatable <= node.vcpu.capacity
        assert node.online


@pytest.mark.parametrize("resource", list(ResourceClass), ids=str)
def test_allocated_is_what_the_reservations_hold(
    snapshot: FleetSnapshot, fleet: SeededFleet, resource: ResourceClass
) -> None:
    for node in snapshot.nodes:
        figures = {
            ResourceClass.VCPU: node.vcpu,
            ResourceClass.MEMORY_GB: node.memory_bytes,
            ResourceClass.STORAGE_GB: node.storage_bytes,
        }[resource]
        assert figures.allocated == fleet.allocated(resource, node.node), node.node


def test_states_waves_and_outcomes(snapshot: FleetSnapshot, fleet: SeededFleet) -> None:
    assert {k: v for k, v in snapshot.systems.items() if v} == dict(fleet.states)
    assert snapshot.systems_by_wave[("1", "completed")] == 2
    assert snapshot.systems_by_wave[("2", "failed")] == 1
    assert snapshot.systems_by_wave[("none", "placed")] == 1
    # The refused request in the audit is not an outcome.
    assert dict(snapshot.migrations) == {
        "completed": 2,
        "rolled_back": 1,
        "failed": 1,
        "cancelled": 1,
    }


def test_inflight_and_the_oldest_moving_system(snapshot: FleetSnapshot) -> None:
    assert dict(snapshot.inflight) == {("shantou", "replicate"): 1, ("zhanjiang", "preflight"): 1}
    assert snapshot.oldest_active_age_s == OLDEST_AGE.total_seconds()


def test_untracked_figures_read_zero(snapshot: FleetSnapshot) -> None:
    assert (snapshot.systems_ipv6, snapshot.platforms) == (0, ())


def test_the_collector_reads_the_store_at_every_scrape(store: Store, fleet: SeededFleet) -> None:
    registry = build_registry(store, process=False, clock=lambda: NOW).registry
    assert registry.get_sample_value("govcloud_store_up") == 1
    completed = {"state": "completed"}
    assert registry.get_sample_value("govcloud_systems", completed) == 2
    placed = next(
        s for s, p in zip(fleet.systems, fleet.placements, strict=True) if p.state == "placed"
    )
    with store.transaction() as session:
        drive_on(session, placed.id, SystemState.COMPLETED)
    assert registry.get_sample_value("govcloud_systems", completed) == 3


@pytest.mark.parametrize(
    "connected",
    [(), ("guangzhou",), ("guangzhou", "shenzhen", "jiangmen")],
    ids=["none", "one", "three"],
)
def test_the_collector_counts_the_platforms_the_store_holds_connected(
    store: Store, connected: tuple[str, ...]
) -> None:
    inventory = load_inventory()
    # The file's flag says all 7: it is not what counts, the stored connect events are.
    flagged = {
        key: p.model_copy(update={"connected": True}) for key, p in inventory.platforms.items()
    }
    registry = build_registry(
        store, process=False, clock=lambda: NOW, inventory=replace(inventory, platforms=flagged)
    ).registry
    with store.transaction() as session:
        for platform_id in connected:
            connect_platform(
                session,
                platform_id,
                city=platform_id,
                status=NodeStatus.ONLINE,
                inventories=PLATFORM_INVENTORIES,
                hosts=None,
            )
    assert registry.get_sample_value("govcloud_prd_platforms_connected") == len(connected)
    for platform_id in inventory.platforms:
        where = {"platform": platform_id}
        expected = 1 if platform_id in connected else 0
        assert registry.get_sample_value("govcloud_platform_connected", where) == expected
    if connected:
        where = {"platform": connected[0]}
        assert registry.get_sample_value("govcloud_platform_vcpu_capacity", where) == 8_000
        assert (
            registry.get_sample_value("govcloud_node_vcpu_capacity", {"node": connected[0]}) is None
        )


def test_the_shipped_inventory_records_no_platform_connected_yet(store: Store) -> None:
    inventory = load_inventory()
    registry = build_registry(store, process=False, inventory=inventory).registry
    assert registry.get_sample_value("govcloud_prd_platforms_connected") == 0
    assert len(inventory.platforms) == 7


def test_an_unreadable_store_still_serves_the_rest(
    store: Store, fleet: SeededFleet, caplog: pytest.LogCaptureFixture
) -> None:
    telemetry = build_registry(store, process=False, clock=lambda: NOW)
    telemetry.observer.after_dead_letter("schema")
    with store.transaction() as session:
        session.execute(text("DROP TABLE transitions"))
    with caplog.at_level(logging.ERROR, logger="orchestrator.observability"):
        registry = telemetry.registry
        assert registry.get_sample_value("govcloud_store_up") == 0
    assert registry.get_sample_value("govcloud_plan_target_systems") == 500
    assert registry.get_sample_value("govcloud_dead_letters_total", {"reason": "schema"}) == 1
    assert registry.get_sample_value("govcloud_systems", {"state": "completed"}) is None
    assert "could not read the state store" in caplog.text


def test_warm_figures_rehearsals_reverts_and_the_stalest_ready_replica(
    store: Store, fleet: SeededFleet
) -> None:
    placed = next(
        s for s, p in zip(fleet.systems, fleet.placements, strict=True) if p.state == "placed"
    )
    completed = [
        s for s, p in zip(fleet.systems, fleet.placements, strict=True) if p.state == "completed"
    ]
    with store.transaction() as session:
        drive_on(session, placed.id, SystemState.READY)
        replication_store.add_pass(session, placed.id, ReplicationPass(PassKind.DELTA, 10, 0.1))
        replication_store.add_rehearsal(session, placed.id, Rehearsal(False, "no answer"))
        replication_store.add_rehearsal(session, placed.id, Rehearsal(True, "passed", "x", 1.0))
        replication_store.add_rehearsal(session, placed.id, Rehearsal(True, "passed", "x", 0.9))
        drive_on(session, completed[0].id, SystemState.REVERTING)
        apply_cause(session, completed[0].id, PhaseSucceeded(Phase.REVERT), context=SEEDING)
        drive_on(session, completed[1].id, SystemState.FINALIZED)
    later = datetime.now(UTC) + timedelta(minutes=5)
    with store.session() as session:
        snapshot = read_snapshot(session, now=later)
    assert dict(snapshot.rehearsals) == {"passed": 2, "failed": 1}
    assert dict(snapshot.reverts) == {"reverted": 1}
    assert snapshot.migrations["finalized"] == 1
    assert snapshot.oldest_ready_replica_age_s == pytest.approx(300, abs=60)
    registry = build_registry(store, process=False, clock=lambda: later).registry
    assert registry.get_sample_value("govcloud_rehearsals_total", {"result": "failed"}) == 1
    assert registry.get_sample_value("govcloud_reverts_total", {"result": "reverted"}) == 1
    assert registry.get_sample_value("govcloud_reverts_total", {"result": "failed"}) == 0
    age = registry.get_sample_value("govcloud_oldest_ready_replica_age_seconds")
    assert age == pytest.approx(300, abs=60)


def test_approvals_granted_refused_and_withdrawn_are_counted_from_the_store(
    store: Store, fleet: SeededFleet
) -> None:
    placed = next(
        s for s, p in zip(fleet.systems, fleet.placements, strict=True) if p.state == "placed"
    )
    requester = Approve("CHG-1", "alice", migration_requested_by="alice")
    with store.transaction() as session:
        for approver in ("bob", "carol"):
            apply_cause(session, placed.id, Approve("CHG-1", approver), context=SEEDING)
        refuse(session, placed.id, requester)
        apply_cause(session, placed.id, Reject("CHG-2", "dave"), context=SEEDING)
        apply_cause(session, placed.id, Approve("CHG-3", "erin"), context=SEEDING)
    with store.session() as session:
        snapshot = read_snapshot(session, now=datetime.now(UTC))
    assert dict(snapshot.approvals) == {"granted": 3, "refused": 1, "withdrawn": 2}
    registry = build_registry(store, process=False).registry
    assert registry.get_sample_value("govcloud_approvals_total", {"outcome": "granted"}) == 3
    assert registry.get_sample_value("govcloud_approvals_total", {"outcome": "refused"}) == 1
    assert registry.get_sample_value("govcloud_approvals_total", {"outcome": "withdrawn"}) == 2
