"""Which systems the demo migrates: a small wave, a few per city node (pure).

A wave must be self-contained: a system of a dependency group cuts over only
with its whole group, so the demo only picks systems alone in theirs (none
depends on them, they on none), in catalogue order, ``per_node`` from each of
the 14 node cities. That keeps the run to about a minute on 2 cores. Each PRD
platform the demo connects adds one system of its city, which must land there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from orchestrator.capacity import DependencyGraph
from orchestrator.inventory.models import BusinessSystem
from orchestrator.inventory.topology import Inventory


@dataclass(frozen=True, slots=True)
class DemoPlan:
    """The wave to migrate, and which of its systems get an injected failure."""

    wave: tuple[BusinessSystem, ...]
    failures: dict[str, str]
    nodes: tuple[str, ...] = ()  # the city nodes the wave was chosen for
    platforms: dict[str, str] = field(default_factory=dict)  # system id -> the platform it lands on

    @property
    def ids(self) -> list[str]:
        """The wave's system ids, in order."""
        return [system.id for system in self.wave]


def choose_wave(
    catalogue: Sequence[BusinessSystem],
    inventory: Inventory,
    *,
    per_node: int,
    failures: int = 0,
    failure_phase: str = "replicate",
    nodes: Sequence[str] = (),
    platforms: Sequence[str] = (),
) -> DemoPlan:
    """Pick ``per_node`` systems alone in their dependency group per node city (of ``nodes``,
    default all), then one of each platform's city; fail the first ``failures``.

    Alone: a group cuts over whole, so a member whose others are not in the wave would wait
    at its group gate for them."""
    taken: dict[str, int] = dict.fromkeys(nodes or inventory.nodes, 0)
    node_of_city = {node.city: node.id for node in inventory.nodes.values()}
    alone = _alone(catalogue)
    wave: list[BusinessSystem] = []
    for system in catalogue:
        node = node_of_city.get(system.city)
        if node not in taken or system.id not in alone or taken[node] >= per_node:
            continue
        taken[node] += 1
        wave.append(system)
    injected = {system.id: failure_phase for system in wave[: max(0, failures)]}
    onto = _platform_systems(catalogue, inventory, platforms, alone)
    wave += [system for system in catalogue if system.id in onto]
    return DemoPlan(wave=tuple(wave), failures=injected, nodes=tuple(taken), platforms=onto)


def _alone(catalogue: Sequence[BusinessSystem]) -> set[str]:
    """The systems of no dependency group: none depends on them, they on none."""
    graph = DependencyGraph((system.id, system.depends_on) for system in catalogue)
    return {system.id for system in catalogue if graph.group(system.id) == {system.id}}


def _platform_systems(
    catalogue: Sequence[BusinessSystem],
    inventory: Inventory,
    platforms: Sequence[str],
    alone: set[str],
) -> dict[str, str]:
    """The first system alone in its group of each platform's city, and that platform."""
    onto: dict[str, str] = {}
    for platform in platforms:
        city = inventory.platforms[platform].city
        system = next((s for s in catalogue if s.city == city and s.id in alone), None)
        if system is not None:
            onto[system.id] = platform
    return onto
