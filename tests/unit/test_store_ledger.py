"""The capacity ledger on SQLite: reserve, release, idempotency, moves, shortfalls, two writers."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from orchestrator.capacity import NodeStatus, ShortfallKind
from orchestrator.errors import PermanentError, TemporaryError
from orchestrator.inventory.models import BusinessSystem, Node, NodeCapacity, SourceLocation
from orchestrator.migrations import SystemState
from orchestrator.store import (
    CasTally,
    Reserved,
    Session,
    Shortfall,
    Store,
    get_allocation,
    get_node,
    open_store,
    release_allocation,
    reserve,
    seed_nodes,
    update_node,
)
from orchestrator.store.nodes import MAX_CAS_ATTEMPTS, node_totals
from tests.fixtures.seeding import drive
from tests.fixtures.store import losing_swaps

# capacity: vCPU (20 - 4) x 2 = 32, memory 100 - 1 = 99, storage 1000 - 1 = 999;
# one allocation may not exceed a resource's total (the ledger's max_unit).
SMALL = Node(
    id="shantou",
    city="shantou",
    capacity=NodeCapacity(vcpu=20, memory_gb=100, storage_gb=1000),
    reserved=NodeCapacity(vcpu=4, memory_gb=1, storage_gb=1),
    allocation_ratio_vcpu=2.0,
)
OTHER = Node(
    id="yunfu", city="yunfu", capacity=NodeCapacity(vcpu=64, memory_gb=256, storage_gb=4000)
)


def request(vcpu: int = 8, memory_gb: int = 16, storage_gb: int = 100) -> dict[str, int]:
    return {"VCPU": vcpu, "MEMORY_GB": memory_gb, "STORAGE_GB": storage_gb}


def register(session: Session, *system_ids: str) -> None:
    for system_id in system_ids:
        drive(
            session,
            BusinessSystem(
                id=system_id,
                name=system_id,
                city="guangzhou",
                department="Data Bureau",
                vcpu=1,
                memory_gb=1,
                storage_gb=1,
                source=SourceLocation(city="guangzhou", site="old DC", host="10.0.0.1"),
            ),
            SystemState.REGISTERED,
        )


@pytest.fixture(autouse=True)
def two_nodes(store: Store) -> None:
    """Every test here starts with SMALL and OTHER seeded and systems a, b, c registered."""
    with store.transaction() as session:
        seed_nodes(session, [SMALL, OTHER])
        register(session, "a", "b", "c")


def used(session: Session, node_id: str = "shantou") -> dict[str, int]:
    node = get_node(session, node_id)
    assert node is not None
    return dict(node.used)


def generation(session: Session, node_id: str = "shantou") -> int:
    node = get_node(session, node_id)
    assert node is not None
    return node.generation


def test_reserve_then_release(session: Session) -> None:
    reserved = reserve(session, "a", "shantou", request())
    assert reserved == Reserved("a", "shantou", request(), generation=1, changed=True)
    assert used(session) == request()
    allocation = get_allocation(session, "a")
    assert allocation is not None
    assert allocation.node_id == "shantou"
    released = release_allocation(session, "a")
    assert released is not None
    assert released.amount == request()
    assert used(session) == request(0, 0, 0)
    assert generation(session) == 2
    assert get_allocation(session, "a") is None


def test_reserving_the_same_again_is_a_no_op(session: Session) -> None:
    first = reserve(session, "a", "shantou", request())
    again = reserve(session, "a", "shantou", request())
    assert isinstance(again, Reserved)
    assert not again.changed
    assert again.generation == generation(session) == 1
    assert isinstance(first, Reserved)
    assert first.changed
    assert used(session) == request()


def test_releasing_nothing_is_a_no_op(session: Session) -> None:
    assert release_allocation(session, "a") is None
    assert generation(session) == 0


def test_reserving_on_another_node_moves_the_allocation(session: Session) -> None:
    reserve(session, "a", "shantou", request())
    moved = reserve(session, "a", "yunfu", request(vcpu=4))
    assert isinstance(moved, Reserved)
    assert (moved.node_id, moved.moved_from, moved.generation) == ("yunfu", "shantou", 1)
    assert used(session) == request(0, 0, 0)
    assert used(session, "yunfu") == request(vcpu=4)
    assert (generation(session), generation(session, "yunfu")) == (2, 1)


def test_a_move_that_does_not_fit_keeps_the_old_allocation(session: Session) -> None:
    reserve(session, "a", "yunfu", request())
    refused = reserve(session, "a", "shantou", request(vcpu=33))
    assert isinstance(refused, Shortfall)
    assert get_allocation(session, "a").node_id == "yunfu"  # type: ignore[union-attr]
    assert (generation(session), generation(session, "yunfu")) == (0, 1)


def test_resizing_on_the_same_node_does_not_count_the_old_size(session: Session) -> None:
    reserve(session, "a", "shantou", request(vcpu=16))
    # 16 + 18 would not fit in 32, but the 16 are replaced, not added to.
    resized = reserve(session, "a", "shantou", request(vcpu=18))
    assert isinstance(resized, Reserved)
    assert resized.changed
    assert used(session)["VCPU"] == 18


@pytest.mark.parametrize(
    ("held", "wanted", "resource", "short_by", "message"),
    [
        (request(vcpu=20), request(vcpu=14), "VCPU", 2, "node shantou lacks vCPU by 2"),
        (request(memory_gb=90), request(memory_gb=10), "MEMORY_GB", 1, "lacks memory by 1 GB"),
        (request(), request(storage_gb=900), "STORAGE_GB", 1, "lacks storage by 1 GB"),
    ],
    ids=["vcpu", "memory", "storage"],
)
def test_a_shortfall_names_the_resource_and_amount(
    session: Session,
    held: dict[str, int],
    wanted: dict[str, int],
    resource: str,
    short_by: int,
    message: str,
) -> None:
    reserve(session, "a", "shantou", held)
    shortfall = reserve(session, "b", "shantou", wanted)
    assert isinstance(shortfall, Shortfall)
    assert (shortfall.kind, shortfall.resource, shortfall.amount) == (
        ShortfallKind.INSUFFICIENT,
        resource,
        short_by,
    )
    assert message in shortfall.message
    # All or nothing: nothing of b's request was taken, and the generation did not move.
    assert get_allocation(session, "b") is None
    assert used(session) == held
    assert generation(session) == 1


def test_exactly_full_fits(session: Session) -> None:
    assert isinstance(reserve(session, "a", "shantou", request(16, 50, 500)), Reserved)
    assert isinstance(reserve(session, "b", "shantou", request(16, 49, 499)), Reserved)
    assert isinstance(reserve(session, "c", "shantou", request(1, 1, 1)), Shortfall)


def test_draining_stops_new_placements_but_keeps_existing_ones(session: Session) -> None:
    reserve(session, "a", "shantou", request())
    update_node(session, "shantou", status=NodeStatus.DRAINING)
    refused = reserve(session, "b", "shantou", request())
    assert isinstance(refused, Shortfall)
    assert refused.kind is ShortfallKind.NOT_ONLINE
    assert refused.message == "node shantou is draining"
    kept = reserve(session, "a", "shantou", request())  # redelivered: still holds it
    assert isinstance(kept, Reserved)
    assert not kept.changed
    assert used(session) == request()


def test_unknown_system_or_node_is_a_permanent_error(session: Session) -> None:
    with pytest.raises(PermanentError, match="unknown system 'ghost'"):
        reserve(session, "ghost", "shantou", request())
    with pytest.raises(PermanentError, match="unknown node 'atlantis'"):
        reserve(session, "a", "atlantis", request())


def test_two_sqlite_writers_never_over_commit(tmp_path: Path) -> None:
    """Two threads, each with its own engine, race 2 x 12 reservations onto a 32-vCPU node."""
    url = f"sqlite:///{tmp_path / 'race.db'}"
    systems = [f"s{index:02d}" for index in range(24)]
    with open_store(url) as setup, setup.transaction() as session:
        seed_nodes(session, [SMALL])
        register(session, *systems)
    outcomes: list[Reserved | Shortfall | TemporaryError] = []
    start = threading.Barrier(2)

    def writer(mine: list[str]) -> None:
        with open_store(url) as store:
            start.wait()
            for system_id in mine:
                try:
                    with store.transaction() as session:
                        outcomes.append(reserve(session, system_id, "shantou", request(3, 1, 1)))
                except TemporaryError as error:
                    outcomes.append(error)

    threads = [threading.Thread(target=writer, args=(systems[i::2],)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    successes = [outcome for outcome in outcomes if isinstance(outcome, Reserved)]
    assert len(outcomes) == len(systems)
    assert len(successes) == 32 // 3  # SQLite serialises writers: exactly what fits
    assert all(isinstance(outcome, Shortfall) for outcome in outcomes if outcome not in successes)
    with open_store(url, create=False) as reader, reader.transaction() as session:
        node = get_node(session, "shantou")
    assert node is not None
    assert node.used["VCPU"] == 3 * len(successes) <= node.node.capacities["VCPU"]
    assert node.generation == len(successes)


def test_node_totals_sums_what_get_node_lists(session: Session) -> None:
    reserve(session, "a", "shantou", request(8, 16, 100))
    reserve(session, "b", "shantou", request(4, 2, 30))
    reserve(session, "c", "yunfu", request(2, 2, 2))
    for node_id in ("shantou", "yunfu"):
        totals, listed = node_totals(session, node_id), get_node(session, node_id)
        assert totals is not None
        assert listed is not None
        assert (totals.node, totals.used, totals.generation) == (
            listed.node,
            listed.used,
            listed.generation,
        )
    assert node_totals(session, "atlantis") is None


def test_node_totals_of_an_empty_node_is_zero(session: Session) -> None:
    totals = node_totals(session, "yunfu")
    assert totals is not None
    assert totals.used == {"VCPU": 0, "MEMORY_GB": 0, "STORAGE_GB": 0}


def test_a_node_changed_by_an_update_is_read_fresh(session: Session) -> None:
    before = node_totals(session, "shantou")
    update_node(session, "shantou", status=NodeStatus.DRAINING)
    after = node_totals(session, "shantou")
    assert before is not None
    assert after is not None
    assert (before.node.status, after.node.status) == (NodeStatus.ONLINE, NodeStatus.DRAINING)


def test_each_lost_swap_is_counted_and_redone(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    losing_swaps(monkeypatch, 2)
    tally = CasTally()
    reserved = reserve(session, "a", "shantou", request(), tally=tally)
    assert isinstance(reserved, Reserved)
    assert (tally.lost, generation(session)) == (2, 1)


def test_swaps_lost_until_giving_up_are_all_counted(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    losing_swaps(monkeypatch, MAX_CAS_ATTEMPTS)
    tally = CasTally()
    with pytest.raises(TemporaryError, match="changed under"):
        reserve(session, "a", "shantou", request(), tally=tally)
    assert tally.lost == MAX_CAS_ATTEMPTS
