"""Dependency groups and migration waves, computed from ``depends_on`` alone.

Pure helpers used by placement (to co-locate a group on one node) and by the
planner and scheduler (to move a group in one wave). Systems that depend on
each other, directly or through others, form one group: the connected
components of the ``depends_on`` graph, with edges treated as undirected,
because a dependency in either direction is a call that should stay local.

A dependency on a system outside the given set (already migrated, or not
being planned) joins nothing: there is nothing to co-locate it with here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol


class Dependent(Protocol):
    """Anything with an id and the ids it depends on (e.g. ``SystemRequest``)."""

    @property
    def id(self) -> str: ...

    @property
    def depends_on(self) -> tuple[str, ...]: ...


class DependencyGraph:
    """The undirected ``depends_on`` graph, kept up to date as records change.

    The one way groups are found: ``dependency_groups`` builds one for a plan,
    and the engine keeps one per transaction while it places systems.
    """

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


def dependency_groups(systems: Sequence[Dependent]) -> tuple[tuple[str, ...], ...]:
    """The groups of ``systems``, each in input order, ordered by their first member."""
    ids = {system.id for system in systems}
    graph = DependencyGraph(
        (system.id, [other for other in system.depends_on if other in ids]) for system in systems
    )
    group_of: dict[str, int] = {}
    groups: list[list[str]] = []
    for system in systems:
        if system.id not in group_of:
            index = len(groups)
            groups.append([])
            group_of.update(dict.fromkeys(graph.group(system.id), index))
        groups[group_of[system.id]].append(system.id)
    return tuple(tuple(members) for members in groups)


def assign_waves(
    systems: Sequence[Dependent], *, max_wave_size: int
) -> tuple[tuple[str, ...], ...]:
    """Split ``systems`` into waves of at most ``max_wave_size``, never splitting a group.

    Groups keep their input order and fill waves first-fit; a group larger than
    ``max_wave_size`` gets a wave of its own. Because a dependency always puts
    two systems in the same group, no group can depend on a later one: the
    rule "a group comes no earlier than the groups it depends on" holds by
    construction, and input order decides the rest (put pilots first).
    """
    if max_wave_size < 1:
        raise ValueError(f"max_wave_size must be at least 1, got {max_wave_size}")
    waves: list[list[str]] = []
    for group in dependency_groups(systems):
        if not waves or len(waves[-1]) + len(group) > max_wave_size:
            waves.append([])
        waves[-1].extend(group)
    return tuple(tuple(wave) for wave in waves)
