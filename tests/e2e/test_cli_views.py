"""``govmig status``, ``govmig capacity`` and ``govmig plan`` as an operator runs them.

``govmig`` runs through its entry point (``tests.fixtures.cli``), in a temporary working
directory (so the default ``var/govmig.db`` does not exist), against a state
database prepared here through the engine (``tests.fixtures.seeding``), or none at all.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orchestrator.events.codec import KafkaRecord
from orchestrator.inventory.catalogue import generate_catalogue
from orchestrator.inventory.csvrows import systems_to_csv
from orchestrator.inventory.loader import DEFAULT_CATALOGUE, load_inventory, load_systems
from orchestrator.migrations import RequestRetry, SystemState
from orchestrator.store import awaiting as awaiting_store
from orchestrator.store import open_store, seed_nodes
from orchestrator.store.awaiting import NewHold
from tests.fixtures.cli import govmig
from tests.fixtures.seeding import drive, refuse

PLACED = "shantou-psb-001"  # provisioning on shaoguan, holding its capacity
WAITING = ("shantou-psb-002", "shantou-psb-003")  # registered only
CITY_NODES = frozenset(load_inventory().nodes)


def ok_json(*args: str, cwd: Path) -> Any:
    result = govmig(*args, "--output", "json", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def state_db(tmp_path: Path) -> str:
    """Nodes seeded; three systems registered, one of them provisioning on shaoguan."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    inventory = load_inventory()
    catalogue = {system.id: system for system in load_systems(DEFAULT_CATALOGUE, inventory)}
    with open_store(url) as store, store.transaction() as session:
        seed_nodes(session, inventory.nodes.values())
        drive(session, catalogue[PLACED], SystemState.PROVISIONING,
              node="shaoguan", wave=1, requested_by="alice")  # fmt: skip
        refuse(session, PLACED, RequestRetry(requested_by="bob"))
        for system_id in WAITING:
            drive(session, catalogue[system_id], SystemState.REGISTERED)
    return url


# --- status -------------------------------------------------------------------------------


def test_status_lists_every_system(state_db: str, tmp_path: Path) -> None:
    systems = ok_json("status", "--state-db", state_db, cwd=tmp_path)["systems"]
    assert [system["id"] for system in systems] == [PLACED, *WAITING]
    first = systems[0]
    assert (first["state"], first["node"], first["phase"], first["wave"]) == (
        "provisioning",
        "shaoguan",
        "provision",
        1,
    )
    assert first["updated_at"].endswith("Z")
    assert {system["state"] for system in systems[1:]} == {"registered"}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (["--state", "registered"], list(WAITING)),
        (["--state", "completed"], []),
        (["--node", "shaoguan"], [PLACED]),
        (["--wave", "1"], [PLACED]),
        (["--state", "provisioning", "--node", "shantou"], []),
    ],
    ids=["state", "state-none", "node", "wave", "state-and-node"],
)
def test_status_filters(
    state_db: str, tmp_path: Path, filters: list[str], expected: list[str]
) -> None:
    systems = ok_json("status", *filters, "--state-db", state_db, cwd=tmp_path)["systems"]
    assert [system["id"] for system in systems] == expected


def test_status_of_one_system_has_allocation_and_history(state_db: str, tmp_path: Path) -> None:
    shown = ok_json("status", PLACED, "--state-db", state_db, cwd=tmp_path)
    assert shown["system"]["id"] == PLACED
    assert shown["record"]["department"].startswith("Public Security Bureau")
    allocation = shown["allocation"]
    assert allocation["node"] == "shaoguan"
    assert allocation["vcpu"] == shown["record"]["vcpu"]
    assert allocation["storage_gb"] == shown["record"]["storage_gb"]
    history = shown["history"]
    assert [(entry["from_state"], entry["to_state"]) for entry in history] == [
        (None, "registered"),
        ("registered", "queued"),
        ("queued", "placed"),
        ("placed", "preflight"),
        ("preflight", "provisioning"),
        ("provisioning", None),
    ]
    requested = "migration requested by alice onto node shaoguan in wave 1"
    assert (history[1]["actor"], history[1]["reason"]) == ("alice", requested)
    assert (history[-1]["refused"], history[-1]["actor"]) == (True, "bob")
    table = govmig("status", PLACED, "--state-db", state_db, cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    for text in ("registered → queued", "provisioning → (refused)", requested, "shaoguan"):
        assert text in table.stdout


def test_status_table_shows_states(state_db: str, tmp_path: Path) -> None:
    result = govmig("status", "--state-db", state_db, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "3 systems" in result.stdout
    for text in (PLACED, *WAITING, "provisioning", "registered"):
        assert text in result.stdout


def test_status_of_a_system_whose_requests_await_its_registration(
    state_db: str, tmp_path: Path
) -> None:
    arrived = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    record = KafkaRecord("govcloud.events", 3, 17, b"shantou-psb-405", b"{}", ())
    held = NewHold(
        "shantou-psb-405", "migrate", "alice", "/govmig/cli", "e-405", record, arrived,
        arrived + timedelta(minutes=5),
    )  # fmt: skip
    with open_store(state_db) as store, store.transaction() as session:
        awaiting_store.hold(session, held)
    shown = ok_json("status", "shantou-psb-405", "--state-db", state_db, cwd=tmp_path)
    assert (shown["system"], shown["record"], shown["history"]) == (None, None, [])
    assert shown["awaiting_registration"] == [
        {
            "request": "migrate",
            "requested_by": "alice",
            "event_source": "/govmig/cli",
            "event_id": "e-405",
            "arrived_at": "2026-12-02T08:00:00Z",
            "deadline": "2026-12-02T08:05:00Z",
        }
    ]
    table = govmig("status", "shantou-psb-405", "--state-db", state_db, cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    for text in ("shantou-psb-405 is not registered yet", "migrate", "alice", "e-405"):
        assert text in table.stdout
    assert (
        ok_json("status", PLACED, "--state-db", state_db, cwd=tmp_path)["awaiting_registration"]
        == []
    )
    fleet = ok_json("status", "--state-db", state_db, cwd=tmp_path)
    assert [held["system_id"] for held in fleet["awaiting_registration"]] == ["shantou-psb-405"]
    assert fleet["awaiting_registration"][0]["event_id"] == "e-405"
    filtered = ok_json("status", "--state", "registered", "--state-db", state_db, cwd=tmp_path)
    assert "awaiting_registration" not in filtered  # no filter matches an unregistered system
    listed = govmig("status", "--state-db", state_db, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "Requests awaiting their system's registration:" in listed.stdout
    assert "shantou-psb-405: migrate by alice, 0 s left (event e-405)" in listed.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["status", "shantou-psb-404"],
            "error: unknown system 'shantou-psb-404': it has not been registered "
            "(govmig inventory publish FILE)",
        ),
        (["status", "Bad_Id"], "error: malformed system id 'Bad_Id'"),
        (["status", "--node", "atlantis"], "error: unknown node 'atlantis'"),
        (["status", PLACED, "--state", "queued"], "error: give either a SYSTEM_ID or"),
        (["status", "--state", "sleeping"], "Invalid value for '--state'"),
    ],
    ids=["unknown-system", "malformed-id", "unknown-node", "id-and-filter", "unknown-state"],
)
def test_status_errors(state_db: str, tmp_path: Path, args: list[str], message: str) -> None:
    result = govmig(*args, "--state-db", state_db, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("command", ["status", "capacity"], ids=["status", "capacity"])
def test_a_missing_database_is_an_error(tmp_path: Path, command: str) -> None:
    missing = tmp_path / "nowhere.db"
    result = govmig(command, "--state-db", f"sqlite:///{missing}", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: state database {missing} does not exist")
    assert not missing.exists()
    # Without --state-db the default (var/govmig.db in the working directory) is used.
    default = govmig(command, cwd=tmp_path)
    assert default.returncode == 2
    assert "error: state database var/govmig.db does not exist" in default.stderr


# --- capacity -----------------------------------------------------------------------------


def test_capacity_shows_each_node_and_the_plan(state_db: str, tmp_path: Path) -> None:
    document = ok_json("capacity", "--state-db", state_db, cwd=tmp_path)
    nodes = {node["node"]: node for node in document["nodes"]}
    assert set(nodes) == CITY_NODES
    shaoguan = nodes["shaoguan"]
    assert shaoguan["systems"] == 1
    for key in ("vcpu", "memory_gb", "storage_gb"):
        figures = shaoguan[key]
        expected = int((figures["total"] - figures["reserved"]) * figures["allocation_ratio"])
        assert figures["allocatable"] == expected
        assert figures["free"] == figures["allocatable"] - figures["allocated"]
        assert 0 < figures["utilisation"] < 1
        assert nodes["shantou"][key]["allocated"] == 0
    # Physical totals meet the plan exactly: 100,000 vCPU, 300 TB and 10 PB (decimal GB).
    assert document["plan"] == {"vcpu": 100_000, "memory_gb": 300_000, "storage_gb": 10_000_000}
    for key, planned in document["plan"].items():
        assert document["total"][key]["total"] == planned
    table = govmig("capacity", "--state-db", state_db, cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    for text in ("100,000", "300 TB", "10.0 PB", "shaoguan", "online"):
        assert text in table.stdout


# --- plan ---------------------------------------------------------------------------------


def assert_fits(document: dict[str, Any]) -> None:
    """Every placement names a city node and no node is planned beyond its allocatable."""
    assert {placement["node"] for placement in document["placements"]} <= CITY_NODES
    for node in document["nodes"]:
        for key in ("vcpu", "memory_gb", "storage_gb"):
            assert node[key]["allocated"] <= node[key]["allocatable"], (node["node"], key)


def test_plan_of_the_catalogue_from_empty_nodes(tmp_path: Path) -> None:
    result = govmig("plan", "--output", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "planning from empty nodes" in result.stderr
    document = json.loads(result.stdout)
    assert document["start"]["from"] == "empty"
    summary = document["summary"]
    assert summary["systems"] == 560
    assert summary["placed"] + summary["unplaceable"] == 560
    assert len(document["placements"]) == summary["placed"]
    assert sum(node["planned"] for node in document["nodes"]) == summary["placed"]
    assert_fits(document)
    table = govmig("plan", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "plan (spread, from empty nodes): 560 systems" in table.stdout
    assert "Nodes after the plan" in table.stdout


def test_plan_starts_from_the_store(state_db: str, tmp_path: Path) -> None:
    document = ok_json("plan", "--city", "shantou", "--state-db", state_db, cwd=tmp_path)
    assert document["start"]["from"] == "store"
    assert document["already_placed"] == [{"system_id": PLACED, "node": "shaoguan"}]
    planned = {placement["system_id"] for placement in document["placements"]}
    assert PLACED not in planned
    shaoguan = next(node for node in document["nodes"] if node["node"] == "shaoguan")
    # The existing reservation is counted before anything new is planned.
    assert shaoguan["systems"] == shaoguan["planned"] + 1
    assert_fits(document)


@pytest.mark.parametrize(
    ("args", "check"),
    [
        (["--city", "meizhou", "--limit", "5"], lambda d: d["summary"]["systems"] == 5),
        (["--department", "公安局"], lambda d: d["summary"]["systems"] > 0),
        (["--strategy", "pack"], lambda d: d["strategy"] == "pack"),
    ],
    ids=["city-limit", "department", "pack"],
)
def test_plan_filters_and_strategy(tmp_path: Path, args: list[str], check: Any) -> None:
    document = ok_json("plan", *args, cwd=tmp_path)
    assert check(document)
    assert_fits(document)


def test_plan_refuses_an_unknown_city(tmp_path: Path) -> None:
    result = govmig("plan", "--city", "atlantis", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: unknown city 'atlantis' for --city: one of ")


@pytest.fixture(scope="module")
def ten_thousand(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("plan") / "systems.csv"
    path.write_text(systems_to_csv(generate_catalogue(10_000)), encoding="utf-8")
    return path


def test_plan_of_ten_thousand_reports_what_does_not_fit(ten_thousand: Path, tmp_path: Path) -> None:
    document = ok_json("plan", str(ten_thousand), cwd=tmp_path)
    summary = document["summary"]
    assert summary["systems"] == 10_000
    # More than the plan's 100,000 vCPU / 300 TB is asked for: some cannot fit.
    assert summary["unplaceable"] > 0
    assert summary["placed"] + summary["unplaceable"] == 10_000
    assert all(entry["reason"].startswith("no node fits") for entry in document["unplaceable"])
    assert_fits(document)
    table = govmig("plan", str(ten_thousand), cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert f"Unplaceable ({summary['unplaceable']:,}):" in table.stdout
    assert "--all prints every row" in table.stdout
    assert len(table.stdout.splitlines()) < 100
    every = govmig("plan", str(ten_thousand), "--all", cwd=tmp_path)
    assert every.returncode == 0, every.stderr
    lines = every.stdout.splitlines()
    for entry in document["unplaceable"][-3:] + document["placements"][-3:]:
        assert any(line.startswith(entry["system_id"] + " ") for line in lines)
    assert len(lines) > 10_000
