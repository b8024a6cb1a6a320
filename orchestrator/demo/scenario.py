"""Which systems the demo migrates: a small wave, a few per city node (pure).

A wave must be self-contained: a system whose dependencies are not migrated in
the same wave would be placed without its group, so the demo only picks
systems with no dependencies, in catalogue order, ``per_node`` from each of
the 14 node cities. That keeps the run to about a minute on 2 cores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.inventory.models import BusinessSystem
from orchestrator.inventory.topology import Inventory


@dataclass(frozen=True, slots=True)
class DemoPlan:
    """The wave to migrate, and which of its systems get an injected failure."""

    wave: tuple[BusinessSystem, ...]
    failures: dict[str, str]
    nodes: tuple[str, ...] = ()  # the city nodes the wave was chosen for

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
) -> DemoPlan:
    """Pick ``per_node`` dependency-free systems per node city (of ``nodes``, default all);
    fail the first ``failures``."""
    taken: dict[str, int] = dict.fromkeys(nodes or inventory.nodes, 0)
    node_of_city = {node.city: node.id for node in inventory.nodes.values()}
    wave: list[BusinessSystem] = []
    for system in catalogue:
        node = node_of_city.get(system.city)
        if node not in taken or system.depends_on or taken[node] >= per_node:
            continue
        taken[node] += 1
        wave.append(system)
    injected = {system.id: failure_phase for system in wave[: max(0, failures)]}
    return DemoPlan(wave=tuple(wave), failures=injected, nodes=tuple(taken))
