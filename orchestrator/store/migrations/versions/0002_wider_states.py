"""Widen every column holding a system state from 16 to 32 characters.

``rolling_back`` already took 12 of the 16; the states to come (``rehearsing``,
``awaiting_approval_window`` ...) must fit on PostgreSQL, which enforces the length.
Batch mode, so SQLite (which copies the table to change a column) gets the same schema;
``open_store`` runs SQLite upgrades with foreign keys checked at the end, since copying
``systems`` drops the table ``allocations`` references.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, nullable): every column that stores a SystemState value.
_STATE_COLUMNS = (
    ("systems", "state", False),
    ("transitions", "from_state", True),
    ("transitions", "to_state", True),
)


def _resize(old: int, new: int) -> None:
    for table in sorted({table for table, _, _ in _STATE_COLUMNS}):
        with op.batch_alter_table(table) as batch:
            for _, column, nullable in (c for c in _STATE_COLUMNS if c[0] == table):
                batch.alter_column(
                    column,
                    existing_type=sa.String(old),
                    type_=sa.String(new),
                    existing_nullable=nullable,
                )


def upgrade() -> None:
    """State columns go from 16 to 32 characters."""
    _resize(16, 32)


def downgrade() -> None:
    """Back to 16 characters (fails on PostgreSQL if a longer state is stored)."""
    _resize(32, 16)
