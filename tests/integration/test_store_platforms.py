"""Connected PRD platforms in the store, on SQLite and PostgreSQL: their own ledger rows, the
same compare-and-swap as a node's, and a disconnect that never drops what a system holds."""

from __future__ import annotations

import pytest

from orchestrator.capacity import NodeKind, NodeStatus, ResourceClass, ResourceInventory
from orchestrator.errors import PermanentError
from orchestrator.inventory import load_inventory
from orchestrator.inventory.plan import PLAN_VCPU
from orchestrator.migrations.states import SystemState
from orchestrator.store import (
    PlatformTarget,
    Reserved,
    Session,
    Store,
    connect_platform,
    delete_platform,
    get_node,
    node_usage,
    platform_targets,
    release_allocation,
    reserve,
    seed_nodes,
    update_node,
)
from tests.fixtures.seeding import drive
from tests.fixtures.store import ON_BOTH, losing_swaps
from tests.fixtures.systems import business_system

pytestmark = ON_BOTH
INVENTORIES: dict[str, ResourceInventory] = {
    ResourceClass.VCPU: ResourceInventory(100),
    ResourceClass.MEMORY_GB: ResourceInventory(1_000),
    ResourceClass.STORAGE_GB: ResourceInventory(10_000),
}
AMOUNT = {"VCPU": 10, "MEMORY_GB": 20, "STORAGE_GB": 30}


def connect(session: Session, *, hosts: tuple[str, ...] | None = None) -> None:
    connect_platform(session, "guangzhou", city="guangzhou", status=None,
                     inventories=INVENTORIES, hosts=hosts)  # fmt: skip


@pytest.fixture
def seeded(store: Store) -> Store:
    with store.transaction() as session:
        seed_nodes(session, load_inventory().nodes.values())
        connect(session, hosts=("gz-1",))
        drive(session, business_system("gz-a", "guangzhou"), SystemState.REGISTERED)
    return store


def test_a_platform_is_a_row_of_its_own_kind_never_among_the_nodes(seeded: Store) -> None:
    with seeded.session() as session:
        nodes = node_usage(session)
        platforms = node_usage(session, NodeKind.PLATFORM)
        both = node_usage(session, kind=None)
        hosts = platform_targets(session)
    assert len(nodes) == 14
    assert sum(u.node.inventories[ResourceClass.VCPU].total for u in nodes) == PLAN_VCPU
    assert [u.node.node_id for u in platforms] == ["guangzhou"]
    assert (platforms[0].node.kind, platforms[0].node.status) == (
        NodeKind.PLATFORM,
        NodeStatus.ONLINE,
    )
    assert len(both) == 15
    assert hosts == {"guangzhou": PlatformTarget(("gz-1",), None)}


def test_reservations_on_a_platform_move_its_generation_by_compare_and_swap(
    seeded: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    losing_swaps(monkeypatch, 2)
    with seeded.transaction() as session:
        reserved = reserve(session, "gz-a", "guangzhou", AMOUNT)
    assert isinstance(reserved, Reserved)
    assert reserved.generation == 1
    with seeded.session() as session:
        platform = get_node(session, "guangzhou")
    assert platform is not None
    assert list(platform.allocations) == ["gz-a"]


def test_a_platform_holding_a_system_is_never_deleted(seeded: Store) -> None:
    with seeded.transaction() as session:
        reserve(session, "gz-a", "guangzhou", AMOUNT)
        held = get_node(session, "guangzhou")
        assert held is not None
        assert not delete_platform(session, "guangzhou", expected_generation=held.generation)
    with seeded.transaction() as session:
        release_allocation(session, "gz-a")
        free = get_node(session, "guangzhou")
        assert free is not None
        assert not delete_platform(session, "guangzhou", expected_generation=free.generation - 1)
        assert delete_platform(session, "guangzhou", expected_generation=free.generation)
    with seeded.session() as session:
        assert get_node(session, "guangzhou") is None
        assert node_usage(session, NodeKind.PLATFORM) == []


def test_a_reconnect_changes_the_row_and_keeps_its_pool_unless_given(seeded: Store) -> None:
    with seeded.transaction() as session:
        update_node(session, "guangzhou", status=NodeStatus.DRAINING)
        connect(session)
    with seeded.session() as session:
        platform = get_node(session, "guangzhou")
        assert platform_targets(session) == {"guangzhou": PlatformTarget(("gz-1",), None)}
    assert platform is not None
    assert (platform.node.status, platform.generation) == (NodeStatus.DRAINING, 2)


def test_a_city_node_is_never_rewritten_as_a_platform(seeded: Store) -> None:
    with seeded.transaction() as session, pytest.raises(PermanentError, match="city node"):
        connect_platform(session, "shantou", city="shantou", status=None,
                         inventories=INVENTORIES, hosts=None)  # fmt: skip
