"""CloudEvents 1.0 envelopes: one pydantic model per event type, and their unions.

The models are the validation authority for the contract. Each pairs the
CloudEvents attributes with the ``data`` model of its type and is keyed by the
``type`` literal, so ``InboundEvent`` and ``Event`` are discriminated unions.

On the wire (the structured-mode JSON), extension attributes sit beside the
standard ones; in the models they are gathered in ``extensions`` so that nothing
unknown ever reaches ``data``. ``to_wire`` and ``from_wire`` convert between the two.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from orchestrator.events.data import (
    INTAKE_KEY,
    IntakeResumeRequested,
    MigrationApproved,
    MigrationCancelRequested,
    MigrationFinalizeRequested,
    MigrationRehearsalRequested,
    MigrationRejected,
    MigrationRequested,
    MigrationRetryRequested,
    MigrationRevertRequested,
    MigrationRollbackRequested,
    MigrationScheduled,
    NodeUpdated,
    PlatformConnected,
    PlatformDisconnected,
    RequestRefused,
    SystemStatusChanged,
    WaveResumeRequested,
    WaveStatusChanged,
)
from orchestrator.events.fields import (
    EventId,
    Extensions,
    JsonContentType,
    Key,
    Subject,
    Timestamp,
    UriRef,
)
from orchestrator.inventory.models import BusinessSystem


class EventType(StrEnum):
    """Every ``type`` of the contract: the last three are outbound, the others inbound."""

    SYSTEM_REGISTERED = "gov.cloud.system.registered"
    MIGRATION_REQUESTED = "gov.cloud.migration.requested"
    MIGRATION_CANCEL_REQUESTED = "gov.cloud.migration.cancel_requested"
    MIGRATION_RETRY_REQUESTED = "gov.cloud.migration.retry_requested"
    MIGRATION_ROLLBACK_REQUESTED = "gov.cloud.migration.rollback_requested"
    MIGRATION_REVERT_REQUESTED = "gov.cloud.migration.revert_requested"
    MIGRATION_REHEARSAL_REQUESTED = "gov.cloud.migration.rehearsal_requested"
    MIGRATION_FINALIZE_REQUESTED = "gov.cloud.migration.finalize_requested"
    MIGRATION_APPROVED = "gov.cloud.migration.approved"
    MIGRATION_REJECTED = "gov.cloud.migration.rejected"
    MIGRATION_SCHEDULED = "gov.cloud.migration.scheduled"
    WAVE_RESUME_REQUESTED = "gov.cloud.wave.resume_requested"
    NODE_UPDATED = "gov.cloud.node.updated"
    PLATFORM_CONNECTED = "gov.cloud.platform.connected"
    PLATFORM_DISCONNECTED = "gov.cloud.platform.disconnected"
    INTAKE_RESUME_REQUESTED = "gov.cloud.intake.resume_requested"
    SYSTEM_STATUS_CHANGED = "gov.cloud.system.status_changed"
    SYSTEM_REQUEST_REFUSED = "gov.cloud.system.request_refused"
    WAVE_STATUS_CHANGED = "gov.cloud.wave.status_changed"


# The attribute names the envelope models know; any other top-level name is an extension.
KNOWN_ATTRIBUTES: Final = frozenset(
    {
        "specversion",
        "id",
        "source",
        "type",
        "subject",
        "time",
        "datacontenttype",
        "dataschema",
        "partitionkey",
        "data",
    }
)


class Envelope(BaseModel):
    """The CloudEvents 1.0 attributes every event type shares."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    specversion: Literal["1.0"]
    id: EventId = Field(description="Unique per event; a duplicate id is processed once.")
    source: UriRef = Field(description="URI-reference naming the producer, e.g. /cmdb/shantou.")
    subject: Subject | None = Field(
        default=None, description="When present: what the event is about, its Kafka key."
    )
    time: Timestamp | None = Field(default=None, description="RFC 3339, with an offset.")
    datacontenttype: JsonContentType | None = Field(
        default=None, description="application/json when present."
    )
    dataschema: UriRef | None = None
    partitionkey: Key | None = Field(
        default=None, description="When present: equal to the Kafka key."
    )
    extensions: Extensions = Field(
        default_factory=dict,
        description="Extension attributes; on the wire they sit beside the standard ones.",
    )

    @field_validator("extensions")
    @classmethod
    def _no_shadowing(cls, value: dict[str, Any]) -> dict[str, Any]:
        clashes = sorted(set(value) & KNOWN_ATTRIBUTES)
        if clashes:
            raise ValueError(f"extension names clash with attributes: {', '.join(clashes)}")
        return value


class SystemRegisteredEvent(Envelope):
    """Inbound: an inventory system (a CMDB, a register) publishes a business system's record."""

    type: Literal["gov.cloud.system.registered"]
    data: BusinessSystem


class MigrationRequestedEvent(Envelope):
    """Inbound: an operator asks for a system to be migrated."""

    type: Literal["gov.cloud.migration.requested"]
    data: MigrationRequested


class MigrationCancelRequestedEvent(Envelope):
    """Inbound: an operator asks for a migration to be cancelled."""

    type: Literal["gov.cloud.migration.cancel_requested"]
    data: MigrationCancelRequested


class MigrationRetryRequestedEvent(Envelope):
    """Inbound: an operator asks for a failed migration to be retried."""

    type: Literal["gov.cloud.migration.retry_requested"]
    data: MigrationRetryRequested


class MigrationRollbackRequestedEvent(Envelope):
    """Inbound: an operator asks for a migration to be rolled back."""

    type: Literal["gov.cloud.migration.rollback_requested"]
    data: MigrationRollbackRequested


class MigrationRevertRequestedEvent(Envelope):
    """Inbound: an operator asks for a completed migration to be reverted (synced back first)."""

    type: Literal["gov.cloud.migration.revert_requested"]
    data: MigrationRevertRequested


class MigrationRehearsalRequestedEvent(Envelope):
    """Inbound: an operator asks for a rehearsal (test migration) of a ready system."""

    type: Literal["gov.cloud.migration.rehearsal_requested"]
    data: MigrationRehearsalRequested


class MigrationFinalizeRequestedEvent(Envelope):
    """Inbound: an operator asks to finalize a completed migration (no way back after)."""

    type: Literal["gov.cloud.migration.finalize_requested"]
    data: MigrationFinalizeRequested


class MigrationApprovedEvent(Envelope):
    """Inbound: an approver signs off a system's cutover under a change reference."""

    type: Literal["gov.cloud.migration.approved"]
    data: MigrationApproved


class MigrationRejectedEvent(Envelope):
    """Inbound: an approver withdraws a system's live approvals."""

    type: Literal["gov.cloud.migration.rejected"]
    data: MigrationRejected


class MigrationScheduledEvent(Envelope):
    """Inbound: an operator pins a system's cutover to a moment."""

    type: Literal["gov.cloud.migration.scheduled"]
    data: MigrationScheduled


class WaveResumeRequestedEvent(Envelope):
    """Inbound: an operator resumes a halted wave."""

    type: Literal["gov.cloud.wave.resume_requested"]
    data: WaveResumeRequested


class NodeUpdatedEvent(Envelope):
    """Inbound: a city node's capacity, ratios or state changed."""

    type: Literal["gov.cloud.node.updated"]
    data: NodeUpdated


class PlatformConnectedEvent(Envelope):
    """Inbound: a PRD city's own cloud is connected (a target for its own systems), or changed."""

    type: Literal["gov.cloud.platform.connected"]
    data: PlatformConnected


class PlatformDisconnectedEvent(Envelope):
    """Inbound: a PRD platform is disconnected; refused while systems hold capacity on it."""

    type: Literal["gov.cloud.platform.disconnected"]
    data: PlatformDisconnected


class IntakeResumeRequestedEvent(Envelope):
    """Inbound on govcloud.control: an operator asks intake paused by the flood guard to resume."""

    type: Literal["gov.cloud.intake.resume_requested"]
    data: IntakeResumeRequested


class SystemStatusChangedEvent(Envelope):
    """Outbound on govcloud.status: a system changed lifecycle state."""

    type: Literal["gov.cloud.system.status_changed"]
    data: SystemStatusChanged


class SystemRequestRefusedEvent(Envelope):
    """Outbound on govcloud.status: a request about a system was refused; nothing changed."""

    type: Literal["gov.cloud.system.request_refused"]
    data: RequestRefused


class WaveStatusChangedEvent(Envelope):
    """Outbound on govcloud.status: a wave halted, or an operator resumed it."""

    type: Literal["gov.cloud.wave.status_changed"]
    data: WaveStatusChanged


InboundEvent = (
    SystemRegisteredEvent
    | MigrationRequestedEvent
    | MigrationCancelRequestedEvent
    | MigrationRetryRequestedEvent
    | MigrationRollbackRequestedEvent
    | MigrationRevertRequestedEvent
    | MigrationRehearsalRequestedEvent
    | MigrationFinalizeRequestedEvent
    | MigrationApprovedEvent
    | MigrationRejectedEvent
    | MigrationScheduledEvent
    | WaveResumeRequestedEvent
    | NodeUpdatedEvent
    | PlatformConnectedEvent
    | PlatformDisconnectedEvent
    | IntakeResumeRequestedEvent
)
OutboundEvent = SystemStatusChangedEvent | SystemRequestRefusedEvent | WaveStatusChangedEvent
Event = InboundEvent | OutboundEvent
EventData = (
    BusinessSystem
    | MigrationRequested
    | MigrationCancelRequested
    | MigrationRetryRequested
    | MigrationRollbackRequested
    | MigrationRevertRequested
    | MigrationRehearsalRequested
    | MigrationFinalizeRequested
    | MigrationApproved
    | MigrationRejected
    | MigrationScheduled
    | WaveResumeRequested
    | NodeUpdated
    | PlatformConnected
    | PlatformDisconnected
    | IntakeResumeRequested
    | SystemStatusChanged
    | RequestRefused
    | WaveStatusChanged
)

INBOUND_ADAPTER: Final[TypeAdapter[InboundEvent]] = TypeAdapter(
    Annotated[InboundEvent, Field(discriminator="type")]
)
EVENT_ADAPTER: Final[TypeAdapter[Event]] = TypeAdapter(
    Annotated[Event, Field(discriminator="type")]
)

# Ordered as EventType, so generated files and listings are stable.
EVENT_CLASSES: Final[Mapping[EventType, type[Event]]] = {
    EventType.SYSTEM_REGISTERED: SystemRegisteredEvent,
    EventType.MIGRATION_REQUESTED: MigrationRequestedEvent,
    EventType.MIGRATION_CANCEL_REQUESTED: MigrationCancelRequestedEvent,
    EventType.MIGRATION_RETRY_REQUESTED: MigrationRetryRequestedEvent,
    EventType.MIGRATION_ROLLBACK_REQUESTED: MigrationRollbackRequestedEvent,
    EventType.MIGRATION_REVERT_REQUESTED: MigrationRevertRequestedEvent,
    EventType.MIGRATION_REHEARSAL_REQUESTED: MigrationRehearsalRequestedEvent,
    EventType.MIGRATION_FINALIZE_REQUESTED: MigrationFinalizeRequestedEvent,
    EventType.MIGRATION_APPROVED: MigrationApprovedEvent,
    EventType.MIGRATION_REJECTED: MigrationRejectedEvent,
    EventType.MIGRATION_SCHEDULED: MigrationScheduledEvent,
    EventType.WAVE_RESUME_REQUESTED: WaveResumeRequestedEvent,
    EventType.NODE_UPDATED: NodeUpdatedEvent,
    EventType.PLATFORM_CONNECTED: PlatformConnectedEvent,
    EventType.PLATFORM_DISCONNECTED: PlatformDisconnectedEvent,
    EventType.INTAKE_RESUME_REQUESTED: IntakeResumeRequestedEvent,
    EventType.SYSTEM_STATUS_CHANGED: SystemStatusChangedEvent,
    EventType.SYSTEM_REQUEST_REFUSED: SystemRequestRefusedEvent,
    EventType.WAVE_STATUS_CHANGED: WaveStatusChangedEvent,
}
OUTBOUND_TYPES: Final = frozenset(
    {
        EventType.SYSTEM_STATUS_CHANGED,
        EventType.SYSTEM_REQUEST_REFUSED,
        EventType.WAVE_STATUS_CHANGED,
    }
)
INBOUND_TYPES: Final = frozenset(EventType) - OUTBOUND_TYPES
DATA_TYPES: Final[Mapping[type[EventData], EventType]] = {
    BusinessSystem: EventType.SYSTEM_REGISTERED,
    MigrationRequested: EventType.MIGRATION_REQUESTED,
    MigrationCancelRequested: EventType.MIGRATION_CANCEL_REQUESTED,
    MigrationRetryRequested: EventType.MIGRATION_RETRY_REQUESTED,
    MigrationRollbackRequested: EventType.MIGRATION_ROLLBACK_REQUESTED,
    MigrationRevertRequested: EventType.MIGRATION_REVERT_REQUESTED,
    MigrationRehearsalRequested: EventType.MIGRATION_REHEARSAL_REQUESTED,
    MigrationFinalizeRequested: EventType.MIGRATION_FINALIZE_REQUESTED,
    MigrationApproved: EventType.MIGRATION_APPROVED,
    MigrationRejected: EventType.MIGRATION_REJECTED,
    MigrationScheduled: EventType.MIGRATION_SCHEDULED,
    WaveResumeRequested: EventType.WAVE_RESUME_REQUESTED,
    NodeUpdated: EventType.NODE_UPDATED,
    PlatformConnected: EventType.PLATFORM_CONNECTED,
    PlatformDisconnected: EventType.PLATFORM_DISCONNECTED,
    IntakeResumeRequested: EventType.INTAKE_RESUME_REQUESTED,
    SystemStatusChanged: EventType.SYSTEM_STATUS_CHANGED,
    RequestRefused: EventType.SYSTEM_REQUEST_REFUSED,
    WaveStatusChanged: EventType.WAVE_STATUS_CHANGED,
}


def data_key(data: EventData) -> str:
    """The id an event is about, and so its Kafka key: the system id, the node id, the
    platform id, the wave (``wave-N``), or intake."""
    if isinstance(data, BusinessSystem):
        return data.id
    if isinstance(data, NodeUpdated):
        return data.node_id
    if isinstance(data, PlatformConnected | PlatformDisconnected):
        return data.platform_id
    if isinstance(data, IntakeResumeRequested):
        return INTAKE_KEY
    if isinstance(data, WaveResumeRequested | WaveStatusChanged):
        return f"wave-{data.wave}"
    return data.system_id


def event_key(event: Event) -> str:
    """The Kafka key (``partitionkey``) of ``event``: all events of one system share a partition."""
    return data_key(event.data)


def to_wire(event: Event) -> dict[str, Any]:
    """The structured-mode JSON object of ``event``: extensions beside the attributes."""
    wire = event.model_dump(mode="json", exclude_none=True, exclude={"extensions"})
    wire.update(event.extensions)
    return wire


def from_wire(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """The model input for a structured-mode object: unknown attribute names become extensions."""
    known = {name: value for name, value in attributes.items() if name in KNOWN_ATTRIBUTES}
    known["extensions"] = {
        name: value for name, value in attributes.items() if name not in KNOWN_ATTRIBUTES
    }
    return known
