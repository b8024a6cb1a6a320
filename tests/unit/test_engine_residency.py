"""The engine holds placement to the residency rules: a forbidden ``--to`` from any producer is
refused with the rule's words and reserves nothing; a free choice lands on an allowed node."""

from __future__ import annotations

import pytest

from orchestrator.engine import CauseContext, PlacementContext, apply_cause
from orchestrator.inventory import load_inventory
from orchestrator.inventory.loader import DEFAULT_RESIDENCY
from orchestrator.inventory.models import BusinessSystem
from orchestrator.inventory.residency import load_residency
from orchestrator.migrations import Register, RequestMigration, SystemState
from orchestrator.store import (
    Session,
    Store,
    get_allocation,
    get_system,
    history,
    node_usage,
    seed_nodes,
)
from tests.fixtures.systems import business_system

INVENTORY = load_inventory()
PLACEMENT = PlacementContext(residency=load_residency(DEFAULT_RESIDENCY, INVENTORY))
INTAKE = CauseContext(component="intake", event_source="/test", event_id="evt-1")


@pytest.fixture(autouse=True)
def city_nodes(store: Store) -> None:
    with store.transaction() as session:
        seed_nodes(session, INVENTORY.nodes.values())


def registered(session: Session, system_id: str, city: str, data_class: str) -> None:
    fields = business_system(system_id, city).model_dump()
    record = BusinessSystem.model_validate({**fields, "data_class": data_class})
    apply_cause(session, system_id, Register(), context=INTAKE, record=record)


def migrate(session: Session, system_id: str, target: str | None = None) -> None:
    cause = RequestMigration(target_node=target, requested_by="ops.li")
    apply_cause(session, system_id, cause, context=INTAKE, placement=PLACEMENT)


def test_a_target_the_rule_forbids_is_refused_with_the_rule_and_nothing_reserved(
    session: Session,
) -> None:
    registered(session, "shantou-psb-001", "shantou", "personal")
    migrate(session, "shantou-psb-001", "heyuan")
    row = get_system(session, "shantou-psb-001")
    assert row is not None
    expected = (
        "placement failed: residency rule 'personal' keeps shantou-psb-001 in shantou; node "
        "heyuan is not allowed (node heyuan was named with --to, and a retry names it again: "
        "migrate with another --to, or none); nothing was reserved and the source keeps serving"
    )
    assert (row.state, row.node, row.last_error) == (SystemState.ROLLED_BACK, None, expected)
    assert history(session, "shantou-psb-001")[-1].reason == expected
    assert get_allocation(session, "shantou-psb-001") is None
    assert all(sum(usage.used.values()) == 0 for usage in node_usage(session))


def test_a_free_choice_lands_on_an_allowed_node_and_the_audit_names_the_rule(
    session: Session,
) -> None:
    registered(session, "meizhou-ga-001", "meizhou", "eastern")  # meizhou is not eastern
    migrate(session, "meizhou-ga-001")
    row = get_system(session, "meizhou-ga-001")
    assert row is not None
    assert row.state is SystemState.PLACED
    assert row.node in {"shantou", "chaozhou", "jieyang", "shanwei"}
    assert history(session, "meizhou-ga-001")[-1].reason == (
        f"placed on node {row.node} (spread: best fit, within residency rule 'eastern')"
    )
