"""The ``local`` provider: every city node is a sandbox directory on the orchestrator's machine.

For laptops, quick tests and the demo. Its role (``playbooks/roles/local/``)
copies a source directory into ``<work root>/nodes/<node>/instances/<system>``,
starts the service there and switches a JSON name record; the sources
themselves are made by ``local_sandbox.prepare_source`` (the demo and the
tests do it; ``govmig run`` never creates a source). Every host runs on this
machine (``ansible_connection: local``), so it needs no secret and no
environment beyond the executor's own.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.execution import ExecutionHost, NodeTarget, SystemTarget
from orchestrator.execution.guard import RUN_TMP_ENV
from orchestrator.execution.targets import plain_path
from orchestrator.migrations import Phase
from orchestrator.providers.local_sandbox import source_dir
from orchestrator.settings import WorkerSettings


def check_work_root(work_root: Path) -> Path:
    """An absolute work root made only of characters that are inert in a template."""
    plain_path(work_root, "work root")
    return work_root


@dataclass(frozen=True)
class LocalProvider:
    """Sandbox directories under ``work_root`` stand in for sources, nodes and DNS."""

    work_root: Path
    python: str = sys.executable
    name: str = "local"
    env_names: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "work_root", check_work_root(self.work_root.resolve()))

    @classmethod
    def from_settings(cls, settings: WorkerSettings) -> LocalProvider:
        """The provider ``govmig run --provider local`` uses."""
        return cls(work_root=settings.work_root)

    @property
    def run_env(self) -> Mapping[str, str]:
        """Every host is this machine: its modules' temporary files go in the run's own temp
        dir (the guard's), which goes with the run however it ends. Ansible's default,
        ``~/.ansible/tmp``, kept what every run killed mid-task left there."""
        return {"ANSIBLE_REMOTE_TEMP": f"${RUN_TMP_ENV}"}

    def connection_vars(self, system: SystemTarget, node: NodeTarget) -> Mapping[str, Any]:
        """Every host is this machine, run by the orchestrator's own interpreter."""
        return {"ansible_connection": "local", "ansible_python_interpreter": self.python}

    def host_vars(self, system: SystemTarget, node: NodeTarget) -> Mapping[str, Any]:
        """Where the sandbox is."""
        return {"govmig_work_root": str(self.work_root)}

    def delegate_hosts(
        self, system: SystemTarget, node: NodeTarget
    ) -> Mapping[str, Mapping[str, Any]]:
        """None: the source is a directory on this machine, like the target."""
        return {}

    def precheck(self, phase: Phase, system: SystemTarget) -> str | None:
        """Preflight fails at once, saying why, when the system has no source here."""
        if phase is not Phase.PREFLIGHT:
            return None
        home = source_dir(self.work_root, system.system_id)
        if home.is_dir():
            return None
        return (
            f"no source for {system.system_id} on this machine: {home} does not exist "
            "(govmig run does not create sources; prepare them first, as the demo does)"
        )

    def secrets(self) -> Mapping[str, str]:
        """None: nothing leaves this machine."""
        return {}

    def execution_host(self, node: NodeTarget) -> ExecutionHost | None:
        """None: its nodes are directories on this machine."""
        return None
