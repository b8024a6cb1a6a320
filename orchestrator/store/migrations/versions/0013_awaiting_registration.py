"""Add ``awaiting_registration``: requests read before their system's registration, held.

A producer hashing keys with CRC32 (librdkafka's default) and one hashing with
murmur2 (the Java client's, kafka-python's, the CLI's) can put one system's
registration and an operator's request on different partitions, so the request
may be read first. The intake holds it here, with the record as consumed, until
the registration comes or its deadline passes (then it is dead-lettered).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """The table comes, empty."""
    op.create_table(
        "awaiting_registration",
        sa.Column("id", _AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("system_id", sa.String(63), nullable=False),
        sa.Column("request", sa.String(64), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=True),
        sa.Column("event_source", sa.String(255), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=True),
        sa.Column("value", sa.LargeBinary(), nullable=True),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("arrived_at", _TIMESTAMP, nullable=False),
        sa.Column("deadline", _TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_awaiting_registration")),
    )
    op.create_index(
        "ix_awaiting_registration_system_id_id", "awaiting_registration", ["system_id", "id"]
    )
    op.create_index("ix_awaiting_registration_deadline", "awaiting_registration", ["deadline"])


def downgrade() -> None:
    """The table goes."""
    op.drop_index("ix_awaiting_registration_deadline", table_name="awaiting_registration")
    op.drop_index("ix_awaiting_registration_system_id_id", table_name="awaiting_registration")
    op.drop_table("awaiting_registration")
