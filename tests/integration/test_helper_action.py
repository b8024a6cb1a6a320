"""``govmig_helper`` through real ``ansible-playbook`` under ``govmig_mitogen``, started as
``PhaseRunner`` starts it: the helper named in ``install`` is installed on the host from the
controller's file and then run there, in one task; a second run installs nothing and runs
it again; an install that fails fails the task saying why, and the helper never runs. The
ssh role's steps run the real helpers this way on the lab (test_ssh_provider)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.playbook_start import run_tasks

pytestmark = pytest.mark.ansible

TASKS = """\
- name: Install the helper and run it
  govmig_helper:
    install: {install}
    argv: {argv}
  register: ran

- name: Report what was written and what the helper said
  ansible.builtin.debug:
    msg: "written=[{{{{ ran.written | join(',') }}}}] said={{{{ ran.stdout }}}}"
"""

HELPER = """\
import sys
from pathlib import Path

def main(argv):
    Path(argv[0]).write_text("ran\\n")
    print("helper ran with", argv[0])
    return 0
"""


def run(
    root: Path, install: list[dict[str, str]], argv: list[str]
) -> subprocess.CompletedProcess[str]:
    return run_tasks(root, TASKS.format(install=json.dumps(install), argv=json.dumps(argv)))


def test_the_helper_is_installed_then_run_and_a_second_run_only_runs_it(tmp_path: Path) -> None:
    source, home = tmp_path / "probe.py", tmp_path / "home"
    source.write_text(HELPER)
    home.mkdir()
    marker = tmp_path / "marker"
    install = [{"src": str(source), "dest": str(home / "probe.py"), "mode": "0644"}]
    argv = [sys.executable, str(home / "probe.py"), str(marker)]

    first = run(tmp_path, install, argv)
    assert first.returncode == 0, first.stdout + first.stderr
    assert (home / "probe.py").read_text() == HELPER
    assert f"written=[{home / 'probe.py'}] said=helper ran with {marker}" in first.stdout
    assert marker.read_text() == "ran\n"

    marker.unlink()
    second = run(tmp_path, install, argv)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"written=[] said=helper ran with {marker}" in second.stdout
    assert marker.read_text() == "ran\n"
    assert "import sys" not in second.stdout  # the helper's bytes are in no result


def test_a_failed_install_fails_the_task_saying_why_and_the_helper_never_runs(
    tmp_path: Path,
) -> None:
    home, marker = tmp_path / "home", tmp_path / "marker"
    home.mkdir()
    (home / "probe.py").write_text(HELPER)  # there already: only the install can stop it
    install = [
        {"src": str(tmp_path / "missing.py"), "dest": str(home / "probe.py"), "mode": "0644"}
    ]

    done = run(tmp_path, install, [sys.executable, str(home / "probe.py"), str(marker)])
    assert done.returncode == 2, done.stdout + done.stderr
    assert "missing.py" in done.stdout, done.stdout
    assert not marker.exists()
