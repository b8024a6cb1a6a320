"""Add ``systems.target_host``: the host of its node's pool a system was provisioned on.

The ``ssh`` provider claims a host from the node's pool at provision and reports
it; the phase worker records it here and clears it when the system is rolled back.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """The column comes, empty."""
    with op.batch_alter_table("systems") as batch:
        batch.add_column(sa.Column("target_host", sa.String(64), nullable=True))


def downgrade() -> None:
    """The column goes."""
    with op.batch_alter_table("systems") as batch:
        batch.drop_column("target_host")
