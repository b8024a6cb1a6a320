"""``apply_cause`` on a real SQLite store: state, ledger, audit and outbox move together."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from orchestrator.capacity import NodeStatus, ResourceClass, ResourceInventory
from orchestrator.engine import (
    CauseContext,
    Lifecycle,
    PlacementContext,
    announces,
    apply_cause,
    notice_for,
)
from orchestrator.engine import lifecycle as lifecycle_module
from orchestrator.events.envelope import SystemRequestRefusedEvent, SystemStatusChangedEvent
from orchestrator.inventory import load_inventory
from orchestrator.inventory.models import BusinessSystem
from orchestrator.migrations import (
    Cause,
    Place,
    Refusal,
    Register,
    RequestCancel,
    RequestMigration,
    RequestRetry,
    SystemState,
    Transition,
)
from orchestrator.store import (
    Reserved,
    Session,
    Store,
    get_allocation,
    get_node,
    get_system,
    history,
    node_usage,
    pending_status,
    reserve,
    save_system,
    seed_nodes,
    update_node,
)
from tests.fixtures.systems import business_system

S = SystemState
INTAKE = CauseContext(component="intake", event_source="/test", event_id="evt-1")


def system(
    system_id: str, city: str = "shantou", *, vcpu: int = 16, depends_on: tuple[str, ...] = ()
) -> BusinessSystem:
    return business_system(system_id, city, vcpu=vcpu, depends_on=depends_on)


@pytest.fixture(autouse=True)
def city_nodes(store: Store) -> None:
    """Every test here starts with the 14 city nodes seeded."""
    with store.transaction() as session:
        seed_nodes(session, load_inventory().nodes.values())


def register(session: Session, *systems: BusinessSystem) -> None:
    for one in systems:
        outcome = apply_cause(session, one.id, Register(), context=INTAKE, record=one)
        assert isinstance(outcome, Transition)


def shrink(session: Session, node: str, vcpu: int) -> None:
    """Leave ``node`` with ``vcpu`` vCPU of capacity (and plenty of the rest)."""
    # Held back rather than a smaller total, so a large request is short, not over max_unit.
    held = ResourceInventory(total=vcpu + 1000, reserved=1000)
    update_node(session, node, inventories={ResourceClass.VCPU: held})


def path(session: Session, system_id: str) -> list[tuple[S | None, S | None]]:
    return [(row.from_state, row.to_state) for row in history(session, system_id)]


def test_register_then_request_places_on_the_own_city_node_with_a_reservation(
    session: Session,
) -> None:
    register(session, system("st-tax", "shantou"))
    outcome = apply_cause(
        session, "st-tax", RequestMigration(wave=2, requested_by="ops.li"), context=INTAKE
    )
    assert isinstance(outcome, Transition)
    assert (outcome.from_state, outcome.to_state) == (S.REGISTERED, S.QUEUED)
    row = get_system(session, "st-tax")
    assert row is not None
    assert (row.state, row.node, row.wave, row.requested_by) == (S.PLACED, "shantou", 2, "ops.li")
    held = get_allocation(session, "st-tax")
    assert held is not None
    assert (held.node_id, held.amount) == (
        "shantou",
        {"VCPU": 16, "MEMORY_GB": 64, "STORAGE_GB": 2000},
    )
    assert path(session, "st-tax") == [
        (None, S.REGISTERED),
        (S.REGISTERED, S.QUEUED),
        (S.QUEUED, S.PLACED),
    ]
    placed = history(session, "st-tax")[-1]
    assert (placed.actor, placed.event_id, placed.node, placed.reason) == (
        "placement",
        "evt-1",
        "shantou",
        "placed on node shantou (own city node)",
    )
    assert history(session, "st-tax")[1].actor == "ops.li"
    assert [row.id for row in pending_status(session, 10)] == [
        row.id for row in history(session, "st-tax")
    ]


def test_a_target_that_cannot_take_the_system_is_refused_with_the_reason(
    session: Session,
) -> None:
    shrink(session, "shanwei", 10)
    register(session, system("st-gis", "shantou", vcpu=16))
    apply_cause(
        session,
        "st-gis",
        RequestMigration(target_node="shanwei", requested_by="ops"),
        context=INTAKE,
    )
    row = get_system(session, "st-gis")
    assert row is not None
    assert (row.state, row.node, row.target_node) == (S.ROLLED_BACK, None, "shanwei")
    expected = (
        "placement failed: node shanwei lacks vCPU by 6 (node shanwei was named with --to, "
        "and a retry names it again: migrate with another --to, or none); "
        "nothing was reserved and the source keeps serving"
    )
    assert row.last_error == expected
    assert history(session, "st-gis")[-1].reason == expected
    assert get_allocation(session, "st-gis") is None


def test_a_placement_failure_rolls_back_and_reserves_nothing(session: Session) -> None:
    for node in load_inventory().nodes:
        update_node(session, node, status=NodeStatus.DRAINING)
    register(session, system("st-oa"))
    apply_cause(session, "st-oa", RequestMigration(requested_by="ops"), context=INTAKE)
    row = get_system(session, "st-oa")
    assert row is not None
    assert row.state is S.ROLLED_BACK
    assert row.last_error is not None
    assert "node shantou is draining" in row.last_error
    assert get_allocation(session, "st-oa") is None
    assert all(sum(usage.used.values()) == 0 for usage in node_usage(session))
    assert path(session, "st-oa")[-1] == (S.QUEUED, S.ROLLED_BACK)


def test_cancelling_a_placed_system_releases_its_capacity(session: Session) -> None:
    register(session, system("st-hr"))
    apply_cause(session, "st-hr", RequestMigration(requested_by="ops"), context=INTAKE)
    outcome = apply_cause(session, "st-hr", RequestCancel(requested_by="ops.wang"), context=INTAKE)
    assert isinstance(outcome, Transition)
    row = get_system(session, "st-hr")
    assert row is not None
    assert (row.state, row.node, row.requested_by) == (S.CANCELLED, None, "ops.wang")
    assert get_allocation(session, "st-hr") is None
    shantou = get_node(session, "shantou")
    assert shantou is not None
    assert dict(shantou.used) == {"VCPU": 0, "MEMORY_GB": 0, "STORAGE_GB": 0}


def test_a_refusal_is_audited_and_waits_in_the_outbox(session: Session) -> None:
    register(session, system("st-edu"))
    before = len(pending_status(session, 100))
    outcome = apply_cause(session, "st-edu", RequestRetry(requested_by="ops.zhao"), context=INTAKE)
    assert isinstance(outcome, Refusal)
    assert outcome.reason == (
        "cannot retry: system is registered, only a rolled_back or failed system can be retried"
    )
    refused = history(session, "st-edu")[-1]
    assert (refused.refused, refused.from_state, refused.to_state, refused.cause) == (
        True,
        S.REGISTERED,
        None,
        "retry",
    )
    pending = pending_status(session, 100)
    assert len(pending) == before + 1
    assert pending[-1] == refused
    event = notice_for(refused)
    assert isinstance(event, SystemRequestRefusedEvent)
    assert (event.data.request, event.data.state, event.data.requested_by) == (
        "retry",
        "registered",
        "ops.zhao",
    )
    assert (event.id, event.data.caused_by) == (f"transition-{refused.id}", "evt-1")


def test_a_status_notice_carries_node_phase_requester_and_cause(session: Session) -> None:
    register(session, system("st-ws"))
    apply_cause(session, "st-ws", RequestMigration(requested_by="ops.li"), context=INTAKE)
    placed = history(session, "st-ws")[-1]
    event = notice_for(placed)
    assert isinstance(event, SystemStatusChangedEvent)
    data = event.data
    assert (data.from_state, data.to_state, data.node, data.phase) == (
        "queued",
        "placed",
        "shantou",
        None,
    )
    assert (data.requested_by, data.caused_by, event.source) == (
        "ops.li",
        "evt-1",
        "urn:govmig:orchestrator",
    )


def test_a_dependency_group_is_placed_together_even_across_cities(session: Session) -> None:
    register(
        session,
        system("st-core", "shantou"),
        system("cz-portal", "chaozhou", depends_on=("st-core",)),
        system("jy-app", "jieyang", depends_on=("cz-portal",)),
        system("jy-alone", "jieyang"),
    )
    for system_id in ("st-core", "cz-portal", "jy-app", "jy-alone"):
        apply_cause(session, system_id, RequestMigration(requested_by="ops"), context=INTAKE)
    nodes = {
        system_id: row.node
        for system_id in ("st-core", "cz-portal", "jy-app", "jy-alone")
        if (row := get_system(session, system_id)) is not None
    }
    assert nodes == {
        "st-core": "shantou",
        "cz-portal": "shantou",
        "jy-app": "shantou",
        "jy-alone": "jieyang",
    }
    assert history(session, "jy-app")[-1].reason == (
        "placed on node shantou (co-located with its dependency group)"
    )


def test_a_batch_reads_and_writes_each_system_once(session: Session) -> None:
    lifecycle = Lifecycle(session)
    one = system("st-one")
    lifecycle.apply("st-one", Register(), context=INTAKE, record=one)
    lifecycle.apply("st-one", RequestMigration(requested_by="ops"), context=INTAKE)
    lifecycle.flush()
    row = get_system(session, "st-one")
    assert row is not None
    # Inserted in its first state, then saved once as placed: version 2, not 4.
    assert (row.state, row.version) == (S.PLACED, 2)
    assert len(history(session, "st-one")) == 3


def test_a_stale_ledger_copy_is_re_read_and_the_system_placed_elsewhere(
    session: Session,
) -> None:
    shrink(session, "shantou", 20)
    register(session, system("st-a", vcpu=4), system("st-b", vcpu=16), system("other", vcpu=16))
    lifecycle = Lifecycle(session)
    lifecycle.apply(
        "st-a", RequestMigration(requested_by="ops"), context=INTAKE
    )  # reads the ledger
    # Another instance takes the rest of shantou behind this transaction's copy.
    assert isinstance(reserve(session, "other", "shantou", {"VCPU": 16}), Reserved)
    lifecycle.apply("st-b", RequestMigration(requested_by="ops"), context=INTAKE)
    lifecycle.flush()
    row = get_system(session, "st-b")
    assert row is not None
    assert row.state is S.PLACED
    assert row.node not in (None, "shantou")
    assert path(session, "st-b") == [
        (None, S.REGISTERED),
        (S.REGISTERED, S.QUEUED),
        (S.QUEUED, S.PLACED),
    ]


def test_losing_every_race_fails_placement_with_the_shortfall(session: Session) -> None:
    shrink(session, "shantou", 20)
    register(session, system("st-a", vcpu=4), system("st-b", vcpu=16), system("other", vcpu=16))
    lifecycle = Lifecycle(session, placement=PlacementContext(max_attempts=1))
    lifecycle.apply("st-a", RequestMigration(requested_by="ops"), context=INTAKE)
    reserve(session, "other", "shantou", {"VCPU": 16})
    lifecycle.apply("st-b", RequestMigration(requested_by="ops"), context=INTAKE)
    lifecycle.flush()
    row = get_system(session, "st-b")
    assert row is not None
    assert row.state is S.ROLLED_BACK
    assert row.last_error == (
        "placement failed: node shantou lacks vCPU by 16; "
        "nothing was reserved and the source keeps serving"
    )


def test_a_place_on_a_full_node_becomes_a_placement_failure(session: Session) -> None:
    shrink(session, "yunfu", 8)
    register(session, system("yf-x", "yunfu", vcpu=16))
    row = get_system(session, "yf-x")
    assert row is not None
    save_system(session, replace(row, state=S.QUEUED))  # queued, its node chosen elsewhere
    outcome = apply_cause(session, "yf-x", Place("yunfu"), context=INTAKE)
    assert isinstance(outcome, Transition)
    assert outcome.to_state is S.ROLLED_BACK
    assert history(session, "yf-x")[-1].reason == (
        "placement failed: node yunfu lacks vCPU by 8; "
        "nothing was reserved and the source keeps serving"
    )
    assert get_allocation(session, "yf-x") is None


def test_re_registering_a_placed_system_is_refused(session: Session) -> None:
    register(session, system("st-doc"))
    apply_cause(session, "st-doc", RequestMigration(requested_by="ops"), context=INTAKE)
    bigger = system("st-doc", vcpu=64)
    outcome = apply_cause(session, "st-doc", Register(), context=INTAKE, record=bigger)
    assert isinstance(outcome, Refusal)
    row = get_system(session, "st-doc")
    assert row is not None
    assert row.record["vcpu"] == 16


def test_re_registering_an_idle_system_updates_its_record_without_announcing(
    session: Session,
) -> None:
    register(session, system("st-kb", vcpu=8))
    outcome = apply_cause(
        session, "st-kb", Register(), context=INTAKE, record=system("st-kb", vcpu=32)
    )
    assert isinstance(outcome, Transition)
    row = get_system(session, "st-kb")
    assert row is not None
    assert (row.state, row.record["vcpu"], row.version) == (S.REGISTERED, 32, 2)
    first, again = history(session, "st-kb")
    assert (again.from_state, again.to_state, again.reason) == (
        S.REGISTERED,
        S.REGISTERED,
        "record updated while registered",
    )
    assert announces(first)
    assert not announces(again)


def test_an_effect_the_engine_does_not_know_is_an_error_not_dropped(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(session, system("shantou-effects"))

    @dataclass(frozen=True)
    class Teleport:
        """An effect the state machine might one day ask for."""

    def teaching_nothing(state: S | None, cause: Cause) -> Transition:
        return Transition(state, S.QUEUED, "moved", (Teleport(),))  # type: ignore[arg-type]

    monkeypatch.setattr(lifecycle_module, "apply_transition", teaching_nothing)
    with pytest.raises(AssertionError, match="Teleport"):
        apply_cause(session, "shantou-effects", RequestMigration(), context=INTAKE)
