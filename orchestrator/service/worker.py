"""Building the phase worker of ``govmig run`` from its settings.

Composition only, beside ``orchestrator.py``: the provider the settings name
(``orchestrator.providers``), the executor (``PhaseRunner`` on the
repository's ``playbooks/``, with the failure-injection plan of the tests and
the demo as a host-vars hook), the node targets from the inventory, and an
instance id (``instance.py``: stable across restarts on one host).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from orchestrator.data_files import PLAYBOOK_DIR
from orchestrator.execution import FaultPlan
from orchestrator.execution.guard import end_orphaned_runs
from orchestrator.execution.runner import PhaseRunner
from orchestrator.execution.targets import retention_vars
from orchestrator.gates.waves import WavePolicy
from orchestrator.hooks import Hooks
from orchestrator.inventory import Calendar, Inventory
from orchestrator.inventory.cutover_policy import CutoverPolicy
from orchestrator.migrations.replication import WarmPolicy
from orchestrator.providers import build_provider
from orchestrator.service.instance import slot_instance_id
from orchestrator.settings import WorkerSettings
from orchestrator.store import Store
from orchestrator.worker import Limits, PhaseWorker, WorkerConfig
from orchestrator.worker.replication import Replication, parse_budgets, parse_criticalities
from orchestrator.worker.targets import node_targets

log = logging.getLogger(__name__)


def instance_id(settings: WorkerSettings, database: str) -> str:
    """The configured instance id, or this host's lowest free slot for ``database``."""
    return settings.instance_id or slot_instance_id(database)


def worker_config(
    settings: WorkerSettings,
    database: str,
    cutover: CutoverPolicy | None = None,
    calendar: Calendar | None = None,
) -> WorkerConfig:
    """Who the worker is, how much it runs at once, and what a cutover is held to."""
    limits = Limits(
        batch_size=settings.phase_batch_size,
        batch_window_s=settings.batch_window_s,
        node_concurrency=settings.node_concurrency,
        max_batches=settings.max_batches,
    )
    return WorkerConfig(
        instance_id=instance_id(settings, database),
        limits=limits,
        lease_ttl_s=settings.lease_ttl_s,
        heartbeat_s=min(settings.heartbeat_s, settings.lease_ttl_s / 3),
        poll_s=settings.poll_s,
        replication=replication_of(settings, cutover, calendar),
        waves=None if settings.wave_threshold is None else WavePolicy(settings.wave_threshold),
        finalize_after_s=(
            None if settings.finalize_after_days is None else settings.finalize_after_days * 86400
        ),
    )


def replication_of(
    settings: WorkerSettings,
    cutover: CutoverPolicy | None = None,
    calendar: Calendar | None = None,
) -> Replication:
    """Cold (one pass) or warm replication, and the gates every ready system's cutover is
    held to: the cutover policy's approvals, the calendar's windows and freezes, the
    rehearsal policy and (warm) the downtime budgets."""
    warm = None
    if settings.warm_replication:
        warm = WarmPolicy(
            ready_budget_s=settings.ready_budget_s, interval_s=settings.delta_interval_s
        )
    return Replication(
        warm=warm,
        budgets_s=parse_budgets(settings.downtime_budgets),
        rehearsal_required=parse_criticalities(settings.rehearsal_required),
        cutover=cutover or CutoverPolicy(),
        calendar=calendar or Calendar.unrestricted(),
    )


def build_worker(
    settings: WorkerSettings,
    *,
    store: Store,
    inventory: Inventory,
    hooks: Sequence[Hooks],
    after_commit: Callable[[], object],
    cutover: CutoverPolicy | None = None,
    calendar: Calendar | None = None,
) -> PhaseWorker:
    """A phase worker that runs the repository's playbooks with these settings."""
    provider = build_provider(settings)
    if ended := end_orphaned_runs():  # a run of a dead instance must not act beside ours
        log.warning("ended %d playbook runs left by an orchestrator that died", ended)
    faults = FaultPlan.parse(settings.inject_failures)
    runner = PhaseRunner(
        playbook_dir=PLAYBOOK_DIR,
        artifacts_dir=settings.artifacts_dir,
        provider=provider,
        host_vars_hooks=[faults.host_vars, retention_vars(settings.source_retention_days)],
        use_mitogen=settings.mitogen,
        timeout_s=settings.phase_timeout_s,
        forks=settings.forks,
        max_down=settings.max_down,
    )
    return PhaseWorker(
        store,
        runner,
        nodes=node_targets(inventory.nodes),
        config=worker_config(settings, store.where, cutover, calendar),
        provider=provider,
        hooks=hooks,
        after_commit=after_commit,
    )
