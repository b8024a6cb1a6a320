"""Placing a member of a dependency group: the one rule ``govmig plan`` and ``govmig run`` share.

``govmig plan`` places every group of a catalogue in a dry run; the engine
places one queued system at a time, inside a transaction. Both ask
``place_group`` with a group's members that hold no node yet (the one being
placed first) and the nodes of the members that do, so both give one answer:

* when no member of the group is placed yet, the first one goes to a node
  that can hold every not-yet-placed member, so the ones after it can follow;
  only when no node can hold them all is the group split, each member then
  placed on its own (still preferring its group's nodes);
* when a member is already placed, the others follow it there if they fit.

Pure: the caller's ``nodes`` are not changed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from orchestrator.capacity.ledger import NodeUsage
from orchestrator.capacity.placement import (
    Placement,
    PlacementOutcome,
    PlacementPolicy,
    SystemRequest,
    place_together,
    with_added,
)

_NONE_HELD: Mapping[str, str] = MappingProxyType({})


def place_group(
    members: Sequence[SystemRequest],
    nodes: Mapping[str, NodeUsage],
    policy: PlacementPolicy,
    *,
    held: Mapping[str, str] = _NONE_HELD,
) -> list[PlacementOutcome]:
    """Where each of ``members`` goes, in order; ``held`` maps placed group members to nodes."""
    note = None
    if not held and len(members) > 1:
        together = place_together(members, nodes, policy)
        if isinstance(together[0], Placement):
            return together
        note = f"group of {len(members)} split: no node fits it whole"
    return _one_by_one(members, nodes, policy, dict(held), note)


def group_nodes(held: Mapping[str, str]) -> list[str]:
    """The nodes holding a group's placed members, most members first, then by id."""
    counts = Counter(held.values())
    return [node for node, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


def _one_by_one(
    members: Sequence[SystemRequest],
    nodes: Mapping[str, NodeUsage],
    policy: PlacementPolicy,
    held: dict[str, str],
    note: str | None,
) -> list[PlacementOutcome]:
    usage = dict(nodes)  # members after the first must see the room the first took
    outcomes: list[PlacementOutcome] = []
    for member in members:
        outcome = place_together([member], usage, policy, prefer=group_nodes(held))[0]
        if isinstance(outcome, Placement):
            usage[outcome.node_id] = with_added(usage[outcome.node_id], member.amounts)
            held[member.id] = outcome.node_id
            if note is not None:
                outcome = Placement(member.id, outcome.node_id, f"{outcome.reason} ({note})")
        outcomes.append(outcome)
    return outcomes
