"""The state store on a real PostgreSQL: Alembic, race-safe dedupe and the compare-and-swap ledger.

What PostgreSQL alone must do; the repositories themselves are tested on both
databases by ``test_store_repositories``.

Several writers, each with its own engine (threads) or its own process, reserve
capacity on the same small node at once. Whatever the interleaving, the node is
never over-committed, every attempt ends in a reservation, a shortfall or a
``TemporaryError``, and the node's generation counts exactly the writes that won.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, make_url, text

from orchestrator.devpostgres import libpq_conninfo
from orchestrator.errors import ConfigurationError, TemporaryError
from orchestrator.inventory.models import BusinessSystem, Node, NodeCapacity, SourceLocation
from orchestrator.migrations.states import SystemState
from orchestrator.store import (
    CasTally,
    Reserved,
    Shortfall,
    Store,
    claim_events,
    get_node,
    open_store,
    reserve,
    seed_nodes,
)
from orchestrator.store.schema import code_heads
from orchestrator.store.tables import Base
from tests.fixtures.polling import wait_until
from tests.fixtures.seeding import drive
from tests.fixtures.store import ON_POSTGRES

pytestmark = pytest.mark.postgres

# vCPU capacity (40 - 8) x 1 = 32; memory and storage are never the limit here.
SMALL = Node(
    id="shantou",
    city="shantou",
    capacity=NodeCapacity(vcpu=40, memory_gb=10_000, storage_gb=100_000),
    reserved=NodeCapacity(vcpu=8, memory_gb=1, storage_gb=1),
)
VCPU_CAPACITY = 32


def request(vcpu: int) -> dict[str, int]:
    return {"VCPU": vcpu, "MEMORY_GB": 1, "STORAGE_GB": 1}


def a_system(system_id: str) -> BusinessSystem:
    return BusinessSystem(
        id=system_id,
        name=system_id,
        city="guangzhou",
        department="Data Bureau",
        vcpu=1,
        memory_gb=1,
        storage_gb=1,
        source=SourceLocation(city="guangzhou", site="old DC", host="10.0.0.1"),
    )


def prepare(store: Store, system_ids: list[str]) -> None:
    with store.transaction() as session:
        seed_nodes(session, [SMALL])
        for system_id in system_ids:
            drive(session, a_system(system_id), SystemState.REGISTERED)


def test_open_runs_alembic_upgrade_head(fresh_postgres_url: str) -> None:
    for _ in range(2):  # the second open finds the schema at head and changes nothing
        with open_store(fresh_postgres_url) as store, store.engine.connect() as connection:
            revision = connection.execute(text("SELECT version_num FROM alembic_version"))
            assert tuple(revision.scalars()) == code_heads()
            assert "transitions" in inspect(connection).get_table_names()
    with open_store(fresh_postgres_url, create=False) as reader:
        assert reader.dialect == "postgresql"


@ON_POSTGRES
def test_models_match_the_migration(store: Store) -> None:
    with store.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_instances_starting_together_upgrade_once(fresh_postgres_url: str) -> None:
    errors: list[BaseException] = []

    def start() -> None:
        try:
            open_store(fresh_postgres_url).close()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_a_reader_is_refused_a_database_that_does_not_exist(postgres_url: str) -> None:
    missing = make_url(postgres_url).set(database="no_such_db").render_as_string(False)
    with pytest.raises(ConfigurationError, match=r'cannot open state database .*"no_such_db"'):
        open_store(missing, create=False)


def test_a_reader_is_refused_an_empty_database(fresh_postgres_url: str) -> None:
    with pytest.raises(ConfigurationError, match="has no govmig schema"):
        open_store(fresh_postgres_url, create=False)


@ON_POSTGRES
def test_marking_the_same_event_from_two_transactions_at_once(store: Store) -> None:
    """The second marker waits for the first, then learns it is a duplicate; no abort."""
    answers: dict[str, bool] = {}
    with store.transaction() as first:
        answers["first"] = bool(claim_events(first, [("urn:cmdb", "e1", "t")]))

        def second() -> None:
            with store.transaction() as session:
                answers["second"] = bool(claim_events(session, [("urn:cmdb", "e1", "t")]))
                # The transaction is still usable after the conflict.
                answers["other"] = bool(claim_events(session, [("urn:cmdb", "e2", "t")]))

        racer = threading.Thread(target=second)
        racer.start()
        wait_until_blocked(store, expected=1)
    racer.join()
    assert answers == {"first": True, "second": False, "other": True}


@ON_POSTGRES
def test_a_losing_swap_re_reads_and_sees_the_winner(store: Store) -> None:
    """A reservation that read the node before a concurrent commit must not over-commit."""
    prepare(store, ["a", "b"])
    outcome: list[Reserved | Shortfall] = []
    tallies = CasTally(), CasTally()
    with store.transaction() as winner:
        won = reserve(winner, "a", "shantou", request(20), tally=tallies[0])
        assert isinstance(won, Reserved)

        def loser() -> None:
            with store.transaction() as session:
                outcome.append(reserve(session, "b", "shantou", request(20), tally=tallies[1]))

        racer = threading.Thread(target=loser)
        racer.start()
        # b read generation 0 and free 32 vCPU, and now waits on a's uncommitted swap.
        wait_until_blocked(store, expected=1)
    racer.join()
    (result,) = outcome
    assert isinstance(result, Shortfall)
    assert (result.resource, result.amount) == ("VCPU", 8)
    # The loser's one swap lost, and was counted; the winner's never did.
    assert [tally.lost for tally in tallies] == [0, 1]
    with store.transaction() as session:
        node = get_node(session, "shantou")
    assert node is not None
    assert (node.used["VCPU"], node.generation) == (20, 1)


def test_threads_with_their_own_engines_never_over_commit(fresh_postgres_url: str) -> None:
    writers, per_writer = 6, 8
    systems = [f"s{index:03d}" for index in range(writers * per_writer)]
    with open_store(fresh_postgres_url) as setup:
        prepare(setup, systems)
    outcomes: list[str] = []
    lock, start = threading.Lock(), threading.Barrier(writers)

    def writer(mine: list[str]) -> None:
        with open_store(fresh_postgres_url) as store:
            start.wait()
            for system_id in mine:
                result = reserve_one(store, system_id, vcpu=3)
                with lock:
                    outcomes.append(result)

    threads = [
        threading.Thread(target=writer, args=(systems[index::writers],)) for index in range(writers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    check_ledger(fresh_postgres_url, outcomes, attempts=len(systems), vcpu=3)


# Runs in a separate interpreter: its own process, engine and connections.
WORKER = """
import json, sys
from orchestrator.errors import TemporaryError
from orchestrator.store import Reserved, open_store, reserve
url, vcpu, *systems = sys.argv[1:]
results = []
with open_store(url) as store:
    for system_id in systems:
        try:
            with store.transaction() as session:
                got = reserve(session, system_id, "shantou",
                              {"VCPU": int(vcpu), "MEMORY_GB": 1, "STORAGE_GB": 1})
            results.append("reserved" if isinstance(got, Reserved) else "shortfall")
        except TemporaryError:
            results.append("temporary")
print(json.dumps(results))
"""


def test_two_processes_never_over_commit(fresh_postgres_url: str) -> None:
    systems = [f"p{index:03d}" for index in range(30)]
    with open_store(fresh_postgres_url) as setup:
        prepare(setup, systems)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, fresh_postgres_url, "2", *systems[index::2]],
            stdout=subprocess.PIPE,
            text=True,
        )
        for index in range(2)
    ]
    outcomes: list[str] = []
    for worker in workers:
        out, _ = worker.communicate(timeout=120)
        assert worker.returncode == 0
        outcomes += json.loads(out)
    check_ledger(fresh_postgres_url, outcomes, attempts=len(systems), vcpu=2)


def reserve_one(store: Store, system_id: str, *, vcpu: int) -> str:
    """One reservation in its own transaction, as the worker processes report it."""
    try:
        with store.transaction() as session:
            got = reserve(session, system_id, "shantou", request(vcpu))
    except TemporaryError:
        return "temporary"
    return "reserved" if isinstance(got, Reserved) else "shortfall"


def check_ledger(url: str, outcomes: list[str], *, attempts: int, vcpu: int) -> None:
    """Every attempt ended in one of the three outcomes, and the node adds up."""
    assert len(outcomes) == attempts
    assert set(outcomes) <= {"reserved", "shortfall", "temporary"}
    won, temporary = outcomes.count("reserved"), outcomes.count("temporary")
    with open_store(url, create=False) as reader, reader.transaction() as session:
        node = get_node(session, "shantou")
        allocations = session.execute(text("SELECT count(*) FROM allocations")).scalar()
    assert node is not None
    assert node.used["VCPU"] == vcpu * won <= VCPU_CAPACITY
    assert node.generation == won == allocations
    # Demand exceeds capacity, and a TemporaryError only ever leaves room for others.
    assert won >= VCPU_CAPACITY // vcpu - temporary


def wait_until_blocked(store: Store, *, expected: int, timeout: float = 10.0) -> None:
    """Wait until ``expected`` other sessions wait on a row lock (so the race is real)."""
    conninfo = libpq_conninfo(store.engine.url.render_as_string(hide_password=False))
    query = (
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    with psycopg.connect(conninfo, autocommit=True) as watcher:

        def blocked() -> bool:
            row = watcher.execute(query).fetchone()
            return row is not None and row[0] >= expected

        what = "a session blocked on a lock (so the race happens)"
        wait_until(blocked, timeout_s=timeout, what=what, interval_s=0.02)
