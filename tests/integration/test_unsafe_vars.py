"""Strings from events never become Ansible templates, even if one got past validation.

Every string an event puts in a host's vars is validated to a safe pattern when
the event is decoded, and handed to Ansible marked unsafe all the same. Here a
source host that validation would refuse (``SourceLocation.model_construct``
skips it) reaches a real ansible-runner run of a playbook that renders every
such var: the text comes back as it was, and the lookup in it never ran.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from orchestrator.execution import NodeTarget
from orchestrator.execution.runner import PhaseRunner
from orchestrator.execution.targets import common_host_vars
from orchestrator.inventory.models import SourceLocation
from orchestrator.migrations import Phase
from orchestrator.providers import LocalProvider
from tests.fixtures.targets import system_target

pytestmark = pytest.mark.ansible

NODE = NodeTarget(node_id="shantou", ipv6_prefix="2001:db8:1::/48")
ECHO = """\
    ---
    - name: Render every var an event put in the host's vars
      hosts: all
      gather_facts: false
      tasks:
        - name: Report them as Ansible sees them
          ansible.builtin.set_fact:
            govmig_report:
              system_id: "{{ govmig_system_id }}"
              source_host: "{{ govmig_source_host }}"
"""


def test_a_template_in_an_events_string_is_never_evaluated(tmp_path: Path) -> None:
    proof = tmp_path / "evaluated"
    hostile = f"{{{{ lookup('pipe', 'touch {proof}') }}}}"
    source = SourceLocation.model_construct(city="shantou", site="x", host=hostile)
    target = system_target("sz-tax", source=source)
    event_strings = {
        name for name, value in common_host_vars(target).items() if isinstance(value, dict)
    }
    assert event_strings == {"govmig_system_id", "govmig_source_host"}, "each one is rendered"
    playbooks = tmp_path / "playbooks"
    (playbooks / "roles" / "local").mkdir(parents=True)  # the runner checks its provider has one
    (playbooks / "preflight.yml").write_text(textwrap.dedent(ECHO))
    runner = PhaseRunner(
        playbook_dir=playbooks,
        artifacts_dir=tmp_path / "artifacts",
        provider=LocalProvider(tmp_path / "work"),
    )
    result = runner.run(Phase.PREFLIGHT, [(NODE, [target])])
    assert result.ok, result.outcomes
    assert dict(result.outcome("sz-tax").report) == {"system_id": "sz-tax", "source_host": hostile}
    assert not proof.exists(), "the lookup ran"
