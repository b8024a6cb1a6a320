"""``place_group``: the one dependency-group rule ``govmig plan`` and the engine share."""

from __future__ import annotations

import pytest

from orchestrator.capacity import (
    NodeState,
    NodeUsage,
    Placement,
    PlacementOutcome,
    PlacementPolicy,
    ResourceClass,
    ResourceInventory,
    Resources,
    SystemRequest,
    Unplaceable,
    empty_usage,
    group_nodes,
    place_group,
)

R = ResourceClass
SPREAD = PlacementPolicy()


def node(node_id: str, vcpu: int) -> NodeUsage:
    """A node in the city of its name with ``vcpu`` vCPU and plenty of the rest."""
    inventories: dict[str, ResourceInventory] = {
        R.VCPU: ResourceInventory(vcpu),
        R.MEMORY_GB: ResourceInventory(10_000),
        R.STORAGE_GB: ResourceInventory(100_000),
    }
    return empty_usage(NodeState(node_id, node_id, inventories))


def member(system_id: str, city: str, vcpu: int) -> SystemRequest:
    return SystemRequest(system_id, city, Resources(vcpu, 8, 100))


def nodes_of(outcomes: list[PlacementOutcome]) -> list[str | None]:
    return [o.node_id if isinstance(o, Placement) else None for o in outcomes]


# Each case: nodes (id -> vCPU), members (id, city, vCPU), placed members (id -> node),
# and the node each member gets (None: unplaceable).
CASES = [
    pytest.param(
        {"heyuan": 20, "meizhou": 100},
        [("a", "heyuan", 16), ("b", "heyuan", 16)],
        {},
        ["meizhou", "meizhou"],
        id="whole-group-first-not-own-city-for-the-first-alone",
    ),
    pytest.param(
        {"heyuan": 40, "meizhou": 100},
        [("a", "heyuan", 16), ("b", "meizhou", 16)],
        {},
        ["heyuan", "heyuan"],
        id="own-city-of-the-first-when-it-holds-all",
    ),
    pytest.param(
        {"heyuan": 20, "meizhou": 20},
        [("a", "heyuan", 16), ("b", "heyuan", 16)],
        {},
        ["heyuan", "meizhou"],
        id="no-node-holds-all-split-member-by-member",
    ),
    pytest.param(
        {"heyuan": 100, "meizhou": 100},
        [("b", "heyuan", 16)],
        {"a": "meizhou"},
        ["meizhou"],
        id="follows-a-placed-member",
    ),
    pytest.param(
        {"heyuan": 100, "meizhou": 10},
        [("b", "heyuan", 16)],
        {"a": "meizhou"},
        ["heyuan"],
        id="placed-member-node-full-own-city-instead",
    ),
    pytest.param(
        {"heyuan": 10},
        [("a", "heyuan", 16), ("b", "heyuan", 4)],
        {},
        [None, "heyuan"],
        id="a-member-that-fits-nowhere",
    ),
]


@pytest.mark.parametrize(("sizes", "members", "held", "expected"), CASES)
def test_place_group(
    sizes: dict[str, int],
    members: list[tuple[str, str, int]],
    held: dict[str, str],
    expected: list[str | None],
) -> None:
    nodes = {node_id: node(node_id, vcpu) for node_id, vcpu in sizes.items()}
    requests = [member(*fields) for fields in members]
    outcomes = place_group(requests, nodes, SPREAD, held=held)
    assert nodes_of(outcomes) == expected
    assert [o.system_id for o in outcomes] == [m.id for m in requests]
    assert all(usage.used == {} for usage in nodes.values())  # the caller's copy is untouched


def test_a_split_group_says_so() -> None:
    nodes = {"heyuan": node("heyuan", 20), "meizhou": node("meizhou", 20)}
    outcomes = place_group([member("a", "heyuan", 16), member("b", "heyuan", 16)], nodes, SPREAD)
    assert outcomes[1] == Placement(
        "b", "meizhou", "spread: best fit (group of 2 split: no node fits it whole)"
    )


def test_an_unplaceable_member_says_why() -> None:
    outcome = place_group([member("a", "heyuan", 16)], {"heyuan": node("heyuan", 10)}, SPREAD)
    assert outcome == [
        Unplaceable("a", "no node fits 16 vCPU, 8 GB memory, 100 GB storage; "
                    "node heyuan: vCPU 16 is above the maximum unit of 10")
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("held", "expected"),
    [
        ({}, []),
        ({"a": "b-node", "b": "a-node"}, ["a-node", "b-node"]),
        ({"a": "z", "b": "y", "c": "y"}, ["y", "z"]),
    ],
    ids=["none", "tie-by-id", "most-members-first"],
)
def test_group_nodes(held: dict[str, str], expected: list[str]) -> None:
    assert group_nodes(held) == expected
