"""Add when each wave's halt and its resume were announced on the status topic.

``wave_halts.halt_published_at`` and ``resume_published_at`` make the halts an
outbox beside the transitions: each is NULL until the broker acknowledged the
halt's (or the resume's) ``gov.cloud.wave.status_changed`` event.

The halts already stored are history for the most part, and history is not
announced: a halt already resumed counts as published, halt and resume, marked
at the moments they happened (nothing was acknowledged to record). A halt still
open is the exception, left pending so that it is announced once after the
upgrade: it still holds the waves after it, which no consumer of the status topic
has been told, and its resume, announced when it comes, would otherwise be the
first they heard of the wave.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RESUMED_COUNT_AS_PUBLISHED = """
UPDATE wave_halts SET halt_published_at = halted_at, resume_published_at = resumed_at
WHERE resumed_at IS NOT NULL
"""


def upgrade() -> None:
    """The columns come, filled for the halts already resumed; an open halt stays pending."""
    with op.batch_alter_table("wave_halts") as batch:
        batch.add_column(sa.Column("halt_published_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("resume_published_at", sa.DateTime(timezone=True), nullable=True)
        )
    op.get_bind().execute(sa.text(_RESUMED_COUNT_AS_PUBLISHED))


def downgrade() -> None:
    """They go."""
    with op.batch_alter_table("wave_halts") as batch:
        batch.drop_column("resume_published_at")
        batch.drop_column("halt_published_at")
