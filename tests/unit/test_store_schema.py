"""Opening the state store on SQLite: Alembic creates the schema, readers are refused clearly."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from orchestrator.errors import ConfigurationError
from orchestrator.settings import StoreSettings
from orchestrator.store import open_store
from orchestrator.store.schema import alembic_config, code_heads, revision_graph
from orchestrator.store.tables import Base

TABLES = {"systems", "nodes", "allocations", "processed_events", "transitions", "alembic_version"}
TABLES |= {"replication_passes", "intake_pauses", "rehearsals", "approvals", "wave_halts"}
TABLES |= {"audit_chains", "awaiting_registration"}


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def test_open_creates_the_schema_with_alembic(tmp_path: Path) -> None:
    path = tmp_path / "state" / "govmig.db"  # the parent directory is created too
    with open_store(sqlite_url(path)) as store, store.engine.connect() as connection:
        assert set(inspect(connection).get_table_names()) == TABLES
        revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert (revision,) == code_heads() == ("0016",)


def test_reopening_is_a_no_op_and_keeps_the_data(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "govmig.db")
    with open_store(url) as store, store.transaction() as session:
        session.execute(text("CREATE TABLE marker (x INTEGER)"))
        session.execute(text("INSERT INTO marker VALUES (42)"))
    with open_store(url) as store, store.transaction() as session:
        assert session.execute(text("SELECT x FROM marker")).scalar() == 42
        assert session.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1


def test_models_match_the_migration(tmp_path: Path) -> None:
    store = open_store(sqlite_url(tmp_path / "govmig.db"))
    with store, store.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_sqlite_runs_in_wal_with_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    store = open_store(sqlite_url(tmp_path / "govmig.db"), busy_timeout_ms=1234)
    with store, store.transaction() as session:
        pragmas = {
            name: session.execute(text(f"PRAGMA {name}")).scalar()
            for name in ("journal_mode", "foreign_keys", "busy_timeout")
        }
    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 1234}
    # WAL is a property of the file: a plain sqlite3 connection sees it too.
    with sqlite3.connect(tmp_path / "govmig.db") as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_reader_is_refused_a_database_that_does_not_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigurationError) as raised:
        open_store(StoreSettings().state_db, create=False)
    assert str(raised.value) == (
        "state database var/govmig.db does not exist: start `govmig run` first or pass --state-db"
    )
    assert not (tmp_path / "var").exists()  # refusing must not create anything


def test_a_reader_opens_a_database_the_orchestrator_created(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "govmig.db")
    open_store(url).close()
    with open_store(url, create=False) as reader, reader.transaction() as session:
        assert session.execute(text("SELECT count(*) FROM systems")).scalar() == 0


@pytest.mark.parametrize("create", [True, False], ids=["orchestrator", "reader"])
def test_a_current_store_opens_without_importing_alembic(tmp_path: Path, *, create: bool) -> None:
    # Readers (every CLI call) and a restarted orchestrator check the schema from
    # the revision files alone; only a database that is behind needs Alembic.
    url = sqlite_url(tmp_path / "govmig.db")
    open_store(url).close()
    probe = (
        "import sys; from orchestrator.store import open_store; "
        f"open_store({url!r}, create={create}).close(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_revision_files_read_without_alembic_agree_with_alembic() -> None:
    scripts = ScriptDirectory.from_config(alembic_config())
    assert code_heads() == tuple(scripts.get_heads())
    assert revision_graph() == {
        script.revision: script.down_revision for script in scripts.walk_revisions()
    }


def test_a_reader_is_refused_a_database_without_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    sqlite3.connect(path).close()
    with pytest.raises(ConfigurationError, match="has no govmig schema"):
        open_store(sqlite_url(path), create=False)


@pytest.mark.parametrize("create", [True, False], ids=["orchestrator", "reader"])
def test_a_schema_newer_than_the_code_is_refused(tmp_path: Path, *, create: bool) -> None:
    url = sqlite_url(tmp_path / "govmig.db")
    open_store(url).close()
    with sqlite3.connect(tmp_path / "govmig.db") as raw:
        raw.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(ConfigurationError, match=r"schema 9999, newer than this govmig knows"):
        open_store(url, create=create)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "is not a database URL"),
        ("mysql://u@h/db", "only sqlite:/// and postgresql"),
        ("postgresql+nosuchdriver://u@h/db", "driver not installed"),
        ("postgresql+psycopg://u:secret@127.0.0.1:1/db", r"cannot open state database .*\*\*\*"),
    ],
    ids=["garbage", "unsupported-backend", "unknown-driver", "unreachable-server"],
)
def test_bad_urls_are_configuration_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as raised:
        open_store(url)
    assert "secret" not in str(raised.value)


def test_in_memory_sqlite_is_one_database_for_every_session() -> None:
    with open_store("sqlite://") as store:
        with store.transaction() as session:
            session.execute(text("CREATE TABLE marker (x INTEGER)"))
        with store.transaction() as session:
            assert session.execute(text("SELECT count(*) FROM marker")).scalar() == 0


def test_readers_are_not_blocked_by_the_orchestrators_open_write(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "govmig.db")
    with open_store(url) as orchestrator, orchestrator.transaction() as writing:
        writing.execute(
            text("INSERT INTO processed_events VALUES ('s', 'e', 't', '2026-01-01', 'processed')")
        )
        # The write transaction holds SQLite's write lock; WAL readers see the last commit.
        reader = open_store(url, create=False, busy_timeout_ms=100)
        with reader, reader.transaction() as reading:
            count = reading.execute(text("SELECT count(*) FROM processed_events")).scalar()
    assert count == 0
