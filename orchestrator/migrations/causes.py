"""Causes: what can happen to one system, already decoded from events and phase reports.

The reactor turns each inbound CloudEvent, and each outcome the execution layer
reports, into one of these small immutable records before the state machine
sees it, so the machine never parses JSON or knows a Kafka topic.

=====================  ==========================================================
cause                  comes from
=====================  ==========================================================
``Register``           ``gov.cloud.system.registered`` (the record itself is stored
                       by the caller; the machine only decides if that is allowed)
``RequestMigration``   ``gov.cloud.migration.requested``
``Place``              the placement step chose a node for a queued system
``PlacementFailed``    the placement step found no node (or ``--to`` was refused)
``Start``              the scheduler lets a placed system begin (its wave has come)
``PhaseSucceeded``     a phase's playbook finished successfully
``PhaseFailed``        a phase's playbook failed (or was stopped)
``Replicated``         a pass of warm replication finished: caught up or not
``StartCutover``       the worker asks a ready system to cut over, with its gates' answer
``RequestCancel``      ``gov.cloud.migration.cancel_requested``
``RequestRetry``       ``gov.cloud.migration.retry_requested``
``RequestRollback``    ``gov.cloud.migration.rollback_requested``
``RequestRevert``      ``gov.cloud.migration.revert_requested``
``RequestRehearsal``   ``gov.cloud.migration.rehearsal_requested``
``RequestFinalize``    ``gov.cloud.migration.finalize_requested``
``ScheduleCutover``    ``gov.cloud.migration.scheduled``
``Approve``            ``gov.cloud.migration.approved``, with what the engine knows of
                       who requested the migration and whether the policy allows
                       self-approval
``Reject``             ``gov.cloud.migration.rejected``
=====================  ==========================================================

The outcome of the rollback phase is reported like any other phase, as
``PhaseSucceeded(Phase.ROLLBACK)`` or ``PhaseFailed(Phase.ROLLBACK, ...)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from orchestrator.migrations.states import Phase


@dataclass(frozen=True, slots=True)
class Register:
    """A system's record arrived, for the first time or again."""


@dataclass(frozen=True, slots=True)
class RequestMigration:
    """An operator asked to migrate the system, optionally onto a given node and in a wave."""

    target_node: str | None = None
    wave: int | None = None
    requested_by: str = ""


@dataclass(frozen=True, slots=True)
class Place:
    """Placement chose ``node`` for a queued system."""

    node: str


@dataclass(frozen=True, slots=True)
class PlacementFailed:
    """No node can take the system; ``reason`` says why (e.g. which resource is short)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Start:
    """A placed system may begin its playbooks; ``held``: the line saying what holds it instead
    (its wave's gate, ``orchestrator.gates.waves``)."""

    held: str | None = None


@dataclass(frozen=True, slots=True)
class PhaseSucceeded:
    """The playbook of ``phase`` finished successfully."""

    phase: Phase


@dataclass(frozen=True, slots=True)
class PhaseFailed:
    """The playbook of ``phase`` failed at ``task`` with ``message``."""

    phase: Phase
    task: str
    message: str


@dataclass(frozen=True, slots=True)
class Replicated:
    """A pass of warm replication finished; ``caught_up`` when it was a delta within budget.

    ``detail`` says what the pass was (kind, seconds, the budget), for the audit.
    """

    caught_up: bool
    detail: str


@dataclass(frozen=True, slots=True)
class StartCutover:
    """The worker asks a ready system to cut over, once its gates have been weighed.

    ``why``: which gates let it through (for the audit); ``held``: the one line
    saying what holds it instead, when a gate does (``orchestrator.gates``).
    """

    why: str
    held: str | None = None


@dataclass(frozen=True, slots=True)
class RequestCancel:
    """An operator asked to cancel the migration."""

    requested_by: str = ""


@dataclass(frozen=True, slots=True)
class RequestRetry:
    """An operator asked to retry a rolled-back or failed migration."""

    requested_by: str = ""


@dataclass(frozen=True, slots=True)
class RequestRollback:
    """An operator asked to roll the migration back."""

    requested_by: str = ""


@dataclass(frozen=True, slots=True)
class RequestRevert:
    """An operator asked to revert a completed migration (a rollback that syncs back first)."""

    requested_by: str = ""


@dataclass(frozen=True, slots=True)
class RequestRehearsal:
    """An operator asked for a test migration of a ready system."""

    requested_by: str = ""


@dataclass(frozen=True, slots=True)
class RequestFinalize:
    """An operator (or the finalize-after policy) asked to end a completed system's way back."""

    requested_by: str = ""


@dataclass(frozen=True, slots=True)
class Approve:
    """An approver signed off the system's cutover under a change reference.

    The engine fills in what the decision needs besides the event, so the machine
    stays pure: ``migration_requested_by`` (who requested the migration, None if
    not known) and ``self_approval_allowed`` (the cutover policy's word).
    """

    change_ref: str
    approved_by: str
    comment: str | None = None
    migration_requested_by: str | None = None
    self_approval_allowed: bool = False


@dataclass(frozen=True, slots=True)
class Reject:
    """An approver withdrew the system's live approvals, under a change reference."""

    change_ref: str
    rejected_by: str
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class ScheduleCutover:
    """An operator pinned the system's cutover to ``at`` (aware), or cleared the pin (None)."""

    at: datetime | None
    requested_by: str = ""


Cause = (
    Register
    | RequestMigration
    | Place
    | PlacementFailed
    | Start
    | PhaseSucceeded
    | PhaseFailed
    | Replicated
    | StartCutover
    | RequestCancel
    | RequestRetry
    | RequestRollback
    | RequestRevert
    | RequestRehearsal
    | RequestFinalize
    | Approve
    | Reject
    | ScheduleCutover
)

CAUSE_TYPES: tuple[type[Cause], ...] = (
    Register,
    RequestMigration,
    Place,
    PlacementFailed,
    Start,
    PhaseSucceeded,
    PhaseFailed,
    Replicated,
    StartCutover,
    RequestCancel,
    RequestRetry,
    RequestRollback,
    RequestRevert,
    RequestRehearsal,
    RequestFinalize,
    Approve,
    Reject,
    ScheduleCutover,
)
