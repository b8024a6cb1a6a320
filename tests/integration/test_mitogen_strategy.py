"""govmig_mitogen_linear through real ansible-runner: no process of a run is pinned to a CPU.

Mitogen's own policy pins a run's controller and every worker to one CPU (on fewer than
4, the same one for all), so concurrent runs shared it. Here a playbook's workers read
the CPUs they may run on (``/proc/self/status`` of a ``pipe`` lookup, which inherits the
worker's mask) and must find every CPU this test may use.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestrator.execution import NodeTarget
from orchestrator.execution.runner import PhaseRunner
from orchestrator.migrations.states import Phase
from orchestrator.providers import LocalProvider
from tests.fixtures.targets import system_target

pytestmark = pytest.mark.ansible

NODE = NodeTarget(node_id="shantou", ipv6_prefix="2001:db8:1::/48")
PLAYBOOK = """\
- name: Report the CPUs each worker may run on
  hosts: all
  gather_facts: false
  tasks:
    - name: Read the mask a worker's child inherits
      ansible.builtin.set_fact:
        govmig_report:
          cpus: "{{ lookup('pipe', 'grep Cpus_allowed_list /proc/self/status').split()[-1] }}"
"""


def cpu_list(text: str) -> set[int]:
    """The CPUs of a kernel CPU list such as ``0-1,4``."""
    cpus: set[int] = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return cpus


def test_a_runs_workers_may_run_on_every_cpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # its module cache: new
    playbooks = tmp_path / "playbooks"
    (playbooks / "roles" / "local").mkdir(parents=True)  # the runner asks for its provider's role
    (playbooks / "preflight.yml").write_text(PLAYBOOK)
    runner = PhaseRunner(
        playbook_dir=playbooks,
        artifacts_dir=tmp_path / "artifacts",
        provider=LocalProvider(work_root=tmp_path / "work"),
    )
    hosts = [system_target(name, ipv6_index=i) for i, name in enumerate(("a", "b", "c"), 1)]

    result = runner.run(Phase.PREFLIGHT, [(NODE, hosts)])

    assert result.ok, result
    assert result.strategy == "govmig_mitogen_linear"
    found = {
        outcome.system_id: cpu_list(str(outcome.report["cpus"])) for outcome in result.outcomes
    }
    assert found == dict.fromkeys(("a", "b", "c"), os.sched_getaffinity(0))
