"""What a provider supplies to a playbook run: the one typed seam between govmig and a platform.

A provider is a small Python module in ``orchestrator/providers/`` plus its
Ansible role in ``playbooks/roles/<name>/`` (the role does the work; the phase
playbooks import it by ``govmig_provider``). The executor asks it for each
host's connection vars and per-host vars, keeps the environment variables it
names, adds those it sets, and hands its secrets to ansible-runner; the phase
worker asks it for prechecks and for its secrets at each batch (so a rotated
key is picked up).

Everything a provider returns is data for an inventory, never a path or shell
text taken from an event: its inputs are the validated ``SystemTarget`` and
``NodeTarget``. Its secrets are ``govmig_secret_*`` names (``check_secrets``),
so the executor can scrub them from every outcome and log line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from orchestrator.execution.targets import ExecutionHost, NodeTarget, SystemTarget
from orchestrator.migrations.states import Phase


class Provider(Protocol):
    """One way of carrying out the phases; see the module docstring."""

    @property
    def name(self) -> str:
        """The provider's name, which is also its role's name under ``playbooks/roles/``."""
        ...

    @property
    def env_names(self) -> frozenset[str]:
        """Environment variables its role needs beyond the executor's own (e.g. ``OS_*``).

        A name ending in ``*`` keeps every variable with that prefix.
        """
        ...

    @property
    def run_env(self) -> Mapping[str, str]:
        """Environment variables its runs start with, beyond the executor's own. A value's
        ``$NAME`` is left for Ansible to expand where it reads it (``$GOVMIG_RUN_TMP``: the
        run's own temp dir, which its guard makes)."""
        ...

    def connection_vars(self, system: SystemTarget, node: NodeTarget) -> Mapping[str, Any]:
        """How Ansible reaches ``system``'s host (``ansible_connection``, ``ansible_host``...)."""
        ...

    def host_vars(self, system: SystemTarget, node: NodeTarget) -> Mapping[str, Any]:
        """The vars its role reads for ``system`` beyond the common ``govmig_*`` ones."""
        ...

    def delegate_hosts(
        self, system: SystemTarget, node: NodeTarget
    ) -> Mapping[str, Mapping[str, Any]]:
        """The hosts its role delegates ``system``'s tasks to (``delegate_to: name``), by
        name, each with how Ansible reaches it from where ``node``'s runs run; put in the
        inventory beside the systems."""
        ...

    def precheck(self, phase: Phase, system: SystemTarget) -> str | None:
        """Why ``system`` cannot run ``phase`` here at all (no playbook runs then), or None."""
        ...

    def secrets(self) -> Mapping[str, str]:
        """The ``govmig_secret_*`` values its role needs, read afresh for each batch."""
        ...

    def execution_host(self, node: NodeTarget) -> ExecutionHost | None:
        """The machine that runs ``node``'s playbooks, or None to run them here."""
        ...
