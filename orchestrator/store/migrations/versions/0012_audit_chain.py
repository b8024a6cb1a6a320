"""Chain the audit: ``transitions.prev_hash`` and ``hash``; each chain's head in ``audit_chains``.

Each system's audit rows become a hash chain (``orchestrator.store.chain``).
The rows already stored are chained here, each system's in id order from the
genesis value, and each chain's head is its last hash, so an upgraded
database verifies (``govmig audit verify``); from now on ``append_audit``
links every row as it is written. The hashes are then required (NOT NULL).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-09
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any

import sqlalchemy as sa
from alembic import op

from orchestrator.store.chain import CONTENT_COLUMNS, GENESIS, link_hash

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000

# The audit's columns as this revision reads and writes them (typed: SQLite's
# times come back as datetimes, not text).
_TRANSITIONS = sa.table(
    "transitions",
    sa.column("id", sa.BigInteger()),
    sa.column("system_id", sa.String()),
    sa.column("from_state", sa.String()),
    sa.column("to_state", sa.String()),
    sa.column("refused", sa.Boolean()),
    sa.column("cause", sa.String()),
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("event_source", sa.String()),
    sa.column("event_id", sa.String()),
    sa.column("actor", sa.String()),
    sa.column("reason", sa.Text()),
    sa.column("node", sa.String()),
    sa.column("requested_by", sa.String()),
    sa.column("downtime_seconds", sa.Float()),
    sa.column("bytes_sent", sa.BigInteger()),
    sa.column("change_ref", sa.String()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)
_CHAINS = sa.table(
    "audit_chains", sa.column("system_id", sa.String()), sa.column("head", sa.String())
)


def upgrade() -> None:
    """The columns and the table come; every stored row is chained; the hashes become required."""
    with op.batch_alter_table("transitions") as batch:
        batch.add_column(sa.Column("prev_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(64), nullable=True))
    op.create_table(
        "audit_chains",
        sa.Column("system_id", sa.String(63), nullable=False),
        sa.Column("head", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("system_id", name=op.f("pk_audit_chains")),
    )
    _chain_stored_rows(op.get_bind())
    with op.batch_alter_table("transitions") as batch:
        batch.alter_column("prev_hash", existing_type=sa.String(64), nullable=False)
        batch.alter_column("hash", existing_type=sa.String(64), nullable=False)


def _chain_stored_rows(connection: sa.Connection) -> None:
    columns = [_TRANSITIONS.c[name] for name in (*CONTENT_COLUMNS, "id")]
    ordered = sa.select(*columns).order_by(_TRANSITIONS.c.system_id, _TRANSITIONS.c.id)
    heads: dict[str, str] = {}
    pending: list[dict[str, Any]] = []
    set_hashes = (
        sa.update(_TRANSITIONS)
        .where(_TRANSITIONS.c.id == sa.bindparam("row_id"))
        .values(prev_hash=sa.bindparam("prev"), hash=sa.bindparam("this"))
    )
    # Read whole, then written: one upgrade transaction, and no cursor left open
    # on a table being updated.
    for row in connection.execute(ordered).all():
        content = {column: getattr(row, column) for column in CONTENT_COLUMNS}
        at = row.at
        content["at"] = at.replace(tzinfo=UTC) if at.tzinfo is None else at
        prev = heads.get(row.system_id, GENESIS)
        heads[row.system_id] = link_hash(content, prev)
        pending.append({"row_id": row.id, "prev": prev, "this": heads[row.system_id]})
        if len(pending) >= _BATCH:
            connection.execute(set_hashes, pending)
            pending = []
    if pending:
        connection.execute(set_hashes, pending)
    if heads:
        connection.execute(
            sa.insert(_CHAINS), [{"system_id": key, "head": head} for key, head in heads.items()]
        )


def downgrade() -> None:
    """They go."""
    op.drop_table("audit_chains")
    with op.batch_alter_table("transitions") as batch:
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
