"""The engine's pure pieces: how a row follows a transition, groups, causes and notice text."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from orchestrator.capacity import DependencyGraph
from orchestrator.engine.notices import MAX_REASON, one_line
from orchestrator.engine.requests import cause_of, context_of, with_approval_facts
from orchestrator.engine.rows import advance, request_of
from orchestrator.events import InboundEvent, decode, encode, new_event
from orchestrator.events.data import (
    MigrationApproved,
    MigrationRejected,
    MigrationRequested,
    MigrationRetryRequested,
    MigrationScheduled,
    NodeState,
    NodeUpdated,
)
from orchestrator.events.envelope import EventData
from orchestrator.inventory.cutover_policy import ApprovalPolicy, CutoverPolicy
from orchestrator.migrations import (
    Approve,
    Cause,
    Phase,
    PhaseFailed,
    PhaseSucceeded,
    Place,
    PlacementFailed,
    Reject,
    Replicated,
    RequestCancel,
    RequestMigration,
    RequestRetry,
    ScheduleCutover,
    SystemState,
    Transition,
    apply_transition,
)
from orchestrator.store import SystemRow

S = SystemState
AT = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
PINNED = datetime(2027, 1, 9, 1, 0, tzinfo=UTC)


def row(state: S, **fields: Any) -> SystemRow:
    base = SystemRow(
        id="st-a",
        record={"vcpu": 8, "memory_gb": 32, "storage_gb": 500, "depends_on": ["st-b"]},
        city="shantou",
        state=state,
        node=None,
        wave=None,
        phase=None,
        last_error=None,
        requested_by=None,
        updated_at=AT,
        version=3,
    )
    return replace(base, **fields)


CASES: list[tuple[str, SystemRow, Cause, str | None, dict[str, object]]] = [
    (
        "request records target, wave and requester",
        row(S.REGISTERED, last_error="old"),
        RequestMigration("shanwei", 3, "ops.li"),
        None,
        {"state": S.QUEUED, "target_node": "shanwei", "wave": 3, "requested_by": "ops.li",
         "migration_requested_by": "ops.li", "last_error": None},
    ),
    (
        "an approval names its approver, the migration keeps its requester",
        row(S.READY, node="shantou", requested_by="ops.li", migration_requested_by="ops.li"),
        Approve("CHG-1", "ops.wang", migration_requested_by="ops.li"),
        "shantou",
        {"state": S.READY, "requested_by": "ops.wang", "migration_requested_by": "ops.li",
         "gate_due_at": NOW},
    ),
    (
        "a rejection of a ready system asks its gates again too",
        row(S.READY, node="shantou", waiting_reason="window", waiting="window: none open"),
        Reject("CHG-1", "ops.zhao"),
        "shantou",
        {"state": S.READY, "waiting": "window: none open", "gate_due_at": NOW},
    ),
    (
        "an approval before the system is ready is kept for its first ask",
        row(S.REPLICATING, node="shantou", migration_requested_by="ops.li"),
        Approve("CHG-1", "ops.wang", migration_requested_by="ops.li"),
        "shantou",
        {"state": S.REPLICATING, "gate_due_at": None},
    ),
    (
        "a schedule pins the cutover and leaves the wait",
        row(S.READY, waiting_reason="window", waiting="window: none open", waiting_since=AT),
        ScheduleCutover(PINNED, "ops.li"),
        "shantou",
        {"state": S.READY, "cutover_at": PINNED, "requested_by": "ops.li",
         "waiting_reason": "window", "waiting": "window: none open", "waiting_since": AT,
         "gate_due_at": NOW},
    ),
    (
        "leaving the state a gate held it in clears the wait",
        row(S.READY, waiting_reason="window", waiting="window: none open", waiting_since=AT,
            gate_due_at=PINNED),
        Replicated(caught_up=False, detail="full pass"),
        "shantou",
        {"state": S.REPLICATING, "waiting_reason": None, "waiting": None, "waiting_since": None,
         "gate_due_at": None},
    ),
    (
        "placing sets the node",
        row(S.QUEUED),
        Place("shantou"),
        "shantou",
        {"state": S.PLACED, "node": "shantou", "phase": None},
    ),
    (
        "placement failure keeps the reason",
        row(S.QUEUED),
        PlacementFailed("node shantou is draining"),
        None,
        {"state": S.ROLLED_BACK, "last_error": "placement failed: node shantou is draining; "
         "nothing was reserved and the source keeps serving"},
    ),
    (
        "a phase state names its phase",
        row(S.PREFLIGHT, node="shantou", phase=Phase.PREFLIGHT),
        PhaseSucceeded(Phase.PREFLIGHT),
        "shantou",
        {"state": S.PROVISIONING, "phase": Phase.PROVISION},
    ),
    (
        "cancel during a phase rolls back",
        row(S.REPLICATING, node="shantou", phase=Phase.REPLICATE),
        RequestCancel("ops.wang"),
        "shantou",
        {"state": S.ROLLING_BACK, "phase": Phase.ROLLBACK,
         "requested_by": "ops.wang"},
    ),
    (
        "a phase failure keeps the reason",
        row(S.ROLLING_BACK, node="shantou"),
        PhaseFailed(Phase.ROLLBACK, "copy", "disk full"),
        "shantou",
        {"state": S.FAILED, "phase": None,
         "last_error": "rollback failed at task 'copy': disk full; capacity stays reserved "
         "until a retried rollback succeeds"},
    ),
    (
        "retry keeps the original target and wave",
        row(S.ROLLED_BACK, target_node="shanwei", wave=2, requested_by="ops.li"),
        RequestRetry("ops.zhao"),
        None,
        {"state": S.QUEUED, "target_node": "shanwei", "wave": 2, "requested_by": "ops.zhao",
         "migration_requested_by": None},
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("before", "cause", "node", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_advance(
    before: SystemRow, cause: Cause, node: str | None, expected: dict[str, object]
) -> None:
    transition = apply_transition(before.state, cause)
    assert isinstance(transition, Transition)
    after = advance(before, transition, cause, node=node, now=NOW)
    assert {name: getattr(after, name) for name in expected} == expected
    assert (after.id, after.record, after.version) == (before.id, before.record, before.version)


def test_request_of_reads_sizes_and_dependencies() -> None:
    request = request_of(row(S.QUEUED))
    assert (request.id, request.city, request.amounts, request.depends_on) == (
        "st-a",
        "shantou",
        {"VCPU": 8, "MEMORY_GB": 32, "STORAGE_GB": 500},
        ("st-b",),
    )


def test_groups_are_connected_components_of_depends_on_in_either_direction() -> None:
    index = DependencyGraph([("a", ()), ("b", ("a",)), ("c", ("b",)), ("d", ()), ("e", ("x",))])
    assert index.group("a") == index.group("c") == {"a", "b", "c"}
    assert index.group("d") == {"d"}
    assert index.group("e") == {"e", "x"}
    index.update("b", ())  # b no longer depends on a: the group splits
    assert index.group("a") == {"a"}
    assert index.group("c") == {"b", "c"}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (MigrationRequested(system_id="s", target_node="yunfu", wave=4, requested_by="li"),
         RequestMigration("yunfu", 4, "li")),
        (MigrationRetryRequested(system_id="s", requested_by="li"), RequestRetry("li")),
        (NodeUpdated(node_id="yunfu", state=NodeState.OFFLINE), None),
        (MigrationApproved(system_id="s", change_ref="C-1", comment="ok", approved_by="li"),
         Approve("C-1", "li", "ok")),
        (MigrationRejected(system_id="s", change_ref="C-2", rejected_by="wang"),
         Reject("C-2", "wang")),
        (MigrationScheduled(system_id="s", at=PINNED, scheduled_by="li"),
         ScheduleCutover(PINNED, "li")),
        (MigrationScheduled(system_id="s", scheduled_by="li"), ScheduleCutover(None, "li")),
    ],
    ids=["migrate", "retry", "node", "approve", "reject", "schedule", "unschedule"],
)  # fmt: skip
def test_cause_of(data: EventData, expected: Cause | None) -> None:
    assert cause_of(decoded(data)) == expected


def decoded(data: EventData) -> InboundEvent:
    return decode(encode(new_event(data, source="/cli")).as_record("govcloud.events"))


@pytest.mark.parametrize("self_approval", [False, True])
def test_an_approval_learns_who_requested_the_migration_and_the_policy(
    *, self_approval: bool
) -> None:
    policy = CutoverPolicy(approval=ApprovalPolicy(self_approval=self_approval))
    system = row(S.READY, requested_by="ops.zhao", migration_requested_by="ops.li")
    approval = Approve("C-1", "ops.wang")
    assert with_approval_facts(approval, system, policy) == Approve(
        "C-1", "ops.wang", migration_requested_by="ops.li", self_approval_allowed=self_approval
    )
    # Anything else, or an unknown system (the intake rejects it), passes unchanged.
    assert with_approval_facts(RequestRetry("li"), system, policy) == RequestRetry("li")
    assert with_approval_facts(approval, None, policy) == approval


def test_an_approvals_comment_goes_to_the_audit_note() -> None:
    approved = MigrationApproved(
        system_id="s", change_ref="C-1", comment="演练通过", approved_by="li"
    )
    rejected = MigrationRejected(system_id="s", change_ref="C-1", rejected_by="li")
    assert context_of(decoded(approved), component="intake").note == "comment: 演练通过"
    assert context_of(decoded(rejected), component="intake").note is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, None),
        ("", None),
        ("a\nb\tc\x1b[31m", "a b c [31m"),
        ("x" * 600, "x" * (MAX_REASON - 1) + "…"),
    ],
    ids=["none", "empty", "control", "long"],
)
def test_one_line(text: str | None, expected: str | None) -> None:
    assert one_line(text) == expected
