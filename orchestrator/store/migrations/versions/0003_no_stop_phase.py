"""Drop ``systems.stop_phase``: it was written and never read.

A phase's run is stopped by the system leaving the phase's state (the worker
cancels a batch none of whose systems is still in its phase), so the state
machine no longer has a ``StopPhase`` effect and nothing records one.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """The column goes (batch mode, so SQLite copies the table as 0002 does)."""
    with op.batch_alter_table("systems") as batch:
        batch.drop_column("stop_phase")


def downgrade() -> None:
    """The column comes back, empty."""
    with op.batch_alter_table("systems") as batch:
        batch.add_column(sa.Column("stop_phase", sa.String(32), nullable=True))
