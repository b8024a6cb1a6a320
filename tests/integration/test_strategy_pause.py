"""govmig_mitogen's loop pauses between its passes over the hosts only while a task's result
is awaited, through real ``ansible-playbook`` started as ``PhaseRunner`` starts it.

A meta task (``meta: noop`` here; the implicit ``flush_handlers`` of each section of a play
and an imported role's ``role_complete`` in every phase's run) runs in the loop itself and
sends no result. The loop used to pause after each one until some result arrived, or for
the whole ``DEAD_WORKER_CHECK_S`` when none was coming, and once more in its last pass,
which finds every host done. With ``-vvv`` the strategy says how many pauses waited that
long: a play of meta tasks alone awaits no result, so none may.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.playbook_start import run_tasks

pytestmark = pytest.mark.ansible

TASKS = """\
- name: Nothing
  ansible.builtin.meta: noop

- name: Nothing again
  ansible.builtin.meta: noop

- name: Nothing a third time
  ansible.builtin.meta: noop
"""


def test_no_pause_waits_out_its_time_when_no_result_is_awaited(tmp_path: Path) -> None:
    done = run_tasks(tmp_path, TASKS, hosts="alpha,beta,", ANSIBLE_VERBOSITY="3")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("META: noop") == 6  # each host's three
    assert "govmig_mitogen: the loop's pause ran out 0 times" in done.stdout, done.stdout
