"""What the phase worker plugs into: the executor, the provider's side, and its configuration.

Small types beside ``phase_worker.py``. ``Executor`` is what
``execution.runner.PhaseRunner`` is (tests and the benchmark may pass
another); ``WorkerProvider`` is the part of ``execution.Provider`` the worker
itself uses: prechecks, the secrets it passes to each run, and where each
node's runs go from (nodes run from one place share batches).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from orchestrator.execution import ExecutionHost, NodeTarget, NodeWork, RunResult, SystemTarget
from orchestrator.gates.waves import WavePolicy
from orchestrator.migrations import Phase
from orchestrator.worker.replication import Replication
from orchestrator.worker.scheduling import Limits


class Executor(Protocol):
    """Runs one phase for a batch of systems on their nodes (``execution.runner.PhaseRunner``)."""

    def run(
        self,
        phase: Phase,
        work: Sequence[NodeWork],
        *,
        cancel: threading.Event | None = None,
        secrets: Mapping[str, str] | None = None,
    ) -> RunResult:
        """One playbook run; one outcome per system."""
        ...


class WorkerProvider(Protocol):
    """What the worker asks of the provider (``execution.Provider`` has all three)."""

    def precheck(self, phase: Phase, system: SystemTarget) -> str | None:
        """Why ``system`` cannot run ``phase`` here at all, or None."""
        ...

    def secrets(self) -> Mapping[str, str]:
        """The ``govmig_secret_*`` values the provider's role needs."""
        ...

    def execution_host(self, node: NodeTarget) -> ExecutionHost | None:
        """The machine that runs ``node``'s playbooks, or None to run them here."""
        ...


class NoProvider:
    """No prechecks and no secrets: for tests and benchmarks with their own executor."""

    def precheck(self, phase: Phase, system: SystemTarget) -> str | None:
        """Every system may run every phase."""
        return None

    def secrets(self) -> Mapping[str, str]:
        """None."""
        return {}

    def execution_host(self, node: NodeTarget) -> ExecutionHost | None:
        """None: every run goes from here."""
        return None


@dataclass(frozen=True)
class WorkerConfig:
    """Who this worker is, how much it runs at once, and how long its leases last."""

    instance_id: str
    limits: Limits = field(default_factory=Limits)
    lease_ttl_s: float = 30.0
    heartbeat_s: float = 10.0
    # What this process does wakes the scheduler; the poll is for what others do (another
    # instance, a command writing the store) and the gates' moments: idle, a tick a second.
    poll_s: float = 1.0
    # How often applying a batch's outcomes is tried when the store says "try again".
    apply_attempts: int = 5
    # Cold or warm replication, and what a ready system's cutover is held to (its gates).
    replication: Replication = field(default_factory=Replication)
    # Gated waves: a wave starts once every earlier one finished within this health; None: not.
    waves: WavePolicy | None = None
    # Finalize a system completed this long ago (seconds), ending its way back; None: never.
    finalize_after_s: float | None = None
