"""Building the phase worker of ``govmig run`` from its settings.

Composition only, beside ``orchestrator.py``: the executor (``PhaseRunner``
on the repository's ``playbooks/``), the node targets from the inventory, the
``local`` provider's check that a system's source exists on this machine
(``govmig run`` never creates sources; the demo and the tests do), the
failure-injection plan of the tests and the demo, and an instance id.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable

from orchestrator.execution import PhaseRunner
from orchestrator.execution.local_sandbox import DEFAULT_PLAYBOOK_DIR, source_dir
from orchestrator.inventory import Inventory
from orchestrator.migrations import Phase
from orchestrator.settings import WorkerSettings
from orchestrator.store import Store
from orchestrator.worker.batches import Precheck
from orchestrator.worker.phase_worker import PhaseWorker
from orchestrator.worker.ports import Observes, WorkerConfig
from orchestrator.worker.scheduling import Limits
from orchestrator.worker.targets import FaultPlan, node_targets


def instance_id(settings: WorkerSettings) -> str:
    """The configured instance id, or a fresh one: this host's name and a random suffix."""
    if settings.instance_id:
        return settings.instance_id
    return f"{socket.gethostname()[:60]}-{uuid.uuid4().hex[:8]}"


def local_precheck(settings: WorkerSettings) -> Precheck | None:
    """For the ``local`` provider: preflight fails at once, saying why, without a source."""
    if settings.provider != "local":
        return None
    work_root = settings.work_root.resolve()

    def check(phase: Phase, system_id: str) -> str | None:
        if phase is not Phase.PREFLIGHT:
            return None
        home = source_dir(work_root, system_id)
        if home.is_dir():
            return None
        return (
            f"no source for {system_id} on this machine: {home} does not exist "
            "(govmig run does not create sources; prepare them first, as the demo does)"
        )

    return check


def build_worker(
    settings: WorkerSettings,
    *,
    store: Store,
    inventory: Inventory,
    observer: Observes | None,
    after_commit: Callable[[], object],
) -> PhaseWorker:
    """A phase worker that runs the repository's playbooks with these settings."""
    runner = PhaseRunner(
        playbook_dir=DEFAULT_PLAYBOOK_DIR,
        artifacts_dir=settings.artifacts_dir,
        work_root=settings.work_root,
        provider=settings.provider,
        use_mitogen=settings.mitogen,
        timeout_s=settings.phase_timeout_s,
        forks=settings.forks,
    )
    limits = Limits(
        batch_size=settings.phase_batch_size,
        batch_window_s=settings.batch_window_s,
        node_concurrency=settings.node_concurrency,
        max_batches=settings.max_batches,
    )
    config = WorkerConfig(
        instance_id=instance_id(settings),
        limits=limits,
        lease_ttl_s=settings.lease_ttl_s,
        heartbeat_s=min(settings.heartbeat_s, settings.lease_ttl_s / 3),
    )
    return PhaseWorker(
        store,
        runner,
        nodes=node_targets(inventory.nodes),
        config=config,
        observer=observer,
        after_commit=after_commit,
        faults=FaultPlan.parse(settings.inject_failures),
        precheck=local_precheck(settings),
    )
