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

from collections.abc import Sequence
from typing import Protocol


class Dependent(Protocol):
    """Anything with an id and the ids it depends on (e.g. ``SystemRequest``)."""

    @property
    def id(self) -> str: ...

    @property
    def depends_on(self) -> tuple[str, ...]: ...


def dependency_groups(systems: Sequence[Dependent]) -> tuple[tuple[str, ...], ...]:
    """The groups of ``systems``, each in input order, ordered by their first member."""
    parent = {system.id: system.id for system in systems}

    def root(node: str) -> str:
        while parent[node] != node:
            parent[node] = parent[parent[node]]  # path halving keeps the trees flat
            node = parent[node]
        return node

    for system in systems:
        for other in system.depends_on:
            if other in parent:
                parent[root(system.id)] = root(other)
    groups: dict[str, list[str]] = {}
    for system in systems:
        groups.setdefault(root(system.id), []).append(system.id)
    return tuple(tuple(members) for members in groups.values())


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
