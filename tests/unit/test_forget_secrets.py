"""``govmig_forget_secrets`` removes only the run's own files with secrets.

The callback's choice of paths, on paths written here; ``test_guard`` checks a real run's
private dir holds no secret while its first task runs, and ``test_execution_hosts`` an
execution host's worker dir.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from orchestrator.data_files import PLAYBOOK_DIR
from tests.fixtures.file_modules import load_file


@pytest.fixture
def forgetting() -> ModuleType:
    return load_file(PLAYBOOK_DIR / "callback_plugins" / "govmig_forget_secrets.py")


def test_the_runs_inventory_and_key_are_chosen_and_nothing_else(
    forgetting: ModuleType, tmp_path: Path
) -> None:
    private = tmp_path / "govmig-runner-1"
    own = private / "inventory" / "hosts.json"
    own.parent.mkdir(parents=True)
    elsewhere = tmp_path / "site-inventory.yml"
    sources = (str(own), str(elsewhere), str(private), "localhost,")
    chosen = forgetting.secret_files(sources, str(private / "tmp"))
    assert chosen == [own, private / "env" / "ssh_key"]


@pytest.mark.parametrize("run_tmp", [None, ""])
def test_a_run_its_guard_did_not_name_forgets_nothing(
    forgetting: ModuleType, tmp_path: Path, run_tmp: str | None
) -> None:
    assert forgetting.secret_files((str(tmp_path / "inventory"),), run_tmp) == []


def test_a_source_that_climbs_out_of_the_private_dir_is_not_the_runs(
    forgetting: ModuleType, tmp_path: Path
) -> None:
    private = tmp_path / "govmig-runner-1"
    climbing = f"{private}/inventory/../../other/hosts"
    key = private / "env" / "ssh_key"
    assert forgetting.secret_files((climbing,), str(private / "tmp")) == [key]


def test_forget_removes_a_file_and_a_directory(forgetting: ModuleType, tmp_path: Path) -> None:
    inventory = tmp_path / "inventory"
    (inventory / "group_vars").mkdir(parents=True)
    (inventory / "hosts").write_text("[all]")
    forgetting.forget(inventory / "hosts")
    assert sorted(p.name for p in inventory.iterdir()) == ["group_vars"]
    forgetting.forget(inventory)
    assert not inventory.exists()
    forgetting.forget(inventory)  # gone already: nothing to do
