"""What the phase worker plugs into: the executor, the observer hooks, and its configuration.

Small types beside ``worker.py``. ``Executor`` is what ``execution.PhaseRunner``
already is (tests and the benchmark may pass another); ``PhaseObserver`` is
the no-op default of the two hooks ``observability.MetricsObserver`` has, so
the worker never imports Prometheus.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from orchestrator.execution import BatchResult, HostOutcome, NodeTarget, SystemTarget
from orchestrator.migrations import Phase
from orchestrator.worker.batches import Claimed
from orchestrator.worker.scheduling import Limits

RUN_TASK = "Start the playbook run"


class Executor(Protocol):
    """Runs one phase for a batch of systems on one node (``execution.PhaseRunner``)."""

    def run(
        self,
        phase: Phase,
        node: NodeTarget,
        systems: Sequence[SystemTarget],
        *,
        cancel: threading.Event | None = None,
    ) -> BatchResult:
        """One playbook run; one outcome per system."""
        ...


class PhaseObserver:
    """Hooks the worker calls; no-ops here (``MetricsObserver`` has the same two)."""

    def after_phase(self, phase: str, duration_s: float) -> None:
        """One system left ``phase`` after ``duration_s`` seconds in it."""

    def after_playbook(self, phase: str, status: str, batch_size: int) -> None:
        """One playbook run of ``phase`` for ``batch_size`` systems ended in ``status``."""


class Observes(Protocol):
    """Anything with the worker's hooks."""

    def after_phase(self, phase: str, duration_s: float) -> None: ...
    def after_playbook(self, phase: str, status: str, batch_size: int) -> None: ...


@dataclass(frozen=True)
class WorkerConfig:
    """Who this worker is, how much it runs at once, and how long its leases last."""

    instance_id: str
    limits: Limits = field(default_factory=Limits)
    lease_ttl_s: float = 30.0
    heartbeat_s: float = 10.0
    poll_s: float = 0.2


def crashed(system_id: str, message: str) -> HostOutcome:
    """The outcome of a system whose playbook run could not even start."""
    return HostOutcome(system_id, ok=False, failed_task=RUN_TASK, message=message)


def failed_result(claimed: Claimed, outcomes: Sequence[HostOutcome]) -> BatchResult:
    """A result standing in for a run that never happened (no artifacts)."""
    return BatchResult(
        phase=claimed.batch.phase,
        node=claimed.batch.node,
        ident="",
        artifact_dir=Path(),
        rc=-1,
        status="error",
        duration_s=0.0,
        strategy="",
        outcomes=tuple(outcomes),
    )
