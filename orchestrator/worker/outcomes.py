"""Applying outcomes: what each system's playbook result does to its state, made durable.

``apply_outcomes`` (in the caller's transaction) gives the batch's leases back
and applies each held system's ``PhaseSucceeded``/``PhaseFailed`` through the
engine's ``Lifecycle``, so state, ledger and audit change together. What the
provider's role reported goes with it (``record_report``): the host a provision
claimed, each replication pass (kind, bytes, duration; its bytes in the audit's
note too), a cutover's downtime, and the IPv6 address once verify reached the
service by name over IPv6 — item 三十's IPv6 figure counts only those. A
system whose lease was lost meanwhile is left to its new holder.

``OutcomeRecorder`` is the job around it: it retries only what the store says
is temporary (a version race with the intake, a locked database), by
exception type. Anything else, or a temporary error that outlasts its
attempts, is a give-up, and a give-up is never silent: each system gets a
``PhaseFailed`` saying the outcome could not be recorded (so it rolls back
rather than waiting for a lease to expire), a log line, and the
``after_give_up`` hook (a metric).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from orchestrator.engine.context import CauseContext
from orchestrator.engine.lifecycle import Lifecycle, apply_cause
from orchestrator.errors import TemporaryError
from orchestrator.execution import HostOutcome
from orchestrator.execution.outcomes import ReportValue
from orchestrator.execution.reports import moves, rehearsal
from orchestrator.hooks import Hooks, notify
from orchestrator.migrations import (
    Cause,
    Phase,
    PhaseFailed,
    PhaseSucceeded,
    Refusal,
    Replicated,
    SystemState,
    Transition,
)
from orchestrator.migrations.replication import ReplicationPass, WarmPolicy, judge_pass
from orchestrator.store import Session, Store
from orchestrator.store import leases as lease_store
from orchestrator.store import replication as replication_store
from orchestrator.worker.claims import COMPONENT, Claimed
from orchestrator.worker.gating import CutoverGates
from orchestrator.worker.replication import COLD, Replication

log = logging.getLogger(__name__)

PRECHECK_TASK = "Check the system can run here"
RECORD_TASK = "Record the outcome"
GIVE_UP_JOB = "apply_outcomes"
Applied = dict[str, Transition | Refusal]


def cause_for(phase: Phase, outcome: HostOutcome, warm: WarmPolicy | None = None) -> Cause:
    """The state machine's cause for one system's outcome of ``phase``.

    Under warm replication a replicate pass is judged (``Replicated``): caught up or not.
    """
    if outcome.ok and warm is not None and phase is Phase.REPLICATE:
        replicated, _ = moves(phase, outcome)
        if replicated is None:
            return Replicated(caught_up=False, detail="the provider reported no pass")
        return judge_pass(replicated, warm)
    if outcome.ok:
        return PhaseSucceeded(phase)
    task = outcome.failed_task or "(no task reported)"
    return PhaseFailed(phase, task, outcome.message or "the playbook failed")


def refused_outcomes(claimed: Claimed) -> dict[str, HostOutcome]:
    """The outcomes of the systems that failed before any playbook ran."""
    return {
        sid: HostOutcome(sid, ok=False, failed_task=PRECHECK_TASK, message=why)
        for sid, why in claimed.refused.items()
    }


def apply_outcomes(
    session: Session,
    claimed: Claimed,
    outcomes: Mapping[str, HostOutcome],
    *,
    owner: str,
    note: str,
    replication: Replication = COLD,
) -> Applied:
    """Release the batch's leases and apply each held system's outcome; return what happened.

    A system the batch leaves ``ready`` (after its one cold pass, a caught-up warm pass, or a
    rehearsal) is asked to cut over: its gates answer.
    """
    held = lease_store.give_back(session, claimed.system_ids, owner=owner)
    lifecycle = Lifecycle(session)
    lifecycle.prefetch(held)
    context = CauseContext(component=COMPONENT, note=note)
    phase = claimed.batch.phase
    applied: Applied = {}
    gates = CutoverGates(session, lifecycle, replication)
    for system_id in sorted(held):
        outcome = outcomes.get(system_id) or HostOutcome(
            system_id, ok=False, failed_task=PRECHECK_TASK, message="no outcome was reported"
        )
        replicated, downtime = moves(phase, outcome)
        noted = replace(
            context,
            note=_with_traffic(note, outcome.report),
            downtime_s=downtime,
            bytes_sent=None if replicated is None else replicated.bytes_sent,
        )
        cause = cause_for(phase, outcome, replication.warm)
        result = lifecycle.apply(system_id, cause, context=noted)
        applied[system_id] = result
        if isinstance(result, Transition):
            address = claimed.ipv6.get(system_id)
            record_report(session, phase, result, outcome, (replicated, downtime), address)
            ready = lifecycle.system(system_id) if result.to_state is SystemState.READY else None
            if ready is not None:
                gates.ask(ready, context)
            arrived = result.to_state is not result.from_state
            if arrived and result.to_state in (SystemState.READY, SystemState.COMPLETED):
                gates.ask_group(system_id, context)
            if _cutover_failed(result):
                gates.revert_group(system_id, context)
    lifecycle.flush()
    return applied


def _cutover_failed(result: Transition) -> bool:
    """The system was cutting over (or verifying it) and goes back instead."""
    cutting_over = (SystemState.CUTOVER, SystemState.VERIFYING)
    return result.from_state in cutting_over and result.to_state is SystemState.ROLLING_BACK


def record_report(
    session: Session,
    phase: Phase,
    transition: Transition,
    outcome: HostOutcome,
    moved: tuple[ReplicationPass | None, float | None],
    address: str | None,
) -> None:
    """Keep what the role reported that the store tracks, as ``transition`` allows;
    ``moved`` is its pass and downtime (``execution.reports.moves``)."""
    system_id, report = outcome.system_id, outcome.report
    replicated, downtime = moved
    if replicated is not None:
        replication_store.add_pass(session, system_id, replicated)
    if downtime is not None:
        replication_store.set_downtime(session, system_id, downtime)
    if (tried := rehearsal(phase, outcome)) is not None:
        replication_store.add_rehearsal(session, system_id, tried)
    to = transition.to_state
    if to is SystemState.REPLICATING and isinstance(report.get("target_host"), str):
        lease_store.set_target_host(session, system_id, str(report["target_host"]))
    elif to is SystemState.COMPLETED and report.get("ipv6_by_name") is True:
        lease_store.set_ipv6_address(session, system_id, address)
    elif to is SystemState.ROLLED_BACK:
        lease_store.set_ipv6_address(session, system_id, None)
        lease_store.set_target_host(session, system_id, None)


def _with_traffic(note: str, report: Mapping[str, ReportValue]) -> str:
    """The batch's note, plus what a pass sent and what a switch cost when the role said
    (a revert's downtime is kept only here, in the audit)."""
    sent, literal = report.get("bytes_sent"), report.get("literal_bytes")
    parts = [note] if note else []
    if isinstance(sent, int) and not isinstance(sent, bool):
        parts.append(
            f"replicated {sent} bytes" + (f" ({literal} literal)" if literal is not None else "")
        )
    down = report.get("downtime_ms")
    if isinstance(down, int) and not isinstance(down, bool):
        parts.append(f"down {down / 1000:.2f} s")
    return "; ".join(parts)


class OutcomeRecorder:
    """Makes a batch's outcomes durable, retrying only temporary errors; see the module."""

    def __init__(
        self,
        store: Store,
        *,
        owner: str,
        attempts: int,
        hooks: Sequence[Hooks] = (),
        replication: Replication = COLD,
        backoff_s: Callable[[int], float] = lambda attempt: 0.1 * attempt,
    ) -> None:
        self._store, self._owner, self._attempts = store, owner, max(1, attempts)
        self._hooks, self._backoff_s = tuple(hooks), backoff_s
        self._replication = replication

    def record(
        self, claimed: Claimed, outcomes: Mapping[str, HostOutcome], *, note: str
    ) -> Applied | None:
        """Apply the outcomes in one transaction; None if it gave up (and said so)."""
        for attempt in range(1, self._attempts + 1):
            try:
                with self._store.transaction() as session:
                    applied = apply_outcomes(
                        session,
                        claimed,
                        outcomes,
                        owner=self._owner,
                        note=note,
                        replication=self._replication,
                    )
                self._tell_reports(claimed.batch.phase, applied, outcomes)
                return applied
            except TemporaryError as error:
                if attempt == self._attempts:
                    self._give_up(claimed, error)
                    return None
                log.warning("applying %s outcomes: %s (attempt %d)", claimed.batch, error, attempt)
                time.sleep(self._backoff_s(attempt))
            except Exception as error:  # a permanent error or a bug: retrying cannot help
                self._give_up(claimed, error)
                return None
        return None

    def _tell_reports(
        self, phase: Phase, applied: Applied, outcomes: Mapping[str, HostOutcome]
    ) -> None:
        """Once recorded, the hooks hear of each pass and downtime the role reported."""
        for system_id, result in applied.items():
            outcome = outcomes.get(system_id)
            if outcome is None or not isinstance(result, Transition):
                continue
            replicated, downtime = moves(phase, outcome)
            if replicated is not None:
                notify(self._hooks, Hooks.after_replication, replicated)
            if downtime is not None:
                notify(self._hooks, Hooks.after_cutover, downtime)

    def _give_up(self, claimed: Claimed, error: BaseException) -> None:
        ids = claimed.system_ids
        log.error(
            "gave up recording the %s outcomes of %s: %s", claimed.batch.phase, list(ids), error
        )
        notify(self._hooks, Hooks.after_give_up, GIVE_UP_JOB, ids, error)
        failed = PhaseFailed(claimed.batch.phase, RECORD_TASK, f"could not be recorded: {error}")
        context = CauseContext(component=COMPONENT, note=f"by {self._owner}")
        for system_id in ids:  # each alone, so one bad row does not keep the others waiting
            try:
                with self._store.transaction() as session:
                    lease_store.give_back(session, [system_id], owner=self._owner)
                    apply_cause(session, system_id, failed, context=context)
            except Exception:  # its lease expires and the phase is run again
                log.exception("could not fail %s either; its lease will expire", system_id)
