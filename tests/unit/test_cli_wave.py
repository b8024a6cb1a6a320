"""``govmig wave``: the waves as the store holds them, and refusing to resume what is not halted."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from orchestrator.cli import build_app
from orchestrator.inventory.loader import DEFAULT_CATALOGUE, load_inventory, load_systems
from orchestrator.migrations import SystemState
from orchestrator.store import open_store, seed_nodes
from orchestrator.store import waves as wave_store
from tests.fixtures.seeding import drive

app = build_app()

runner = CliRunner()
AT = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def store_with_waves(tmp_path: Path) -> str:
    """Wave 1: one completed, one rolled back, halted; wave 2: one placed."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    inventory = load_inventory()
    systems = {s.id: s for s in load_systems(DEFAULT_CATALOGUE, inventory)}
    with open_store(url) as store, store.transaction() as session:
        seed_nodes(session, inventory.nodes.values())
        drive(session, systems["shantou-psb-001"], SystemState.COMPLETED, wave=1)
        drive(session, systems["shantou-psb-002"], SystemState.ROLLED_BACK, wave=1)
        drive(session, systems["shantou-hsa-001"], SystemState.PLACED, wave=2)
        assert wave_store.record_halts(session, {1: "1 of 2 rolled back"}, at=AT) == [1]
        assert wave_store.record_halts(session, {1: "again"}, at=AT) == []  # once per wave
    return url


def test_waves_show_state_progress_health_and_the_halt(tmp_path: Path) -> None:
    url = store_with_waves(tmp_path)
    result = runner.invoke(app, ["wave", "--state-db", url, "--output", "json"])
    assert result.exit_code == 0, result.output
    rows = {row["wave"]: row for row in json.loads(result.output)["waves"]}
    assert rows[1] | {"halted": None} == {
        "wave": 1,
        "state": "halted",
        "systems": 2,
        "finished": 2,
        "rolled_back_or_failed": 1,
        "share_bad": 0.5,
        "halted": None,
    }
    assert rows[1]["halted"] == {
        "reason": "1 of 2 rolled back",
        "at": "2026-12-02T08:00:00Z",
        "resumed_at": None,
        "resumed_by": None,
    }
    assert (rows[2]["state"], rows[2]["halted"]) == ("waiting", None)
    table = runner.invoke(app, ["wave", "--state-db", url])
    assert "halted" in table.output
    assert "50.0%" in table.output


def test_resuming_a_wave_that_is_not_halted_is_refused_before_anything_is_sent(
    tmp_path: Path,
) -> None:
    url = store_with_waves(tmp_path)
    result = runner.invoke(
        app, ["wave", "resume", "2", "--state-db", url, "--bootstrap-servers", "127.0.0.1:1"]
    )
    assert result.exit_code != 0
    assert "wave 2 is not halted: nothing to resume" in str(result.exception)
    with open_store(url, create=False) as store, store.transaction() as session:
        assert wave_store.resume(session, 1, by="ops", reason="ok", at=AT)
        assert not wave_store.resume(session, 1, by="ops", reason="again", at=AT)
    again = runner.invoke(app, ["wave", "resume", "1", "--state-db", url])
    assert "wave 1 is not halted" in str(again.exception)
    bad = runner.invoke(app, ["wave", "resume", "0", "--state-db", url])
    assert bad.exit_code == 2
    assert "Invalid value for 'W'" in bad.output
