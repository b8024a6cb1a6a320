"""The phase worker on a connected PRD platform: its target comes from the connect event."""

from __future__ import annotations

from orchestrator.capacity import ResourceClass, ResourceInventory
from orchestrator.engine import apply_cause
from orchestrator.execution import NodeTarget
from orchestrator.migrations import Phase, Register, RequestMigration
from orchestrator.store import Store, connect_platform, get_system
from orchestrator.worker.claims import Claimed, claim_batch, start_placed
from orchestrator.worker.ports import NoProvider
from orchestrator.worker.scheduling import Batch, Limits
from tests.fixtures.systems import business_system
from tests.unit.test_worker_store import CONTEXT, NODES, NOW

PLATFORM: dict[str, ResourceInventory] = {
    ResourceClass.VCPU: ResourceInventory(1_000),
    ResourceClass.MEMORY_GB: ResourceInventory(10_000),
    ResourceClass.STORAGE_GB: ResourceInventory(100_000),
}


def placed_on_guangzhou(store: Store, ipv6_prefix: str | None) -> list[str]:
    systems = [business_system(f"gz-{n}", "guangzhou") for n in (1, 2)]
    with store.transaction() as session:
        connect_platform(session, "guangzhou", city="guangzhou", status=None,
                         inventories=PLATFORM, hosts=None, ipv6_prefix=ipv6_prefix)  # fmt: skip
        for system in systems:
            apply_cause(session, system.id, Register(), context=CONTEXT, record=system)
            apply_cause(session, system.id, RequestMigration(requested_by="t"), context=CONTEXT)
            row = get_system(session, system.id)
            assert row is not None
            assert row.node == "guangzhou"
        start_placed(session, Limits(), now=NOW)
    return [system.id for system in systems]


def claimed(store: Store, ids: list[str]) -> Claimed:
    with store.transaction() as session:
        batch = Batch(Phase.PREFLIGHT, tuple(ids), ("guangzhou",))
        claim = claim_batch(session, batch, owner="a", now=NOW, ttl_s=30, nodes=NODES,
                            precheck=NoProvider().precheck)  # fmt: skip
    assert claim is not None
    return claim


def test_a_platform_with_a_prefix_runs_phases_in_it(store: Store) -> None:
    ids = placed_on_guangzhou(store, "2001:db8:100::/48")
    claim = claimed(store, ids)
    ((node, _systems),) = claim.work
    assert node == NodeTarget(node_id="guangzhou", ipv6_prefix="2001:db8:100::/48")
    assert claim.refused == {}
    assert set(claim.ipv6.values()) == {"2001:db8:100::1", "2001:db8:100::2"}


def test_a_platform_without_a_prefix_refuses_with_the_reason(store: Store) -> None:
    ids = placed_on_guangzhou(store, None)
    claim = claimed(store, ids)
    assert claim.work == ()
    assert set(claim.refused) == set(ids)
    assert "node guangzhou has no IPv6 prefix" in claim.refused[ids[0]]
