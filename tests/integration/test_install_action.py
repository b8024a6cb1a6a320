"""``govmig_install`` through real ``ansible-playbook`` under ``govmig_mitogen``, started as
``PhaseRunner`` starts it: a directory is made, and a file from the controller and a text
written in it, on the host; a second run writes nothing, and an entry that gives both or
neither of ``src`` and ``content`` fails its task saying so, writing nothing. The roles' own
installs run on the lab in test_ssh_provider and test_ssh_hardened. A directory without its
mode fails its task likewise, making nothing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.playbook_start import run_tasks

pytestmark = pytest.mark.ansible

TASKS = """\
- name: Install a helper and a record
  govmig_install:
    directories: {directories}
    files: {files}
  register: installed

- name: Report what was written
  ansible.builtin.debug:
    msg: "written={{{{ installed.written | to_json }}}}"
"""


def run(
    root: Path, files: list[dict[str, object]], directories: list[dict[str, str]] | None = None
) -> subprocess.CompletedProcess[str]:
    tasks = TASKS.format(files=json.dumps(files), directories=json.dumps(directories or []))
    return run_tasks(root, tasks)


def test_files_are_written_once_and_a_second_run_writes_nothing(tmp_path: Path) -> None:
    source = tmp_path / "svcctl.py"
    source.write_text("print('helper')\n")
    host = tmp_path / "host"
    files: list[dict[str, object]] = [
        {"src": str(source), "dest": str(host / "svcctl.py"), "mode": "0644"},
        {"content": '{"quiesced": true}\n', "dest": str(host / "record.json"), "mode": "0600"},
    ]
    directories = [{"path": str(host), "mode": "0750"}]  # made first

    first = run(tmp_path, files, directories)
    assert first.returncode == 0, first.stdout + first.stderr
    assert (host / "svcctl.py").read_text() == "print('helper')\n"
    assert (host / "record.json").read_text() == '{"quiesced": true}\n'
    assert (host / "record.json").stat().st_mode & 0o777 == 0o600
    assert host.stat().st_mode & 0o777 == 0o750
    assert "changed=1" in first.stdout.replace(" ", "")

    second = run(tmp_path, files, directories)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "written=[]" in second.stdout
    assert "changed=0" in second.stdout.replace(" ", "")
    assert "print('helper')" not in second.stdout  # the files' bytes are in no result


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"src": "svcctl.py", "content": "x\n"}, "parameters are mutually exclusive: src|content"),
        ({}, "one of the following is required: src, content"),
    ],
    ids=["src-and-content", "neither"],
)
def test_an_entry_with_both_or_neither_source_fails_saying_so_and_writes_nothing(
    tmp_path: Path, entry: dict[str, object], message: str
) -> None:
    dest = tmp_path / "written"
    done = run(tmp_path, [{"dest": str(dest), "mode": "0644", **entry}])
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stdout, done.stdout
    assert not dest.exists()


def test_a_directory_without_its_mode_fails_saying_so_and_makes_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "made"
    done = run(tmp_path, [], [{"path": str(dest)}])
    assert done.returncode == 2, done.stdout + done.stderr
    assert "missing required arguments: mode found in directories" in done.stdout, done.stdout
    assert not dest.exists()
