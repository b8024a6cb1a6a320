"""Schema versioning: Alembic, configured from code so it works from an installed package.

``open_store`` calls ``upgrade`` for the orchestrator (which owns the schema) and
``require_current`` for readers such as the CLI, which never change it. Both
refuse a database whose schema is newer than this code: an older govmig must
not write into tables it does not understand.

Alembic is imported only to upgrade a database that is behind. This code's
revisions come from the revision files' own ``revision``/``down_revision`` lines
and the database's from its ``alembic_version`` table: importing Alembic (and
the Mako and Pygments it pulls in) cost every CLI call and every start of
``govmig run`` about 0.2 s.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text

from orchestrator.errors import ConfigurationError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSIONS_DIR = MIGRATIONS_DIR / "versions"
# pg_advisory_xact_lock key ("govmig" in ASCII): several orchestrators starting at
# once against one PostgreSQL take turns, so only the first one creates the tables.
_UPGRADE_LOCK_KEY = 0x676F766D6967


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the packaged revisions, bound to ``connection``."""
    from alembic.config import Config  # only the schema's owner needs Alembic

    config = Config()
    # Config values go through configparser interpolation, so a literal % must be doubled.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


@functools.cache
def revision_graph() -> dict[str, str | None]:
    """This code's revisions, each with the one it follows, read once from their files.

    They cannot change under a running process; every ``open_store`` checks the
    database against them.
    """
    return dict(_revision_of(path) for path in sorted(VERSIONS_DIR.glob("*.py")))


def _revision_of(path: Path) -> tuple[str, str | None]:
    """A revision file's ``revision`` and ``down_revision``, read as literals, not run
    (annotated assignments, as ``script.py.mako`` writes them)."""
    values: dict[str, str | None] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
            values[node.target.id] = ast.literal_eval(node.value)
    if not isinstance(revision := values.get("revision"), str) or "down_revision" not in values:
        raise ConfigurationError(f"schema revision {path.name} sets no revision and down_revision")
    return revision, values["down_revision"]


def code_heads() -> tuple[str, ...]:
    """The head revision(s) this code's migrations lead to: those no revision follows."""
    graph = revision_graph()
    followed = set(graph.values())
    return tuple(sorted(revision for revision in graph if revision not in followed))


def database_heads(connection: Connection) -> tuple[str, ...]:
    """The revision(s) the database is at; empty for a database govmig never set up."""
    if not inspect(connection).has_table("alembic_version"):
        return ()
    rows = connection.execute(text("SELECT version_num FROM alembic_version"))
    return tuple(sorted(rows.scalars()))


def upgrade(connection: Connection, *, where: str) -> None:
    """Bring the schema to this code's head inside the connection's transaction."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK_KEY})
    found = database_heads(connection)
    _refuse_newer(found, where=where)
    if _is_current(found):
        return  # what Alembic's upgrade to head would conclude, without importing it
    from alembic import command  # see the module docstring

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
    if not _is_current(found):
        raise ConfigurationError(
            f"state database {where} has schema {_show(found)}, this govmig expects "
            f"{_show(code_heads())}: start `govmig run` once to upgrade it"
        )


def _is_current(found: tuple[str, ...]) -> bool:
    return set(found) == set(code_heads())


def _refuse_newer(found: tuple[str, ...], *, where: str) -> None:
    unknown = [revision for revision in found if revision not in revision_graph()]
    if unknown:
        raise ConfigurationError(
            f"state database {where} has schema {_show(tuple(unknown))}, newer than this "
            f"govmig knows ({_show(code_heads())}): upgrade govmig"
        )


def _show(revisions: tuple[str, ...]) -> str:
    return ", ".join(revisions) or "none"
