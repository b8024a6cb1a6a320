"""The audit's hash chains in a real store: written with every row, broken by every tampering.

The audit is written through the engine (``tests.fixtures.seeding``), then
altered, cut, or added to straight in the database, as someone with write
access to it would; ``verify_chains`` must name the record where each chain
first breaks. On PostgreSQL, writers with their own engines append to the same
chains at once, and every chain still verifies.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from orchestrator.engine import apply_cause
from orchestrator.errors import TemporaryError
from orchestrator.migrations import Refusal, Register, RequestCancel, RequestRetry, SystemState
from orchestrator.store import (
    ChainBreak,
    Store,
    mark_published,
    open_store,
    pending_status,
    prune_audit,
    verify_chains,
)
from orchestrator.store.chain import Problem, link_hash
from tests.fixtures.seeding import SEEDING, drive, refuse
from tests.fixtures.store import ON_BOTH
from tests.fixtures.systems import business_system

# "gz-tax": registered, then three refused retries: four records, ids interleaved with the others'.
TAX, OTHER, GHOST = "gz-tax", "sz-water", "never-registered"


def seed(store: Store) -> dict[str, list[int]]:
    """Three chains (one of a system never registered); each chain's record ids."""
    with store.transaction() as session:
        drive(session, business_system(TAX), SystemState.REGISTERED)
        drive(session, business_system(OTHER), SystemState.CANCELLED)
        for _ in range(3):
            refuse(session, TAX, RequestRetry(requested_by="bob"))
            refuse(session, GHOST, RequestRetry(requested_by="eve"))
    with store.engine.connect() as connection:
        ids = connection.execute(text("SELECT system_id, id FROM transitions ORDER BY id")).all()
    chains: dict[str, list[int]] = {}
    for system_id, record_id in ids:
        chains.setdefault(system_id, []).append(record_id)
    return chains


def tamper(store: Store, statement: str, **params: object) -> None:
    with store.engine.begin() as connection:
        connection.execute(text(statement), params)


def hash_of(store: Store, record_id: int) -> str:
    with store.engine.connect() as connection:
        found = connection.execute(
            text("SELECT hash FROM transitions WHERE id = :id"), {"id": record_id}
        ).scalar_one()
    return str(found)


def the_break(store: Store) -> ChainBreak:
    with store.transaction() as session:
        report = verify_chains(session)
    assert not report.intact
    (found,) = report.breaks
    return found


@ON_BOTH
def test_an_audit_written_through_the_engine_verifies(store: Store) -> None:
    chains = seed(store)
    with store.transaction() as session:
        report = verify_chains(session)
        one = verify_chains(session, system_id=TAX)
    assert (report.intact, report.chains, report.records) == (True, 3, 9)
    assert {key: len(ids) for key, ids in chains.items()} == {TAX: 4, OTHER: 2, GHOST: 3}
    assert (one.intact, one.chains, one.records) == (True, 1, 4)


@ON_BOTH
def test_an_altered_record_is_reported_at_its_id(store: Store) -> None:
    tax = seed(store)[TAX]
    tamper(store, "UPDATE transitions SET actor = 'mallory' WHERE id = :id", id=tax[1])
    found = the_break(store)
    assert (found.system_id, found.record_id, found.problem) == (TAX, tax[1], Problem.CONTENT)
    assert found.found == hash_of(store, tax[1]) != found.expected


@ON_BOTH
def test_a_deleted_middle_record_is_reported_at_the_record_after_it(store: Store) -> None:
    tax = seed(store)[TAX]
    gone = hash_of(store, tax[1])
    tamper(store, "DELETE FROM transitions WHERE id = :id", id=tax[1])
    found = the_break(store)
    assert (found.record_id, found.problem) == (tax[2], Problem.LINK)
    assert (found.expected, found.found) == (hash_of(store, tax[0]), gone)


@ON_BOTH
def test_a_cut_tail_is_reported_at_the_last_record_left(store: Store) -> None:
    tax = seed(store)[TAX]
    head = hash_of(store, tax[-1])
    tamper(store, "DELETE FROM transitions WHERE id = :id", id=tax[-1])
    found = the_break(store)
    assert (found.record_id, found.problem) == (tax[-2], Problem.HEAD)
    assert (found.expected, found.found) == (head, hash_of(store, tax[-2]))


@ON_BOTH
def test_a_forged_record_is_reported_at_its_id_even_when_linked_and_hashed(
    store: Store,
) -> None:
    """Whoever knows the algorithm can link a row to the last hash: the head still differs."""
    tax = seed(store)[TAX]
    content: dict[str, object] = {"system_id": TAX, "from_state": "registered"}
    content |= {"to_state": "queued"}
    content |= {"refused": False, "cause": "approve", "actor": "mallory"}
    content |= {"at": datetime(2026, 12, 1, tzinfo=UTC)}
    prev = hash_of(store, tax[-1])
    forged = link_hash(content, prev)
    tamper(
        store,
        "INSERT INTO transitions (system_id, from_state, to_state, refused, cause, actor, at, "
        "prev_hash, hash) VALUES (:system_id, :from_state, :to_state, :refused, :cause, :actor, "
        ":at, :prev_hash, :hash)",
        **content,
        prev_hash=prev,
        hash=forged,
    )
    found = the_break(store)
    assert (found.record_id, found.problem) == (max(seed_ids(store)), Problem.HEAD)
    assert found.found == forged


def seed_ids(store: Store) -> list[int]:
    with store.engine.connect() as connection:
        return list(connection.execute(text("SELECT id FROM transitions")).scalars())


@ON_BOTH
def test_a_forged_record_with_a_made_up_link_is_reported_at_its_id(store: Store) -> None:
    seed(store)
    tamper(
        store,
        "INSERT INTO transitions (system_id, refused, at, prev_hash, hash) "
        "VALUES (:system_id, :refused, :at, :fake, :fake)",
        system_id=GHOST,
        refused=True,
        at=datetime(2026, 12, 1, tzinfo=UTC),
        fake="e" * 64,
    )
    found = the_break(store)
    assert (found.system_id, found.record_id, found.problem) == (
        GHOST,
        max(seed_ids(store)),
        Problem.LINK,
    )


@ON_BOTH
def test_a_chain_deleted_whole_is_reported_by_its_head(store: Store) -> None:
    seed(store)
    tamper(store, "DELETE FROM transitions WHERE system_id = :id", id=OTHER)
    found = the_break(store)
    assert (found.system_id, found.record_id, found.problem) == (OTHER, None, Problem.HEAD)


@pytest.mark.postgres
def test_writers_appending_at_once_on_postgres_keep_every_chain_verifiable(
    fresh_postgres_url: str,
) -> None:
    """Each writer refuses requests for one shared system and one never registered (the same
    chains for all), and registers and cancels systems of its own, in one transaction a round.
    A refusal changes no systems row, so only the chain's head keeps these writers in turn."""
    writers, rounds = 3, 12
    with open_store(fresh_postgres_url) as setup, setup.transaction() as session:
        drive(session, business_system(TAX), SystemState.REGISTERED)
    committed: list[int] = []
    retried: list[int] = []
    lock, start = threading.Lock(), threading.Barrier(writers)
    errors: list[BaseException] = []

    def one_round(store: Store, writer: int, round_: int) -> None:
        own = f"w{writer}-{round_:02d}"
        with store.transaction() as session:
            for system_id in (TAX, GHOST):
                refused = apply_cause(
                    session, system_id, RequestRetry(f"w{writer}"), context=SEEDING
                )
                assert isinstance(refused, Refusal)
            apply_cause(session, own, Register(), context=SEEDING, record=business_system(own))
            apply_cause(session, own, RequestCancel(f"w{writer}"), context=SEEDING)

    def writer(index: int) -> None:
        try:
            with open_store(fresh_postgres_url) as store:
                start.wait()
                for round_ in range(rounds):
                    while True:
                        try:
                            one_round(store, index, round_)
                            break
                        except TemporaryError:
                            with lock:
                                retried.append(index)
                    with lock:
                        committed.append(index)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(index,)) for index in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(committed) == writers * rounds
    with open_store(fresh_postgres_url, create=False) as reader, reader.session() as session:
        report = verify_chains(session)
        one = verify_chains(session, system_id=TAX)
    assert report.breaks == ()
    # Per round: two refusals on the shared chains, and a register and a cancel of its own.
    assert report.records == 1 + writers * rounds * 4
    assert report.chains == 2 + writers * rounds
    assert one.records == 1 + writers * rounds


def publish_all_but(store: Store, *kept: int) -> None:
    """Mark every record published (as the status outbox does) except ``kept``."""
    with store.transaction() as session:
        ids = [row.id for row in pending_status(session, 1000) if row.id not in kept]
        mark_published(session, ids)


@ON_BOTH
def test_a_prune_removes_each_chains_published_leading_run_and_the_rest_verifies(
    store: Store,
) -> None:
    chains = seed(store)
    tax = chains[TAX]
    publish_all_but(store, tax[2])  # the outbox has not sent it yet: it and what follows stay
    with store.transaction() as session:
        assert prune_audit(session, before=datetime(2000, 1, 1, tzinfo=UTC)).records == 0
        report = prune_audit(session, before=datetime(2999, 1, 1, tzinfo=UTC))
    assert (report.records, report.chains) == (2 + 2 + 3, 3)
    with store.transaction() as session:
        kept = verify_chains(session)
        refuse(session, GHOST, RequestRetry(requested_by="eve"))  # a pruned chain goes on
        assert verify_chains(session).intact
    # TAX keeps its last two; OTHER and GHOST keep only their heads, which their anchors meet.
    assert (kept.intact, kept.chains, kept.records) == (True, 3, 2)
    with store.engine.connect() as connection:
        left = connection.execute(text("SELECT id FROM transitions ORDER BY id")).scalars().all()
    assert left[:2] == tax[2:]


@ON_BOTH
def test_a_record_deleted_after_a_prune_is_still_found(store: Store) -> None:
    tax = seed(store)[TAX]
    publish_all_but(store, tax[2])
    anchor, gone = hash_of(store, tax[1]), hash_of(store, tax[2])
    with store.transaction() as session:
        prune_audit(session, before=datetime(2999, 1, 1, tzinfo=UTC))
    tamper(store, "DELETE FROM transitions WHERE id = :id", id=tax[2])  # the first one kept
    found = the_break(store)
    assert (found.system_id, found.record_id, found.problem) == (TAX, tax[3], Problem.LINK)
    assert (found.expected, found.found) == (anchor, gone)
