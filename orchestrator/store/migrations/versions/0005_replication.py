"""Add the replication passes and each system's cutover downtime.

The phase worker records every pass a provider reports (``replication_passes``:
kind, bytes sent, duration) and the downtime its cutover measured
(``systems.downtime_seconds``), for ``govmig status`` and the demo's summary.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """The table comes empty; the column comes empty."""
    with op.batch_alter_table("systems") as batch:
        batch.add_column(sa.Column("downtime_seconds", sa.Float(), nullable=True))
    op.create_table(
        "replication_passes",
        sa.Column("id", _AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("system_id", sa.String(63), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("bytes_sent", sa.BigInteger(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["system_id"], ["systems.id"], name=op.f("fk_replication_passes_system_id_systems")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replication_passes")),
    )
    op.create_index("ix_replication_passes_system_id_id", "replication_passes", ["system_id", "id"])


def downgrade() -> None:
    """Both go."""
    op.drop_index("ix_replication_passes_system_id_id", table_name="replication_passes")
    op.drop_table("replication_passes")
    with op.batch_alter_table("systems") as batch:
        batch.drop_column("downtime_seconds")
