"""Placement held to data residency: only allowed nodes are candidates, refusals name the rule."""

from __future__ import annotations

import pytest

from orchestrator.capacity import NodeState, NodeUsage, ResourceClass, ResourceInventory, Resources
from orchestrator.capacity.group_placement import place_group
from orchestrator.capacity.placement import (
    Placement,
    PlacementPolicy,
    SystemRequest,
    Unplaceable,
    place_on_target,
    place_system,
    place_together,
)
from orchestrator.capacity.planning import plan_placements
from orchestrator.inventory.residency import Residency

R = ResourceClass
POLICY = PlacementPolicy()
PERSONAL_SHANTOU = Residency("personal", "in shantou", frozenset({"shantou"}))
PERSONAL_HEYUAN = Residency("personal", "in heyuan", frozenset({"heyuan"}))
EASTERN = Residency("eastern", "in shantou or chaozhou", frozenset({"shantou", "chaozhou"}))


def node(node_id: str, vcpu: int = 100) -> NodeUsage:
    inventories: dict[str, ResourceInventory] = {
        R.VCPU: ResourceInventory(vcpu),
        R.MEMORY_GB: ResourceInventory(400),
        R.STORAGE_GB: ResourceInventory(10_000),
    }
    return NodeUsage(NodeState(node_id, node_id, inventories), {})


def fleet(*usages: NodeUsage) -> dict[str, NodeUsage]:
    return {usage.node.node_id: usage for usage in usages}


NODES = fleet(node("shantou"), node("chaozhou"), node("heyuan"), node("meizhou"))


def system(
    system_id: str,
    city: str,
    residency: Residency | None,
    *,
    vcpu: int = 4,
    depends_on: tuple[str, ...] = (),
) -> SystemRequest:
    return SystemRequest(system_id, city, Resources(vcpu, 16, 100), depends_on, residency)


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        # a system from a city without a node would go to the best fit; its rule decides
        (system("gz-1", "guangzhou", EASTERN), ("chaozhou", "spread: best fit, within residency "
                                                "rule 'eastern'")),
        (system("st-1", "shantou", PERSONAL_SHANTOU), ("shantou", "own city node, within "
                                                       "residency rule 'personal'")),
        (system("mz-1", "meizhou", EASTERN), ("chaozhou", "spread: best fit, within residency "
                                              "rule 'eastern'")),
        (system("mz-2", "meizhou", None), ("meizhou", "own city node")),
    ],
)  # fmt: skip
def test_only_the_nodes_a_rule_allows_are_candidates(
    request_: SystemRequest, expected: tuple[str, str]
) -> None:
    outcome = place_system(request_, NODES, POLICY)
    assert isinstance(outcome, Placement)
    assert (outcome.node_id, outcome.reason) == expected


def test_a_target_the_rule_forbids_is_refused_with_the_rule() -> None:
    outcome = place_on_target(
        system("shantou-psb-001", "shantou", PERSONAL_SHANTOU), NODES, "heyuan"
    )
    assert outcome == Unplaceable(
        "shantou-psb-001",
        "residency rule 'personal' keeps shantou-psb-001 in shantou; node heyuan is not allowed",
    )


def test_a_target_the_rule_allows_says_so() -> None:
    outcome = place_on_target(system("st-1", "shantou", EASTERN), NODES, "chaozhou")
    assert outcome == Placement(
        "st-1", "chaozhou", "explicit target, within residency rule 'eastern'"
    )


def test_a_full_allowed_node_is_not_traded_for_a_forbidden_one() -> None:
    nodes = fleet(node("shantou", vcpu=2), node("heyuan"))
    outcome = place_system(system("st-1", "shantou", PERSONAL_SHANTOU), nodes, POLICY)
    assert isinstance(outcome, Unplaceable)
    assert outcome.reason == (
        "no node fits 4 vCPU, 16 GB memory, 100 GB storage; node shantou: vCPU 4 is above the "
        "maximum unit of 2; residency rule 'personal' keeps st-1 in shantou"
    )


def test_a_rule_that_allows_no_city_node_says_so() -> None:
    nowhere = Residency("personal", "in guangzhou", frozenset())
    outcome = place_system(system("gz-1", "guangzhou", nowhere), NODES, POLICY)
    assert outcome == Unplaceable(
        "gz-1", "residency rule 'personal' keeps gz-1 in guangzhou: no city node is allowed"
    )


def test_a_group_placed_together_satisfies_every_members_rule() -> None:
    members = [
        system("a", "heyuan", None),
        system("b", "heyuan", EASTERN, depends_on=("a",)),
        system("c", "heyuan", None, depends_on=("b",)),
    ]
    outcomes = place_together(members, NODES, POLICY)
    assert {placed.node_id for placed in outcomes if isinstance(placed, Placement)} == {"chaozhou"}
    assert outcomes[0].reason == (
        "spread: best fit, with its dependency group of 3, within residency rule 'eastern'"
    )


def test_members_whose_rules_share_no_node_are_placed_apart() -> None:
    members = [
        system("a", "shantou", PERSONAL_SHANTOU),
        system("b", "heyuan", PERSONAL_HEYUAN, depends_on=("a",)),
    ]
    together = place_together(members, NODES, POLICY)
    assert together[0] == Unplaceable(
        "a",
        "residency rule 'personal' keeps a in shantou; residency rule 'personal' keeps b in "
        "heyuan: no city node is allowed",
    )
    assert [
        getattr(outcome, "node_id", None) for outcome in place_group(members, NODES, POLICY)
    ] == [
        "shantou",
        "heyuan",
    ]


def test_a_group_member_follows_its_group_only_where_its_rule_allows() -> None:
    follower = system("b", "heyuan", PERSONAL_HEYUAN, depends_on=("a",))
    outcome = place_group([follower], NODES, POLICY, held={"a": "shantou"})[0]
    assert outcome == Placement("b", "heyuan", "own city node, within residency rule 'personal'")


def test_the_plan_holds_targets_and_groups_to_their_rules() -> None:
    systems = [
        system("st-1", "shantou", PERSONAL_SHANTOU),
        system("st-2", "shantou", PERSONAL_SHANTOU),
        system("mz-1", "meizhou", EASTERN),
    ]
    result = plan_placements(systems, NODES, POLICY, targets={"st-2": "meizhou"})
    assert {key: getattr(value, "node_id", None) for key, value in result.outcomes.items()} == {
        "st-1": "shantou",
        "st-2": None,
        "mz-1": "chaozhou",
    }
    assert result.outcomes["st-2"] == Unplaceable(
        "st-2", "residency rule 'personal' keeps st-2 in shantou; node meizhou is not allowed"
    )
