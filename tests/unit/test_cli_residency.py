"""The CLI and the residency rules: ``migrate --to`` refused before sending, ``plan`` and
``inventory validate`` held to the same file, named by ``--residency`` or ``GOVMIG_RESIDENCY``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from orchestrator.cli import build_app
from orchestrator.errors import InventoryError, PermanentError
from orchestrator.inventory import load_inventory
from orchestrator.inventory.models import BusinessSystem
from orchestrator.migrations import SystemState
from orchestrator.store import open_store, seed_nodes
from tests.fixtures.seeding import drive
from tests.fixtures.systems import business_system

app = build_app()

# Never reached: every refusal here comes before the producer connects.
NO_BROKER = ["--bootstrap-servers", "127.0.0.1:1", "--timeout", "1"]


def personal(system_id: str, city: str) -> BusinessSystem:
    fields = business_system(system_id, city).model_dump()
    return BusinessSystem.model_validate({**fields, "data_class": "personal"})


@pytest.fixture
def state_db(tmp_path: Path) -> str:
    """A state database in which a personal-data system of Shantou is registered."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    with open_store(url) as store, store.transaction() as session:
        seed_nodes(session, load_inventory().nodes.values())
        drive(session, personal("shantou-psb-001", "shantou"), SystemState.REGISTERED)
        drive(session, business_system("shantou-tax-001", "shantou"), SystemState.REGISTERED)
    return url


def test_migrate_to_a_node_the_rule_forbids_is_refused_before_sending(state_db: str) -> None:
    args = ["migrate", "shantou-tax-001", "shantou-psb-001", "--to", "heyuan"]
    result = CliRunner().invoke(app, [*args, "--state-db", state_db, *NO_BROKER])
    assert isinstance(result.exception, PermanentError), result.output
    assert str(result.exception) == (
        "residency rule 'personal' keeps shantou-psb-001 in shantou; node heyuan is not allowed"
    )


def test_a_bad_residency_file_is_named_by_option_or_environment(
    tmp_path: Path, state_db: str
) -> None:
    bad = tmp_path / "residency.yml"
    bad.write_text("rules:\n  personal:\n    nodes: [atlantis]\n")
    expected = f"{bad}: rule 'personal': field 'nodes[0]': unknown node 'atlantis'"
    args = ["migrate", "shantou-psb-001", "--to", "shantou", "--state-db", state_db, *NO_BROKER]
    by_option = CliRunner().invoke(app, [*args, "--residency", str(bad)])
    by_env = CliRunner().invoke(app, args, env={"GOVMIG_RESIDENCY": str(bad)})
    for result in (by_option, by_env):
        assert isinstance(result.exception, InventoryError), result.output
        assert str(result.exception) == expected


def write_systems(tmp_path: Path, *systems: BusinessSystem) -> Path:
    path = tmp_path / "systems.json"
    path.write_text(json.dumps([system.model_dump(mode="json") for system in systems]))
    return path


def plan_json(tmp_path: Path, path: Path) -> Result:
    """``govmig plan FILE --output json`` from empty nodes (no state database)."""
    missing_db = f"sqlite:///{tmp_path / 'none.db'}"
    result = CliRunner().invoke(
        app, ["plan", str(path), "--output", "json", "--state-db", missing_db]
    )
    assert result.exit_code == 0, result.output
    return result


def test_plan_places_a_personal_system_only_in_its_own_city(tmp_path: Path) -> None:
    path = write_systems(tmp_path, personal("meizhou-ga-001", "meizhou"))
    result = plan_json(tmp_path, path)
    document = json.loads(result.stdout)
    assert document["placements"] == [
        {
            "system_id": "meizhou-ga-001",
            "node": "meizhou",
            "reason": "own city node, within residency rule 'personal'",
        }
    ]


def test_plan_refuses_a_system_whose_rule_allows_no_city_node(tmp_path: Path) -> None:
    path = write_systems(tmp_path, personal("gz-ga-001", "guangzhou"))
    result = plan_json(tmp_path, path)
    assert json.loads(result.stdout)["unplaceable"] == [
        {
            "system_id": "gz-ga-001",
            "reason": "residency rule 'personal' keeps gz-ga-001 in guangzhou: no city node is "
            "allowed",
        }
    ]


def test_validate_reports_a_data_class_no_rule_names(tmp_path: Path) -> None:
    secret = BusinessSystem.model_validate(
        {**business_system("shantou-ga-001").model_dump(), "data_class": "secret"}
    )
    path = write_systems(tmp_path, secret)
    result = CliRunner().invoke(app, ["inventory", "validate", str(path)])
    assert isinstance(result.exception, InventoryError), result.output
    assert str(result.exception) == (
        f"{path}: record 1 (id 'shantou-ga-001'): field 'data_class': no residency rule for "
        "data class 'secret' (the rules name: eastern, personal, public)"
    )
