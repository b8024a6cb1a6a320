"""Running one leased batch: one playbook run, then every system's outcome recorded.

A batch thread calls ``BatchRunner.execute``. It runs the phase once for the
batch's runnable systems (one ``Executor.run``, with the provider's secrets),
adds the outcomes of the systems the precheck refused, and hands everything
to the ``OutcomeRecorder``. A run cancelled because the worker is stopping is
not recorded: its leases are given back, so a restart re-runs the phase.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from orchestrator.errors import GovmigError
from orchestrator.execution import HostOutcome, RunResult
from orchestrator.hooks import Hooks, notify
from orchestrator.migrations import Transition
from orchestrator.store import Store
from orchestrator.store import leases as lease_store
from orchestrator.worker.claims import Claimed
from orchestrator.worker.outcomes import Applied, OutcomeRecorder, refused_outcomes
from orchestrator.worker.ports import Executor, WorkerProvider
from orchestrator.worker.running import Running, RunningBatches

log = logging.getLogger(__name__)

RUN_TASK = "Start the playbook run"


class BatchRunner:
    """Executes leased batches on the worker's pool threads; see the module docstring."""

    def __init__(
        self,
        executor: Executor,
        provider: WorkerProvider,
        recorder: OutcomeRecorder,
        *,
        store: Store,
        running: RunningBatches,
        owner: str,
        stopping: threading.Event,
        hooks: Sequence[Hooks] = (),
        after_commit: Callable[[], object] = lambda: None,
    ) -> None:
        self._executor, self._provider, self._recorder = executor, provider, recorder
        self._store, self._running, self._owner = store, running, owner
        self._stopping, self._hooks, self._after_commit = stopping, tuple(hooks), after_commit

    def execute(self, key: str, running: Running) -> None:
        """Run the batch and record its outcomes; never raises."""
        try:
            claimed = running.claimed
            outcomes = refused_outcomes(claimed)
            result = self._run(claimed, running.cancel)
            if result is not None:
                outcomes.update((o.system_id, o) for o in result.outcomes)
            self._running.remove(
                key
            )  # its leases are about to go: the heartbeat must not miss them
            if self._stopping.is_set() and running.cancel.is_set():
                self._give_back(claimed)  # stopped, not finished: a restart re-runs the phase
            else:
                self._record(claimed, outcomes, result)
        except Exception:
            log.exception("batch %s failed unexpectedly; its leases will expire", key)
        finally:
            self._running.remove(key)

    def _run(self, claimed: Claimed, cancel: threading.Event) -> RunResult | None:
        if not claimed.work:
            return None
        phase, size = claimed.batch.phase, len(claimed.targets)
        try:
            result = self._executor.run(
                phase, claimed.work, cancel=cancel, secrets=self._provider.secrets()
            )
        except GovmigError as error:
            log.error("%s on %s could not run: %s", phase, ", ".join(claimed.batch.nodes), error)
            notify(self._hooks, Hooks.after_playbook, phase.value, "error", size)
            return _never_ran(claimed, str(error))
        notify(self._hooks, Hooks.after_playbook, phase.value, result.status, size)
        return result

    def _record(
        self, claimed: Claimed, outcomes: Mapping[str, HostOutcome], result: RunResult | None
    ) -> None:
        note = f"by {self._owner}"
        if result is not None and result.ident:
            note += f", artifacts {result.artifact_dir}"
        applied = self._recorder.record(claimed, outcomes, note=note)
        self._after_commit()  # a give-up changed states too
        if applied is not None:
            self._observe(claimed, applied)

    def _observe(self, claimed: Claimed, applied: Applied) -> None:
        now, phase = datetime.now(UTC), claimed.batch.phase.value
        for system_id, outcome in applied.items():
            if isinstance(outcome, Transition):
                took = (now - claimed.entered[system_id]).total_seconds()
                notify(self._hooks, Hooks.after_phase, phase, took)

    def _give_back(self, claimed: Claimed) -> None:
        try:
            with self._store.transaction() as session:
                lease_store.give_back(session, claimed.system_ids, owner=self._owner)
        except GovmigError as error:
            log.warning("could not give back leases of %s, they expire: %s", claimed.batch, error)


def _never_ran(claimed: Claimed, message: str) -> RunResult:
    """A result standing in for a run that could not even start (no artifacts)."""
    outcomes = tuple(
        HostOutcome(t.system_id, ok=False, failed_task=RUN_TASK, message=message)
        for t in claimed.targets
    )
    return RunResult(
        phase=claimed.batch.phase,
        nodes=claimed.batch.nodes,
        ident="",
        artifact_dir=Path(),
        rc=-1,
        status="error",
        duration_s=0.0,
        strategy="",
        outcomes=outcomes,
    )
