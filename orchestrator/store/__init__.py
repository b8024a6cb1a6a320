"""The state store: SQLAlchemy tables, Alembic migrations and small typed repositories.

What it is: the durable state of the orchestrator, in SQLite (embedded
default, WAL) or PostgreSQL (several instances), behind one URL.
``open_store`` upgrades the schema and hands out sessions; every repository
function takes the caller's ``Session``, so the reactor commits the effects of
one Kafka batch (systems, audit, ledger, processed event ids) in ONE
transaction, and only then commits the offsets.

The transition audit doubles as the status outbox (``outbox``): a row is
written with the state change and published afterwards, at least once. The
wave halts do the same for each wave's halt and resume (``waves``). Each
system's audit rows are a hash chain (``chain``), checked by ``verify_chains``.

What it is not: it makes no decision. Which transition is legal is
``orchestrator.migrations``; whether a request fits a node is
``orchestrator.capacity.ledger``. This package only persists their answers,
with compare-and-swap where several instances could race. It is the only
package that imports SQLAlchemy or Alembic.

Usage::

    with open_store(settings.state_db) as store, store.transaction() as session:
        new = claim_events(session, [(event.source, event.id, event.type)])
        if (event.source, event.id) in new:
            ...
"""

from sqlalchemy.orm import Session

from orchestrator.store.audit import (
    AuditEntry,
    PruneReport,
    append_audit,
    audit_links,
    history,
    prune_audit,
    verify_chains,
)
from orchestrator.store.chain import ChainBreak, ChainReport, verify_excerpt
from orchestrator.store.dedupe import (
    EventKey,
    claim_events,
    processed_outcomes,
    reclaim_rejected,
    set_outcome,
)
from orchestrator.store.engine import Store, open_store, writers_excluded
from orchestrator.store.export import ExportError, ExportFormat, read_export, write_export
from orchestrator.store.ledger import (
    CasTally,
    Reserved,
    Shortfall,
    get_allocation,
    release_allocation,
    reserve,
)
from orchestrator.store.nodes import (
    GenerationConflictError,
    get_node,
    node_usage,
    seed_nodes,
    update_node,
)
from orchestrator.store.outbox import claim_outbox, mark_published, pending_status
from orchestrator.store.peek import stored_system_ids
from orchestrator.store.platforms import (
    PlatformTarget,
    connect_platform,
    delete_platform,
    platform_targets,
)
from orchestrator.store.records import Allocation, EventOutcome, SystemRow, TransitionRow
from orchestrator.store.systems import (
    StaleSystemError,
    count_by_state,
    dependencies,
    get_system,
    get_systems,
    insert_systems,
    list_systems,
    save_system,
)

__all__ = [
    "Allocation",
    "AuditEntry",
    "CasTally",
    "ChainBreak",
    "ChainReport",
    "EventKey",
    "EventOutcome",
    "ExportError",
    "ExportFormat",
    "GenerationConflictError",
    "PlatformTarget",
    "PruneReport",
    "Reserved",
    "Session",
    "Shortfall",
    "StaleSystemError",
    "Store",
    "SystemRow",
    "TransitionRow",
    "append_audit",
    "audit_links",
    "claim_events",
    "claim_outbox",
    "connect_platform",
    "count_by_state",
    "delete_platform",
    "dependencies",
    "get_allocation",
    "get_node",
    "get_system",
    "get_systems",
    "history",
    "insert_systems",
    "list_systems",
    "mark_published",
    "node_usage",
    "open_store",
    "pending_status",
    "platform_targets",
    "processed_outcomes",
    "prune_audit",
    "read_export",
    "reclaim_rejected",
    "release_allocation",
    "reserve",
    "save_system",
    "seed_nodes",
    "set_outcome",
    "stored_system_ids",
    "update_node",
    "verify_chains",
    "verify_excerpt",
    "write_export",
    "writers_excluded",
]
