"""``govmig plan`` and ``govmig run`` put every system on the same node.

The plan is the pure dry run over the ledger's usage; the run is the engine's
``Lifecycle`` placing each requested system on a real (SQLite) store, one at
a time. Both place dependency groups with ``place_group``, so they agree,
including where the old per-member rule of the run split a group.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from orchestrator.capacity import (
    Placement,
    PlacementPolicy,
    ResourceClass,
    ResourceInventory,
    SystemRequest,
    plan_placements,
)
from orchestrator.engine import CauseContext, Lifecycle
from orchestrator.inventory import load_inventory
from orchestrator.inventory.loader import DEFAULT_CATALOGUE, load_systems
from orchestrator.inventory.models import BusinessSystem
from orchestrator.migrations import Register, RequestMigration
from orchestrator.store import Session, get_systems, node_usage, open_store, seed_nodes, update_node
from tests.fixtures.systems import business_system

INTAKE = CauseContext(component="intake", event_source="/test", event_id="evt-1")


def system(
    system_id: str, city: str, vcpu: int, depends_on: tuple[str, ...] = ()
) -> BusinessSystem:
    return business_system(system_id, city, vcpu=vcpu, depends_on=depends_on)


def shrink(session: Session, node: str, vcpu: int) -> None:
    """Leave ``node`` with ``vcpu`` vCPU of capacity (and plenty of the rest)."""
    held = ResourceInventory(total=vcpu + 1000, reserved=1000)
    update_node(session, node, inventories={ResourceClass.VCPU: held})


def group_outgrows_its_city(session: Session) -> list[BusinessSystem]:
    # shantou fits st-a alone but not with st-b: the old rule put st-a there, st-b elsewhere.
    shrink(session, "shantou", 20)
    return [system("st-a", "shantou", 16), system("st-b", "shantou", 16, ("st-a",))]


def group_across_cities(session: Session) -> list[BusinessSystem]:
    shrink(session, "chaozhou", 40)
    return [
        system("cz-core", "chaozhou", 16),
        system("jy-app", "jieyang", 16, ("cz-core",)),
        system("cz-lone", "chaozhou", 16),
        system("cz-web", "chaozhou", 16, ("jy-app",)),
    ]


def sample_catalogue(session: Session) -> list[BusinessSystem]:
    chosen = load_systems(DEFAULT_CATALOGUE, load_inventory())[:240]
    ids = {one.id for one in chosen}
    for node_id, vcpu in (("huizhou", 200), ("shantou", 150), ("meizhou", 120)):
        shrink(session, node_id, vcpu)  # their own systems outgrow them: groups compete
    return [
        one.model_copy(update={"depends_on": tuple(d for d in one.depends_on if d in ids)})
        for one in chosen
    ]


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    with open_store(f"sqlite:///{tmp_path / 'govmig.db'}") as store:
        with store.transaction() as opened:
            seed_nodes(opened, load_inventory().nodes.values())
        with store.transaction() as opened:
            yield opened


def planned(session: Session, systems: list[BusinessSystem]) -> dict[str, str | None]:
    usage = {found.node.node_id: found for found in node_usage(session)}
    requests = [SystemRequest.from_model(one) for one in systems]
    result = plan_placements(requests, usage, PlacementPolicy())
    return {
        system_id: outcome.node_id if isinstance(outcome, Placement) else None
        for system_id, outcome in result.outcomes.items()
    }


def run(session: Session, systems: list[BusinessSystem]) -> dict[str, str | None]:
    lifecycle = Lifecycle(session)
    for one in systems:  # the catalogue is registered before any migration is asked for
        lifecycle.apply(one.id, Register(), context=INTAKE, record=one)
    for one in systems:
        lifecycle.apply(one.id, RequestMigration(requested_by="ops"), context=INTAKE)
    lifecycle.flush()
    rows = get_systems(session, [one.id for one in systems])
    return {one.id: rows[one.id].node for one in systems}


@pytest.mark.parametrize(
    "scenario",
    [group_outgrows_its_city, group_across_cities, sample_catalogue],
    ids=["group-outgrows-its-city", "group-across-cities", "sample-catalogue"],
)
def test_plan_and_run_agree(
    session: Session, scenario: Callable[[Session], list[BusinessSystem]]
) -> None:
    systems = scenario(session)
    expected = planned(session, systems)
    assert run(session, systems) == expected


def test_a_group_too_big_for_its_city_node_is_not_split(session: Session) -> None:
    systems = group_outgrows_its_city(session)
    nodes = run(session, systems)
    assert nodes["st-a"] == nodes["st-b"]
    assert nodes["st-a"] not in (None, "shantou")
