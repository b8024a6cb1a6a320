"""Add what holds a system at a gate, and the moment its cutover is pinned to.

``systems.waiting_reason`` and ``waiting`` keep the one line a waiting system
shows (the first gate that holds it: approval, window, freeze, rehearsal,
budget, group or wave), and ``waiting_since`` since when that reason holds it;
all three are cleared when its state changes. The gauges of waiting systems
count them by reason and age the longest wait. ``systems.cutover_at`` is the moment
``govmig schedule`` pinned its cutover to. ``wave_halts`` keeps each wave that
went badly enough to halt the waves after it, until an operator resumes it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """The columns come, empty: nothing waits at a gate before there are gates."""
    with op.batch_alter_table("systems") as batch:
        batch.add_column(sa.Column("waiting_reason", sa.String(16), nullable=True))
        batch.add_column(sa.Column("waiting", sa.Text(), nullable=True))
        batch.add_column(sa.Column("waiting_since", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("cutover_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "wave_halts",
        sa.Column("wave", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("halted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resumed_by", sa.String(200), nullable=True),
        sa.Column("resume_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("wave", name=op.f("pk_wave_halts")),
    )


def downgrade() -> None:
    """They go."""
    op.drop_table("wave_halts")
    with op.batch_alter_table("systems") as batch:
        batch.drop_column("cutover_at")
        batch.drop_column("waiting_since")
        batch.drop_column("waiting")
        batch.drop_column("waiting_reason")
