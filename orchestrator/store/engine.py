"""Opening the state store: one URL, SQLite (embedded default) or PostgreSQL.

``open_store`` is the only way in. The orchestrator opens with ``create=True``
(the default): the schema is brought to head before anything else runs. The
CLI opens with ``create=False`` and gets a clear error instead of an empty
database when it is pointed at the wrong place.

SQLite runs in WAL mode so CLI readers never block the orchestrator, and every
write transaction of the orchestrator starts with ``BEGIN IMMEDIATE``: writers
queue on ``busy_timeout`` at BEGIN instead of failing later when a read lock
cannot be upgraded. PostgreSQL runs at READ COMMITTED, which the ledger's
compare-and-swap retry relies on (each retry must see the winner's commit).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from orchestrator.closing import Closing
from orchestrator.errors import ConfigurationError, TemporaryError
from orchestrator.store import schema

DEFAULT_BUSY_TIMEOUT_MS = 15_000


class Store(Closing):
    """An open state store: an engine and the sessions it hands out."""

    def __init__(self, engine: Engine, *, where: str) -> None:
        self.engine = engine
        self.where = where
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def session(self) -> Session:
        """A new session; the caller begins, commits and closes it."""
        return self._sessions()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One transaction: committed if the block returns, rolled back if it raises.

        A lost lock race or a dropped connection becomes ``TemporaryError`` so the
        reactor retries the batch instead of dead-lettering it.
        """
        try:
            with self._sessions.begin() as session:
                yield session
        except OperationalError as error:
            raise TemporaryError(f"state database {self.where}: {error.orig}") from error

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def writers_excluded(session: Session) -> bool:
    """True when this session's write transaction shuts out every other writer until it ends.

    SQLite's ``BEGIN IMMEDIATE`` does, so what the transaction read stays true
    until it commits; on PostgreSQL other instances commit in between.
    """
    return session.get_bind().dialect.name == "sqlite"


def open_store(
    url: str, *, create: bool = True, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS
) -> Store:
    """Open the store at ``url``; with ``create`` make it and upgrade its schema to head.

    Without ``create`` the database must exist with exactly this code's schema.
    """
    parsed = _parse(url)
    where = _where(parsed)
    _prepare_sqlite_file(parsed, create=create, where=where)
    engine = _engine(parsed, writer=create, busy_timeout_ms=busy_timeout_ms)
    try:
        with _schema_transaction(engine, create=create) as connection:
            _check_schema(connection, create=create, where=where)
    except OperationalError as error:
        engine.dispose()
        raise ConfigurationError(f"cannot open state database {where}: {error.orig}") from error
    except BaseException:
        engine.dispose()
        raise
    return Store(engine, where=where)


@contextmanager
def _schema_transaction(engine: Engine, *, create: bool) -> Iterator[Connection]:
    """The transaction that checks and upgrades the schema.

    SQLite changes a column by copying its table and dropping the original, which
    an enforced foreign key forbids (even deferred, the count of broken references
    never drops back). So an upgrading SQLite writer switches enforcement off, as
    SQLite's own ALTER TABLE procedure does, and checks every reference before commit.
    """
    with engine.connect() as connection:
        unchecked = create and connection.dialect.name == "sqlite"
        if unchecked:  # outside any transaction, where SQLite honours this pragma
            _sqlite_pragma(connection, "foreign_keys = OFF")
        try:
            with connection.begin():
                yield connection
                if unchecked:
                    _require_references_hold(connection)
        finally:
            if unchecked:
                _sqlite_pragma(connection, "foreign_keys = ON")


def _sqlite_pragma(connection: Connection, pragma: str) -> None:
    # Through the DBAPI connection: SQLAlchemy would begin a transaction first.
    connection.connection.driver_connection.execute(f"PRAGMA {pragma}").close()  # type: ignore[union-attr]


def _require_references_hold(connection: Connection) -> None:
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").first()
    if broken is not None:
        raise ConfigurationError(f"schema upgrade broke a foreign key of table {broken[0]}")


def _check_schema(connection: Connection, *, create: bool, where: str) -> None:
    if create:
        schema.upgrade(connection, where=where)
    else:
        schema.require_current(connection, where=where)


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        # The text is not echoed: a mistyped URL may still hold a password.
        raise ConfigurationError(
            "state database URL is not a database URL: expected sqlite:///PATH "
            "or postgresql+psycopg://USER@HOST/DB"
        ) from error
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigurationError(
            f"state database URL {_where(parsed)}: only sqlite:/// and postgresql+psycopg:// "
            "are supported"
        )
    return parsed


def _where(url: URL) -> str:
    """How messages name the database: the file for SQLite, the URL without password."""
    if _is_sqlite_file(url):
        return str(url.database)
    return url.render_as_string(hide_password=True)


def _is_sqlite_file(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")


def _prepare_sqlite_file(url: URL, *, create: bool, where: str) -> None:
    if not _is_sqlite_file(url):
        return
    path = Path(str(url.database))
    if create:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ConfigurationError(f"cannot create state database {where}: {error}") from error
    elif not path.is_file():
        raise ConfigurationError(
            f"state database {where} does not exist: start `govmig run` first or pass --state-db"
        )


def _engine(url: URL, *, writer: bool, busy_timeout_ms: int) -> Engine:
    try:
        if url.get_backend_name() == "sqlite":
            return _sqlite_engine(url, writer=writer, busy_timeout_ms=busy_timeout_ms)
        return create_engine(url, pool_pre_ping=True, isolation_level="READ COMMITTED")
    except (NoSuchModuleError, ModuleNotFoundError) as error:
        raise ConfigurationError(
            f"state database {_where(url)}: driver not installed ({error}); "
            "for PostgreSQL install govmig[postgres] and use postgresql+psycopg://"
        ) from error


def _sqlite_engine(url: URL, *, writer: bool, busy_timeout_ms: int) -> Engine:
    options: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if not _is_sqlite_file(url):
        # One shared connection, or every thread would see its own empty database.
        options["poolclass"] = StaticPool
    engine = create_engine(url, **options)
    begin = "BEGIN IMMEDIATE" if writer else "BEGIN"

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        # SQLAlchemy, not the sqlite3 module, decides when a transaction starts.
        dbapi_connection.isolation_level = None
        for pragma in (
            f"PRAGMA busy_timeout = {int(busy_timeout_ms)}",
            "PRAGMA foreign_keys = ON",
            "PRAGMA journal_mode = WAL",
        ):
            dbapi_connection.execute(pragma).close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql(begin)

    return engine
