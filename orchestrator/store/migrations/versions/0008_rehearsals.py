"""Add ``rehearsals``, and what a phase measured to its audit rows.

The phase worker records every rehearsal's result; ``govmig status`` shows the
last one, and a cutover policy may ask for a passed one since the last full pass.
``transitions.downtime_seconds`` and ``bytes_sent`` carry a cutover's downtime and
a pass's bytes into the status event of the change they caused.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """The table comes, empty; the columns come, empty."""
    with op.batch_alter_table("transitions") as batch:
        batch.add_column(sa.Column("downtime_seconds", sa.Float(), nullable=True))
        batch.add_column(sa.Column("bytes_sent", sa.BigInteger(), nullable=True))
    op.create_table(
        "rehearsals",
        sa.Column("id", _AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("system_id", sa.String(63), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("test_name", sa.String(255), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["system_id"], ["systems.id"], name=op.f("fk_rehearsals_system_id_systems")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rehearsals")),
    )
    op.create_index("ix_rehearsals_system_id_id", "rehearsals", ["system_id", "id"])


def downgrade() -> None:
    """They go."""
    op.drop_index("ix_rehearsals_system_id_id", table_name="rehearsals")
    op.drop_table("rehearsals")
    with op.batch_alter_table("transitions") as batch:
        batch.drop_column("bytes_sent")
        batch.drop_column("downtime_seconds")
