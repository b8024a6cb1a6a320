"""Inventory publishing (``govmig inventory publish``): one registered event per system.

Each event's id is derived from its content (``content_id``), so publishing an
unchanged file twice repeats the ids and the orchestrator treats the second
round as duplicates. The Kafka key is the system id, which keeps every event of
one system on one partition, in order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from orchestrator.bus import Producer, SendReport
from orchestrator.events.codec import OutboundRecord, content_id, encode, new_event
from orchestrator.inventory.models import BusinessSystem

DEFAULT_SOURCE = "/govmig/inventory"


def registration_records(
    systems: Sequence[BusinessSystem], *, source: str = DEFAULT_SOURCE
) -> list[OutboundRecord]:
    """The ``gov.cloud.system.registered`` records for ``systems``, in order."""
    return [encode(new_event(system, source=source, id=content_id(system))) for system in systems]


def publish_systems(
    producer: Producer,
    topic: str,
    systems: Sequence[BusinessSystem],
    *,
    source: str = DEFAULT_SOURCE,
    on_ack: Callable[[], None] | None = None,
) -> SendReport:
    """Publish one registered event per system and wait until the broker has them all."""
    return producer.send_all(topic, registration_records(systems, source=source), on_ack=on_ack)
