"""Add ``intake_pauses``: each flood-guard pause of an instance's intake, and how it ended.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """The table comes, empty."""
    op.create_table(
        "intake_pauses",
        sa.Column("id", _AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("instance", sa.String(100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("paused_at", _TIMESTAMP, nullable=False),
        sa.Column("until", _TIMESTAMP, nullable=False),
        sa.Column("resumed_at", _TIMESTAMP, nullable=True),
        sa.Column("resumed_by", sa.String(200), nullable=True),
        sa.Column("resume_reason", sa.Text(), nullable=True),
        sa.Column("resume_event_id", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intake_pauses")),
    )


def downgrade() -> None:
    """The table goes."""
    op.drop_table("intake_pauses")
