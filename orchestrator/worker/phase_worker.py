"""``PhaseWorker``: the phase worker's jobs, composed, and the threads they run on.

Where it sits: beside the intake reactor in ``govmig run`` (the service starts
it), above the engine and below nothing. It owns three kinds of thread, one
job each:

- the scheduler thread (``dispatcher.Dispatcher``): starts admitted systems,
  plans due batches, leases them and submits them to the pool;
- a pool of ``max_batches`` batch threads (``batch_run.BatchRunner``): one
  playbook run per batch, then the outcomes recorded (``outcomes``) and the
  scheduler woken, so the batch's next phase starts without waiting a poll;
- the heartbeat thread (``heartbeat.LeaseHeartbeat``): renews the leases of
  what runs, every ``heartbeat_s``.

They share only ``running.RunningBatches``. On ``stop()`` running batches are
cancelled and their leases given back without applying anything, so a restart
re-runs those phases. A restarted instance with the same ``instance_id``
takes back its own leases at once; with a fresh id it waits for them to expire.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from orchestrator.execution import NodeTarget
from orchestrator.hooks import Hooks
from orchestrator.store import Store, liveness
from orchestrator.store import leases as lease_store
from orchestrator.worker.batch_run import BatchRunner
from orchestrator.worker.dispatcher import Dispatcher
from orchestrator.worker.heartbeat import LeaseHeartbeat
from orchestrator.worker.outcomes import OutcomeRecorder
from orchestrator.worker.ports import Executor, NoProvider, WorkerConfig, WorkerProvider
from orchestrator.worker.running import Running, RunningBatches

log = logging.getLogger(__name__)


class PhaseWorker:
    """See the module docstring. ``start()`` then ``stop()``; both from one thread."""

    def __init__(
        self,
        store: Store,
        executor: Executor,
        *,
        nodes: Mapping[str, NodeTarget],
        config: WorkerConfig,
        provider: WorkerProvider | None = None,
        hooks: Sequence[Hooks] = (),
        after_commit: Callable[[], object] = lambda: None,
    ) -> None:
        self._store, self._config = store, config
        provider = provider if provider is not None else NoProvider()
        owner = config.instance_id
        self._stopping = threading.Event()
        self._running = RunningBatches()
        self._pool = ThreadPoolExecutor(
            config.limits.max_batches, thread_name_prefix="govmig-batch"
        )
        recorder = OutcomeRecorder(
            store,
            owner=owner,
            attempts=config.apply_attempts,
            hooks=hooks,
            replication=config.replication,
        )
        self._batches = BatchRunner(
            executor,
            provider,
            recorder,
            store=store,
            running=self._running,
            owner=owner,
            stopping=self._stopping,
            hooks=hooks,
            after_commit=after_commit,
        )
        self._dispatcher = dispatcher = Dispatcher(
            store,
            self._running,
            config=config,
            nodes=nodes,
            place=run_place(nodes, provider),
            precheck=provider.precheck,
            submit=self._submit,
            after_commit=after_commit,
        )
        heartbeat = LeaseHeartbeat(
            store,
            self._running,
            owner=owner,
            ttl_s=config.lease_ttl_s,
            interval_s=config.heartbeat_s,
        )
        self._threads = [
            threading.Thread(target=dispatcher.run, args=(self._stopping,), name="govmig-worker"),
            threading.Thread(target=heartbeat.run, args=(self._stopping,), name="govmig-leases"),
        ]
        for thread in self._threads:
            thread.daemon = True
        self._alive: liveness.InstanceLock | None = None

    @property
    def instance_id(self) -> str:
        """The owner name this worker's leases carry."""
        return self._config.instance_id

    def wake(self) -> None:
        """Look at the store now, not at the next poll: this process just changed it."""
        self._dispatcher.wake()

    def start(self) -> None:
        """Take back this instance's own leases from a previous run, then start working."""
        self._alive = liveness.hold_instance_lock(self._store, self.instance_id)
        with self._store.transaction() as session:
            mine = lease_store.give_back_all(session, self.instance_id)
        if mine:
            log.info("took back %d leases of a previous run of %s", len(mine), self.instance_id)
        for thread in self._threads:
            thread.start()

    def stop(self, *, timeout_s: float = 30.0) -> None:
        """Cancel running batches, give their leases back, and wait for the threads."""
        self._stopping.set()
        self._dispatcher.wake()
        self._running.cancel_all()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout_s)
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._alive is not None:
            self._alive.close()
            self._alive = None

    def _submit(self, key: str, running: Running) -> None:
        self._pool.submit(self._execute, key, running)

    def _execute(self, key: str, running: Running) -> None:
        """Run a batch, then wake the dispatcher: its systems go on to their next phase."""
        try:
            self._batches.execute(key, running)
        finally:
            self._dispatcher.wake(went_on=running.claimed.system_ids)


def run_place(nodes: Mapping[str, NodeTarget], provider: WorkerProvider) -> Callable[[str], str]:
    """Where a node's runs go from: "" for this machine, else its execution host; a node the
    inventory does not hold (a connected platform) has a place of its own, shared with none."""
    places = {}
    for node_id, node in nodes.items():
        host = provider.execution_host(node)
        places[node_id] = "" if host is None else f"execution host {host.name}"
    return lambda node_id: places.get(node_id, f"node {node_id}")
