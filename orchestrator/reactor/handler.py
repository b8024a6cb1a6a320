"""What the reactor asks of a handler, and what a handler answers.

The reactor hands a handler one polled batch of decoded events at once; the
handler makes the whole batch durable in one transaction and answers one
``Outcome`` per delivery, in order. The reactor then dead-letters what was
rejected and only then commits the batch's offsets. A handler whose changes
must be announced keeps the announcements in its own transaction (the
engine's status outbox): the reactor publishes no status event.

Errors are types: a ``TemporaryError`` (database briefly away) makes the
reactor re-deliver the batch after ``delay``; a ``Rejection`` for one event is
returned as ``Rejected`` rather than raised, so the rest of the batch proceeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from orchestrator.events.codec import KafkaRecord
from orchestrator.events.envelope import InboundEvent
from orchestrator.events.reasons import Rejection


@dataclass(frozen=True, slots=True)
class Delivery:
    """One consumed record and the event decoded from it."""

    record: KafkaRecord
    event: InboundEvent


@dataclass(frozen=True, slots=True)
class Processed:
    """The event was made durable (it changed state, or was refused and audited).

    ``resumes_intake``: it was an operator's request to end the flood guard's
    pause; the reactor resumes intake once the batch is committed.
    """

    resumes_intake: bool = False


@dataclass(frozen=True, slots=True)
class Duplicate:
    """The event's id was already processed: nothing changed, nothing to publish."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """The event is refused for good; the reactor dead-letters its record."""

    rejection: Rejection


Outcome = Processed | Duplicate | Rejected


class Handler(Protocol):
    """Persists a batch of deliveries in one transaction and says what became of each."""

    def handle(self, batch: Sequence[Delivery]) -> Sequence[Outcome]:
        """One outcome per delivery, in order; raise ``TemporaryError`` to have it all again."""
        ...
