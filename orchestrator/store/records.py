"""Frozen records the store's repositories return and accept.

Callers above the store (the reactor, the CLI, the metrics collectors) see only
these, never a SQLAlchemy model, so a session can close without leaving
half-loaded objects behind. Node usage is returned as the pure ledger's own
``orchestrator.capacity.ledger.NodeUsage``, so placement can reason on it directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from orchestrator.migrations.states import Phase, SystemState


class EventOutcome(StrEnum):
    """What the reactor did with an event, as remembered in ``processed_events``."""

    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


@dataclass(frozen=True)
class SystemRow:
    """A business system as stored: its record and where its migration stands.

    ``version`` is the optimistic-concurrency token: ``save_system`` writes only
    if the row still has the version this record was read with.
    """

    id: str
    record: dict[str, Any]
    city: str
    state: SystemState
    node: str | None
    wave: int | None
    phase: Phase | None
    last_error: str | None
    requested_by: str | None
    updated_at: datetime
    version: int
    # The latest accepted request's ``--to`` node.
    target_node: str | None = None
    # Who requested the migration itself; ``requested_by`` follows every later request.
    migration_requested_by: str | None = None
    # What holds it at a gate: the reason and its one line (cleared when its state changes).
    waiting_reason: str | None = None
    waiting: str | None = None
    waiting_since: datetime | None = None  # since the reason last changed
    # The moment its cutover is pinned to (``govmig schedule``), or None.
    cutover_at: datetime | None = None
    # When a ready system's gates are asked again without a pass (cleared with ``waiting``).
    gate_due_at: datetime | None = None
    # Written by the phase worker from its providers' reports, never by ``save_system``:
    # the address the system answers on by name over IPv6, and the host it runs on.
    ipv6_address: str | None = None
    target_host: str | None = None
    # Its last cutover's downtime in seconds, once a provider measured one.
    downtime_seconds: float | None = None
    # How many times a phase worker claimed it: the fencing token of its latest run.
    lease_generation: int = 0


@dataclass(frozen=True)
class TransitionRow:
    """One line of the audit: a state change, or a refused request (``to_state`` None).

    The audit is also the status outbox: every row is published once.
    """

    id: int
    system_id: str
    from_state: SystemState | None
    to_state: SystemState | None
    refused: bool
    cause: str | None
    at: datetime
    event_source: str | None
    event_id: str | None
    actor: str | None
    reason: str | None
    # The system's node and requester right after the change (for its status event).
    node: str | None = None
    requested_by: str | None = None
    # What the phase behind the change measured: its downtime, its pass's bytes.
    downtime_seconds: float | None = None
    bytes_sent: int | None = None
    # The change reference of an approval or a rejection.
    change_ref: str | None = None
    # When its status (or refusal) event was acknowledged by the broker; None: still pending.
    published_at: datetime | None = None


@dataclass(frozen=True)
class Allocation:
    """The capacity ``system_id`` holds on ``node_id``, keyed by resource class."""

    system_id: str
    node_id: str
    amount: dict[str, int]
    allocated_at: datetime
