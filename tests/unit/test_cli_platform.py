"""``govmig platform`` and ``govmig capacity`` without a broker: what is refused before
sending, and what the store says about the PRD platforms."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.capacity import NodeStatus, ResourceClass, ResourceInventory
from orchestrator.cli import build_app
from orchestrator.errors import PermanentError
from orchestrator.inventory import load_inventory
from orchestrator.inventory.plan import PLAN_MEMORY_GB, PLAN_STORAGE_GB, PLAN_VCPU
from orchestrator.migrations import SystemState
from orchestrator.store import connect_platform, open_store, reserve, seed_nodes
from tests.fixtures.seeding import drive
from tests.fixtures.systems import business_system

app = build_app()

runner = CliRunner()
PREFIX = "2001:db8:100::/48"
NOWHERE = ["--bootstrap-servers", "127.0.0.1:9", "--timeout", "1"]
PLATFORM: dict[str, ResourceInventory] = {
    ResourceClass.VCPU: ResourceInventory(8_000, 80),
    ResourceClass.MEMORY_GB: ResourceInventory(24_000),
    ResourceClass.STORAGE_GB: ResourceInventory(800_000),
}


@pytest.fixture
def state_db(tmp_path: Path) -> str:
    """The 14 nodes, and Guangzhou's platform connected, holding gz-tax."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    with open_store(url) as store, store.transaction() as session:
        seed_nodes(session, load_inventory().nodes.values())
        connect_platform(session, "guangzhou", city="guangzhou", status=NodeStatus.ONLINE,
                         inventories=PLATFORM, hosts=("gz-1",), ipv6_prefix=PREFIX)  # fmt: skip
        drive(session, business_system("gz-tax", "guangzhou", vcpu=8), SystemState.REGISTERED)
        reserve(session, "gz-tax", "guangzhou", {"VCPU": 8, "MEMORY_GB": 64, "STORAGE_GB": 500})
    return url


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["shantou", "--vcpu", "1", "--memory-gb", "1", "--storage-gb", "1"],
         "'shantou' is one of the 14 city nodes, not a PRD platform"),
        (["atlantis", "--vcpu", "1", "--memory-gb", "1", "--storage-gb", "1"],
         "platform 'atlantis' is not one of the PRD platforms"),
        (["guangzhou", "--vcpu", "1", "--memory-gb", "1"],
         "give all of --vcpu, --memory-gb and --storage-gb, or none"),
        (["guangzhou", "--ipv6-prefix", "2001:db8::/96"], "must be /64 or shorter"),
    ],
    ids=["node", "unknown", "partial-capacity", "long-prefix"],
)  # fmt: skip
def test_a_bad_connect_is_refused_before_sending(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["platform", "connect", *args, *NOWHERE])
    assert isinstance(result.exception, PermanentError)
    assert message in str(result.exception)


def test_a_disconnect_of_a_platform_in_use_is_refused_with_the_orchestrators_reason(
    state_db: str,
) -> None:
    result = runner.invoke(app, ["platform", "disconnect", "guangzhou", "--state-db", state_db,
                                 *NOWHERE])  # fmt: skip
    assert isinstance(result.exception, PermanentError)
    assert "platform guangzhou holds 1 system (gz-tax): drain it" in str(result.exception)


def test_list_shows_the_seven_as_the_store_holds_them(state_db: str) -> None:
    result = runner.invoke(app, ["platform", "list", "--state-db", state_db, "--output", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert (document["connected"], document["of"]) == (1, 7)
    first, *others = document["platforms"]
    assert first["platform"] == "guangzhou"
    assert (first["connected"], first["status"], first["systems"]) == (True, "online", 1)
    assert (first["hosts"], first["ipv6_prefix"]) == (["gz-1"], PREFIX)
    assert first["vcpu"]["allocatable"] == 7_920
    assert all(not row["connected"] and row["vcpu"] is None for row in others)


def test_capacity_lists_platforms_after_the_nodes_and_keeps_the_plans_totals(
    state_db: str,
) -> None:
    result = runner.invoke(app, ["capacity", "--state-db", state_db, "--output", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert len(document["nodes"]) == 14
    totals = tuple(document["total"][key]["total"] for key in ("vcpu", "memory_gb", "storage_gb"))
    assert totals == (PLAN_VCPU, PLAN_MEMORY_GB, PLAN_STORAGE_GB)
    assert document["total"]["systems"] == 0
    assert [p["platform"] for p in document["platforms"]] == ["guangzhou"]
    assert document["platforms_total"]["vcpu"]["allocated"] == 8
    assert "plan" not in document["platforms_total"]["vcpu"]
    table = runner.invoke(app, ["capacity", "--state-db", state_db])
    assert "platform guangzhou" in table.output
    assert "platforms subtotal" in table.output
