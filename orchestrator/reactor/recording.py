"""``RecordingHandler``: an in-memory handler for tests and trials, not for production.

It dedupes on ``(source, id)`` and answers one ``gov.cloud.system.status_changed``
per newly processed event, keeping everything it saw in lists a test can read.
It forgets everything when the process ends; the store-backed handler is the
real one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from orchestrator.events.codec import new_event
from orchestrator.events.data import SystemStatusChanged
from orchestrator.events.envelope import Event, EventType, InboundEvent, event_key
from orchestrator.reactor.handler import Delivery, Duplicate, Outcome, Processed

SOURCE = "/govmig/orchestrator/recording"
# A plausible first state per inbound type: enough for a status event to be valid.
TO_STATE = {EventType.SYSTEM_REGISTERED: "registered"}
DEFAULT_STATE = "queued"


class RecordingHandler:
    """Remembers every delivery; processes each ``(source, id)`` once."""

    def __init__(self) -> None:
        self.batches: list[list[Delivery]] = []
        self.processed: list[InboundEvent] = []
        self.outcomes: list[Outcome] = []
        self._done: set[tuple[str, str]] = set()

    def handle(self, batch: Sequence[Delivery]) -> Sequence[Outcome]:
        """One outcome per delivery: ``Duplicate`` for an id seen before, else ``Processed``."""
        self.batches.append(list(batch))
        outcomes = [self._one(delivery.event) for delivery in batch]
        self.outcomes.extend(outcomes)
        return outcomes

    @property
    def duplicates(self) -> int:
        """How many deliveries were answered ``Duplicate``."""
        return sum(isinstance(outcome, Duplicate) for outcome in self.outcomes)

    def _one(self, event: InboundEvent) -> Outcome:
        identity = (event.source, event.id)
        if identity in self._done:
            return Duplicate()
        self._done.add(identity)
        self.processed.append(event)
        return Processed(outbound=(status_for(event),))


def status_for(event: InboundEvent) -> Event:
    """The status event announcing that ``event`` was taken in."""
    change = SystemStatusChanged(
        system_id=event_key(event),
        to_state=TO_STATE.get(EventType(event.type), DEFAULT_STATE),
        caused_by=event.id,
        at=datetime.now(UTC),
    )
    return new_event(change, source=SOURCE)
