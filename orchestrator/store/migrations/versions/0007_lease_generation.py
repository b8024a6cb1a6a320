"""Add ``systems.lease_generation``: bumped by every claim, the fencing token of a run.

A run carries the generation of the claim it runs under; the ``ssh`` provider
switches a service name only while the name's fence record holds that
generation, so a run of an older claim (a dead instance's) cannot act after a
newer one began. NULL reads as 0: never claimed.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """The column comes, empty."""
    with op.batch_alter_table("systems") as batch:
        batch.add_column(sa.Column("lease_generation", sa.Integer(), nullable=True))


def downgrade() -> None:
    """The column goes."""
    with op.batch_alter_table("systems") as batch:
        batch.drop_column("lease_generation")
