"""The pure transition function: (state, cause) -> Transition or Refusal.

This is the heart of the orchestrator and does no I/O: the reactor loads a
system's state, calls ``apply_transition``, stores the new state and carries
out the effects (see ``orchestrator.migrations.outcomes`` for their order).

Decisions, so every caller sees the same rules:

* **Unknown systems** (``state is None``) accept only ``Register``.
* **Re-registering** updates the record while the system holds no capacity
  (``registered``, ``queued``, ``rolled_back``, ``cancelled``); once placed,
  its reservation was sized from the record, so a new record is refused.
* **Migrating** starts from ``registered``, ``rolled_back`` or ``cancelled``.
* **Placement failure** ends the attempt in ``rolled_back``: nothing was
  reserved or run, the source keeps serving, and ``retry`` tries again.
* **Cancel** is legal until cutover starts. Before any playbook ran
  (``registered``, ``queued``, ``placed``) it goes straight to ``cancelled``,
  releasing a reservation if there is one. Once a playbook ran (``preflight``,
  ``provisioning``, ``replicating``) partial work must be undone, so cancel
  stops the phase and rolls back; the run ends in ``rolled_back``, never in a
  ``cancelled`` state that could hide a failed undo.
* **Rollback** is legal for ``completed`` (undo a finished migration), for the
  pre-cutover phases (same as cancel) and for ``failed`` (same as retry).
  Cutover and verify are never interrupted: a failure there rolls back by
  itself, and an operator rolls back once the system is ``completed``.
* **Retry** is legal from ``rolled_back`` (queue the migration again) and from
  ``failed``, where the rollback did not finish: retry re-runs the rollback
  first, and a second retry, once ``rolled_back``, migrates again.
* **Phase reports** must name the phase the current state runs; anything else
  is a stale or duplicate report and is refused, never applied.
* **Every system waits in ``ready`` before its cutover.** Cold, the replicate
  phase's success makes it ``ready``. Warm replication reports each pass as
  ``Replicated``: in ``replicating`` a delta pass within its budget makes the
  system ``ready``, any other pass means another one; in ``ready`` a caught-up
  pass keeps it ready and one that fell behind sends it back to
  ``replicating``. A ready system cuts over only by ``StartCutover``, and only
  when its gates let it through (approval, freeze, window, rehearsal, downtime
  budget, dependency group: weighed by ``orchestrator.gates`` before it asks);
  it can be cancelled or rolled back like a replicating one.
* **Rehearsal** (a test migration) starts only from ``ready`` and always
  ends back in ``ready``, passed or failed: the source was never touched, so
  a failed rehearsal is a finding, not a failure of the migration. While it
  runs the system is neither cancelled nor rolled back (its teardown must
  finish first), and a policy may make a passed rehearsal since the last
  full pass a condition of the cutover.
* **Revert** is the rollback of a ``completed`` system (``rollback`` or
  ``revert`` request): ``reverting`` syncs what the target wrote back to the
  source before switching the name back, then ``rolled_back`` releases the
  capacity; if it fails the system is ``failed`` and a retry re-runs the
  rollback, which syncs back first too.
* **Finalize** ends the way back: from ``completed`` only, ``finalizing``
  decommissions the source and ends in ``finalized``, where rollback, revert,
  cancel and migrate are refused. A finalize that fails leaves the system
  ``completed``, way back open.
* **Approvals** (four eyes) are taken from ``queued`` up to and including
  ``ready`` and ``rehearsing``: once the cutover starts there is nothing left
  to approve, and before a migration is requested there is no one to differ
  from. An approval changes no state: it is recorded (``GrantApproval``) for
  the cutover gate to find. It is refused, naming both and the change, when
  the approver is who requested the migration (compared without case) and the
  policy does not allow self-approval; an unknown requester (a store older
  than the column) is nobody to differ from. A **reject**, in the same states,
  withdraws every approval of the system not withdrawn yet, whatever its
  change reference (``WithdrawApprovals``): a rejection is a veto, so the
  cutover waits for a new approval; its change reference is that of the
  rejection, in the audit.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import singledispatch
from types import MappingProxyType

from orchestrator.migrations.causes import (
    Approve,
    Cause,
    PhaseFailed,
    PhaseSucceeded,
    Place,
    PlacementFailed,
    Register,
    Reject,
    Replicated,
    RequestCancel,
    RequestFinalize,
    RequestMigration,
    RequestRehearsal,
    RequestRetry,
    RequestRevert,
    RequestRollback,
    ScheduleCutover,
    Start,
    StartCutover,
)
from orchestrator.migrations.outcomes import (
    Effect,
    FindPlacement,
    GrantApproval,
    Outcome,
    Refusal,
    ReleaseCapacity,
    ReserveCapacity,
    SaveRecord,
    Transition,
    WithdrawApprovals,
)
from orchestrator.migrations.states import PHASE_STATES, Phase, holds_capacity, next_phase, phase_in
from orchestrator.migrations.states import SystemState as S

_MIGRATABLE = frozenset({S.REGISTERED, S.ROLLED_BACK, S.CANCELLED})
# Phases that may be stopped and undone (nothing has switched over yet), with the phase each runs.
_INTERRUPTIBLE: Mapping[S, Phase] = MappingProxyType(
    {
        S.PREFLIGHT: Phase.PREFLIGHT,
        S.PROVISIONING: Phase.PROVISION,
        S.REPLICATING: Phase.REPLICATE,
        S.READY: Phase.REPLICATE,
    }
)
_MAX_DETAIL = 300
# Where a cutover may still be approved (or its approvals withdrawn): a migration was
# requested and the cutover has not started.
_APPROVABLE = frozenset(
    {S.QUEUED, S.PLACED, S.PREFLIGHT, S.PROVISIONING, S.REPLICATING, S.READY, S.REHEARSING}
)
# Phases off the forward path: where each one's success leads, and why.
_ENDINGS: Mapping[S, tuple[S, str]] = MappingProxyType(
    {
        S.ROLLING_BACK: (S.ROLLED_BACK, "rolled back: capacity released, the source keeps serving"),
        S.REVERTING: (
            S.ROLLED_BACK,
            "reverted: the target's data synced back, the source serves under its name again; "
            "capacity released",
        ),
        S.REHEARSING: (S.READY, "rehearsal passed: the replica served under the test name"),
        S.FINALIZING: (S.FINALIZED, "finalized: the source is decommissioned, no way back"),
    }
)
# ... and where each one's failure leads (any other phase's failure rolls back).
_FAILED_ENDINGS: Mapping[S, tuple[S, str]] = MappingProxyType(
    {
        S.ROLLING_BACK: (S.FAILED, "capacity stays reserved until a retried rollback succeeds"),
        S.REVERTING: (
            S.FAILED,
            "capacity stays reserved; retry re-runs the rollback, which syncs back first",
        ),
        S.REHEARSING: (S.READY, "rehearsal failed; the source was not touched, still ready"),
        S.FINALIZING: (S.COMPLETED, "not finalized; the way back stays open"),
    }
)


def apply_transition(state: S | None, cause: Cause) -> Transition | Refusal:
    """Decide what ``cause`` does to a system in ``state`` (``None``: not known yet)."""
    return _apply(cause, state)


@singledispatch
def _apply(cause: Cause, state: S | None) -> Outcome:
    raise TypeError(f"not a cause: {cause!r}")


@_apply.register
def _register(cause: Register, state: S | None) -> Outcome:
    if state is None:
        return _move(None, S.REGISTERED, "registered", store=(SaveRecord(),))
    if not holds_capacity(state):
        return _move(state, state, f"record updated while {state}", store=(SaveRecord(),))
    return _refuse(
        state,
        cause,
        "cannot update the record: system is {state} and holds capacity reserved for the "
        "current record; it can change once the system is rolled_back or cancelled",
    )


@_apply.register
def _request_migration(cause: RequestMigration, state: S | None) -> Outcome:
    if state in _MIGRATABLE:
        target = f" onto node {cause.target_node}" if cause.target_node else ""
        wave = f" in wave {cause.wave}" if cause.wave is not None else ""
        reason = f"migration requested{_by(cause.requested_by)}{target}{wave}"
        return _move(state, S.QUEUED, reason, work=(FindPlacement(),))
    special = {
        None: "cannot migrate: system is {state}",
        S.COMPLETED: "cannot migrate: system is {state} and already runs on its node; "
        "roll it back first to migrate it again",
        S.FINALIZED: "cannot migrate: system is {state}; it runs on its node and its source "
        "was decommissioned",
        S.FAILED: "cannot migrate: system is {state} (its rollback did not finish); "
        "retry to re-run the rollback first",
        S.ROLLING_BACK: "cannot migrate: system is {state}; wait for the rollback to finish",
    }
    default = "cannot migrate: system is {state}; a migration is already in progress"
    return _refuse(state, cause, special.get(state, default))


@_apply.register
def _place(cause: Place, state: S | None) -> Outcome:
    if state is S.QUEUED:
        reserve = (ReserveCapacity(cause.node),)
        return _move(state, S.PLACED, f"placed on node {cause.node}", store=reserve)
    return _refuse(
        state, cause, "cannot place: system is {state}; only a queued system can be placed"
    )


@_apply.register
def _placement_failed(cause: PlacementFailed, state: S | None) -> Outcome:
    if state is S.QUEUED:
        reason = (
            f"placement failed: {_one_line(cause.reason)}; "
            "nothing was reserved and the source keeps serving"
        )
        return _move(state, S.ROLLED_BACK, reason)
    return _refuse(
        state,
        cause,
        "cannot record a placement failure: system is {state}; only a queued system is placed",
    )


@_apply.register
def _start(cause: Start, state: S | None) -> Outcome:
    if state is S.PLACED and cause.held is not None:
        return _refuse(state, cause, f"not started: {_literal(cause.held)} (system is {{state}})")
    if state is S.PLACED:
        reason = f"migration started: running {Phase.PREFLIGHT}"
        return _move(state, S.PREFLIGHT, reason)
    return _refuse(state, cause, "cannot start: system is {state}; only a placed system can start")


@_apply.register
def _phase_succeeded(cause: PhaseSucceeded, state: S | None) -> Outcome:
    # A ready system's passes are warm replication's (``Replicated``), never a way to cutover.
    if state is None or state is S.READY or phase_in(state) is not cause.phase:
        return _stale(cause, state, "succeeded")
    if state in _ENDINGS:
        to, reason = _ENDINGS[state]
        effects = (ReleaseCapacity(),) if to is S.ROLLED_BACK else ()
        return _move(state, to, reason, store=effects)
    if state is S.REPLICATING:  # cold: its one pass made the replica; the gates decide the rest
        return _move(state, S.READY, f"{cause.phase} succeeded: ready for cutover")
    following = next_phase(state)
    if following is None:
        return _move(state, S.COMPLETED, f"{cause.phase} succeeded: migration completed")
    reason = f"{cause.phase} succeeded; running {following}"
    return _move(state, PHASE_STATES[following], reason)


@_apply.register
def _phase_failed(cause: PhaseFailed, state: S | None) -> Outcome:
    if state is None or phase_in(state) is not cause.phase:
        return _stale(cause, state, "failed")
    detail = f"{cause.phase} failed at task {_one_line(cause.task)!r}: {_one_line(cause.message)}"
    if state in _FAILED_ENDINGS:
        to, then = _FAILED_ENDINGS[state]
        return _move(state, to, f"{detail}; {then}")
    return _move(state, S.ROLLING_BACK, f"{detail}; rolling back")


@_apply.register
def _replicated(cause: Replicated, state: S | None) -> Outcome:
    detail = _one_line(cause.detail)
    if state is S.REPLICATING:
        if cause.caught_up:
            return _move(state, S.READY, f"{detail}: ready for cutover")
        return _move(state, state, f"{detail}: another delta pass")
    if state is S.READY:
        if cause.caught_up:
            return _move(state, state, f"{detail}: replica refreshed, still ready")
        return _move(state, S.REPLICATING, f"{detail}: the replica fell behind, not ready")
    return _refuse(
        state, cause, "ignored a replication pass: system is {state} and replicates no more"
    )


@_apply.register
def _start_cutover(cause: StartCutover, state: S | None) -> Outcome:
    if state is S.READY and cause.held is not None:
        held = _literal(cause.held)
        return _refuse(state, cause, f"cutover not started: {held} (system is {{state}})")
    if state is S.READY:
        return _move(state, S.CUTOVER, f"cutover started: {cause.why}")
    return _refuse(
        state, cause, "cannot start a cutover: system is {state}; only a ready system can"
    )


@_apply.register
def _request_cancel(cause: RequestCancel, state: S | None) -> Outcome:
    reason = f"cancelled{_by(cause.requested_by)} while {state}"
    if state in (S.REGISTERED, S.QUEUED):
        return _move(state, S.CANCELLED, reason)
    if state is S.PLACED:
        return _move(state, S.CANCELLED, reason, store=(ReleaseCapacity(),))
    if state is not None and state in _INTERRUPTIBLE:
        return _interrupt(state, f"{reason}: stopping {_INTERRUPTIBLE[state]} and rolling back")
    special = {
        None: "cannot cancel: system is {state}",
        S.CUTOVER: "cannot cancel: system is {state}; cutover has started, "
        "so let it complete and then roll it back",
        S.VERIFYING: "cannot cancel: system is {state}; cutover has happened, "
        "so let it complete and then roll it back",
        S.COMPLETED: "cannot cancel: system is {state}; use rollback to undo a completed migration",
        S.REHEARSING: _REHEARSAL_RUNS.replace("{verb}", "cancel"),
        S.REVERTING: "cannot cancel: system is {state}; the revert under way "
        "will release its capacity",
        S.FINALIZING: "cannot cancel: system is {state}; its source is being decommissioned",
        S.FINALIZED: "cannot cancel: system is {state}; the migration ended for good",
        S.ROLLING_BACK: "cannot cancel: system is {state}; the rollback under way "
        "will release its capacity",
        S.FAILED: "cannot cancel: system is {state}; retry to re-run its rollback",
    }
    return _refuse(state, cause, special.get(state, "cannot cancel: system is {state} already"))


@_apply.register
def _request_retry(cause: RequestRetry, state: S | None) -> Outcome:
    by = _by(cause.requested_by)
    if state is S.ROLLED_BACK:
        return _move(state, S.QUEUED, f"retry requested{by}", work=(FindPlacement(),))
    if state is S.FAILED:
        reason = f"retry requested{by}: re-running the rollback first; retry again to migrate"
        return _move(state, S.ROLLING_BACK, reason)
    text = "cannot retry: system is {state}, only a rolled_back or failed system can be retried"
    if state is S.CANCELLED:
        text += "; use migrate to start again"
    return _refuse(state, cause, text)


@_apply.register
def _request_rollback(cause: RequestRollback, state: S | None) -> Outcome:
    reason = f"rollback requested{_by(cause.requested_by)} while {state}"
    if state is S.COMPLETED:
        return _move(state, S.REVERTING, f"{reason}: {_REVERTING}")
    if state is S.FAILED:
        return _move(state, S.ROLLING_BACK, reason)
    if state is not None and state in _INTERRUPTIBLE:
        return _interrupt(state, f"{reason}: stopping {_INTERRUPTIBLE[state]}")
    special = {
        None: "cannot roll back: system is {state}",
        S.PLACED: "cannot roll back: system is {state} and no playbook has run; "
        "use cancel to release its capacity",
        S.CUTOVER: "cannot roll back: system is {state}; let the cutover finish "
        "(a failure rolls back by itself), then roll back the completed system",
        S.VERIFYING: "cannot roll back: system is {state}; let verification finish "
        "(a failure rolls back by itself), then roll back the completed system",
        S.ROLLING_BACK: "cannot roll back: system is {state} already",
        S.REVERTING: "cannot roll back: system is {state} already",
        S.REHEARSING: _REHEARSAL_RUNS.replace("{verb}", "roll back"),
        S.FINALIZING: "cannot roll back: system is {state}; its source is being "
        "decommissioned (if that fails it stays completed and can be rolled back)",
        S.FINALIZED: _NO_WAY_BACK.replace("{verb}", "roll back"),
    }
    default = "cannot roll back: system is {state}; nothing has been moved"
    return _refuse(state, cause, special.get(state, default))


@_apply.register
def _request_revert(cause: RequestRevert, state: S | None) -> Outcome:
    if state is S.COMPLETED:
        reason = f"revert requested{_by(cause.requested_by)}: {_REVERTING}"
        return _move(state, S.REVERTING, reason)
    if state is S.FINALIZED:
        return _refuse(state, cause, _NO_WAY_BACK.replace("{verb}", "revert"))
    return _refuse(
        state,
        cause,
        "cannot revert: system is {state}; only a completed system is reverted "
        "(use rollback or cancel before cutover)",
    )


@_apply.register
def _request_rehearsal(cause: RequestRehearsal, state: S | None) -> Outcome:
    if state is S.READY:
        reason = (
            f"rehearsal requested{_by(cause.requested_by)}: the replica starts under a test "
            "name; the source and its name are not touched"
        )
        return _move(state, S.REHEARSING, reason)
    if state is S.REHEARSING:
        return _refuse(state, cause, "cannot rehearse: system is {state} already")
    return _refuse(
        state,
        cause,
        "cannot rehearse: system is {state}; only a ready system (warm replication caught up) "
        "can be rehearsed",
    )


@_apply.register
def _request_finalize(cause: RequestFinalize, state: S | None) -> Outcome:
    if state is S.COMPLETED:
        reason = f"finalize requested{_by(cause.requested_by)}: decommissioning the source"
        return _move(state, S.FINALIZING, reason)
    special: dict[S | None, str] = {
        S.FINALIZING: "cannot finalize: system is {state} already",
        S.FINALIZED: "cannot finalize: system is {state} already",
    }
    default = "cannot finalize: system is {state}; only a completed system can be finalized"
    return _refuse(state, cause, special.get(state, default))


@_apply.register
def _approve(cause: Approve, state: S | None) -> Outcome:
    if state not in _APPROVABLE:
        return _refuse(state, cause, _not_approvable("approve", state))
    approver, change = _one_line(cause.approved_by), _one_line(cause.change_ref)
    requester = cause.migration_requested_by
    if _same_person(approver, requester) and not cause.self_approval_allowed:
        # Not a template: names and references are the requester's text, braces and all.
        text = (
            f"approval refused: {approver} approves the migration {requester} requested "
            f"(change {change}); four eyes need another approver (system is {state})"
        )
        return Refusal(state, cause, text)
    reason = f"cutover approved by {approver} under change {change}"
    grant = GrantApproval(cause.approved_by, cause.change_ref, cause.comment)
    return _move(state, state, reason, store=(grant,))


@_apply.register
def _reject(cause: Reject, state: S | None) -> Outcome:
    if state not in _APPROVABLE:
        return _refuse(state, cause, _not_approvable("reject", state))
    reason = (
        f"approvals withdrawn by {_one_line(cause.rejected_by)} under change "
        f"{_one_line(cause.change_ref)}: the cutover waits for a new approval"
    )
    return _move(state, state, reason, store=(WithdrawApprovals(cause.rejected_by),))


@_apply.register
def _schedule_cutover(cause: ScheduleCutover, state: S | None) -> Outcome:
    if state not in _APPROVABLE:
        return _refuse(state, cause, _not_approvable("schedule", state))
    pinned = "cleared" if cause.at is None else f"pinned to {cause.at.isoformat()}"
    return _move(state, state, f"cutover {pinned}{_by(cause.requested_by)}")


def _not_approvable(verb: str, state: S | None) -> str:
    if state in (None, S.REGISTERED, S.ROLLED_BACK, S.CANCELLED):
        why = "no migration is under way; request one first"
    elif state in (S.ROLLING_BACK, S.FAILED):
        why = "its migration is being undone"
    else:
        why = "its cutover has already started"
    return f"cannot {verb}: system is {{state}}; {why}"


def _same_person(one: str, other: str | None) -> bool:
    return other is not None and one.casefold() == _one_line(other).casefold()


_REVERTING = "syncing the target's data back to the source before switching the name back"
_REHEARSAL_RUNS = (
    "cannot {verb}: system is {state}; wait for the rehearsal to tear down (it ends ready)"
)
_NO_WAY_BACK = (
    "cannot {verb}: system is {state}; its source was decommissioned and the way back ended"
)


def _interrupt(state: S, reason: str) -> Transition:
    # Leaving the phase state is what stops its run: the worker cancels a batch
    # none of whose systems is still in its phase, and refuses the late report.
    return _move(state, S.ROLLING_BACK, reason)


def _stale(cause: PhaseSucceeded | PhaseFailed, state: S | None, verb: str) -> Refusal:
    running = (phase_in(state) if state is not None else None) or "no phase"
    text = f"ignored report that {cause.phase} {verb}: system is {{state}} and runs {running}"
    return _refuse(state, cause, text)


def _move(
    state: S | None,
    to: S,
    reason: str,
    *,
    store: tuple[Effect, ...] = (),
    work: tuple[Effect, ...] = (),
) -> Transition:
    return Transition(state, to, reason, (*store, *work))


def _refuse(state: S | None, cause: Cause, template: str) -> Refusal:
    described = "not registered" if state is None else str(state)
    return Refusal(state, cause, template.format(state=described))


def _literal(text: str) -> str:
    """``text`` as literal text inside a ``_refuse`` template."""
    return text.replace("{", "{{").replace("}", "}}")


def _by(requested_by: str) -> str:
    return f" by {_one_line(requested_by)}" if requested_by else ""


def _one_line(text: str) -> str:
    # Playbook output and operator names end up in status events: keep them one bounded line.
    flat = " ".join(text.split())
    return flat if len(flat) <= _MAX_DETAIL else flat[: _MAX_DETAIL - 1] + "…"
