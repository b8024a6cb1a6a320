"""Add when a ready system's cutover gates are to be asked again: ``systems.gate_due_at``.

The worker asks a ready system's gates after each of its delta passes; this
column lets it ask sooner, without a pass: at once when what the gates weigh
changed (an approval, a rejection, a schedule), or at the moment the clock alone
may change their answer (a freeze ends, a window opens, the scheduled moment
comes). NULL when nothing but the next pass is due; cleared when its state
changes, like ``waiting``. The index serves the worker's look each tick.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """The column comes, empty: a system held before it is asked again at its next pass."""
    with op.batch_alter_table("systems") as batch:
        batch.add_column(sa.Column("gate_due_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index(op.f("ix_systems_gate_due_at"), ["gate_due_at"])


def downgrade() -> None:
    """It goes."""
    with op.batch_alter_table("systems") as batch:
        batch.drop_index(op.f("ix_systems_gate_due_at"))
        batch.drop_column("gate_due_at")
