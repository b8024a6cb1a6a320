"""``govmig plan``: the JSON document, the summary, and the filters, over a real dry run."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.capacity import (
    NodeState,
    NodeStatus,
    NodeUsage,
    PlacementPolicy,
    PlacementStrategy,
    ResourceClass,
    ResourceInventory,
    Resources,
    SystemRequest,
    empty_usage,
    placement_policy,
    plan_placements,
)
from orchestrator.cli.plan import select_systems
from orchestrator.cli.render_plan import (
    PlanStart,
    aligned,
    more_line,
    node_table,
    plan_document,
    summary_line,
)
from orchestrator.errors import PermanentError
from orchestrator.inventory.loader import DEFAULT_CATALOGUE, load_inventory, load_systems
from orchestrator.settings import PlacementSettings

VCPU, MEMORY, STORAGE = ResourceClass.VCPU, ResourceClass.MEMORY_GB, ResourceClass.STORAGE_GB


def node(node_id: str, vcpu: int, status: NodeStatus = NodeStatus.ONLINE) -> NodeUsage:
    inventories: dict[str, ResourceInventory] = {
        VCPU: ResourceInventory(vcpu),
        MEMORY: ResourceInventory(1000),
        STORAGE: ResourceInventory(10_000),
    }
    return empty_usage(NodeState(node_id, node_id, inventories, status))


def request(system_id: str, city: str, vcpu: int, *depends_on: str) -> SystemRequest:
    return SystemRequest(system_id, city, Resources(vcpu, 8, 100), tuple(depends_on))


def document() -> dict[str, Any]:
    nodes = {"a": node("a", 9), "b": node("b", 11), "c": node("c", 100, NodeStatus.DRAINING)}
    systems = [
        request("a-1", "a", 4),  # own city node: a has 5 left
        request("a-2", "a", 8),  # too big for a now: b, which has 3 left
        request("a-3", "a", 20),  # fits nowhere online (c is draining)
        request("b-1", "b", 3, "b-2"),  # the group of 6 fits nowhere whole: split,
        request("b-2", "b", 3),  # b-1 on its own node b, b-2 on a
    ]
    result = plan_placements(systems, nodes, PlacementPolicy())
    start = PlanStart("store", "var/govmig.db")
    return plan_document(result, strategy="spread", start=start, already_placed={"z-9": "a"})


def test_document_lists_every_outcome() -> None:
    doc = document()
    assert doc["strategy"] == "spread"
    assert doc["start"] == {"from": "store", "state_db": "var/govmig.db"}
    assert doc["summary"] == {
        "systems": 6,
        "placed": 4,
        "unplaceable": 1,
        "already_placed": 1,
        "split_groups": 1,
    }
    assert [(p["system_id"], p["node"]) for p in doc["placements"]] == [
        ("a-1", "a"),
        ("a-2", "b"),
        ("b-1", "b"),
        ("b-2", "a"),
    ]
    assert doc["unplaceable"][0]["system_id"] == "a-3"
    assert doc["unplaceable"][0]["reason"].startswith("no node fits 20 vCPU")
    assert doc["already_placed"] == [{"system_id": "z-9", "node": "a"}]
    assert doc["split_groups"] == [["b-1", "b-2"]]
    by_node = {entry["node"]: entry for entry in doc["nodes"]}
    assert {name: entry["planned"] for name, entry in by_node.items()} == {"a": 2, "b": 2, "c": 0}
    assert by_node["a"]["vcpu"]["allocated"] == 7
    assert by_node["c"]["status"] == "draining"
    assert doc["plan"]["vcpu"] == 100_000


def test_summary_and_node_table() -> None:
    doc = document()
    assert summary_line(doc) == (
        "plan (spread, from the usage in var/govmig.db): 6 systems, 4 placed, "
        "1 unplaceable, 1 already placed, 1 group split"
    )
    rows = node_table(doc)
    assert [row["node"] for row in rows] == ["a", "b", "c (draining)", "total"]
    assert rows[0] == {
        "node": "a",
        "planned": 2,
        "vCPU used": "7 (78%)",
        "memory used": "16 GB (2%)",
        "storage used": "200 GB (2%)",
    }
    assert rows[-1]["planned"] == 4


@pytest.mark.parametrize(
    ("total", "expected"),
    [(3, None), (20, None), (21, "... and 1 more"), (4645, "... and 4,625 more")],
    ids=["short", "exactly-the-limit", "one-over", "many"],
)
def test_more_line(total: int, expected: str | None) -> None:
    line = more_line(total, 20)
    assert (line if line is None else line.split(":")[0]) == expected


def test_aligned() -> None:
    rows = [
        {"id": "a-1", "node": "shantou", "why": "own"},
        {"id": "bb-22", "node": "x", "why": "-"},
    ]
    assert aligned(rows, ("id", "node", "why")).splitlines() == [
        "a-1    shantou  own",
        "bb-22  x        -",
    ]
    assert aligned([], ("id",)) == ""


@pytest.mark.parametrize(
    ("filters", "count", "check"),
    [
        ({}, 560, None),
        ({"city": "shantou"}, None, ("city", "shantou")),
        ({"department": "公安局"}, None, ("department", "公安局")),
        ({"department": "PUBLIC SECURITY"}, None, ("department", "Public Security")),
        ({"city": "shantou", "limit": 3}, 3, ("city", "shantou")),
    ],
    ids=["all", "city", "department-chinese", "department-any-case", "limit-after-filter"],
)
def test_select_systems(
    filters: dict[str, Any], count: int | None, check: tuple[str, str] | None
) -> None:
    inventory = load_inventory()
    systems = load_systems(DEFAULT_CATALOGUE, inventory)
    arguments: dict[str, Any] = {"city": None, "department": None, "limit": None, **filters}
    kept = select_systems(systems, inventory, **arguments)
    if count is not None:
        assert len(kept) == count
    assert kept
    if check is not None:
        field, text = check
        assert all(text in getattr(system, field) for system in kept)
    order = [system.id for system in systems]
    assert [order.index(system.id) for system in kept] == sorted(
        order.index(system.id) for system in kept
    )


def test_unknown_city_is_an_error() -> None:
    inventory = load_inventory()
    with pytest.raises(PermanentError, match="unknown city 'atlantis' for --city: one of "):
        select_systems([], inventory, city="atlantis", department=None, limit=None)


@pytest.mark.parametrize(
    ("env", "flag", "expected"),
    [
        ({}, None, PlacementStrategy.SPREAD),
        ({"GOVMIG_PLACEMENT_STRATEGY": "pack"}, None, PlacementStrategy.PACK),
        ({"GOVMIG_PLACEMENT_STRATEGY": "pack"}, PlacementStrategy.SPREAD, PlacementStrategy.SPREAD),
    ],
    ids=["default", "from-env", "flag-wins"],
)
def test_placement_policy(
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    flag: PlacementStrategy | None,
    expected: PlacementStrategy,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GOVMIG_PLACEMENT_WEIGHT_STORAGE", "0.5")
    policy = placement_policy(PlacementSettings(), flag)
    assert policy.strategy is expected
    assert policy.weights[STORAGE] == 0.5
