"""The seeding helper reaches every state a system rests in, by histories that chain."""

from __future__ import annotations

import pytest

from orchestrator.inventory import DEFAULT_CATALOGUE, load_inventory, load_systems
from orchestrator.migrations import SystemState, holds_capacity
from orchestrator.store import Session, get_allocation, history, seed_nodes
from tests.fixtures.seeding import causes_to, drive, drive_on

RESTING = [state for state in SystemState if state is not SystemState.QUEUED]


@pytest.fixture
def seeded(session: Session) -> Session:
    """The 14 city nodes, in the test's transaction."""
    seed_nodes(session, load_inventory().nodes.values())
    return session


@pytest.mark.parametrize("state", RESTING, ids=str)
def test_drive_reaches_the_state_by_a_history_that_chains(
    seeded: Session, state: SystemState
) -> None:
    system = load_systems(DEFAULT_CATALOGUE, load_inventory())[0]
    row = drive(seeded, system, state, node="shantou", wave=1)
    assert row.state is state
    audit = history(seeded, system.id)
    assert all(entry.to_state is not None for entry in audit), "nothing was refused"
    assert [entry.from_state for entry in audit] == [None, *(e.to_state for e in audit[:-1])]
    assert audit[-1].to_state is state
    held = get_allocation(seeded, system.id)
    assert (held is not None) == holds_capacity(state)
    assert row.node == ("shantou" if holds_capacity(state) else None)


def test_drive_on_takes_a_seeded_system_further(seeded: Session) -> None:
    system = load_systems(DEFAULT_CATALOGUE, load_inventory())[0]
    drive(seeded, system, SystemState.PLACED, node="shantou", wave=1)
    row = drive_on(seeded, system.id, SystemState.COMPLETED)
    assert (row.state, row.node, row.wave) == (SystemState.COMPLETED, "shantou", 1)
    assert len(history(seeded, system.id)) == len(causes_to(SystemState.COMPLETED)) + 1  # + place


def test_queued_cannot_be_seeded() -> None:
    with pytest.raises(ValueError, match="does not rest in queued"):
        causes_to(SystemState.QUEUED)
