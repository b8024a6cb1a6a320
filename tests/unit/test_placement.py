"""Placement: own-city affinity, spread vs pack, groups, explicit targets, waves and the plan."""

from __future__ import annotations

import random

import pytest

from orchestrator.capacity import (
    NodeState,
    NodeStatus,
    NodeUsage,
    Placement,
    PlacementPolicy,
    PlacementStrategy,
    ResourceClass,
    ResourceInventory,
    Resources,
    SystemRequest,
    Unplaceable,
    assign_waves,
    dependency_groups,
    place_system,
)
from orchestrator.capacity.planning import plan_placements
from orchestrator.errors import PermanentError
from orchestrator.inventory.models import BusinessSystem, SourceLocation

R = ResourceClass
SPREAD = PlacementPolicy(PlacementStrategy.SPREAD)
PACK = PlacementPolicy(PlacementStrategy.PACK)
POLICIES = [SPREAD, PACK]


def node(
    node_id: str,
    *,
    used: tuple[int, int, int] = (0, 0, 0),
    status: NodeStatus = NodeStatus.ONLINE,
    vcpu: int = 100,
) -> NodeUsage:
    """A node in the city of its name: ``vcpu`` vCPU, 400 GB memory, 10,000 GB storage."""
    inventories: dict[str, ResourceInventory] = {
        R.VCPU: ResourceInventory(vcpu),
        R.MEMORY_GB: ResourceInventory(400),
        R.STORAGE_GB: ResourceInventory(10_000),
    }
    taken = Resources(*used).amounts() if any(used) else {}
    return NodeUsage(NodeState(node_id, node_id, inventories, status), taken)


def fleet(*usages: NodeUsage) -> dict[str, NodeUsage]:
    return {usage.node.node_id: usage for usage in usages}


def system(
    system_id: str,
    city: str,
    vcpu: int = 4,
    memory_gb: int = 16,
    storage_gb: int = 100,
    depends_on: tuple[str, ...] = (),
) -> SystemRequest:
    return SystemRequest(system_id, city, Resources(vcpu, memory_gb, storage_gb), depends_on)


def placed_on(outcome: Placement | Unplaceable) -> str:
    assert isinstance(outcome, Placement), outcome
    return outcome.node_id


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.strategy)
def test_a_system_goes_to_its_own_city_node_when_it_fits(policy: PlacementPolicy) -> None:
    nodes = fleet(
        node("heyuan", used=(50, 200, 5_000)),
        node("meizhou", used=(90, 360, 9_000)),
        node("shaoguan"),
    )
    outcome = place_system(system("tax", "heyuan"), nodes, policy)
    assert outcome == Placement("tax", "heyuan", "own city node")


def test_when_the_own_city_node_is_full_spread_and_pack_choose_differently() -> None:
    nodes = fleet(
        node("heyuan", used=(100, 400, 10_000)),
        node("meizhou", used=(10, 40, 1_000)),
        node("shaoguan", used=(60, 240, 6_000)),
    )
    spread = place_system(system("tax", "heyuan"), nodes, SPREAD)
    pack = place_system(system("tax", "heyuan"), nodes, PACK)
    assert spread == Placement("tax", "meizhou", "spread: best fit")
    assert pack == Placement("tax", "shaoguan", "pack: best fit")


def test_a_city_without_a_node_goes_to_the_best_fit() -> None:
    nodes = fleet(node("heyuan", used=(30, 0, 0)), node("meizhou", used=(20, 0, 0)))
    assert placed_on(place_system(system("port", "guangzhou"), nodes, SPREAD)) == "meizhou"
    assert placed_on(place_system(system("port", "guangzhou"), nodes, PACK)) == "heyuan"


@pytest.mark.parametrize(
    ("weights", "expected"),
    [({R.VCPU: 1.0}, "meizhou"), ({R.STORAGE_GB: 1.0}, "shaoguan")],
    ids=["weigh-vcpu", "weigh-storage"],
)
def test_weights_decide_which_resource_counts(weights: dict[str, float], expected: str) -> None:
    nodes = fleet(
        node("meizhou", used=(10, 0, 8_000)),
        node("shaoguan", used=(80, 0, 1_000)),
    )
    policy = PlacementPolicy(PlacementStrategy.SPREAD, weights)
    assert placed_on(place_system(system("port", "guangzhou"), nodes, policy)) == expected


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.strategy)
def test_ties_go_to_the_smallest_node_id_whatever_the_order(policy: PlacementPolicy) -> None:
    usages = [node("shaoguan"), node("heyuan"), node("meizhou")]
    for order in (usages, usages[::-1]):
        assert placed_on(place_system(system("port", "guangzhou"), fleet(*order), policy)) == (
            "heyuan"
        )


@pytest.mark.parametrize("status", [NodeStatus.DRAINING, NodeStatus.OFFLINE], ids=str)
def test_a_draining_or_offline_node_is_skipped(status: NodeStatus) -> None:
    nodes = fleet(node("heyuan", status=status), node("meizhou"))
    assert place_system(system("tax", "heyuan"), nodes, SPREAD) == Placement(
        "tax", "meizhou", "spread: best fit"
    )


def test_an_explicit_target_is_honoured_over_the_own_city_node() -> None:
    nodes = fleet(node("heyuan"), node("meizhou", used=(90, 0, 0)))
    outcome = place_system(system("tax", "heyuan"), nodes, SPREAD, target="meizhou")
    assert outcome == Placement("tax", "meizhou", "explicit target")


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("shaoguan", "node shaoguan lacks storage by 1,200 GB"),
        ("meizhou", "node meizhou is draining"),
        ("nowhere", "unknown node nowhere (known: heyuan, meizhou, shaoguan)"),
    ],
    ids=["shortfall", "draining", "unknown"],
)
def test_an_explicit_target_is_refused_with_the_reason(target: str, reason: str) -> None:
    nodes = fleet(
        node("heyuan"),
        node("meizhou", status=NodeStatus.DRAINING),
        node("shaoguan", used=(0, 0, 9_000)),
    )
    outcome = place_system(system("tax", "heyuan", storage_gb=2_200), nodes, SPREAD, target=target)
    assert outcome == Unplaceable("tax", reason)


@pytest.mark.parametrize(
    ("city", "reason"),
    [
        (
            "heyuan",
            "no node fits 4 vCPU, 16 GB memory, 500 GB storage; "
            "node heyuan lacks storage by 400 GB",
        ),
        (
            "guangzhou",
            "no node fits 4 vCPU, 16 GB memory, 500 GB storage; "
            "none of the 2 nodes has room or is online",
        ),
    ],
    ids=["own-city-full", "no-own-node"],
)
def test_when_nothing_fits_the_reason_says_what_is_short(city: str, reason: str) -> None:
    nodes = fleet(node("heyuan", used=(0, 0, 9_900)), node("meizhou", status=NodeStatus.OFFLINE))
    outcome = place_system(system("tax", city, storage_gb=500), nodes, SPREAD)
    assert outcome == Unplaceable("tax", reason)


def test_a_dependency_group_is_co_located_on_one_node() -> None:
    systems = [
        system("portal", "heyuan", depends_on=("auth",)),
        system("auth", "shaoguan", depends_on=("db",)),
        system("db", "guangzhou"),
        system("lone", "shaoguan"),
    ]
    plan = plan_placements(systems, fleet(node("heyuan"), node("shaoguan")), SPREAD)
    assert {name: placed_on(plan.outcomes[name]) for name in ("portal", "auth", "db")} == {
        "portal": "heyuan",
        "auth": "heyuan",
        "db": "heyuan",
    }
    assert plan.outcomes["db"] == Placement(
        "db", "heyuan", "own city node, with its dependency group of 3"
    )
    assert placed_on(plan.outcomes["lone"]) == "shaoguan"
    assert plan.split_groups == ()


def test_a_group_too_big_for_any_node_is_split_and_reported() -> None:
    systems = [
        system("a", "guangzhou", vcpu=40, depends_on=("b",)),
        system("b", "guangzhou", vcpu=40, depends_on=("c",)),
        system("c", "guangzhou", vcpu=40),
    ]
    plan = plan_placements(systems, fleet(node("heyuan"), node("meizhou")), SPREAD)
    nodes = {name: placed_on(plan.outcomes[name]) for name in ("a", "b", "c")}
    # Members still prefer the node their group already uses, so only the last one moves away.
    assert nodes == {"a": "heyuan", "b": "heyuan", "c": "meizhou"}
    assert plan.split_groups == (("a", "b", "c"),)
    assert plan.outcomes["b"] == Placement(
        "b",
        "heyuan",
        "co-located with its dependency group (group of 3 split: no node fits it whole)",
    )


def test_a_targeted_member_pulls_its_group_to_the_target() -> None:
    systems = [system("portal", "heyuan", depends_on=("auth",)), system("auth", "heyuan")]
    nodes = fleet(node("heyuan"), node("meizhou"))
    plan = plan_placements(systems, nodes, SPREAD, targets={"auth": "meizhou"})
    assert plan.outcomes["auth"] == Placement("auth", "meizhou", "explicit target")
    assert plan.outcomes["portal"] == Placement(
        "portal", "meizhou", "co-located with its dependency group"
    )


def test_the_plan_uses_up_a_local_copy_of_the_capacity() -> None:
    nodes = fleet(node("heyuan", vcpu=10))
    systems = [system(name, "heyuan") for name in ("a", "b", "c")]
    plan = plan_placements(systems, nodes, SPREAD)
    assert [placed_on(plan.outcomes[name]) for name in ("a", "b")] == ["heyuan", "heyuan"]
    assert plan.outcomes["c"] == Unplaceable(
        "c", "no node fits 4 vCPU, 16 GB memory, 100 GB storage; node heyuan lacks vCPU by 2"
    )
    assert dict(plan.usage["heyuan"].used) == Resources(8, 32, 200).amounts()
    assert set(plan.usage["heyuan"].allocations) == {"a", "b"}
    assert plan.usage["heyuan"].generation == 2
    assert nodes["heyuan"].used == {}
    assert nodes["heyuan"].generation == 0
    assert [p.system_id for p in plan.placements] == ["a", "b"]
    assert [u.system_id for u in plan.unplaceable] == ["c"]


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.strategy)
def test_the_same_input_gives_the_same_plan(policy: PlacementPolicy) -> None:
    rng = random.Random(7)
    cities = ["heyuan", "meizhou", "shaoguan", "guangzhou", "shenzhen"]
    systems = [
        system(f"s{i}", rng.choice(cities), rng.choice([2, 4, 8]), 16, rng.choice([100, 900]),
               (f"s{i - 1}",) if i % 3 else ())
        for i in range(120)
    ]  # fmt: skip
    usages = [node("heyuan"), node("meizhou", used=(20, 0, 0)), node("shaoguan")]
    first = plan_placements(systems, fleet(*usages), policy)
    again = plan_placements(systems, fleet(*usages[::-1]), policy)
    assert first.outcomes == again.outcomes
    assert first.split_groups == again.split_groups
    assert list(first.outcomes) == [s.id for s in systems]
    assert first.unplaceable  # the nodes run out, so both runs had to refuse the same ones


def test_a_system_listed_twice_is_an_error() -> None:
    with pytest.raises(PermanentError, match="more than once in the plan: a"):
        plan_placements([system("a", "heyuan"), system("a", "heyuan")], {}, SPREAD)


def test_a_request_is_built_from_the_inventory_record() -> None:
    record = BusinessSystem(
        id="tax-portal",
        name="Tax portal",
        city="heyuan",
        department="Tax bureau",
        vcpu=8,
        memory_gb=32,
        storage_gb=500,
        source=SourceLocation(city="heyuan", site="old DC", host="10.0.0.5"),
        depends_on=("tax-db",),
    )
    request = SystemRequest.from_model(record)
    assert request == SystemRequest("tax-portal", "heyuan", Resources(8, 32, 500), ("tax-db",))
    assert request.amounts == {R.VCPU: 8, R.MEMORY_GB: 32, R.STORAGE_GB: 500}


def test_weights_must_count_for_something() -> None:
    with pytest.raises(ValueError):
        PlacementPolicy(PlacementStrategy.PACK, {R.VCPU: 0.0})
    with pytest.raises(ValueError):
        PlacementPolicy(PlacementStrategy.PACK, {R.VCPU: -1.0, R.STORAGE_GB: 2.0})


DEPS = [
    system("a", "heyuan", depends_on=("b",)),
    system("b", "heyuan"),
    system("c", "heyuan", depends_on=("gone",)),  # depends on a system outside the set
    system("d", "heyuan", depends_on=("e",)),
    system("e", "heyuan"),
    system("f", "heyuan", depends_on=("a", "d")),
    system("g", "heyuan"),
]


def test_dependency_groups_are_connected_components_in_input_order() -> None:
    assert dependency_groups(DEPS) == (("a", "b", "d", "e", "f"), ("c",), ("g",))
    assert dependency_groups(DEPS[:3]) == (("a", "b"), ("c",))


@pytest.mark.parametrize(
    ("systems", "size", "waves"),
    [
        (DEPS[:3], 2, (("a", "b"), ("c",))),
        (DEPS[:3], 3, (("a", "b", "c"),)),
        (DEPS, 2, (("a", "b", "d", "e", "f"), ("c", "g"))),
        (DEPS[1:3], 1, (("b",), ("c",))),
        ([], 5, ()),
    ],
    ids=["pairs", "all-in-one", "big-group-alone", "singles", "empty"],
)
def test_waves_keep_each_group_whole(
    systems: list[SystemRequest], size: int, waves: tuple[tuple[str, ...], ...]
) -> None:
    assert assign_waves(systems, max_wave_size=size) == waves


def test_a_wave_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        assign_waves(DEPS, max_wave_size=0)
