"""The placement dry run behind ``govmig plan``: many systems, in order, on a local copy.

Pure: it reserves nothing in the store. It walks the dependency groups in
input order and places each with ``place_group``, the rule the engine places
with too: on one node when one node fits the group whole, otherwise member by
member (each still preferring the nodes its group already uses), and reports
the group as split. Systems with an explicit target are placed on it first,
and the rest of their group follows them there if it fits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from orchestrator.capacity.group_placement import place_group
from orchestrator.capacity.groups import dependency_groups
from orchestrator.capacity.ledger import NodeUsage, allocate
from orchestrator.capacity.placement import (
    Placement,
    PlacementOutcome,
    PlacementPolicy,
    SystemRequest,
    Unplaceable,
    place_on_target,
)
from orchestrator.errors import PermanentError


@dataclass(frozen=True, slots=True)
class PlanResult:
    """Each system's node or reason (input order), and each node's usage afterwards."""

    outcomes: Mapping[str, PlacementOutcome]
    usage: Mapping[str, NodeUsage]
    split_groups: tuple[tuple[str, ...], ...] = ()

    @property
    def placements(self) -> list[Placement]:
        """The systems that found a node."""
        return [outcome for outcome in self.outcomes.values() if isinstance(outcome, Placement)]

    @property
    def unplaceable(self) -> list[Unplaceable]:
        """The systems no node can take, with the reason."""
        return [outcome for outcome in self.outcomes.values() if isinstance(outcome, Unplaceable)]


def plan_placements(
    systems: Sequence[SystemRequest],
    nodes: Mapping[str, NodeUsage],
    policy: PlacementPolicy,
    *,
    targets: Mapping[str, str] | None = None,
) -> PlanResult:
    """Place ``systems`` in order on a copy of ``nodes``; ``targets`` maps ids to ``--to`` nodes.

    A system that already holds an allocation in ``nodes`` is not placed again
    (and has no outcome), but the rest of its group follows it, as in ``run``.
    """
    twice = [key for key, count in Counter(system.id for system in systems).items() if count > 1]
    if twice:
        raise PermanentError(f"systems listed more than once in the plan: {', '.join(twice)}")
    by_id = {system.id: system for system in systems}
    held = {system_id: node for node, usage in nodes.items() for system_id in usage.allocations}
    planner = _Planner(dict(nodes), policy, targets or {}, held)
    for group in dependency_groups(systems):
        planner.place_group([by_id[system_id] for system_id in group])
    outcomes = {s.id: planner.outcomes[s.id] for s in systems if s.id in planner.outcomes}
    return PlanResult(outcomes, planner.usage, tuple(planner.split))


@dataclass
class _Planner:
    """The running state of one dry run; lives only inside ``plan_placements``."""

    usage: dict[str, NodeUsage]
    policy: PlacementPolicy
    targets: Mapping[str, str]
    held: dict[str, str]  # system id -> node, for every system placed so far
    outcomes: dict[str, PlacementOutcome] = field(default_factory=dict)
    split: list[tuple[str, ...]] = field(default_factory=list)

    def place_group(self, members: list[SystemRequest]) -> None:
        waiting = [member for member in members if member.id not in self.held]
        for member in waiting:
            if member.id in self.targets:
                self._record(member, place_on_target(member, self.usage, self.targets[member.id]))
        rest = [member for member in waiting if member.id not in self.targets]
        placed = {m.id: self.held[m.id] for m in members if m.id in self.held}
        for member, outcome in zip(
            rest, place_group(rest, self.usage, self.policy, held=placed), strict=True
        ):
            self._record(member, outcome)
        if len({self.held[m.id] for m in members if m.id in self.held}) > 1:
            self.split.append(tuple(member.id for member in members))

    def _record(self, system: SystemRequest, outcome: PlacementOutcome) -> None:
        self.outcomes[system.id] = outcome
        if isinstance(outcome, Placement):
            node = outcome.node_id
            self.usage[node] = allocate(self.usage[node], system.id, system.amounts)
            self.held[system.id] = node
