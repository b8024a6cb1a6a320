"""``govmig_install`` writes a host's files in one step, each only if its bytes or mode differ.

The module run as a process, as Ansible runs it, on files here; its action reads the
controller's files once a run. The ssh role's tests install the real helpers through both
on the lab.
"""

from __future__ import annotations

import base64
import stat
from pathlib import Path
from types import ModuleType

import pytest

from orchestrator.data_files import PLAYBOOK_DIR
from tests.fixtures.file_modules import load_file, run_module


def entry(dest: Path, text: str, mode: str = "0644", force: bool = True) -> dict[str, object]:
    content = base64.b64encode(text.encode()).decode()
    return {"dest": str(dest), "mode": mode, "content": content, "force": force}


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_missing_files_are_written_with_their_modes(tmp_path: Path) -> None:
    key, helper = tmp_path / "known_hosts", tmp_path / "svcctl.py"
    done = run_module(
        "govmig_install", {"files": [entry(key, "k1\n", "0600"), entry(helper, "v1\n")]}, tmp_path
    )
    assert done["changed"] is True
    assert done["written"] == [str(key), str(helper)]
    assert "invocation" in done  # the action drops it: it carries every file's bytes
    assert (key.read_text(), mode_of(key)) == ("k1\n", 0o600)
    assert (helper.read_text(), mode_of(helper)) == ("v1\n", 0o644)


def test_only_what_differs_is_written_and_a_new_version_replaces_the_old_whole(
    tmp_path: Path,
) -> None:
    same, other_mode, changed = tmp_path / "same", tmp_path / "mode", tmp_path / "changed"
    for path in (same, other_mode, changed):
        path.write_text("v1\n")
        path.chmod(0o644)
    other_mode.chmod(0o600)
    inodes = {path: path.stat().st_ino for path in (same, other_mode, changed)}

    files = [entry(same, "v1\n"), entry(other_mode, "v1\n"), entry(changed, "v2, longer\n")]
    done = run_module("govmig_install", {"files": files}, tmp_path)

    assert done["written"] == [str(other_mode), str(changed)]
    assert (same.stat().st_ino, other_mode.stat().st_ino) == (inodes[same], inodes[other_mode])
    assert mode_of(other_mode) == 0o644
    assert changed.read_text() == "v2, longer\n"
    assert changed.stat().st_ino != inodes[changed]  # renamed over it, never rewritten in place
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(".")) == []
    again = run_module("govmig_install", {"files": files}, tmp_path)
    assert (again["changed"], again["written"]) == (False, [])


def test_a_file_not_forced_is_kept_whatever_it_holds(tmp_path: Path) -> None:
    record = tmp_path / "migration.json"
    record.write_text('{"first": true}\n')
    done = run_module("govmig_install", {"files": [entry(record, "{}\n", force=False)]}, tmp_path)
    assert (done["changed"], record.read_text()) == (False, '{"first": true}\n')


def test_check_mode_says_what_would_be_written_and_writes_nothing(tmp_path: Path) -> None:
    helper = tmp_path / "svcctl.py"
    args = {"files": [entry(helper, "v1\n")], "_ansible_check_mode": True}
    done = run_module("govmig_install", args, tmp_path)
    assert (done["changed"], done["written"]) == (True, [str(helper)])
    assert not helper.exists()


def test_directories_are_made_with_their_parents_before_the_files_then_left_alone(
    tmp_path: Path,
) -> None:
    home, loose = tmp_path / "srv" / "system", tmp_path / "loose"
    loose.mkdir(mode=0o700)
    args = {
        "directories": [
            {"path": str(home / "data"), "mode": "0750"},
            {"path": str(loose), "mode": "0755"},
        ],
        "files": [entry(home / "migration.json", "{}\n")],
    }
    done = run_module("govmig_install", args, tmp_path)
    assert done["written"] == [str(home / "data"), str(loose), str(home / "migration.json")]
    assert (mode_of(home / "data"), mode_of(loose)) == (0o750, 0o755)
    assert (home / "migration.json").read_text() == "{}\n"
    again = run_module("govmig_install", args, tmp_path)
    assert (again["changed"], again["written"]) == (False, [])


def test_check_mode_makes_no_directory(tmp_path: Path) -> None:
    home = tmp_path / "system"
    args = {
        "directories": [{"path": str(home), "mode": "0755"}],
        "files": [],
        "_ansible_check_mode": True,
    }
    done = run_module("govmig_install", args, tmp_path)
    assert (done["changed"], done["written"]) == (True, [str(home)])
    assert not home.exists()


def test_a_directory_where_a_file_is_fails_the_task_saying_so(tmp_path: Path) -> None:
    taken = tmp_path / "system"
    taken.write_text("not a directory\n")
    args: dict[str, object] = {"directories": [{"path": str(taken), "mode": "0755"}], "files": []}
    done = run_module("govmig_install", args, tmp_path)
    assert done["failed"] is True
    assert done["msg"] == f"cannot install {taken}: it is there and not a directory"
    assert taken.read_text() == "not a directory\n"


@pytest.mark.parametrize(
    ("dest", "mode", "message"),
    [
        ("missing/svcctl.py", "0644", "cannot install {tmp}/missing/svcctl.py: No such file"),
        ("svcctl.py", "rw-r--r--", "mode 'rw-r--r--' of {tmp}/svcctl.py is not octal"),
    ],
)
def test_a_file_that_cannot_be_installed_fails_the_task_saying_why(
    tmp_path: Path, dest: str, mode: str, message: str
) -> None:
    done = run_module("govmig_install", {"files": [entry(tmp_path / dest, "v1\n", mode)]}, tmp_path)
    assert done["failed"] is True
    assert str(done["msg"]).startswith(message.format(tmp=tmp_path))


@pytest.fixture
def action() -> ModuleType:
    return load_file(PLAYBOOK_DIR / "action_plugins" / "govmig_install.py")


def test_the_action_reads_a_controller_file_again_only_once_it_changed(
    action: ModuleType, tmp_path: Path
) -> None:
    helper = tmp_path / "svcctl.py"
    helper.write_text("v1\n")
    first = action.encoded(str(helper))
    helper.with_name("elsewhere").write_text("unrelated\n")
    assert action.encoded(str(helper)) == first == base64.b64encode(b"v1\n").decode()
    helper.write_text("version 2\n")  # another size, another time: read again
    assert base64.b64decode(action.encoded(str(helper))) == b"version 2\n"
