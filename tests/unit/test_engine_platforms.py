"""PRD platforms through the intake handler on SQLite: connect, place, refuse, drain, disconnect.

The 14 city nodes' totals must stay the plan's exactly whatever the platforms do.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from orchestrator.capacity import NodeKind, NodeStatus, NodeUsage, Resources
from orchestrator.engine.intake import IntakeHandler
from orchestrator.events import KnownIds
from orchestrator.events.data import (
    MigrationCancelRequested,
    MigrationRequested,
    NodeReserved,
    NodeState,
    NodeTotals,
    PlatformConnected,
    PlatformDisconnected,
)
from orchestrator.events.envelope import EventData
from orchestrator.inventory import load_inventory
from orchestrator.inventory.models import BusinessSystem, SourceLocation
from orchestrator.inventory.plan import PLAN_MEMORY_GB, PLAN_STORAGE_GB, PLAN_VCPU
from orchestrator.migrations import SystemState
from orchestrator.reactor.handler import Outcome, Processed, Rejected
from orchestrator.store import (
    PlatformTarget,
    Store,
    get_node,
    get_system,
    node_usage,
    platform_targets,
    seed_nodes,
)
from tests.unit.test_engine_intake import delivery

INVENTORY = load_inventory()
KNOWN = KnownIds.of(INVENTORY)
PREFIX = "2001:db8:100::/48"
GUANGZHOU = NodeTotals(vcpu=8_000, memory_gb=24_000, storage_gb=800_000)


def system(system_id: str, city: str) -> BusinessSystem:
    return BusinessSystem(
        id=system_id,
        name="政务服务系统",
        city=city,
        department="政务服务数据管理局",
        vcpu=8,
        memory_gb=32,
        storage_gb=500,
        source=SourceLocation(city=city, site="机房A", host=f"{system_id}.gd.gov.cn"),
    )


def migrate(system_id: str) -> MigrationRequested:
    return MigrationRequested(system_id=system_id, requested_by="ops")


def connect(**changes: object) -> PlatformConnected:
    fields: dict[str, object] = {
        "platform_id": "guangzhou",
        "capacity": GUANGZHOU,
        "ipv6_prefix": PREFIX,
    } | changes
    return PlatformConnected.model_validate(fields)


def rejected(outcome: Outcome) -> tuple[str, str]:
    assert isinstance(outcome, Rejected), outcome
    return outcome.rejection.code, outcome.rejection.message


@pytest.fixture
def handler(store: Store) -> IntakeHandler:
    """The intake handler over a store holding the 14 city nodes."""
    with store.transaction() as session:
        seed_nodes(session, INVENTORY.nodes.values())
    return IntakeHandler(store, known=KNOWN)


def assert_node_totals_are_the_plans(store: Store) -> None:
    with store.session() as session:
        nodes = node_usage(session)
    assert len(nodes) == 14
    assert all(usage.node.kind is NodeKind.NODE for usage in nodes)
    totals = sum((Resources.from_amounts(_totals(u)) for u in nodes), Resources())
    assert totals == Resources(PLAN_VCPU, PLAN_MEMORY_GB, PLAN_STORAGE_GB)


def _totals(usage: NodeUsage) -> dict[str, int]:
    return {resource: inv.total for resource, inv in usage.node.inventories.items()}


def handle(handler: IntakeHandler, *data: EventData) -> Sequence[Outcome]:
    return handler.handle([delivery(item) for item in data])


def test_a_connected_platform_takes_its_own_citys_systems_only(
    store: Store, handler: IntakeHandler
) -> None:
    outcomes = handle(
        handler,
        connect(hosts=("gz-1", "gz-2")),
        system("gz-tax", "guangzhou"),
        migrate("gz-tax"),
        system("mz-gjj", "meizhou"),
        migrate("mz-gjj"),
    )
    assert all(isinstance(outcome, Processed) for outcome in outcomes)
    with store.session() as session:
        gz, mz = get_system(session, "gz-tax"), get_system(session, "mz-gjj")
        assert gz is not None
        assert mz is not None
        assert (gz.state, gz.node) == (SystemState.PLACED, "guangzhou")
        assert mz.node == "meizhou"
        platform = get_node(session, "guangzhou")
        assert platform is not None
        assert platform.node.kind is NodeKind.PLATFORM
        assert list(platform.allocations) == ["gz-tax"]
        assert platform_targets(session) == {"guangzhou": PlatformTarget(("gz-1", "gz-2"), PREFIX)}
    assert_node_totals_are_the_plans(store)


def test_without_a_connected_platform_a_prd_citys_system_goes_to_a_node(
    store: Store, handler: IntakeHandler
) -> None:
    handle(handler, system("gz-tax", "guangzhou"), migrate("gz-tax"))
    with store.session() as session:
        row = get_system(session, "gz-tax")
        assert row is not None
        assert row.node in INVENTORY.nodes


def test_disconnect_is_refused_while_in_use_then_drain_release_and_disconnect(
    store: Store, handler: IntakeHandler
) -> None:
    handle(handler, connect(), system("gz-a", "guangzhou"), migrate("gz-a"))
    (refusal,) = handle(handler, PlatformDisconnected(platform_id="guangzhou"))
    code, message = rejected(refusal)
    assert code == "platform_in_use"
    assert message.startswith("platform guangzhou holds 1 system (gz-a): drain it")
    (moved,) = handle(handler, connect(capacity=None, ipv6_prefix="2001:db8:200::/48"))
    assert rejected(moved) == (
        "platform_in_use",
        "platform guangzhou keeps IPv6 prefix 2001:db8:100::/48 while it holds 1 system (gz-a)",
    )
    # Drained: it keeps gz-a and takes nothing new.
    handle(
        handler,
        connect(capacity=None, state=NodeState.DRAINING),
        system("gz-b", "guangzhou"),
        migrate("gz-b"),
    )
    with store.session() as session:
        platform, b = get_node(session, "guangzhou"), get_system(session, "gz-b")
        assert platform is not None
        assert b is not None
        assert platform.node.status is NodeStatus.DRAINING
        assert list(platform.allocations) == ["gz-a"]
        assert b.node != "guangzhou"
    handle(handler, MigrationCancelRequested(system_id="gz-a", requested_by="ops"))
    (done,) = handle(handler, PlatformDisconnected(platform_id="guangzhou"))
    assert isinstance(done, Processed)
    with store.session() as session:
        assert get_node(session, "guangzhou") is None
        a = get_system(session, "gz-a")
        assert a is not None
        assert a.state is SystemState.CANCELLED
    assert_node_totals_are_the_plans(store)


def test_a_reconnect_changes_only_what_it_carries(store: Store, handler: IntakeHandler) -> None:
    handle(handler, connect(reserved=NodeReserved(vcpu=80, memory_gb=0, storage_gb=0)))
    handle(handler, connect(capacity=None, allocation_ratio_vcpu=2.0))
    with store.session() as session:
        platform = get_node(session, "guangzhou")
    assert platform is not None
    assert platform.node.capacities["VCPU"] == (8_000 - 80) * 2
    assert platform.generation == 1


@pytest.mark.parametrize(
    ("data", "code", "message"),
    [
        (
            connect(platform_id="shantou"),
            "unknown_platform",
            "'shantou' is one of the 14 city nodes, not a PRD platform",
        ),
        (
            connect(platform_id="atlantis"),
            "unknown_platform",
            "platform 'atlantis' is not one of the PRD platforms",
        ),
        (
            PlatformDisconnected(platform_id="shantou"),
            "unknown_platform",
            "'shantou' is one of the 14 city nodes, not a PRD platform",
        ),
        (
            connect(capacity=None),
            "platform_not_connected",
            "platform guangzhou is not connected yet: its first connect must carry capacity "
            "and ipv6_prefix",
        ),
        (
            connect(ipv6_prefix=None),
            "platform_not_connected",
            "platform guangzhou is not connected yet: its first connect must carry capacity "
            "and ipv6_prefix",
        ),
    ],
    ids=[
        "node-as-platform",
        "unknown",
        "disconnect-a-node",
        "first-without-capacity",
        "first-without-prefix",
    ],
)
def test_bad_platform_events_are_rejected_with_their_reason(
    store: Store, handler: IntakeHandler, data: EventData, code: str, message: str
) -> None:
    (outcome,) = handle(handler, data)
    assert rejected(outcome) == (code, message)
    assert_node_totals_are_the_plans(store)


def test_disconnecting_a_platform_not_connected_changes_nothing(
    store: Store, handler: IntakeHandler
) -> None:
    (outcome,) = handle(handler, PlatformDisconnected(platform_id="foshan"))
    assert isinstance(outcome, Processed)
    with store.session() as session:
        assert node_usage(session, NodeKind.PLATFORM) == []
