"""The scheduler thread: each tick, start what may start and hand due batches to the pool.

It ticks at once when it starts, whenever a batch ends or this process's intake
commits (``wake``), when the batch window of a waiting system closes or a warm
system's next pass falls due, and otherwise every ``poll_s`` (for what another
process changed, and the gates' own moments). The systems of a batch that ended
go on to their next phase at once, together: the batch window only gathers
systems that arrive from elsewhere (the intake, an operator's command). Each tick it

1. cancels the runs of batches none of whose systems is still in its phase
   (cancelled or rolled back meanwhile; ``scheduling.stopped_batches``);
2. starts ``placed`` systems in wave order while there is room
   (``claims.start_placed``);
3. asks the cutover gates of held ready systems due again (``gating.ask_due``:
   an approval or a schedule came, or the moment their wait named did), without
   waiting for a pass (a cold system makes none);
4. reads the systems in a phase whose lease is free or expired, asks
   ``scheduling.plan_batches`` which batches are due, leases
   each with compare-and-swap (``claims.claim_batch``) and submits it to the
   pool of batch threads.

The store is read in short transactions; the decisions are the pure
functions of ``scheduling``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime

from orchestrator.errors import GovmigError
from orchestrator.execution import NodeTarget
from orchestrator.migrations import ACTIVE_PHASE_STATES, SystemState, phase_in
from orchestrator.store import Session, Store, get_systems
from orchestrator.store import leases as lease_store
from orchestrator.store import replication as replication_store
from orchestrator.store.leases import WorkRow
from orchestrator.worker.claims import (
    COMPONENT,
    Precheck,
    claim_batch,
    finalize_due,
    start_placed,
)
from orchestrator.worker.gating import ask_due
from orchestrator.worker.ports import WorkerConfig
from orchestrator.worker.replication import Replication
from orchestrator.worker.running import Running, RunningBatches
from orchestrator.worker.scheduling import Batch, Ready, plan_batches, stopped_batches

log = logging.getLogger(__name__)
# Under warm replication, the states whose passes are paced by the policy's interval.
_PACED = frozenset({SystemState.REPLICATING, SystemState.READY})
# How often completed systems are checked against the finalize-after policy.
_FINALIZE_CHECK_S = 60.0


class Dispatcher:
    """The scheduler thread's work; see the module docstring."""

    def __init__(
        self,
        store: Store,
        running: RunningBatches,
        *,
        config: WorkerConfig,
        nodes: Mapping[str, NodeTarget],
        place: Callable[[str], str],
        precheck: Precheck,
        submit: Callable[[str, Running], object],
        after_commit: Callable[[], object] = lambda: None,
    ) -> None:
        self._store, self._running, self._config = store, running, config
        self._nodes, self._place, self._precheck = dict(nodes), place, precheck
        self._submit, self._after_commit = submit, after_commit
        self._seen: dict[tuple[str, str], float] = {}  # (system, state): first seen ready
        self._next_finalize_check = 0.0
        self._woken = threading.Event()
        self._went_on: set[str] = set()  # systems whose batch ended since the last plan
        self._went_on_lock = threading.Lock()
        self._due_at = math.inf  # (monotonic) when something waiting falls due, if known

    def wake(self, went_on: Iterable[str] = ()) -> None:
        """Tick now rather than at the next ``poll_s``; ``went_on``: the systems of a batch
        that just ended, due in their next phase at once."""
        with self._went_on_lock:
            self._went_on.update(went_on)
        self._woken.set()

    def run(self, stopping: threading.Event) -> None:
        """The scheduler thread's body: ticks until ``stopping`` (see the module docstring)."""
        while not stopping.is_set():
            try:
                self.tick(stopping)
            except GovmigError as error:  # a locked or unreachable database: next tick
                log.warning("phase worker tick failed, retrying: %s", error)
            except Exception:  # a bug must not silently end the worker
                log.exception("phase worker tick failed unexpectedly; retrying")
            self._woken.wait(self._until_next_tick())
            self._woken.clear()

    def _until_next_tick(self) -> float:
        """A poll's wait, or less when a waiting system falls due sooner."""
        return max(0.0, min(self._config.poll_s, self._due_at - time.monotonic()))

    def tick(self, stopping: threading.Event) -> None:
        """One round: cancel, start, plan, claim."""
        self._due_at = math.inf  # until this round's plan knows better
        self._cancel_stopped()
        with self._store.transaction() as session:
            started = start_placed(
                session, self._config.limits, now=_now(), waves=self._config.waves
            )
        if started:
            log.info("started %d placed systems", len(started))
            self._after_commit()
        self._finalize_due()
        self._ask_due_gates()
        for batch in self._plan():
            if stopping.is_set():
                return
            self._dispatch(batch)

    def _finalize_due(self) -> None:
        """At most once a minute: finalize what completed longer ago than the policy's days."""
        after_s = self._config.finalize_after_s
        if after_s is None or time.monotonic() < self._next_finalize_check:
            return
        self._next_finalize_check = time.monotonic() + _FINALIZE_CHECK_S
        with self._store.transaction() as session:
            finalized = finalize_due(session, after_s, now=_now())
        if finalized:
            log.info("asked to finalize %d systems completed long enough ago", len(finalized))
            self._after_commit()

    def _ask_due_gates(self) -> None:
        """Ask the gates of held systems due again (``gating.ask_due``)."""
        limit = 2 * self._config.limits.max_in_flight
        with self._store.transaction() as session:
            asked = ask_due(session, self._config.replication, component=COMPONENT, limit=limit)
        if asked:
            log.info("asked the cutover gates of %d held systems again", len(asked))
            self._after_commit()

    def _plan(self) -> list[Batch]:
        limit = 2 * self._config.limits.max_in_flight
        replication = self._config.replication
        warm = replication.warm is not None
        states = ACTIVE_PHASE_STATES | ({SystemState.READY} if warm else set())
        next_pass_in = math.inf
        with self._store.transaction() as session:
            rows = lease_store.ready_systems(session, states, now=_now(), limit=limit)
            if warm:
                rows, next_pass_in = self._passes_due(session, rows, replication)
        with self._went_on_lock:
            went_on, self._went_on = self._went_on, set()
        now, ready = time.monotonic(), []
        arrived_together = now - self._config.limits.batch_window_s  # no window to wait
        seen: dict[tuple[str, str], float] = {}
        for row in rows:
            phase = phase_in(row.state)
            if phase is None or row.node is None:
                continue
            key = (row.id, row.state.value)
            seen[key] = arrived_together if row.id in went_on else self._seen.get(key, now)
            place = self._place(row.node)
            ready.append(Ready(row.id, row.node, phase, row.wave, seen[key], place))
        self._seen = seen
        window = self._config.limits.batch_window_s
        closing = [r.seen_at + window for r in ready if r.seen_at + window > now]
        self._due_at = min([now + next_pass_in, *closing])
        running = self._running.batches().values()
        return plan_batches(ready, running=running, limits=self._config.limits, now=now)

    @staticmethod
    def _passes_due(
        session: Session, rows: list[WorkRow], replication: Replication
    ) -> tuple[list[WorkRow], float]:
        """The rows, but a replicating or ready system only once its next pass is due; and
        the seconds until the soonest of those not yet due is (inf: none)."""
        paced = [row.id for row in rows if row.state in _PACED]
        last = replication_store.last_pass_at(session, paced) if paced else {}
        now = _now()
        due = {
            row.id
            for row in rows
            if row.state not in _PACED or replication.due(last.get(row.id), now)
        }
        later = (replication.next_due_in(last[row.id], now) for row in rows if row.id not in due)
        return [row for row in rows if row.id in due], min(later, default=math.inf)

    def _dispatch(self, batch: Batch) -> None:
        with self._store.transaction() as session:
            claimed = claim_batch(
                session,
                batch,
                owner=self._config.instance_id,
                now=_now(),
                ttl_s=self._config.lease_ttl_s,
                nodes=self._nodes,
                precheck=self._precheck,
            )
        if claimed is None:
            return
        running = Running(claimed)
        key = f"{batch.phase}/{claimed.system_ids[0]}"
        self._running.add(key, running)
        self._submit(key, running)

    def _cancel_stopped(self) -> None:
        running = self._running.batches()
        if not running:
            return
        ids = {sid for batch in running.values() for sid in batch.system_ids}
        with self._store.transaction() as session:
            states = {sid: row.state for sid, row in get_systems(session, ids).items()}
        for key in stopped_batches(running, states):
            if self._running.cancel(key):
                log.info("every system of batch %s left its phase: cancelling the run", key)


def _now() -> datetime:
    return datetime.now(UTC)
