"""Initial schema: systems, nodes, allocations, processed events and the transition audit.

The transition audit doubles as the status outbox (``published_at``).

Revision ID: 0001
Revises:
Create Date: 2026-11-24

Written out in full rather than imported from ``tables.py``: a revision is a
frozen snapshot, and must keep producing this schema whatever the models become.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AMOUNT = sa.BigInteger()
_TIMESTAMP = sa.DateTime(timezone=True)


def _resource(prefix: str) -> list[sa.Column[object]]:
    return [
        sa.Column(f"{prefix}_total", _AMOUNT, nullable=False),
        sa.Column(f"{prefix}_reserved", _AMOUNT, nullable=False),
        sa.Column(f"{prefix}_allocation_ratio", sa.Float(), nullable=False),
    ]


def _create_nodes() -> None:
    op.create_table(
        "nodes",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("city", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        *_resource("vcpu"),
        *_resource("memory_gb"),
        *_resource("storage_gb"),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "status IN ('online', 'draining', 'offline')", name=op.f("ck_nodes_status_known")
        ),
        sa.CheckConstraint("generation >= 0", name=op.f("ck_nodes_generation_non_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nodes")),
    )


def _create_systems() -> None:
    op.create_table(
        "systems",
        sa.Column("id", sa.String(63), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column("city", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("node", sa.String(32), nullable=True),
        sa.Column("wave", sa.Integer(), nullable=True),
        sa.Column("phase", sa.String(32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.String(200), nullable=True),
        sa.Column("target_node", sa.String(32), nullable=True),
        sa.Column("stop_phase", sa.String(32), nullable=True),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        # The phase worker's lease (compare-and-swap claims) and the system's IPv6 host.
        sa.Column("lease_owner", sa.String(100), nullable=True),
        sa.Column("lease_expires_at", _TIMESTAMP, nullable=True),
        sa.Column("ipv6_index", sa.Integer(), nullable=True),
        sa.Column("ipv6_address", sa.String(45), nullable=True),
        sa.CheckConstraint("version >= 1", name=op.f("ck_systems_version_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_systems")),
    )
    # The CLI filters ``status`` by these.
    op.create_index("ix_systems_state", "systems", ["state"])
    op.create_index("ix_systems_node", "systems", ["node"])
    op.create_index("ix_systems_wave", "systems", ["wave"])


def _create_allocations() -> None:
    op.create_table(
        "allocations",
        sa.Column("system_id", sa.String(63), nullable=False),
        sa.Column("node_id", sa.String(32), nullable=False),
        sa.Column("vcpu", _AMOUNT, nullable=False),
        sa.Column("memory_gb", _AMOUNT, nullable=False),
        sa.Column("storage_gb", _AMOUNT, nullable=False),
        sa.Column("allocated_at", _TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "vcpu >= 0 AND memory_gb >= 0 AND storage_gb >= 0",
            name=op.f("ck_allocations_amounts_non_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["node_id"], ["nodes.id"], name=op.f("fk_allocations_node_id_nodes")
        ),
        sa.ForeignKeyConstraint(
            ["system_id"], ["systems.id"], name=op.f("fk_allocations_system_id_systems")
        ),
        sa.PrimaryKeyConstraint("system_id", name=op.f("pk_allocations")),
    )
    op.create_index("ix_allocations_node_id", "allocations", ["node_id"])


def _create_processed_events() -> None:
    op.create_table(
        "processed_events",
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("processed_at", _TIMESTAMP, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('processed', 'duplicate', 'rejected')",
            name=op.f("ck_processed_events_outcome_known"),
        ),
        sa.PrimaryKeyConstraint("source", "id", name=op.f("pk_processed_events")),
    )


def _create_transitions() -> None:
    op.create_table(
        "transitions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("system_id", sa.String(63), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=True),
        sa.Column("to_state", sa.String(16), nullable=True),
        sa.Column("refused", sa.Boolean(), nullable=False),
        sa.Column("cause", sa.String(64), nullable=True),
        sa.Column("at", _TIMESTAMP, nullable=False),
        sa.Column("event_source", sa.String(255), nullable=True),
        sa.Column("event_id", sa.String(255), nullable=True),
        sa.Column("actor", sa.String(200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("node", sa.String(32), nullable=True),
        sa.Column("requested_by", sa.String(200), nullable=True),
        sa.Column("published_at", _TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transitions")),
    )
    op.create_index("ix_transitions_system_id_id", "transitions", ["system_id", "id"])
    # The status outbox: rows not yet published, oldest first.
    op.create_index("ix_transitions_published_at_id", "transitions", ["published_at", "id"])


def upgrade() -> None:
    """Create every table of the first schema."""
    _create_nodes()
    _create_systems()
    _create_allocations()
    _create_processed_events()
    _create_transitions()


def downgrade() -> None:
    """Drop every table (children first)."""
    for table in ("transitions", "processed_events", "allocations", "systems", "nodes"):
        op.drop_table(table)
