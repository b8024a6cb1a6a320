"""Cross-checks an event's city, node and system ids (and a record's data class) against
the ids that exist.

The codec runs this after the event is well formed. The known ids come from the
caller (the inventory loader, the store) as plain frozensets, so this stays pure.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from orchestrator.events.data import (
    IntakeResumeRequested,
    MigrationRequested,
    NodeUpdated,
    PlatformConnected,
    PlatformDisconnected,
    SystemStatusChanged,
    WaveResumeRequested,
    WaveStatusChanged,
)
from orchestrator.events.envelope import Event
from orchestrator.events.reasons import Rejection
from orchestrator.inventory.models import BusinessSystem
from orchestrator.inventory.topology import Inventory


@dataclass(frozen=True, slots=True)
class KnownIds:
    """The ids an event may name. ``systems=None`` skips the system check (the store does it);
    ``data_classes=None`` the data class check (no residency rules given)."""

    cities: frozenset[str]
    nodes: frozenset[str]
    platforms: Mapping[str, str] = field(default_factory=dict)  # each PRD platform's city
    systems: frozenset[str] | None = None
    data_classes: frozenset[str] | None = None

    @classmethod
    def of(cls, inventory: Inventory, *, data_classes: frozenset[str] | None = None) -> KnownIds:
        """The cities, nodes and PRD platforms of ``inventory``."""
        return cls(
            cities=frozenset(inventory.cities),
            nodes=frozenset(inventory.nodes),
            platforms={platform.id: platform.city for platform in inventory.platforms.values()},
            data_classes=data_classes,
        )


def check_references(event: Event, known: KnownIds) -> None:
    """Raise ``Rejection`` (unknown_city, unknown_node, unknown_platform, unknown_system,
    unknown_data_class) for a dangling id."""
    for kind, value in _references(event):
        classes = known.data_classes
        if kind == "data_class" and classes is not None and value not in classes:
            raise Rejection("unknown_data_class", f"no residency rule for data class {value!r}")
        if kind == "city" and value not in known.cities:
            raise Rejection("unknown_city", f"city {value!r} is not in the inventory")
        if kind == "platform" and value not in known.platforms:
            raise Rejection("unknown_platform", _not_a_platform(value, known))
        if kind == "node" and value not in known.nodes:
            raise Rejection("unknown_node", f"node {value!r} is not one of the city nodes")
        if kind == "system" and known.systems is not None and value not in known.systems:
            raise Rejection("unknown_system", f"system {value!r} is not registered")


def _not_a_platform(value: str, known: KnownIds) -> str:
    if value in known.nodes:
        return f"{value!r} is one of the 14 city nodes, not a PRD platform"
    return f"platform {value!r} is not one of the PRD platforms"


def _references(event: Event) -> Iterator[tuple[str, str]]:
    data = event.data
    if isinstance(data, BusinessSystem):
        # depends_on is not checked: a dependency may be registered later in the same feed.
        yield "city", data.city
        yield "city", data.source.city
        if data.data_class is not None:  # a class no rule names must not escape its rule
            yield "data_class", data.data_class
        return
    if isinstance(data, NodeUpdated):
        yield "node", data.node_id
        return
    if isinstance(data, PlatformConnected | PlatformDisconnected):
        yield "platform", data.platform_id
        return
    if isinstance(data, IntakeResumeRequested | WaveResumeRequested | WaveStatusChanged):
        return  # names no system or node
    if isinstance(data, MigrationRequested) and data.target_node is not None:
        yield "node", data.target_node
    if isinstance(data, SystemStatusChanged) and data.node is not None:
        yield "node", data.node
    yield "system", data.system_id
