"""The ``data`` of each event type: what a producer asks for or reports.

``gov.cloud.system.registered`` carries ``orchestrator.inventory.models.BusinessSystem``
itself; the other types are defined here. All of them are frozen and refuse unknown
fields. They say nothing about Kafka: ``envelope`` wraps them in CloudEvents
attributes and ``codec`` puts them on the wire.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import AwareDatetime, Field, StringConstraints, field_validator, model_validator

from orchestrator.events.fields import (
    Actor,
    ChangeRef,
    EventId,
    Phase,
    Reason,
    Request,
    State,
    Timestamp,
    Wave,
)
from orchestrator.inventory.models import (
    SYSTEM_ID_PATTERN,
    CityId,
    Frozen,
    NodeId,
    SystemId,
    canonical_ipv6_prefix,
)

# A node may grow well past today's sizes, but not to absurd numbers that would
# overflow a ledger column or hide a unit mistake (bytes sent as GB).
MAX_NODE_VCPU = 1_000_000
MAX_NODE_MEMORY_GB = 100_000_000
MAX_NODE_STORAGE_GB = 10_000_000_000

# Every request about a system may say why and under which change; the change policy
# (``inventory/cutover-policy.yml``, ``change_ref``) can require the change for some systems.
_REASON = "Why, for the audit trail."
_CHANGE_REF = (
    "The change (ticket) this request is under; required for the systems the change policy names."
)


class MigrationRequested(Frozen):
    """Ask the orchestrator to move one system onto a city node.

    Without ``target_node`` the placement picks the node with the most room.
    """

    system_id: SystemId
    target_node: NodeId | None = Field(default=None, description="A city node id; none: placed.")
    wave: Wave | None = Field(default=None, description="Wave number, 1-999, for ordering.")
    requested_by: Actor = Field(description="Who asked: a person or a tool, one line.")
    reason: Reason | None = Field(default=None, description=_REASON)
    change_ref: ChangeRef | None = Field(default=None, description=_CHANGE_REF)


class _MigrationCommand(Frozen):
    system_id: SystemId
    requested_by: Actor = Field(description="Who asked: a person or a tool, one line.")
    reason: Reason | None = Field(default=None, description=_REASON)
    change_ref: ChangeRef | None = Field(default=None, description=_CHANGE_REF)


class MigrationCancelRequested(_MigrationCommand):
    """Stop a migration that has not reached cutover, and release its capacity."""


class MigrationRetryRequested(_MigrationCommand):
    """Run a failed or rolled-back migration again from the start."""


class MigrationRollbackRequested(_MigrationCommand):
    """Undo a migration: the source keeps serving and the capacity is released.

    Of a completed system, a revert: what the target wrote is synced back first.
    """


class MigrationRevertRequested(_MigrationCommand):
    """Undo a completed migration: sync the target's data back, then serve from the source."""


class MigrationRehearsalRequested(_MigrationCommand):
    """Test a ready system's migration: its replica starts under a test name, then is torn down."""


class MigrationFinalizeRequested(_MigrationCommand):
    """End a completed migration's way back: the source is decommissioned."""


class MigrationApproved(Frozen):
    """An approver signs off one system's cutover under a change reference (four eyes).

    Accepted until the system cuts over; refused when the approver is who requested the
    migration, unless the cutover policy allows it. An approval lives for the policy's time.
    """

    system_id: SystemId
    change_ref: ChangeRef = Field(description="The change (ticket) this approval is for.")
    comment: Reason | None = Field(default=None, description="What the approver adds.")
    approved_by: Actor = Field(description="Who approves: a person, one line.")


class MigrationScheduled(Frozen):
    """An operator pins one system's cutover to a moment (inside a maintenance window).

    The cutover waits until then, and then for its other gates; accepted, like an
    approval, until the system cuts over. Without ``at`` it clears the pin.
    """

    system_id: SystemId
    at: AwareDatetime | None = Field(
        default=None,
        description="When the cutover may start, with its UTC offset; absent or null clears it.",
    )
    scheduled_by: Actor = Field(description="Who pins it: a person, one line.")
    reason: Reason | None = Field(default=None, description=_REASON)
    change_ref: ChangeRef | None = Field(default=None, description=_CHANGE_REF)


class MigrationRejected(Frozen):
    """An approver withdraws every approval of one system's cutover (a veto), whatever its change.

    Accepted, like an approval, until the system cuts over; the cutover then waits for a new
    approval.
    """

    system_id: SystemId
    change_ref: ChangeRef = Field(description="The change (ticket) it is rejected under.")
    comment: Reason | None = Field(default=None, description="Why, for the audit trail.")
    rejected_by: Actor = Field(description="Who rejects: a person, one line.")


# The key and subject of an intake request: it is about this orchestrator, not a system.
INTAKE_KEY = "intake"


class IntakeResumeRequested(Frozen):
    """Resume intake now, paused by the flood guard; sent on the control topic, not the events one.

    The events topic is what the guard paused, so a request there would wait
    behind the flood it is meant to end.
    """

    requested_by: Actor = Field(description="Who asked: a person or a tool, one line.")
    reason: Reason | None = Field(default=None, description="Why, for the audit trail.")


class WaveResumeRequested(Frozen):
    """An operator resumes a halted wave: the waves after it may start again.

    A wave halts when its share of systems rolled back or failed goes over the
    health threshold; resuming accepts that share, so the wave gates nothing more.
    """

    wave: int = Field(ge=1, le=999, description="The halted wave.")
    requested_by: Actor = Field(description="Who resumes it: a person, one line.")
    reason: Reason | None = Field(default=None, description="Why, for the audit trail.")


class NodeState(StrEnum):
    """Whether a node takes new systems."""

    ONLINE = "online"
    DRAINING = "draining"  # keeps what it has, takes nothing new
    OFFLINE = "offline"


class NodeTotals(Frozen):
    """A node's new physical totals, in decimal GB."""

    vcpu: Annotated[int, Field(strict=True, gt=0, le=MAX_NODE_VCPU)]
    memory_gb: Annotated[int, Field(strict=True, gt=0, le=MAX_NODE_MEMORY_GB)]
    storage_gb: Annotated[int, Field(strict=True, gt=0, le=MAX_NODE_STORAGE_GB)]


class NodeReserved(Frozen):
    """What a node holds back for its own platform services, in decimal GB."""

    vcpu: Annotated[int, Field(strict=True, ge=0, le=MAX_NODE_VCPU)]
    memory_gb: Annotated[int, Field(strict=True, ge=0, le=MAX_NODE_MEMORY_GB)]
    storage_gb: Annotated[int, Field(strict=True, ge=0, le=MAX_NODE_STORAGE_GB)]


# The same bounds as the inventory's Node: overcommit vCPU up to 16x, the rest up to 4x.
VcpuRatio = Annotated[float, Field(strict=True, gt=0, le=16, allow_inf_nan=False)]
UnitRatio = Annotated[float, Field(strict=True, gt=0, le=4, allow_inf_nan=False)]


class NodeUpdated(Frozen):
    """A node's capacity changed, or it is drained, taken offline or brought online.

    Only the fields present change; at least one must be.
    """

    node_id: NodeId
    capacity: NodeTotals | None = None
    reserved: NodeReserved | None = None
    allocation_ratio_vcpu: VcpuRatio | None = None
    allocation_ratio_memory: UnitRatio | None = None
    allocation_ratio_storage: UnitRatio | None = None
    state: NodeState | None = None
    requested_by: Actor | None = None
    reason: Reason | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> Self:
        changes = self.model_dump(exclude={"node_id", "requested_by", "reason"}, exclude_none=True)
        if not changes:
            raise ValueError("a node update must change capacity, reserved, a ratio or state")
        _check_reserved(self.capacity, self.reserved)
        return self


def _check_reserved(capacity: NodeTotals | None, reserved: NodeReserved | None) -> None:
    """``ValueError`` if ``reserved`` exceeds ``capacity`` in a unit, where both are given."""
    if capacity is not None and reserved is not None:
        for unit in ("vcpu", "memory_gb", "storage_gb"):
            if getattr(reserved, unit) > getattr(capacity, unit):
                raise ValueError(f"reserved {unit} exceeds capacity {unit}")


# A PRD platform is named by its city's id, as in the inventory's ``prd_platforms``.
PlatformId = CityId
# A target host's name becomes an Ansible host and a DNS label, as in the ssh provider's pools.
HostName = Annotated[str, StringConstraints(pattern=SYSTEM_ID_PATTERN, max_length=63)]
MAX_PLATFORM_HOSTS = 256


class PlatformConnected(Frozen):
    """A PRD city's own government cloud is connected, or a connected one changes.

    Connected, it is a placement target for its own city's systems, with its own
    ledger row; its capacity never counts toward the 14 nodes' plan totals. The
    first connect must carry ``capacity`` and ``ipv6_prefix`` (``reserved`` defaults
    to none, each ratio to 1.0, ``state`` to online); after that only the fields
    present change (not the prefix while it holds systems), so
    ``state: draining`` alone drains it: it keeps what it holds and takes nothing new.
    """

    platform_id: PlatformId = Field(description="A PRD city's id, e.g. guangzhou.")
    capacity: NodeTotals | None = Field(default=None, description="Physical totals, decimal GB.")
    reserved: NodeReserved | None = Field(default=None, description="Held back by the platform.")
    allocation_ratio_vcpu: VcpuRatio | None = None
    allocation_ratio_memory: UnitRatio | None = None
    allocation_ratio_storage: UnitRatio | None = None
    state: NodeState | None = Field(default=None, description="online, draining or offline.")
    hosts: (
        Annotated[tuple[HostName, ...], Field(min_length=1, max_length=MAX_PLATFORM_HOSTS)] | None
    ) = Field(default=None, description="The ssh provider's target host pool on the platform.")
    ipv6_prefix: Annotated[str, Field(max_length=64)] | None = Field(
        default=None,
        description="The IPv6 network (/64 or shorter) its migrated systems are addressed in, "
        "as a node's ipv6_prefix; required on the first connect.",
    )
    requested_by: Actor | None = None
    reason: Reason | None = None

    @model_validator(mode="after")
    def _reserved_within_capacity(self) -> Self:
        _check_reserved(self.capacity, self.reserved)
        return self

    @field_validator("ipv6_prefix")
    @classmethod
    def _canonical_prefix(cls, value: str | None) -> str | None:
        return None if value is None else canonical_ipv6_prefix(value)


class PlatformDisconnected(Frozen):
    """A PRD platform is disconnected: refused while any system holds capacity on it.

    Drain it first (``gov.cloud.platform.connected`` with ``state: draining``) and
    let its systems finish or roll back; a platform not connected stays so.
    """

    platform_id: PlatformId = Field(description="A PRD city's id, e.g. guangzhou.")
    requested_by: Actor | None = None
    reason: Reason | None = None


class SystemStatusChanged(Frozen):
    """Outbound: one system moved from one lifecycle state to another.

    States: registered, queued, placed, preflight, provisioning, replicating,
    ready, rehearsing, cutover, verifying, completed, reverting, finalizing,
    finalized, rolling_back, rolled_back, failed, cancelled.
    """

    system_id: SystemId
    from_state: State | None = Field(default=None, description="None on the first event.")
    to_state: State
    node: NodeId | None = Field(default=None, description="The node placed on, if any.")
    phase: Phase | None = Field(
        default=None,
        description="preflight, provision, replicate, cutover, verify, rollback, rehearse, "
        "revert or finalize.",
    )
    reason: Reason | None = None
    caused_by: EventId | None = Field(default=None, description="Id of the triggering event.")
    requested_by: Actor | None = None
    downtime_seconds: float | None = Field(
        default=None,
        ge=0,
        description="A cutover's downtime: the source stopped to the first healthy answer "
        "by name (on the change that ends the cutover).",
    )
    bytes_sent: int | None = Field(
        default=None,
        ge=0,
        description="Bytes the replication pass of the phase behind this change sent.",
    )
    at: Timestamp


class RequestRefused(Frozen):
    """Outbound: a request about one system was refused, so nothing changed.

    ``request`` names what was asked: register, migrate, cancel, retry or
    rollback from an event; place, placement_failed, start, phase_succeeded or
    phase_failed from the orchestrator's own components (a late phase report).
    ``reason`` is one line an operator can act on.
    """

    system_id: SystemId
    state: State | None = Field(
        default=None, description="The system's state when refused; none: not registered."
    )
    request: Request = Field(description="register, migrate, cancel, retry, rollback, ...")
    reason: Reason
    requested_by: Actor | None = Field(default=None, description="Who asked, if a person did.")
    caused_by: EventId | None = Field(default=None, description="Id of the refused event.")
    at: Timestamp


class WaveStatusChanged(Frozen):
    """Outbound: a wave halted, holding every wave after it, or an operator resumed it.

    A wave halts when its share of systems rolled back or failed goes over the
    health threshold, and stays halted until ``govmig wave resume W``. A wave halts
    at most once, so it is announced at most once halted and once resumed.
    """

    wave: Wave = Field(description="The wave, 1-999.")
    state: Literal["halted", "resumed"] = Field(
        description="halted: the waves after it wait; resumed: they may start."
    )
    reason: Reason | None = Field(
        default=None,
        description="Halted: how the wave went over its threshold. Resumed: the operator's "
        "reason, if given.",
    )
    requested_by: Actor | None = Field(
        default=None, description="Who resumed the wave; none for a halt."
    )
    at: Timestamp = Field(description="When the wave halted, or was resumed.")
