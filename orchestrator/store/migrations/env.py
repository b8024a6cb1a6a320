"""Alembic environment for the state store; run only through ``orchestrator.store.schema``.

``open_store`` hands over a connection that is already inside its transaction, so
the upgrade and the version check happen atomically with the caller's lock.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from orchestrator.store.tables import Base


def run_migrations(connection: Connection) -> None:
    """Apply the pending revisions on ``connection``."""
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    """Entry point Alembic calls when it loads this file."""
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError(
            "the govmig store runs migrations on a live connection only: use "
            "orchestrator.store.open_store() (offline SQL generation is not supported)"
        )
    run_migrations(connection)


main()
