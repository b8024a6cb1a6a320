"""The ledger as one transaction sees it while placing: node usage and dependency groups.

``load_fleet`` reads every node's usage and every system's ``depends_on`` once,
on the first placement of a transaction; the engine then keeps the copy in step
with the reservations, releases and registrations it makes, so placing a batch
of 500 systems reads the ledger once rather than 500 times.

The copy only guides the choice. The reservation itself is the store's
compare-and-swap on fresh rows, so a copy made stale by another instance (on
PostgreSQL) costs a re-read, never an over-commit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from orchestrator.capacity import (
    NodeUsage,
    PlacementOutcome,
    PlacementPolicy,
    SystemRequest,
    allocate,
    place_system,
    release,
)
from orchestrator.store import Session, dependencies, node_usage


class GroupIndex:
    """The undirected ``depends_on`` graph: a system's group is everything connected to it."""

    def __init__(self, records: Iterable[tuple[str, Iterable[str]]] = ()) -> None:
        self._edges: dict[str, set[str]] = {}
        self._depends_on: dict[str, tuple[str, ...]] = {}
        for system_id, depends_on in records:
            self.update(system_id, depends_on)

    def update(self, system_id: str, depends_on: Iterable[str]) -> None:
        """Record (or change) what ``system_id`` depends on."""
        for other in self._depends_on.get(system_id, ()):
            self._edges.get(other, set()).discard(system_id)
            self._edges.get(system_id, set()).discard(other)
        wanted = tuple(depends_on)
        self._depends_on[system_id] = wanted
        self._edges.setdefault(system_id, set())
        for other in wanted:
            self._edges[system_id].add(other)
            self._edges.setdefault(other, set()).add(system_id)

    def group(self, system_id: str) -> set[str]:
        """Every system connected to ``system_id`` (itself included)."""
        seen = {system_id}
        frontier = [system_id]
        while frontier:
            for other in self._edges.get(frontier.pop(), ()):
                if other not in seen:
                    seen.add(other)
                    frontier.append(other)
        return seen


class Fleet:
    """Node usage and groups, kept in step with what this transaction reserves and releases."""

    def __init__(self, usage: Mapping[str, NodeUsage], groups: GroupIndex) -> None:
        self.usage = dict(usage)
        self.groups = groups
        self._holders = {
            system_id: node_id
            for node_id, node in self.usage.items()
            for system_id in node.allocations
        }

    def choose(
        self, request: SystemRequest, policy: PlacementPolicy, *, target: str | None
    ) -> PlacementOutcome:
        """Where ``request`` goes: ``target`` if given, else near its group, else by policy."""
        return place_system(
            request, self.usage, policy, target=target, prefer=self.group_nodes(request.id)
        )

    def group_nodes(self, system_id: str) -> list[str]:
        """Nodes holding other members of the system's group, most members first."""
        members = self.groups.group(system_id) - {system_id}
        counts = Counter(self._holders[m] for m in members if m in self._holders)
        return [node for node, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]

    def reserved(self, system_id: str, node_id: str, amounts: Mapping[str, int]) -> None:
        """``system_id`` now holds ``amounts`` on ``node_id``."""
        self.released(system_id)
        self.usage[node_id] = allocate(self.usage[node_id], system_id, amounts)
        self._holders[system_id] = node_id

    def released(self, system_id: str) -> None:
        """``system_id`` holds nothing any more."""
        node_id = self._holders.pop(system_id, None)
        if node_id is not None:
            self.usage[node_id] = release(self.usage[node_id], system_id)


def load_fleet(session: Session) -> Fleet:
    """Every node's usage and every stored system's dependencies, as of now."""
    usage = {node.node.node_id: node for node in node_usage(session)}
    return Fleet(usage, GroupIndex(dependencies(session)))
