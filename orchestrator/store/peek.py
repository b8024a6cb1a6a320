"""A read-only glance at the stored system ids, for shell completion.

Not ``open_store``: that checks the schema (Alembic), and its SQLite engine sets
WAL mode, a write. A completion runs on every Tab press, so this opens the
database read-only (SQLite ``mode=ro``, a PostgreSQL read-only transaction with
short timeouts), runs one bounded SELECT and closes. It never creates, writes or
upgrades a database: a SQLite file that does not exist gives no ids, and so
does any failure (a wrong URL, a missing driver, an old schema, a lock held too
long), since a completion must never print a traceback or hang.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, make_url, select
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from orchestrator.store.tables import SystemTable

PEEK_LIMIT = 50
PEEK_TIMEOUT_S = 1.0


def stored_system_ids(
    url: str, prefix: str, *, limit: int = PEEK_LIMIT, timeout_s: float = PEEK_TIMEOUT_S
) -> list[str]:
    """Up to ``limit`` stored ids starting with ``prefix``, in id order; [] on any failure."""
    try:
        engine = _read_only_engine(make_url(url), timeout_s)
    except (SQLAlchemyError, ValueError, ImportError):
        return []
    if engine is None:
        return []
    statement = (
        select(SystemTable.id)
        .where(SystemTable.id.startswith(prefix, autoescape=True))
        .order_by(SystemTable.id)
        .limit(limit)
    )
    try:
        with engine.connect() as connection:
            return list(connection.scalars(statement))
    except (SQLAlchemyError, sqlite3.Error, OSError):
        return []
    finally:
        engine.dispose()


def _read_only_engine(url: URL, timeout_s: float) -> Engine | None:
    """An engine that cannot write, or None when there is nothing to read."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _sqlite_reader(url.database, timeout_s)
    if backend == "postgresql":
        return _postgresql_reader(url, timeout_s)
    return None


def _sqlite_reader(database: str | None, timeout_s: float) -> Engine | None:
    """A reader of an existing SQLite file that leaves no file behind; None if there is none."""
    if not database or database == ":memory:" or not Path(database).is_file():
        return None
    path = Path(database).resolve()
    # With no write-ahead log there is no writer: immutable reads create no -wal or -shm
    # file beside it. With one, a read-only open shares the writer's and sees its commits.
    wal = path.with_name(f"{path.name}-wal")
    uri = f"file:{quote(str(path))}?mode=ro" + ("" if wal.exists() else "&immutable=1")

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(uri, uri=True, timeout=timeout_s, check_same_thread=False)

    return create_engine("sqlite://", creator=connect, poolclass=NullPool)


def _postgresql_reader(url: URL, timeout_s: float) -> Engine:
    statement_ms = int(timeout_s * 1000)
    return create_engine(
        url,
        poolclass=NullPool,
        connect_args={
            # libpq counts whole seconds (and treats 1 as 2): the bound on a dead server.
            "connect_timeout": max(int(timeout_s), 1),
            "options": f"-c default_transaction_read_only=on -c statement_timeout={statement_ms}",
        },
    )
