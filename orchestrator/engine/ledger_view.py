"""The ledger as one transaction sees it while placing: node usage and dependency groups.

``load_ledger_view`` reads every node's (and connected platform's) usage and every system's
``depends_on`` once, on the first placement of a transaction; the engine then
keeps the copy in step with the reservations, releases and registrations it
makes, so placing a batch of 500 systems reads the ledger once rather than
500 times.

The copy only guides the choice, made by the pure ``place_group`` that
``govmig plan`` uses too. The reservation itself is the store's
compare-and-swap on fresh rows, so a copy made stale by another instance (on
PostgreSQL) costs a re-read, never an over-commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from orchestrator.capacity import (
    DependencyGraph,
    NodeUsage,
    PlacementOutcome,
    PlacementPolicy,
    SystemRequest,
    allocate,
    deallocate,
    place_group,
    place_on_target,
)
from orchestrator.store import Session, dependencies, node_usage


class LedgerView:
    """Node usage and groups, kept in step with what this transaction reserves and releases."""

    def __init__(self, usage: Mapping[str, NodeUsage], groups: DependencyGraph) -> None:
        self.usage = dict(usage)
        self.groups = groups
        self._holders = {
            system_id: node_id
            for node_id, node in self.usage.items()
            for system_id in node.allocations
        }

    def unplaced_group(self, system_id: str) -> list[str]:
        """The other members of the system's group that hold no node yet, by id."""
        return sorted(self.groups.group(system_id) - {system_id} - self._holders.keys())

    def choose(
        self,
        request: SystemRequest,
        unplaced: Sequence[SystemRequest],
        policy: PlacementPolicy,
        *,
        target: str | None,
    ) -> PlacementOutcome:
        """``target`` if given, else the group rule over ``request`` and ``unplaced``."""
        if target is not None:
            return place_on_target(request, self.usage, target)
        held = {
            member: self._holders[member]
            for member in self.groups.group(request.id)
            if member in self._holders and member != request.id
        }
        return place_group([request, *unplaced], self.usage, policy, held=held)[0]

    def reserved(self, system_id: str, node_id: str, amounts: Mapping[str, int]) -> None:
        """``system_id`` now holds ``amounts`` on ``node_id``."""
        self.released(system_id)
        self.usage[node_id] = allocate(self.usage[node_id], system_id, amounts)
        self._holders[system_id] = node_id

    def released(self, system_id: str) -> None:
        """``system_id`` holds nothing any more."""
        node_id = self._holders.pop(system_id, None)
        if node_id is not None:
            self.usage[node_id] = deallocate(self.usage[node_id], system_id)


def load_ledger_view(session: Session) -> LedgerView:
    """Every node's and connected platform's usage and every stored system's dependencies."""
    usage = {node.node.node_id: node for node in node_usage(session, kind=None)}
    return LedgerView(usage, DependencyGraph(dependencies(session)))
