"""Capacity arithmetic of the ledger: Placement-style inventories, checks, allocate and release."""

from __future__ import annotations

import pytest

from orchestrator.capacity import (
    AllocationConflictError,
    CapacityShortfall,
    InsufficientCapacityError,
    NodeState,
    NodeStatus,
    NodeUsage,
    ResourceClass,
    ResourceInventory,
    Resources,
    ShortfallKind,
    allocate,
    capacity,
    check_allocation,
    deallocate,
    empty_usage,
    node_state,
    update_node,
)
from orchestrator.errors import InventoryError, PermanentError
from orchestrator.inventory.models import Node, NodeCapacity

R = ResourceClass


def usage_of(
    vcpu: ResourceInventory | None = None,
    memory: ResourceInventory | None = None,
    storage: ResourceInventory | None = None,
    *,
    status: NodeStatus = NodeStatus.ONLINE,
    used: tuple[int, int, int] = (0, 0, 0),
) -> NodeUsage:
    """Node ``shaoguan``: 64 vCPU, 256 GB, 10,000 GB unless told otherwise, with ``used`` taken."""
    inventories: dict[str, ResourceInventory] = {
        R.VCPU: vcpu or ResourceInventory(64),
        R.MEMORY_GB: memory or ResourceInventory(256),
        R.STORAGE_GB: storage or ResourceInventory(10_000),
    }
    node = NodeState("shaoguan", "shaoguan", inventories, status)
    taken = Resources(*used).amounts()
    allocations = {"earlier": taken} if any(used) else {}
    return NodeUsage(node, taken if any(used) else {}, allocations, generation=7)


@pytest.mark.parametrize(
    ("inventory", "expected"),
    [
        (ResourceInventory(100), 100),
        (ResourceInventory(100, reserved=10), 90),
        (ResourceInventory(100, reserved=10, allocation_ratio=1.5), 135),
        (ResourceInventory(16, allocation_ratio=16.0), 256),
        (ResourceInventory(3, allocation_ratio=0.5), 1),  # 1.5 floors to 1
        (ResourceInventory(1000, reserved=1, allocation_ratio=1.1), 1098),  # 1098.9 floors to 1098
        (ResourceInventory(10, allocation_ratio=0.7), 7),  # 0.7 as a binary float is 0.6999...
        (ResourceInventory(10, reserved=10), 0),
    ],
    ids=["plain", "reserved", "ratio", "cpu-overcommit", "floor", "reserved-ratio-floor",
         "decimal-ratio", "all-reserved"],
)  # fmt: skip
def test_capacity_is_floor_of_total_minus_reserved_times_ratio(
    inventory: ResourceInventory, expected: int
) -> None:
    assert capacity(inventory) == expected


@pytest.mark.parametrize(
    "fields",
    [
        {"total": 10, "reserved": 11},
        {"total": 10, "reserved": -1},
        {"total": 10, "allocation_ratio": 0.0},
        {"total": 10, "allocation_ratio": float("nan")},
        {"total": 10, "min_unit": 0},
        {"total": 10, "min_unit": 5, "max_unit": 4},
        {"total": 10, "step_size": 0},
    ],
    ids=["reserved-over-total", "negative-reserved", "zero-ratio", "nan-ratio", "zero-min",
         "max-below-min", "zero-step"],
)  # fmt: skip
def test_nonsense_inventories_are_rejected(fields: dict[str, int | float]) -> None:
    with pytest.raises(ValueError):
        ResourceInventory(**fields)  # type: ignore[arg-type]


def test_max_unit_defaults_to_total() -> None:
    assert ResourceInventory(500).upper_unit == 500
    assert ResourceInventory(500, max_unit=64).upper_unit == 64


@pytest.mark.parametrize(
    ("usage", "request_", "kind", "message"),
    [
        (
            usage_of(used=(0, 0, 9_000)),
            Resources(4, 16, 2_200).amounts(),
            ShortfallKind.INSUFFICIENT,
            "node shaoguan lacks storage by 1,200 GB",
        ),
        (
            usage_of(used=(60, 0, 0)),
            Resources(8, 16, 100).amounts(),
            ShortfallKind.INSUFFICIENT,
            "node shaoguan lacks vCPU by 4",
        ),
        (
            usage_of(
                memory=ResourceInventory(256, reserved=56, allocation_ratio=1.5), used=(0, 100, 0)
            ),
            Resources(4, 201, 100).amounts(),
            ShortfallKind.INSUFFICIENT,
            "node shaoguan lacks memory by 1 GB",
        ),
        (
            usage_of(memory=ResourceInventory(256, allocation_ratio=1.5)),
            Resources(4, 300, 100).amounts(),
            ShortfallKind.ABOVE_MAX_UNIT,
            "node shaoguan: memory 300 GB is above the maximum unit of 256 GB",
        ),
        (
            usage_of(storage=ResourceInventory(10_000, step_size=100)),
            Resources(4, 16, 150).amounts(),
            ShortfallKind.NOT_A_STEP,
            "node shaoguan: storage 150 GB is not a multiple of the step size 100 GB",
        ),
        (
            usage_of(memory=ResourceInventory(256, min_unit=8)),
            Resources(4, 4, 100).amounts(),
            ShortfallKind.BELOW_MIN_UNIT,
            "node shaoguan: memory 4 GB is below the minimum unit of 8 GB",
        ),
        (
            usage_of(vcpu=ResourceInventory(64, max_unit=16)),
            Resources(32, 16, 100).amounts(),
            ShortfallKind.ABOVE_MAX_UNIT,
            "node shaoguan: vCPU 32 is above the maximum unit of 16",
        ),
        (
            usage_of(status=NodeStatus.DRAINING),
            Resources(1, 1, 1).amounts(),
            ShortfallKind.NOT_ONLINE,
            "node shaoguan is draining",
        ),
        (
            usage_of(status=NodeStatus.OFFLINE),
            Resources(1, 1, 1).amounts(),
            ShortfallKind.NOT_ONLINE,
            "node shaoguan is offline",
        ),
        (
            usage_of(),
            {"GPU": 1},
            ShortfallKind.UNKNOWN_RESOURCE,
            "node shaoguan has no GPU inventory",
        ),
    ],
    ids=["too-big-storage", "too-big-vcpu", "reserved-and-ratio", "max-unit-is-total",
         "not-a-step", "below-min", "over-max", "draining", "offline", "unknown-resource"],
)  # fmt: skip
def test_each_refusal_names_node_resource_and_amount(
    usage: NodeUsage, request_: dict[str, int], kind: ShortfallKind, message: str
) -> None:
    shortfall = check_allocation(usage, request_)
    assert isinstance(shortfall, CapacityShortfall)
    assert shortfall.kind is kind
    assert shortfall.message == message == str(shortfall)
    with pytest.raises(InsufficientCapacityError, match=message) as raised:
        allocate(usage, "newcomer", request_)
    assert raised.value.shortfall == shortfall


def test_a_request_that_exactly_fills_the_node_fits() -> None:
    usage = usage_of(
        memory=ResourceInventory(256, reserved=56, allocation_ratio=1.5), used=(60, 100, 0)
    )
    assert check_allocation(usage, Resources(4, 200, 10_000).amounts()) is None


def test_allocation_is_all_or_nothing() -> None:
    usage = usage_of(used=(0, 0, 9_000))
    with pytest.raises(InsufficientCapacityError):
        allocate(usage, "web", Resources(8, 32, 2_000).amounts())  # vCPU and memory would fit
    assert dict(usage.used) == Resources(0, 0, 9_000).amounts()
    assert usage.generation == 7
    assert "web" not in usage.allocations


def test_allocate_returns_a_new_usage_with_the_next_generation() -> None:
    before = usage_of(used=(4, 8, 100))
    after = allocate(before, "web", Resources(8, 32, 500).amounts())
    assert dict(after.used) == Resources(12, 40, 600).amounts()
    assert dict(after.allocations["web"]) == Resources(8, 32, 500).amounts()
    assert after.generation == before.generation + 1
    assert dict(before.used) == Resources(4, 8, 100).amounts()  # the old value is untouched
    assert after.free(R.VCPU) == 52
    assert after.utilisation(R.STORAGE_GB) == pytest.approx(0.06)


def test_allocating_again_is_idempotent_but_a_different_amount_conflicts() -> None:
    once = allocate(usage_of(), "web", Resources(8, 32, 500).amounts())
    assert allocate(once, "web", Resources(8, 32, 500).amounts()) is once
    with pytest.raises(AllocationConflictError, match="web already holds 8 vCPU, 32 GB memory"):
        allocate(once, "web", Resources(16, 32, 500).amounts())


def test_release_gives_capacity_back_and_is_idempotent() -> None:
    held = allocate(usage_of(used=(4, 8, 100)), "web", Resources(8, 32, 500).amounts())
    released = deallocate(held, "web")
    assert dict(released.used) == Resources(4, 8, 100).amounts()
    assert "web" not in released.allocations
    assert released.generation == held.generation + 1
    assert deallocate(released, "web") is released


@pytest.mark.parametrize("status", [NodeStatus.DRAINING, NodeStatus.OFFLINE], ids=str)
def test_draining_or_offline_refuses_new_work_but_keeps_existing(status: NodeStatus) -> None:
    held = allocate(usage_of(), "web", Resources(8, 32, 500).amounts())
    drained = update_node(held, NodeState("shaoguan", "shaoguan", held.node.inventories, status))
    assert drained.allocations == held.allocations
    assert drained.generation == held.generation + 1
    assert check_allocation(drained, Resources(1, 1, 1).amounts()) is not None
    assert deallocate(drained, "web").used[R.VCPU] == 0


def test_a_capacity_cut_below_use_evicts_nobody_and_admits_nobody() -> None:
    held = allocate(usage_of(), "web", Resources(48, 32, 500).amounts())
    smaller = dict(held.node.inventories) | {R.VCPU: ResourceInventory(32)}
    cut = update_node(held, NodeState("shaoguan", "shaoguan", smaller))
    assert "web" in cut.allocations
    assert cut.free(R.VCPU) == -16
    shortfall = check_allocation(cut, Resources(1, 1, 1).amounts())
    assert shortfall is not None
    assert shortfall.message == "node shaoguan lacks vCPU by 17"


def test_update_node_refuses_another_node() -> None:
    other = NodeState("heyuan", "heyuan", usage_of().node.inventories)
    with pytest.raises(PermanentError, match="node heyuan cannot replace node shaoguan"):
        update_node(usage_of(), other)


def test_node_state_from_the_inventory_model() -> None:
    node = Node(
        id="shaoguan",
        city="shaoguan",
        capacity=NodeCapacity(vcpu=7_000, memory_gb=20_000, storage_gb=700_000),
        reserved=NodeCapacity(vcpu=200, memory_gb=1_000, storage_gb=50_000),
        allocation_ratio_vcpu=4.0,
        allocation_ratio_memory=1.2,
    )
    state = node_state(node, NodeStatus.DRAINING)
    assert state.status is NodeStatus.DRAINING
    assert dict(state.capacities) == {
        R.VCPU: 27_200,
        R.MEMORY_GB: 22_800,
        R.STORAGE_GB: 650_000,
    }
    plain = node_state(node.model_copy(update={"reserved": None}))
    assert plain.capacities[R.STORAGE_GB] == 700_000
    assert empty_usage(plain).generation == 0


def test_node_state_names_the_node_when_its_numbers_are_wrong() -> None:
    node = Node(
        id="heyuan",
        city="heyuan",
        capacity=NodeCapacity(vcpu=10, memory_gb=10, storage_gb=10),
        reserved=NodeCapacity(vcpu=20, memory_gb=1, storage_gb=1),
    )
    with pytest.raises(InventoryError, match="node heyuan: need 0 <= reserved <= total"):
        node_state(node)
