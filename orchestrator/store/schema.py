"""Schema versioning: Alembic, configured from code so it works from an installed package.

``open_store`` calls ``upgrade`` for the orchestrator (which owns the schema) and
``require_current`` for readers such as the CLI, which never change it. Both
refuse a database whose schema is newer than this code: an older govmig must
not write into tables it does not understand.
"""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from orchestrator.errors import ConfigurationError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# pg_advisory_xact_lock key ("govmig" in ASCII): several orchestrators starting at
# once against one PostgreSQL take turns, so only the first one creates the tables.
_UPGRADE_LOCK_KEY = 0x676F766D6967


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the packaged revisions, bound to ``connection``."""
    config = Config()
    # Config values go through configparser interpolation, so a literal % must be doubled.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


@functools.cache
def _revisions() -> ScriptDirectory:
    """This code's revisions, read from their files once: they cannot change under it.

    Every ``open_store`` checks the database against them; reading the files
    each time cost about 12 ms a call, most of a status poll.
    """
    return ScriptDirectory.from_config(alembic_config())


def code_heads() -> tuple[str, ...]:
    """The head revision(s) this code's migrations lead to."""
    return tuple(_revisions().get_heads())


def database_heads(connection: Connection) -> tuple[str, ...]:
    """The revision(s) the database is at; empty for a database govmig never set up."""
    return tuple(MigrationContext.configure(connection).get_current_heads())


def upgrade(connection: Connection, *, where: str) -> None:
    """Bring the schema to this code's head inside the connection's transaction."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK_KEY})
    _refuse_newer(database_heads(connection), where=where)
    command.upgrade(alembic_config(connection), "head")


def require_current(connection: Connection, *, where: str) -> None:
    """Refuse a database that is not at exactly this code's head (used by readers)."""
    found = database_heads(connection)
    if not found:
        raise ConfigurationError(
            f"state database {where} has no govmig schema: start `govmig run` first "
            "or pass --state-db"
        )
    _refuse_newer(found, where=where)
    if set(found) != set(code_heads()):
        raise ConfigurationError(
            f"state database {where} has schema {_show(found)}, this govmig expects "
            f"{_show(code_heads())}: start `govmig run` once to upgrade it"
        )


def _refuse_newer(found: tuple[str, ...], *, where: str) -> None:
    known = {script.revision for script in _revisions().walk_revisions()}
    unknown = [revision for revision in found if revision not in known]
    if unknown:
        raise ConfigurationError(
            f"state database {where} has schema {_show(tuple(unknown))}, newer than this "
            f"govmig knows ({_show(code_heads())}): upgrade govmig"
        )


def _show(revisions: tuple[str, ...]) -> str:
    return ", ".join(revisions) or "none"
