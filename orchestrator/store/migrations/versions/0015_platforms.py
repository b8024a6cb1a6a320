"""Connected PRD platforms as ledger targets: ``nodes.kind``, ``.hosts`` and ``.ipv6_prefix``.

A ``gov.cloud.platform.connected`` event writes its platform as a row of
``nodes`` with ``kind = 'platform'``, so reservations on it follow the same
compare-and-swap on ``generation`` as a city node's; a disconnect deletes the
row (refused while any system holds capacity on it). ``hosts`` is the ``ssh``
provider's target host pool the event carried, if any (a JSON list of names),
``ipv6_prefix`` the network its systems are addressed in, without which no phase
runs there; city nodes keep theirs in the provider's hosts file and the inventory.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Every existing row is one of the 14 city nodes."""
    with op.batch_alter_table("nodes") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="node"))
        batch.add_column(sa.Column("hosts", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("ipv6_prefix", sa.String(64), nullable=True))
        batch.create_check_constraint(op.f("ck_nodes_kind_known"), "kind IN ('node', 'platform')")


def downgrade() -> None:
    """Platform rows go with the columns that tell them apart."""
    op.execute("DELETE FROM nodes WHERE kind = 'platform'")
    with op.batch_alter_table("nodes") as batch:
        batch.drop_constraint(op.f("ck_nodes_kind_known"), type_="check")
        batch.drop_column("ipv6_prefix")
        batch.drop_column("hosts")
        batch.drop_column("kind")
