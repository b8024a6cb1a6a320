"""The reactor: the generic consume → decode → handle → commit loop of the intake.

``Reactor`` runs consume → decode → handle → publish dead letters → commit,
one polled batch at a time, with dead letters (``deadletter``) for refused
records and a flood guard (``flood``) that pauses intake when most records are
refused. Handlers plug in through ``handler.Handler`` (the domain's is
``orchestrator.engine.intake``); hooks (``orchestrator.hooks``) hear each step.

It is not the Kafka client (that is ``bus``), nor the state machine or the
store, and it publishes no status event (the engine's outbox does): it only
decides retry, dead-letter and commit from outcome types.
"""

from orchestrator.reactor.flood import FloodGuard, FloodPolicy, FloodState, FloodTrip
from orchestrator.reactor.handler import Delivery, Duplicate, Handler, Outcome, Processed, Rejected
from orchestrator.reactor.loop import Reactor, ReactorStalledError, RetryPolicy

__all__ = [
    "Delivery",
    "Duplicate",
    "FloodGuard",
    "FloodPolicy",
    "FloodState",
    "FloodTrip",
    "Handler",
    "Outcome",
    "Processed",
    "Reactor",
    "ReactorStalledError",
    "Rejected",
    "RetryPolicy",
]
