"""The phase worker: runs each system's current phase, a batch at a time, and applies outcomes.

Where it sits: beside the intake reactor in ``govmig run`` (the service starts
it), above the engine's ``Lifecycle`` and below nothing. The intake moves
systems to ``placed``; from there the worker takes over:

1. every ``poll_s`` the scheduler thread starts ``placed`` systems in wave
   order (``batches.start_placed``), reads the systems in a phase whose lease
   is free or expired, and asks ``scheduling.plan_batches`` which (node, phase)
   groups are due; each due batch is leased with compare-and-swap
   (``batches.claim_batch``) and handed to a pool of ``max_batches`` threads;
2. a batch thread runs ONE ``Executor.run`` (one ansible-runner invocation
   whose inventory is exactly the batch), then applies every system's own
   outcome in one transaction and flushes the status outbox;
3. a heartbeat thread renews the leases of systems in flight every
   ``heartbeat_s``; a lease not renewed for ``lease_ttl_s`` (its instance died)
   expires and the phase is claimed and run again, which is safe because
   phases are idempotent (and cutover journals itself, so it never runs twice);
4. when every system of a running batch has left its phase (cancel, rollback
   request) the run is cancelled; the late report is refused as stale.

On ``stop()`` running batches are cancelled and their leases given back
without applying anything, so a restart re-runs those phases. A restarted
instance with the same ``instance_id`` takes back its own leases at once;
with a fresh id it waits for them to expire.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from orchestrator.errors import GovmigError
from orchestrator.execution import BatchResult, HostOutcome, NodeTarget
from orchestrator.migrations import ACTIVE_PHASE_STATES, Transition, phase_in
from orchestrator.store import Store, get_systems
from orchestrator.store import leases as lease_store
from orchestrator.worker import batches
from orchestrator.worker.batches import Claimed, Precheck
from orchestrator.worker.ports import (
    Executor,
    Observes,
    PhaseObserver,
    WorkerConfig,
    crashed,
    failed_result,
)
from orchestrator.worker.scheduling import Batch, Ready, plan_batches, stopped_batches
from orchestrator.worker.targets import FaultPlan

log = logging.getLogger(__name__)


@dataclass
class _Running:
    claimed: Claimed
    cancel: threading.Event = field(default_factory=threading.Event)


class PhaseWorker:
    """See the module docstring. ``start()`` then ``stop()``; both from one thread."""

    def __init__(
        self,
        store: Store,
        executor: Executor,
        *,
        nodes: Mapping[str, NodeTarget],
        config: WorkerConfig,
        observer: Observes | None = None,
        after_commit: Callable[[], object] | None = None,
        faults: FaultPlan | None = None,
        precheck: Precheck | None = None,
    ) -> None:
        self._store, self._executor, self._nodes = store, executor, dict(nodes)
        self._config, self._limits = config, config.limits
        self._observer: Observes = observer if observer is not None else PhaseObserver()
        self._after_commit = after_commit or (lambda: None)
        self._faults = faults or FaultPlan()
        self._precheck = precheck
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._running: dict[str, _Running] = {}
        self._seen: dict[tuple[str, str], float] = {}
        self._pool = ThreadPoolExecutor(self._limits.max_batches, thread_name_prefix="govmig-batch")
        self._threads = [
            threading.Thread(target=self._schedule, name="govmig-worker", daemon=True),
            threading.Thread(target=self._heartbeat, name="govmig-leases", daemon=True),
        ]

    @property
    def instance_id(self) -> str:
        """The owner name this worker's leases carry."""
        return self._config.instance_id

    def start(self) -> None:
        """Take back this instance's own leases from a previous run, then start working."""
        with self._store.transaction() as session:
            mine = lease_store.release_owner(session, self.instance_id)
        if mine:
            log.info("took back %d leases of a previous run of %s", len(mine), self.instance_id)
        for thread in self._threads:
            thread.start()

    def stop(self, *, timeout_s: float = 30.0) -> None:
        """Cancel running batches, give their leases back, and wait for the threads."""
        self._stopping.set()
        with self._lock:
            for running in self._running.values():
                running.cancel.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout_s)
        self._pool.shutdown(wait=True, cancel_futures=True)

    # --- scheduler thread -------------------------------------------------------------

    def _schedule(self) -> None:
        while not self._stopping.wait(self._config.poll_s):
            try:
                self._tick()
            except GovmigError as error:  # a locked or unreachable database: next tick
                log.warning("phase worker tick failed, retrying: %s", error)
            except Exception:  # a bug must not silently end the worker
                log.exception("phase worker tick failed unexpectedly; retrying")

    def _tick(self) -> None:
        self._cancel_stopped()
        with self._store.transaction() as session:
            started = batches.start_placed(session, self._limits, now=_now())
        if started:
            log.info("started %d placed systems", len(started))
            self._after_commit()
        for batch in self._plan():
            if self._stopping.is_set():
                return
            self._dispatch(batch)

    def _plan(self) -> list[Batch]:
        with self._store.transaction() as session:
            rows = lease_store.ready_systems(
                session, ACTIVE_PHASE_STATES, now=_now(), limit=2 * self._limits.max_in_flight
            )
        now, ready = time.monotonic(), []
        seen: dict[tuple[str, str], float] = {}
        for row in rows:
            phase = phase_in(row.state)
            if phase is None or row.node is None:
                continue
            key = (row.id, row.state.value)
            seen[key] = self._seen.get(key, now)
            ready.append(Ready(row.id, row.node, phase, row.wave, seen[key]))
        self._seen = seen
        with self._lock:
            per_node = Counter(r.claimed.batch.node for r in self._running.values())
        return plan_batches(ready, running=per_node, limits=self._limits, now=now)

    def _dispatch(self, batch: Batch) -> None:
        with self._store.transaction() as session:
            claimed = batches.claim_batch(
                session,
                batch,
                owner=self.instance_id,
                now=_now(),
                ttl_s=self._config.lease_ttl_s,
                nodes=self._nodes,
                faults=self._faults,
                precheck=self._precheck,
            )
        if claimed is None:
            return
        running = _Running(claimed)
        key = f"{batch.node}/{batch.phase}/{claimed.system_ids[0]}"
        with self._lock:
            self._running[key] = running
        self._pool.submit(self._execute, key, running)

    def _cancel_stopped(self) -> None:
        with self._lock:
            running = {key: r.claimed.batch for key, r in self._running.items()}
        if not running:
            return
        ids = {sid for batch in running.values() for sid in batch.system_ids}
        with self._store.transaction() as session:
            states = {sid: row.state for sid, row in get_systems(session, ids).items()}
        for key in stopped_batches(running, states):
            with self._lock:
                found = self._running.get(key)
            if found is not None and not found.cancel.is_set():
                log.info("every system of batch %s left its phase: cancelling the run", key)
                found.cancel.set()

    # --- batch threads ----------------------------------------------------------------

    def _execute(self, key: str, running: _Running) -> None:
        try:
            claimed = running.claimed
            outcomes = batches.refused_outcomes(claimed)
            result = self._run(claimed, running.cancel)
            if result is not None:
                outcomes.update((o.system_id, o) for o in result.outcomes)
            with self._lock:  # its leases are about to go: the heartbeat must not miss them
                self._running.pop(key, None)
            if self._stopping.is_set() and running.cancel.is_set():
                self._give_back(claimed)  # stopped, not finished: a restart re-runs the phase
            else:
                self._apply(claimed, outcomes, result)
        except Exception:
            log.exception("batch %s failed unexpectedly; its leases will expire", key)
        finally:
            with self._lock:
                self._running.pop(key, None)

    def _run(self, claimed: Claimed, cancel: threading.Event) -> BatchResult | None:
        if claimed.node is None or not claimed.targets:
            return None
        phase = claimed.batch.phase
        try:
            result = self._executor.run(phase, claimed.node, claimed.targets, cancel=cancel)
        except GovmigError as error:
            log.error("%s on %s could not run: %s", phase, claimed.batch.node, error)
            failed = [crashed(t.system_id, str(error)) for t in claimed.targets]
            self._observer.after_playbook(phase.value, "error", len(claimed.targets))
            return failed_result(claimed, failed)
        self._observer.after_playbook(phase.value, result.status, len(claimed.targets))
        return result

    def _apply(
        self, claimed: Claimed, outcomes: Mapping[str, HostOutcome], result: BatchResult | None
    ) -> None:
        note = f"by {self.instance_id}"
        if result is not None and result.ident:
            note += f", artifacts {result.artifact_dir}"
        for attempt in range(1, 6):
            try:
                with self._store.transaction() as session:
                    applied = batches.apply_outcomes(
                        session, claimed, outcomes, owner=self.instance_id, note=note
                    )
                break
            except GovmigError as error:  # a version race with the intake, a locked database
                log.warning(
                    "applying %s outcomes failed (attempt %d): %s", claimed.batch, attempt, error
                )
                time.sleep(0.1 * attempt)
        else:
            return
        self._after_commit()
        self._observe(claimed, applied)

    def _observe(self, claimed: Claimed, applied: Mapping[str, object]) -> None:
        now = _now()
        for system_id, outcome in applied.items():
            if isinstance(outcome, Transition):
                seconds = (now - claimed.entered[system_id]).total_seconds()
                self._observer.after_phase(claimed.batch.phase.value, seconds)

    def _give_back(self, claimed: Claimed) -> None:
        try:
            with self._store.transaction() as session:
                lease_store.release(session, claimed.system_ids, owner=self.instance_id)
        except GovmigError as error:
            log.warning(
                "could not give back leases of %s, they will expire: %s", claimed.batch, error
            )

    # --- heartbeat thread -------------------------------------------------------------

    def _heartbeat(self) -> None:
        while not self._stopping.wait(self._config.heartbeat_s):
            ids = self._in_flight()
            if not ids:
                continue
            try:
                with self._store.transaction() as session:
                    held = lease_store.renew(
                        session,
                        ids,
                        owner=self.instance_id,
                        now=_now(),
                        ttl_s=self._config.lease_ttl_s,
                    )
            except GovmigError as error:
                log.warning("lease heartbeat failed, retrying: %s", error)
                continue
            # A batch that finished meanwhile gave its leases back: that is not a loss.
            if lost := sorted((ids - held) & self._in_flight()):
                log.error("leases lost to another instance (not renewed in time): %s", lost)

    def _in_flight(self) -> set[str]:
        with self._lock:
            return {sid for r in self._running.values() for sid in r.claimed.system_ids}


def _now() -> datetime:
    return datetime.now(UTC)
