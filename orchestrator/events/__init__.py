"""The event contract: CloudEvents 1.0 models of every event type, and the Kafka codec.

This package is what producers and consumers agree on. It sits between the bus
(which moves bytes) and the reactor (which acts on events): ``codec.decode``
turns a Kafka record into a validated event or a ``Rejection`` with a reason
code, ``codec.encode`` turns an event into a record. It does no I/O of its own,
except ``schemagen`` (writes ``events/schemas/``) and ``validate`` (reads files).

Types (``EventType``): inbound on ``govcloud.events`` are
``gov.cloud.system.registered``, ``gov.cloud.migration.requested``,
``gov.cloud.migration.cancel_requested``, ``gov.cloud.migration.retry_requested``,
``gov.cloud.migration.rollback_requested``, ``gov.cloud.migration.revert_requested``,
``gov.cloud.migration.rehearsal_requested``, ``gov.cloud.migration.finalize_requested``,
``gov.cloud.migration.approved``, ``gov.cloud.migration.rejected``,
``gov.cloud.migration.scheduled``, ``gov.cloud.wave.resume_requested``,
``gov.cloud.node.updated``, ``gov.cloud.platform.connected`` and
``gov.cloud.platform.disconnected``;
outbound on ``govcloud.status`` are ``gov.cloud.system.status_changed``, one per
lifecycle state change, ``gov.cloud.system.request_refused``, one per refused
request, and ``gov.cloud.wave.status_changed``, one per wave halted or resumed.
It is not a Kafka client and holds no state.
"""

from orchestrator.events.codec import (
    DEFAULT_MAX_BYTES,
    KafkaRecord,
    OutboundRecord,
    content_id,
    decode,
    decode_any,
    decode_document,
    encode,
    new_event,
)
from orchestrator.events.envelope import Event, EventType, InboundEvent, event_key
from orchestrator.events.reasons import REASON_CODES, Rejection
from orchestrator.events.references import KnownIds, check_references

__all__ = [
    "DEFAULT_MAX_BYTES",
    "REASON_CODES",
    "Event",
    "EventType",
    "InboundEvent",
    "KafkaRecord",
    "KnownIds",
    "OutboundRecord",
    "Rejection",
    "check_references",
    "content_id",
    "decode",
    "decode_any",
    "decode_document",
    "encode",
    "event_key",
    "new_event",
]
