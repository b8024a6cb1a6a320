"""Add ``approvals``, who requested each migration, and the change reference of audit rows.

Approvals (four eyes) of a system's cutover are kept, never deleted, only
withdrawn. ``systems.migration_requested_by`` keeps who requested the migration
itself (``requested_by`` follows every later request); it is filled for the
systems already stored from their audit: the actor of their latest accepted
``migrate``. ``transitions.change_ref`` carries an approval's or a rejection's
change reference into its audit row.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# The actor of each system's latest accepted migration request, from the audit.
_BACKFILL = """
UPDATE systems SET migration_requested_by = (
    SELECT t.actor FROM transitions t
    WHERE t.system_id = systems.id AND t.cause = 'migrate' AND t.refused = :no
    ORDER BY t.id DESC LIMIT 1
)
"""


def upgrade() -> None:
    """The table comes, empty; the columns come, the requester filled from the audit."""
    with op.batch_alter_table("systems") as batch:
        batch.add_column(sa.Column("migration_requested_by", sa.String(200), nullable=True))
    with op.batch_alter_table("transitions") as batch:
        batch.add_column(sa.Column("change_ref", sa.String(64), nullable=True))
    op.get_bind().execute(sa.text(_BACKFILL), {"no": False})
    op.create_table(
        "approvals",
        sa.Column("id", _AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("system_id", sa.String(63), nullable=False),
        sa.Column("approver", sa.String(200), nullable=False),
        sa.Column("change_ref", sa.String(64), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_by", sa.String(200), nullable=True),
        sa.ForeignKeyConstraint(
            ["system_id"], ["systems.id"], name=op.f("fk_approvals_system_id_systems")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approvals")),
    )
    op.create_index("ix_approvals_system_id_granted_at", "approvals", ["system_id", "granted_at"])


def downgrade() -> None:
    """They go."""
    op.drop_index("ix_approvals_system_id_granted_at", table_name="approvals")
    op.drop_table("approvals")
    with op.batch_alter_table("transitions") as batch:
        batch.drop_column("change_ref")
    with op.batch_alter_table("systems") as batch:
        batch.drop_column("migration_requested_by")
