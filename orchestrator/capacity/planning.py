"""The placement dry run behind ``govmig plan``: many systems, in order, on a local copy.

Pure: it reserves nothing in the store. It walks the dependency groups in
input order, places each group on one node when one node fits it whole,
otherwise places its members one by one (each still preferring the nodes its
group already uses) and reports the group as split. Systems with an explicit
target are placed on it first, and the rest of their group follows them there
if it fits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from orchestrator.capacity.groups import dependency_groups
from orchestrator.capacity.ledger import NodeUsage, allocate
from orchestrator.capacity.placement import (
    Placement,
    PlacementOutcome,
    PlacementPolicy,
    SystemRequest,
    Unplaceable,
    place_on_target,
    place_system,
    place_together,
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
    """Place ``systems`` in order on a copy of ``nodes``; ``targets`` maps ids to ``--to`` nodes."""
    twice = [key for key, count in Counter(system.id for system in systems).items() if count > 1]
    if twice:
        raise PermanentError(f"systems listed more than once in the plan: {', '.join(twice)}")
    by_id = {system.id: system for system in systems}
    planner = _Planner(dict(nodes), policy, targets or {})
    for group in dependency_groups(systems):
        planner.place_group([by_id[system_id] for system_id in group])
    outcomes = {system.id: planner.outcomes[system.id] for system in systems}
    return PlanResult(outcomes, planner.usage, tuple(planner.split))


@dataclass
class _Planner:
    """The running state of one dry run; lives only inside ``plan_placements``."""

    usage: dict[str, NodeUsage]
    policy: PlacementPolicy
    targets: Mapping[str, str]
    outcomes: dict[str, PlacementOutcome] = field(default_factory=dict)
    split: list[tuple[str, ...]] = field(default_factory=list)

    def place_group(self, members: list[SystemRequest]) -> None:
        targeted = [member for member in members if member.id in self.targets]
        for member in targeted:
            self._record(member, place_on_target(member, self.usage, self.targets[member.id]))
        rest = [member for member in members if member.id not in self.targets]
        if rest:
            prefer = self._nodes_of(targeted)
            together = place_together(rest, self.usage, self.policy, prefer=prefer)
            if len(rest) > 1 and isinstance(together[0], Unplaceable):
                self._place_one_by_one(rest, members)
            else:
                for member, outcome in zip(rest, together, strict=True):
                    self._record(member, outcome)
        if len(self._nodes_of(members)) > 1:
            self.split.append(tuple(member.id for member in members))

    def _place_one_by_one(self, rest: list[SystemRequest], group: list[SystemRequest]) -> None:
        note = f"group of {len(group)} split: no node fits it whole"
        for member in rest:
            outcome = place_system(member, self.usage, self.policy, prefer=self._nodes_of(group))
            if isinstance(outcome, Placement):
                outcome = Placement(member.id, outcome.node_id, f"{outcome.reason} ({note})")
            self._record(member, outcome)

    def _record(self, system: SystemRequest, outcome: PlacementOutcome) -> None:
        self.outcomes[system.id] = outcome
        if isinstance(outcome, Placement):
            node = outcome.node_id
            self.usage[node] = allocate(self.usage[node], system.id, system.amounts)

    def _nodes_of(self, members: list[SystemRequest]) -> list[str]:
        nodes: dict[str, None] = {}
        for member in members:
            outcome = self.outcomes.get(member.id)
            if isinstance(outcome, Placement):
                nodes[outcome.node_id] = None
        return list(nodes)
