"""Add where each audit chain starts: its anchor, moved by ``govmig audit prune``.

``audit_chains.anchor`` is the hash the chain's first kept record links to:
64 zeros (the genesis) until records older than the retention are pruned, then
the hash of the last pruned record, so the records kept still verify from there.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64


def upgrade() -> None:
    """Every chain starts at the genesis: nothing was pruned before."""
    with op.batch_alter_table("audit_chains") as batch:
        batch.add_column(sa.Column("anchor", sa.String(64), nullable=False, server_default=GENESIS))


def downgrade() -> None:
    """It goes."""
    with op.batch_alter_table("audit_chains") as batch:
        batch.drop_column("anchor")
