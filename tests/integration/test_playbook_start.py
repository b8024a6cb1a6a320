"""Real ``ansible-playbook`` started the way ``PhaseRunner`` starts it
(``playbooks/plugin_utils/govmig_playbook.py``): the first run keeps the documents
ansible-core parses at every start, a second run with the same installation parses none
of them again and does the same, and nothing of the user's (a variable's value, the
inventory) is ever kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.execution.runner import PLAYBOOK_START
from tests.fixtures.playbook_start import start_playbook

pytestmark = pytest.mark.ansible

SECRET = "govmig-secret-3f9c1e7a"
PLAYBOOK = """
- hosts: all
  gather_facts: false
  vars_files: [vars.yml]
  tasks:
    - ansible.builtin.debug:
        msg: "{{ greeting }} from {{ inventory_hostname }}"
"""


def kept(root: Path) -> dict[Path, int]:
    """Each entry the runs kept, with its modification time."""
    found = (root / "cache" / "govmig" / "playbook-yaml").glob("*/[!.]*")
    return {path: path.stat().st_mtime_ns for path in found}


def test_a_second_start_parses_none_of_ansibles_own_documents_again_and_does_the_same(
    tmp_path: Path,
) -> None:
    (tmp_path / "site.yml").write_text(PLAYBOOK, encoding="utf-8")
    (tmp_path / "vars.yml").write_text(f"greeting: hello {SECRET}\n", encoding="utf-8")
    first = start_playbook(tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    after_first = kept(tmp_path)
    second = start_playbook(tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr

    # The routing table, the settings' definitions, and the documentation of the plugins
    # the run loaded (callback, connection, shell, inventory plugins...).
    assert len(after_first) >= 5
    assert kept(tmp_path) == after_first  # nothing parsed and kept again
    assert f"hello {SECRET} from alpha" in second.stdout
    # The same lines (the two hosts' results may come in either order).
    assert sorted(first.stdout.splitlines()) == sorted(second.stdout.splitlines())
    for entry in after_first:
        content = entry.read_bytes()
        assert SECRET.encode() not in content
        assert b"alpha" not in content


MITOGEN_PLAYBOOK = """
- hosts: all
  gather_facts: false
  strategy: govmig_mitogen
  tasks:
    - ansible.builtin.command:
        argv: [echo, "{{ inventory_hostname }} ran"]
"""


def test_a_run_under_mitogen_never_runs_the_collection_listing_it_does_not_use(
    tmp_path: Path,
) -> None:
    """Mitogen's planner imports ``ansible.collections.list``, and with it ansible-galaxy's
    code, for a module in a collection: a run of ansible-core's modules never runs it."""
    (tmp_path / "site.yml").write_text(MITOGEN_PLAYBOOK, encoding="utf-8")
    strategies = PLAYBOOK_START.parent.parent / "strategy_plugins"
    done = start_playbook(tmp_path, "-X", "importtime", ANSIBLE_STRATEGY_PLUGINS=str(strategies))

    assert done.returncode == 0, done.stdout + done.stderr
    assert "changed=1" in done.stdout.replace(" ", "")  # the command ran, under Mitogen
    imported = {line.rpartition("|")[2].strip() for line in done.stderr.splitlines()}
    assert "ansible_mitogen.planner" in imported
    assert "ansible.collections.list" not in imported
    assert "ansible.cli.galaxy" not in imported
