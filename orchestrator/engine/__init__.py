"""The engine: how causes change stored systems, and how those changes are announced.

What it is: the one path every component uses to change a system
(``lifecycle.apply_cause`` / ``Lifecycle``), carrying out the state machine's
store effects in one transaction (rows and audit in a ``unit_of_work``),
placing queued systems on the ledger with compare-and-swap (``ledger_view``),
and auditing every decision; the intake handler the reactor calls
(``intake``); the status outbox publisher (``outbox``), the only way a status
event leaves; and the mapping of inbound events to causes (``requests``) and
of audit rows and wave halts to outbound events (``notices``).

What it is not: it decides nothing itself (``orchestrator.migrations`` and
``orchestrator.capacity`` do), runs no playbook and imports neither the Kafka
client nor ansible-runner; it uses the store, the bus's ``Producer`` and the
event codec. The phase worker sits above it; the reactor, below, only knows
the ``Handler`` protocol that ``intake.IntakeHandler`` implements.
"""

from orchestrator.engine.context import (
    CauseContext,
    PlacementContext,
    cause_name,
    requester,
)
from orchestrator.engine.lifecycle import Lifecycle, apply_cause
from orchestrator.engine.nodes import apply_node_update
from orchestrator.engine.notices import SOURCE, announces, notice_for, notice_id
from orchestrator.engine.outbox import Outbox, OutboxPump, publish_pending
from orchestrator.engine.platforms import apply_platform_connect, apply_platform_disconnect
from orchestrator.engine.requests import cause_of, context_of

__all__ = [
    "SOURCE",
    "CauseContext",
    "Lifecycle",
    "Outbox",
    "OutboxPump",
    "PlacementContext",
    "announces",
    "apply_cause",
    "apply_node_update",
    "apply_platform_connect",
    "apply_platform_disconnect",
    "cause_name",
    "cause_of",
    "context_of",
    "notice_for",
    "notice_id",
    "publish_pending",
    "requester",
]
