"""Upgrading a state store that holds data, from revision 0001 to head, on SQLite and PostgreSQL.

0001 stored states in 16 characters; 0002 widened every state column to 32 so the
states to come fit on PostgreSQL, which enforces the length; 0003 dropped the
write-only ``stop_phase`` column. The data written at 0001 must come through the
upgrade unchanged, foreign keys included (SQLite copies the table to change a column).
0009 keeps who requested each migration, filled in from the audit. 0011 counts
the halts already resumed as announced, and leaves an open one to be announced.
0012 chains each system's audit rows already stored, so the upgraded audit verifies.
0015 marks every node already stored a city node (``kind``), not a PRD platform.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import Connection, MetaData, create_engine, insert, inspect, select, update

from orchestrator.engine import apply_cause
from orchestrator.migrations import RequestRetry
from orchestrator.store import open_store, verify_chains
from orchestrator.store import waves as wave_store
from orchestrator.store.schema import alembic_config, code_heads, database_heads
from tests.fixtures.seeding import SEEDING

# (table, column) of every column holding a SystemState.
STATE_COLUMNS = (("systems", "state"), ("transitions", "from_state"), ("transitions", "to_state"))
LONGEST_STATE = "awaiting_approval_window_closing"  # 32 characters
AT = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('store') / 'govmig.db'}"
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url


def create_at(url: str, revision: str, fill: Callable[[Connection, MetaData], None]) -> None:
    """A store at ``revision`` holding what ``fill`` writes into its tables."""
    engine = create_engine(url)
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)
        tables = MetaData()
        tables.reflect(connection)
        fill(connection, tables)
    engine.dispose()


def create_at_0001_with_data(url: str) -> None:
    create_at(url, "0001", _insert_fleet)


def _insert_fleet(connection: Connection, tables: MetaData) -> None:
    amounts = {
        f"{resource}_{part}": value
        for resource in ("vcpu", "memory_gb", "storage_gb")
        for part, value in (("total", 100), ("reserved", 1), ("allocation_ratio", 1.0))
    }
    connection.execute(
        insert(tables.tables["nodes"]).values(
            id="shantou", city="shantou", status="online", generation=1, updated_at=AT, **amounts
        )
    )
    connection.execute(
        insert(tables.tables["systems"]).values(
            id="gz-tax",
            record={"id": "gz-tax"},
            city="guangzhou",
            state="rolling_back",
            node="shantou",
            stop_phase="replicate",
            updated_at=AT,
            version=3,
        )
    )
    connection.execute(
        insert(tables.tables["allocations"]).values(
            system_id="gz-tax",
            node_id="shantou",
            vcpu=4,
            memory_gb=8,
            storage_gb=50,
            allocated_at=AT,
        )
    )
    connection.execute(
        insert(tables.tables["transitions"]).values(
            system_id="gz-tax",
            from_state="migrating",
            to_state="rolling_back",
            refused=False,
            at=AT,
        )
    )


def test_a_store_with_data_at_0001_upgrades_to_head_and_keeps_it(database_url: str) -> None:
    create_at_0001_with_data(database_url)
    with open_store(database_url) as store, store.engine.connect() as connection:
        tables = MetaData()
        tables.reflect(connection)
        systems, transitions = tables.tables["systems"], tables.tables["transitions"]
        allocations = tables.tables["allocations"]
        assert connection.execute(
            select(systems.c.id, systems.c.state, systems.c.version)
        ).all() == [("gz-tax", "rolling_back", 3)]
        assert connection.execute(select(allocations.c.system_id, allocations.c.vcpu)).all() == [
            ("gz-tax", 4)
        ]
        assert connection.execute(
            select(transitions.c.from_state, transitions.c.to_state)
        ).all() == [("migrating", "rolling_back")]
        assert database_heads(connection) == code_heads()
        assert "stop_phase" not in systems.c, "0003 drops the column nothing read"
        nodes = tables.tables["nodes"]
        assert connection.execute(select(nodes.c.id, nodes.c.kind, nodes.c.hosts)).all() == [
            ("shantou", "node", None)
        ], "0015: every node stored before platforms is a city node"


def test_every_state_column_holds_32_characters_after_the_upgrade(database_url: str) -> None:
    create_at_0001_with_data(database_url)
    with open_store(database_url) as store, store.engine.begin() as connection:
        types = {
            (table, column["name"]): column["type"]
            for table in ("systems", "transitions")
            for column in inspect(connection).get_columns(table)
        }
        lengths = {key: getattr(types[key], "length", None) for key in STATE_COLUMNS}
        assert lengths == dict.fromkeys(STATE_COLUMNS, 32)
        tables = MetaData()
        tables.reflect(connection)
        for table, column in STATE_COLUMNS:
            connection.execute(update(tables.tables[table]).values({column: LONGEST_STATE}))
        stored = [
            connection.execute(select(tables.tables[table].c[column])).scalar_one()
            for table, column in STATE_COLUMNS
        ]
    assert stored == [LONGEST_STATE] * len(STATE_COLUMNS)
    assert len(LONGEST_STATE) == 32


def _insert_requests(connection: Connection, tables: MetaData) -> None:
    systems, transitions = tables.tables["systems"], tables.tables["transitions"]
    for system_id, requested_by in (("gz-tax", "dave"), ("sz-new", None)):
        connection.execute(
            insert(systems).values(
                id=system_id, record={"id": system_id}, city="guangzhou", state="placed",
                requested_by=requested_by, updated_at=AT, version=1,
            )
        )  # fmt: skip
    history = [
        ("migrate", "alice", False),
        ("retry", "bob", False),
        ("migrate", "carol", False),  # migrated again after a rollback: the latest counts
        ("migrate", "mallory", True),  # refused: asked for nothing
        ("cancel", "dave", True),
    ]
    connection.execute(
        insert(transitions),
        [
            {"system_id": "gz-tax", "from_state": "registered", "to_state": None if refused
             else "queued", "refused": refused, "cause": cause, "actor": actor, "at": AT}
            for cause, actor, refused in history
        ],
    )  # fmt: skip


def test_0009_keeps_who_requested_each_migration_from_the_audit(database_url: str) -> None:
    """Before 0009 only the latest requester was kept: the audit still says who migrated."""
    create_at(database_url, "0008", _insert_requests)
    with open_store(database_url) as store, store.engine.connect() as connection:
        tables = MetaData()
        tables.reflect(connection)
        columns = tables.tables["systems"].c
        kept = connection.execute(
            select(columns.id, columns.requested_by, columns.migration_requested_by).order_by(
                columns.id
            )
        ).all()
        assert "change_ref" in tables.tables["transitions"].c
        assert "approvals" in tables.tables
    assert kept == [("gz-tax", "dave", "carol"), ("sz-new", None, None)]


def _insert_halts(connection: Connection, tables: MetaData) -> None:
    resumed = {"resumed_at": AT + timedelta(hours=1), "resumed_by": "ops", "resume_reason": None}
    open_halt = {"resumed_at": None, "resumed_by": None, "resume_reason": None}
    connection.execute(
        insert(tables.tables["wave_halts"]),
        [
            {"wave": 1, "reason": "1 of 2 rolled back", "halted_at": AT, **resumed},
            {"wave": 3, "reason": "2 of 5 failed", "halted_at": AT, **open_halt},
        ],
    )


def test_0011_announces_no_halt_already_resumed_but_the_one_still_open(database_url: str) -> None:
    """History is not news; a halt that still holds the waves after it is."""
    create_at(database_url, "0010", _insert_halts)
    with open_store(database_url) as store, store.transaction() as session:
        notices = wave_store.pending_wave_notices(session)
        assert [(n.halt.wave, n.change, n.at) for n in notices] == [(3, "halted", AT)]
        wave_store.resume(session, 3, by="ops", reason=None, at=AT + timedelta(days=1))
        notices = wave_store.pending_wave_notices(session)
    assert [(n.halt.wave, n.change) for n in notices] == [(3, "halted"), (3, "resumed")]


def test_0012_chains_the_audit_already_stored_and_the_engine_goes_on_from_its_head(
    database_url: str,
) -> None:
    create_at(database_url, "0011", _insert_requests)
    with open_store(database_url) as store, store.transaction() as session:
        upgraded = verify_chains(session)
        apply_cause(session, "gz-tax", RequestRetry(requested_by="erin"), context=SEEDING)
        apply_cause(session, "sz-new", RequestRetry(requested_by="erin"), context=SEEDING)
        extended = verify_chains(session)
    assert (upgraded.breaks, upgraded.chains, upgraded.records) == ((), 1, 5)
    assert (extended.breaks, extended.chains, extended.records) == ((), 2, 7)
