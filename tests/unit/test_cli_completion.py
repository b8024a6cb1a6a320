"""Shell completion's suggestions: stored ids through ``store.peek``, node names from the inventory.

The completers are called as Typer calls them, with a context whose params hold
what was typed before the cursor. The store is a real SQLite file; a completion
must never create, change or leave a file beside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer

from orchestrator.cli import completion
from orchestrator.cli.completion import complete_node, complete_node_list, complete_system_id
from orchestrator.migrations import SystemState
from orchestrator.store import open_store, stored_system_ids
from tests.fixtures.seeding import drive
from tests.fixtures.systems import business_system

IDS = ("shantou-psb-001", "shantou-psb-002", "shantou-edu-001", "shaoguan-psb-001")


@pytest.fixture
def url(tmp_path: Path) -> str:
    """A closed SQLite store in which ``IDS`` are registered."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    with open_store(url) as store, store.transaction() as session:
        for system_id in IDS:
            drive(
                session, business_system(system_id, system_id.split("-")[0]), SystemState.REGISTERED
            )
    return url


def context(**params: Any) -> typer.Context:
    ctx = typer.Context(typer.core.TyperCommand("govmig"))
    ctx.params.update(params)
    return ctx


def test_stored_ids_start_with_the_prefix_in_order_and_are_bounded(url: str) -> None:
    assert stored_system_ids(url, "shantou-psb") == ["shantou-psb-001", "shantou-psb-002"]
    assert stored_system_ids(url, "") == sorted(IDS)
    assert stored_system_ids(url, "sha", limit=2) == ["shantou-edu-001", "shantou-psb-001"]
    assert stored_system_ids(url, "zhuhai") == []


def test_a_prefix_is_text_not_a_pattern(url: str) -> None:
    assert stored_system_ids(url, "%") == []
    assert stored_system_ids(url, "shantou_psb") == []


def test_a_missing_store_gives_nothing_and_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "state.db"
    assert stored_system_ids(f"sqlite:///{missing}", "") == []
    assert not missing.parent.exists()


def test_reading_leaves_no_file_beside_a_closed_store(url: str, tmp_path: Path) -> None:
    before = sorted(path.name for path in tmp_path.iterdir())
    stored_system_ids(url, "shantou")
    assert sorted(path.name for path in tmp_path.iterdir()) == before == ["state.db"]


def test_a_running_writer_s_commits_are_seen(url: str, tmp_path: Path) -> None:
    with open_store(url) as store:
        with store.transaction() as session:
            drive(session, business_system("shantou-tax-001"), SystemState.REGISTERED)
        assert (tmp_path / "state.db-wal").exists(), "the commit is in the write-ahead log"
        assert stored_system_ids(url, "shantou-tax") == ["shantou-tax-001"]


@pytest.mark.parametrize(
    "bad",
    [
        "not a url",
        "mysql://localhost/govmig",
        "sqlite://",
        "postgresql://nobody@127.0.0.1:1/none",
    ],
)
def test_any_failure_gives_nothing(bad: str) -> None:
    assert stored_system_ids(bad, "", timeout_s=0.5) == []


def test_a_file_that_is_not_a_store_gives_nothing(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not sqlite at all" * 100)
    assert stored_system_ids(f"sqlite:///{junk}", "") == []
    assert junk.read_bytes() == b"not sqlite at all" * 100


def test_system_ids_come_from_the_typed_state_db_less_those_already_typed(url: str) -> None:
    ctx = context(state_db=url, system_ids=("shantou-psb-001",))
    assert complete_system_id(ctx, "shantou-psb") == ["shantou-psb-002"]


def test_system_ids_come_from_govmig_state_db_without_the_option(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOVMIG_STATE_DB", url)
    assert complete_system_id(context(), "shaoguan") == ["shaoguan-psb-001"]


def test_settings_that_fail_give_no_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_given: str | None) -> str:
        raise ValueError("a malformed GOVMIG_* variable")

    monkeypatch.setattr(completion, "state_db_url", broken)
    assert complete_system_id(context(), "") == []


def test_node_names_come_from_the_inventory() -> None:
    assert complete_node(context(), "sha") == ["shantou", "shanwei", "shaoguan"]
    assert complete_node(context(), "guangzhou") == []  # a PRD platform, not a city node


def test_node_names_from_a_missing_inventory_are_none(tmp_path: Path) -> None:
    assert complete_node(context(inventory=tmp_path / "none"), "") == []


def test_a_node_list_completes_its_last_name_and_skips_those_chosen() -> None:
    assert complete_node_list(context(), "shantou,sha") == ["shantou,shanwei", "shantou,shaoguan"]
    assert complete_node_list(context(), "yun") == ["yunfu"]
    assert complete_node_list(context(), "yunfu,yun") == []
