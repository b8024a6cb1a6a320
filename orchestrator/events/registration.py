"""Registration records: one ``gov.cloud.system.registered`` record per system.

What ``govmig inventory publish``, the demo and the tests send to the inbound
topic (with ``Producer.send_all``).

Each event's id is derived from its content (``content_id``), so publishing an
unchanged file twice repeats the ids and the orchestrator treats the second
round as duplicates. The Kafka key is the system id, which keeps every event of
one system on one partition, in order.
"""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.events.codec import OutboundRecord, content_id, encode, new_event
from orchestrator.inventory.models import BusinessSystem

DEFAULT_SOURCE = "/govmig/inventory"


def registration_records(
    systems: Sequence[BusinessSystem], *, source: str = DEFAULT_SOURCE
) -> list[OutboundRecord]:
    """The ``gov.cloud.system.registered`` records for ``systems``, in order."""
    return [encode(new_event(system, source=source, id=content_id(system))) for system in systems]
