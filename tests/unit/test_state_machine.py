"""The migration state machine: every (state, cause) pair, checked against an explicit table."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from orchestrator.migrations import (
    ACTIVE_PHASE_STATES,
    CAUSE_TYPES,
    FORWARD_PHASES,
    PLAYBOOKS,
    TERMINAL_STATES,
    Approve,
    Cause,
    Effect,
    FindPlacement,
    GrantApproval,
    Phase,
    PhaseFailed,
    PhaseSucceeded,
    Place,
    PlacementFailed,
    Refusal,
    Register,
    Reject,
    ReleaseCapacity,
    Replicated,
    RequestCancel,
    RequestFinalize,
    RequestMigration,
    RequestRehearsal,
    RequestRetry,
    RequestRevert,
    RequestRollback,
    ReserveCapacity,
    SaveRecord,
    ScheduleCutover,
    Start,
    StartCutover,
    SystemState,
    Transition,
    WithdrawApprovals,
    apply_transition,
    holds_capacity,
    is_terminal,
    next_phase,
    phase_in,
)

S = SystemState
P = Phase

CAUSES: dict[str, Cause] = {
    "register": Register(),
    "migrate": RequestMigration(target_node="shaoguan", wave=2, requested_by="alice"),
    "place": Place("shaoguan"),
    "placement_failed": PlacementFailed("node shaoguan lacks storage by 1,200 GB"),
    "start": Start(),
    "cancel": RequestCancel("alice"),
    "retry": RequestRetry("alice"),
    "rollback": RequestRollback("alice"),
    "revert": RequestRevert("alice"),
    "rehearse": RequestRehearsal("bob"),
    "finalize": RequestFinalize("carol"),
    **{f"succeeded_{phase}": PhaseSucceeded(phase) for phase in Phase},
    **{f"failed_{phase}": PhaseFailed(phase, "copy data", "rsync exited 23") for phase in Phase},
    "caught_up": Replicated(caught_up=True, detail="delta pass of 4096 bytes, 0.4 s"),
    "behind": Replicated(caught_up=False, detail="full pass of 9000000 bytes, 12.0 s"),
    "cutover_go": StartCutover("forecast downtime 2.8 s within the 30 s budget"),
    "cutover_held": StartCutover("", held="approval: its policy needs an approval"),
    "approve": Approve("CHG-1", "bob", "rehearsed", migration_requested_by="alice"),
    "self_approve": Approve("CHG-1", "Alice", migration_requested_by="alice"),
    "self_approve_allowed": Approve(
        "CHG-1", "alice", migration_requested_by="alice", self_approval_allowed=True
    ),
    "approve_unknown_requester": Approve("CHG-1", "alice"),
    "reject": Reject("CHG-2", "carol", "peak season"),
    "schedule": ScheduleCutover(datetime(2027, 1, 9, 1, 0, tzinfo=UTC), "alice"),
    "unschedule": ScheduleCutover(None, "alice"),
}
STATES: list[SystemState | None] = [None, *SystemState]

SAVE = SaveRecord()
FIND = FindPlacement()
RELEASE = ReleaseCapacity()

Expected = tuple[SystemState, tuple[Effect, ...]]
# An approval (or a reject) is taken from a requested migration until its cutover starts,
# and leaves the state as it is.
APPROVABLE = (
    S.QUEUED, S.PLACED, S.PREFLIGHT, S.PROVISIONING, S.REPLICATING, S.READY, S.REHEARSING
)  # fmt: skip
APPROVALS: dict[tuple[SystemState | None, str], Expected] = {
    (state, name): (state, effects)
    for state in APPROVABLE
    for name, effects in (
        ("approve", (GrantApproval("bob", "CHG-1", "rehearsed"),)),
        ("self_approve_allowed", (GrantApproval("alice", "CHG-1"),)),
        ("approve_unknown_requester", (GrantApproval("alice", "CHG-1"),)),
        ("reject", (WithdrawApprovals("carol"),)),
        ("schedule", ()),
        ("unschedule", ()),
    )
}

# Every legal pair, written out. Any pair of the product not listed here must be refused.
LEGAL: dict[tuple[SystemState | None, str], Expected] = {
    (None, "register"): (S.REGISTERED, (SAVE,)),
    (S.REGISTERED, "register"): (S.REGISTERED, (SAVE,)),
    (S.QUEUED, "register"): (S.QUEUED, (SAVE,)),
    (S.ROLLED_BACK, "register"): (S.ROLLED_BACK, (SAVE,)),
    (S.CANCELLED, "register"): (S.CANCELLED, (SAVE,)),
    (S.REGISTERED, "migrate"): (S.QUEUED, (FIND,)),
    (S.ROLLED_BACK, "migrate"): (S.QUEUED, (FIND,)),
    (S.CANCELLED, "migrate"): (S.QUEUED, (FIND,)),
    (S.QUEUED, "place"): (S.PLACED, (ReserveCapacity("shaoguan"),)),
    (S.QUEUED, "placement_failed"): (S.ROLLED_BACK, ()),
    (S.PLACED, "start"): (S.PREFLIGHT, ()),
    (S.PREFLIGHT, "succeeded_preflight"): (S.PROVISIONING, ()),
    (S.PROVISIONING, "succeeded_provision"): (S.REPLICATING, ()),
    (S.REPLICATING, "succeeded_replicate"): (S.READY, ()),  # cold: one pass, then the gates
    (S.CUTOVER, "succeeded_cutover"): (S.VERIFYING, ()),
    (S.VERIFYING, "succeeded_verify"): (S.COMPLETED, ()),
    (S.ROLLING_BACK, "succeeded_rollback"): (S.ROLLED_BACK, (RELEASE,)),
    (S.PREFLIGHT, "failed_preflight"): (S.ROLLING_BACK, ()),
    (S.PROVISIONING, "failed_provision"): (S.ROLLING_BACK, ()),
    (S.REPLICATING, "failed_replicate"): (S.ROLLING_BACK, ()),
    (S.CUTOVER, "failed_cutover"): (S.ROLLING_BACK, ()),
    (S.VERIFYING, "failed_verify"): (S.ROLLING_BACK, ()),
    (S.ROLLING_BACK, "failed_rollback"): (S.FAILED, ()),
    (S.REGISTERED, "cancel"): (S.CANCELLED, ()),
    (S.QUEUED, "cancel"): (S.CANCELLED, ()),
    (S.PLACED, "cancel"): (S.CANCELLED, (RELEASE,)),
    (S.PREFLIGHT, "cancel"): (S.ROLLING_BACK, ()),
    (S.PROVISIONING, "cancel"): (S.ROLLING_BACK, ()),
    (S.REPLICATING, "cancel"): (S.ROLLING_BACK, ()),
    (S.ROLLED_BACK, "retry"): (S.QUEUED, (FIND,)),
    (S.FAILED, "retry"): (S.ROLLING_BACK, ()),
    (S.COMPLETED, "rollback"): (S.REVERTING, ()),
    (S.FAILED, "rollback"): (S.ROLLING_BACK, ()),
    (S.PREFLIGHT, "rollback"): (S.ROLLING_BACK, ()),
    (S.PROVISIONING, "rollback"): (S.ROLLING_BACK, ()),
    (S.REPLICATING, "rollback"): (S.ROLLING_BACK, ()),
    # Warm replication: passes until a delta is within budget, then ready until cutover.
    (S.REPLICATING, "caught_up"): (S.READY, ()),
    (S.REPLICATING, "behind"): (S.REPLICATING, ()),
    (S.READY, "caught_up"): (S.READY, ()),
    (S.READY, "behind"): (S.REPLICATING, ()),
    (S.READY, "cutover_go"): (S.CUTOVER, ()),
    (S.READY, "failed_replicate"): (S.ROLLING_BACK, ()),
    (S.READY, "cancel"): (S.ROLLING_BACK, ()),
    (S.READY, "rollback"): (S.ROLLING_BACK, ()),
    # Rehearsal: from ready, back to ready whatever its result.
    (S.READY, "rehearse"): (S.REHEARSING, ()),
    (S.REHEARSING, "succeeded_rehearse"): (S.READY, ()),
    (S.REHEARSING, "failed_rehearse"): (S.READY, ()),
    # Revert: a completed system syncs back, then is rolled back.
    (S.COMPLETED, "revert"): (S.REVERTING, ()),
    (S.REVERTING, "succeeded_revert"): (S.ROLLED_BACK, (RELEASE,)),
    (S.REVERTING, "failed_revert"): (S.FAILED, ()),
    # Finalize: the way back ends; a failed one leaves it open.
    (S.COMPLETED, "finalize"): (S.FINALIZING, ()),
    (S.FINALIZING, "succeeded_finalize"): (S.FINALIZED, ()),
    (S.FINALIZING, "failed_finalize"): (S.COMPLETED, ()),
    **APPROVALS,
}

CASES = list(itertools.product(STATES, CAUSES))
CASE_IDS = [f"{state or 'unknown'}-{name}" for state, name in CASES]


@pytest.mark.parametrize(("state", "cause_name"), CASES, ids=CASE_IDS)
def test_every_state_and_cause(state: SystemState | None, cause_name: str) -> None:
    cause = CAUSES[cause_name]
    outcome = apply_transition(state, cause)
    expected = LEGAL.get((state, cause_name))
    if expected is None:
        assert isinstance(outcome, Refusal), outcome
        assert (outcome.state, outcome.cause) == (state, cause)
        assert f"system is {state or 'not registered'}" in outcome.reason
    else:
        assert isinstance(outcome, Transition), outcome
        assert (outcome.from_state, outcome.to_state, outcome.effects) == (state, *expected)
        assert outcome.reason


def test_the_table_names_only_real_pairs_and_every_cause_type() -> None:
    assert set(LEGAL) <= set(CASES)
    assert {type(cause) for cause in CAUSES.values()} == set(CAUSE_TYPES)


@pytest.mark.parametrize(("state", "cause_name"), list(LEGAL), ids=[f"{s}-{c}" for s, c in LEGAL])
def test_capacity_and_status_effects_follow_the_states(
    state: SystemState | None, cause_name: str
) -> None:
    outcome = apply_transition(state, CAUSES[cause_name])
    assert isinstance(outcome, Transition)
    held_before = state is not None and holds_capacity(state)
    held_after = holds_capacity(outcome.to_state)
    reserves = any(isinstance(effect, ReserveCapacity) for effect in outcome.effects)
    assert reserves == (not held_before and held_after)
    assert (RELEASE in outcome.effects) == (held_before and not held_after)


@pytest.mark.parametrize(
    ("state", "cause", "reason"),
    [
        (
            S.READY,
            Approve("CHG-2041", "Alice", migration_requested_by="alice"),
            "approval refused: Alice approves the migration alice requested (change CHG-2041); "
            "four eyes need another approver (system is ready)",
        ),
        (
            S.REGISTERED,
            Approve("CHG-2041", "bob"),
            "cannot approve: system is registered; no migration is under way; request one first",
        ),
        (
            S.CUTOVER,
            Approve("CHG-2041", "bob", migration_requested_by="alice"),
            "cannot approve: system is cutover; its cutover has already started",
        ),
        (
            S.FAILED,
            Reject("CHG-2041", "bob"),
            "cannot reject: system is failed; its migration is being undone",
        ),
        (
            S.COMPLETED,
            RequestCancel(),
            "cannot cancel: system is completed; use rollback to undo a completed migration",
        ),
        (
            S.QUEUED,
            RequestRetry(),
            "cannot retry: system is queued, only a rolled_back or failed system can be retried",
        ),
        (
            S.CANCELLED,
            RequestRetry(),
            "cannot retry: system is cancelled, only a rolled_back or failed system can be "
            "retried; use migrate to start again",
        ),
        (
            S.PLACED,
            Register(),
            "cannot update the record: system is placed and holds capacity reserved for the "
            "current record; it can change once the system is rolled_back or cancelled",
        ),
        (None, RequestMigration(), "cannot migrate: system is not registered"),
        (
            S.ROLLING_BACK,
            PhaseSucceeded(P.VERIFY),
            "ignored report that verify succeeded: system is rolling_back and runs rollback",
        ),
        (
            S.FINALIZED,
            RequestRollback(),
            "cannot roll back: system is finalized; its source was decommissioned and the way "
            "back ended",
        ),
        (
            S.REPLICATING,
            RequestRehearsal(),
            "cannot rehearse: system is replicating; only a ready system (warm replication "
            "caught up) can be rehearsed",
        ),
        (
            S.READY,
            RequestFinalize(),
            "cannot finalize: system is ready; only a completed system can be finalized",
        ),
        (
            S.READY,
            StartCutover("", held="window: {no} maintenance window is open"),
            "cutover not started: window: {no} maintenance window is open (system is ready)",
        ),
    ],
    ids=[
        "self-approval",
        "approve-registered",
        "approve-cutover",
        "reject-failed",
        "cancel-completed",
        "retry-queued",
        "retry-cancelled",
        "register-placed",
        "unknown",
        "stale-report",
        "rollback-finalized",
        "rehearse-replicating",
        "finalize-ready",
        "cutover-held",
    ],
)
def test_refusal_reasons_tell_the_operator_what_to_do(
    state: SystemState | None, cause: Cause, reason: str
) -> None:
    outcome = apply_transition(state, cause)
    assert isinstance(outcome, Refusal)
    assert outcome.reason == reason


def test_a_whole_migration_walks_the_happy_path() -> None:
    causes: list[Cause] = [
        Register(),
        RequestMigration(),
        Place("heyuan"),
        Start(),
        *(PhaseSucceeded(phase) for phase in FORWARD_PHASES[:3]),
        StartCutover(why="the gates are open"),
        *(PhaseSucceeded(phase) for phase in FORWARD_PHASES[3:]),
    ]
    state: SystemState | None = None
    visited = []
    for cause in causes:
        outcome = apply_transition(state, cause)
        assert isinstance(outcome, Transition), outcome
        state = outcome.to_state
        visited.append(state)
    assert visited == [
        S.REGISTERED, S.QUEUED, S.PLACED, S.PREFLIGHT, S.PROVISIONING,
        S.REPLICATING, S.READY, S.CUTOVER, S.VERIFYING, S.COMPLETED,
    ]  # fmt: skip


def test_a_failed_rollback_is_retried_then_migrated_again() -> None:
    state = S.REPLICATING
    steps: list[tuple[Cause, SystemState]] = [
        (PhaseFailed(P.REPLICATE, "sync", "disk full"), S.ROLLING_BACK),
        (PhaseFailed(P.ROLLBACK, "restore dns", "timeout"), S.FAILED),
        (RequestRetry(), S.ROLLING_BACK),
        (PhaseSucceeded(P.ROLLBACK), S.ROLLED_BACK),
        (RequestRetry(), S.QUEUED),
    ]
    for cause, expected in steps:
        outcome = apply_transition(state, cause)
        assert isinstance(outcome, Transition)
        assert outcome.to_state is expected
        state = outcome.to_state


def test_failure_reason_names_phase_and_task_on_one_bounded_line() -> None:
    outcome = apply_transition(
        S.CUTOVER, PhaseFailed(P.CUTOVER, "switch dns", "line one\nline two " + "x" * 1000)
    )
    assert isinstance(outcome, Transition)
    assert outcome.reason.startswith("cutover failed at task 'switch dns': line one line two x")
    assert outcome.reason.endswith("; rolling back")
    assert "\n" not in outcome.reason
    assert len(outcome.reason) < 400


def test_approval_reasons_name_the_approver_and_the_change_on_one_line() -> None:
    approved = apply_transition(S.READY, Approve("CHG 7\n{x}", "bob", migration_requested_by="a"))
    assert isinstance(approved, Transition)
    assert approved.reason == "cutover approved by bob under change CHG 7 {x}"
    rejected = apply_transition(S.PLACED, Reject("CHG-8", "carol"))
    assert isinstance(rejected, Transition)
    assert rejected.reason == (
        "approvals withdrawn by carol under change CHG-8: the cutover waits for a new approval"
    )
    # Braces in a name are text, never a template field.
    refused = apply_transition(S.READY, Approve("C{1}", "{a}", migration_requested_by="{A}"))
    assert isinstance(refused, Refusal)
    assert refused.reason.startswith("approval refused: {a} approves the migration {A} requested")


def test_reasons_name_who_asked_and_what_was_asked() -> None:
    outcome = apply_transition(S.REGISTERED, RequestMigration("shaoguan", 3, "alice"))
    assert isinstance(outcome, Transition)
    assert outcome.reason == "migration requested by alice onto node shaoguan in wave 3"


def test_phases_map_to_playbooks() -> None:
    assert dict(PLAYBOOKS) == {
        P.PREFLIGHT: "preflight.yml",
        P.PROVISION: "provision.yml",
        P.REPLICATE: "replicate.yml",
        P.CUTOVER: "cutover.yml",
        P.VERIFY: "verify.yml",
        P.ROLLBACK: "rollback.yml",
        P.REHEARSE: "rehearse.yml",
        P.REVERT: "revert.yml",
        P.FINALIZE: "finalize.yml",
    }


@pytest.mark.parametrize(
    ("state", "running", "following", "terminal"),
    [
        (S.REGISTERED, None, None, False),
        (S.QUEUED, None, None, False),
        (S.PLACED, None, P.PREFLIGHT, False),
        (S.PREFLIGHT, P.PREFLIGHT, P.PROVISION, False),
        (S.PROVISIONING, P.PROVISION, P.REPLICATE, False),
        (S.REPLICATING, P.REPLICATE, P.CUTOVER, False),
        (S.READY, P.REPLICATE, None, False),
        (S.REHEARSING, P.REHEARSE, None, False),
        (S.CUTOVER, P.CUTOVER, P.VERIFY, False),
        (S.VERIFYING, P.VERIFY, None, False),
        (S.COMPLETED, None, None, True),
        (S.REVERTING, P.REVERT, None, False),
        (S.FINALIZING, P.FINALIZE, None, False),
        (S.FINALIZED, None, None, True),
        (S.ROLLING_BACK, P.ROLLBACK, None, False),
        (S.ROLLED_BACK, None, None, True),
        (S.FAILED, None, None, True),
        (S.CANCELLED, None, None, True),
    ],
    ids=[state.value for state in SystemState],
)
def test_state_helpers(
    state: SystemState, running: Phase | None, following: Phase | None, terminal: bool
) -> None:
    assert phase_in(state) is running
    assert next_phase(state) is following
    assert is_terminal(state) is terminal
    assert (state in TERMINAL_STATES) is terminal
    # A ready system runs its passes only when one is due: it is not always active.
    assert (state in ACTIVE_PHASE_STATES) is (running is not None and state is not S.READY)
