"""Poison-event isolation: one event that fails for good must not stall its batch.

The handler takes a whole batch in one transaction. When it raises a
``PermanentError``, retrying the batch would fail the same way forever, so the
events are handed over again one at a time (each its own transaction): the
good ones go through, and the one that fails again becomes a dead letter,
``unprocessable``, with the error as its message. A ``TemporaryError`` is not
caught here: the loop re-reads the batch, as for any passing fault.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from orchestrator.errors import PermanentError
from orchestrator.events.reasons import Rejection
from orchestrator.reactor.handler import Delivery, Handler, Outcome, Rejected

log = logging.getLogger(__name__)


def handle_isolating(handler: Handler, deliveries: Sequence[Delivery]) -> Sequence[Outcome]:
    """The handler's outcomes for ``deliveries``, isolating any event that fails for good."""
    try:
        return handler.handle(deliveries)
    except PermanentError as error:
        if len(deliveries) == 1:
            return (unprocessable(error),)
        log.error(
            "handler refused a batch of %d events for good (%s); handling them one by one",
            len(deliveries),
            error,
        )
        return [_handle_alone(handler, delivery) for delivery in deliveries]


def _handle_alone(handler: Handler, delivery: Delivery) -> Outcome:
    try:
        (outcome,) = handler.handle([delivery])
    except PermanentError as error:
        return unprocessable(error)
    return outcome


def unprocessable(error: PermanentError) -> Rejected:
    """A ``Rejection`` stays what it is; any other permanent error becomes ``unprocessable``."""
    if isinstance(error, Rejection):
        return Rejected(error)
    return Rejected(Rejection("unprocessable", f"{type(error).__name__}: {error}"))
