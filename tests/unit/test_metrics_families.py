"""The fleet's metric families from a hand-built snapshot (pure), each test on a fresh registry."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from orchestrator.inventory import load_departments, load_inventory
from orchestrator.inventory.calendar_file import build_calendar
from orchestrator.inventory.models import GB, Platform
from orchestrator.inventory.sources import parse_yaml
from orchestrator.migrations.states import Phase, SystemState
from orchestrator.observability.families import (
    FleetSnapshot,
    NodeFigures,
    Resource,
    calendar_families,
    fleet_families,
    plan_families,
)

SHANTOU = NodeFigures(
    node="shantou",
    online=True,
    vcpu=Resource(capacity=10_000, allocatable=9_600, allocated=12),
    memory_bytes=Resource(capacity=30_000 * GB, allocatable=28_800 * GB, allocated=64 * GB),
    storage_bytes=Resource(capacity=1_000_000 * GB, allocatable=980_000 * GB, allocated=1_000 * GB),
)
YUNFU = NodeFigures(
    node="yunfu",
    online=False,
    vcpu=Resource(capacity=5_000, allocatable=4_800, allocated=0),
    memory_bytes=Resource(capacity=15_000 * GB, allocatable=14_400 * GB, allocated=0),
    storage_bytes=Resource(capacity=500_000 * GB, allocatable=490_000 * GB, allocated=0),
)
SNAPSHOT = FleetSnapshot(
    nodes=(SHANTOU, YUNFU),
    systems={"completed": 3, "replicating": 1, "queued": 2},
    systems_by_wave={("1", "completed"): 3, ("2", "replicating"): 1, ("none", "queued"): 2},
    migrations={"completed": 4, "rolled_back": 1},
    inflight={("shantou", "replicate"): 1},
    oldest_active_age_s=7200.0,
    systems_ipv6=2,
    approvals={"granted": 5, "refused": 1},
    waiting={"approval": (2, 90_000.0), "window": (5, 600.0)},
    awaiting_registration=(3, 42.5),
)


class Static(Collector):
    """Serves fixed families, as the fleet collector would after reading the store."""

    def __init__(self, snapshot: FleetSnapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        yield from plan_families()
        yield from fleet_families(self.snapshot)


def registry_of(snapshot: FleetSnapshot) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(Static(snapshot))
    return registry


@pytest.fixture
def registry() -> CollectorRegistry:
    return registry_of(SNAPSHOT)


@pytest.mark.parametrize(
    ("name", "labels", "expected"),
    [
        ("govcloud_systems_waiting", {"reason": "approval"}, 2),
        ("govcloud_systems_waiting", {"reason": "window"}, 5),
        ("govcloud_systems_waiting", {"reason": "group"}, 0),
        ("govcloud_systems_waiting_longest_seconds", {"reason": "approval"}, 90_000.0),
        ("govcloud_systems_waiting_longest_seconds", {"reason": "wave"}, 0),
        ("govcloud_requests_awaiting_registration", {}, 3),
        ("govcloud_requests_awaiting_registration_longest_seconds", {}, 42.5),
        ("govcloud_node_vcpu_capacity", {"node": "shantou"}, 10_000),
        ("govcloud_node_vcpu_allocatable", {"node": "shantou"}, 9_600),
        ("govcloud_node_vcpu_allocated", {"node": "shantou"}, 12),
        ("govcloud_node_memory_capacity_bytes", {"node": "shantou"}, 3e13),
        ("govcloud_node_memory_allocatable_bytes", {"node": "yunfu"}, 14_400 * GB),
        ("govcloud_node_memory_allocated_bytes", {"node": "shantou"}, 64 * GB),
        ("govcloud_node_storage_capacity_bytes", {"node": "shantou"}, 1e15),
        ("govcloud_node_storage_allocated_bytes", {"node": "yunfu"}, 0),
        ("govcloud_node_online", {"node": "shantou"}, 1),
        ("govcloud_node_online", {"node": "yunfu"}, 0),
        ("govcloud_nodes_online", {}, 1),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_node_figures(
    registry: CollectorRegistry, name: str, labels: dict[str, str], expected: float
) -> None:
    assert registry.get_sample_value(name, labels) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("govcloud_plan_target_vcpu", 100_000),
        ("govcloud_plan_target_memory_bytes", 3e14),
        ("govcloud_plan_target_storage_bytes", 1e16),
        ("govcloud_plan_target_systems", 500),
        ("govcloud_plan_target_nodes", 14),
        ("govcloud_plan_target_prd_platforms", 7),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_plan_targets(registry: CollectorRegistry, name: str, expected: float) -> None:
    assert registry.get_sample_value(name) == expected


def test_every_state_is_exported_zeros_included(registry: CollectorRegistry) -> None:
    values = {
        state: registry.get_sample_value("govcloud_systems", {"state": str(state)})
        for state in SystemState
    }
    assert values[SystemState.COMPLETED] == 3
    assert values[SystemState.QUEUED] == 2
    assert values[SystemState.CUTOVER] == 0
    assert None not in values.values()


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [("completed", 4), ("rolled_back", 1), ("failed", 0), ("cancelled", 0)],
    ids=["completed", "rolled_back", "failed-zero", "cancelled-zero"],
)
def test_migrations_are_a_counter_with_every_outcome(
    registry: CollectorRegistry, outcome: str, expected: float
) -> None:
    value = registry.get_sample_value("govcloud_migrations_total", {"outcome": outcome})
    assert value == expected


def test_migrations_are_typed_counter_on_the_wire(registry: CollectorRegistry) -> None:
    text = generate_latest(registry).decode()
    assert "# TYPE govcloud_migrations_total counter" in text


@pytest.mark.parametrize(
    ("outcome", "expected"), [("granted", 5), ("refused", 1), ("withdrawn", 0)], ids=str
)
def test_approvals_are_a_counter_with_every_outcome(
    registry: CollectorRegistry, outcome: str, expected: float
) -> None:
    value = registry.get_sample_value("govcloud_approvals_total", {"outcome": outcome})
    assert value == expected
    assert "# TYPE govcloud_approvals_total counter" in generate_latest(registry).decode()


def test_waves_have_every_state_per_wave_seen(registry: CollectorRegistry) -> None:
    def wave(wave: str, state: str) -> float | None:
        return registry.get_sample_value("govcloud_systems_by_wave", {"wave": wave, "state": state})

    assert wave("1", "completed") == 3
    assert wave("1", "failed") == 0
    assert wave("none", "queued") == 2
    assert wave("3", "completed") is None


def test_inflight_covers_every_node_and_phase(registry: CollectorRegistry) -> None:
    def inflight(node: str, phase: str) -> float | None:
        return registry.get_sample_value(
            "govcloud_inflight_systems", {"node": node, "phase": phase}
        )

    assert inflight("shantou", "replicate") == 1
    assert inflight("yunfu", "replicate") == 0
    assert all(inflight("yunfu", str(phase)) == 0 for phase in Phase)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("govcloud_oldest_active_system_age_seconds", 7200),
        ("govcloud_systems_ipv6", 2),
        ("govcloud_prd_platforms_connected", 0),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_progress_figures(registry: CollectorRegistry, name: str, expected: float) -> None:
    assert registry.get_sample_value(name) == expected


def test_an_empty_snapshot_still_exports_states_and_outcomes() -> None:
    registry = CollectorRegistry()
    registry.register(Static(FleetSnapshot()))
    assert registry.get_sample_value("govcloud_systems", {"state": "completed"}) == 0
    assert registry.get_sample_value("govcloud_migrations_total", {"outcome": "failed"}) == 0
    assert registry.get_sample_value("govcloud_nodes_online") == 0
    assert registry.get_sample_value("govcloud_requests_awaiting_registration") == 0
    assert registry.get_sample_value("govcloud_node_vcpu_capacity", {"node": "shantou"}) is None


def test_the_inventory_nodes_sum_to_the_plan_in_exposed_units() -> None:
    """Decimal bytes: the 14 nodes' GB x 10^9 are the plan's 3e14 and 1e16, exactly in float."""
    nodes = load_inventory().nodes.values()
    memory = sum(float(node.capacity.memory_gb * GB) for node in nodes)
    storage = sum(float(node.capacity.storage_gb * GB) for node in nodes)
    assert (memory, storage) == (3e14, 1e16)


def test_platforms_have_series_of_their_own_and_never_count_as_nodes() -> None:
    guangzhou = replace(SHANTOU, node="guangzhou")
    snapshot = replace(SNAPSHOT, platforms=(guangzhou,), platform_ids=("guangzhou", "shenzhen"))
    registry = registry_of(snapshot)
    where = {"platform": "guangzhou"}
    assert registry.get_sample_value("govcloud_platform_vcpu_capacity", where) == 10_000
    assert registry.get_sample_value("govcloud_platform_online", where) == 1
    assert registry.get_sample_value("govcloud_platform_connected", where) == 1
    assert registry.get_sample_value("govcloud_platform_connected", {"platform": "shenzhen"}) == 0
    assert registry.get_sample_value("govcloud_prd_platforms_connected") == 1
    assert registry.get_sample_value("govcloud_node_vcpu_capacity", {"node": "guangzhou"}) is None
    nodes_online = sum(1 for node in SNAPSHOT.nodes if node.online)
    assert registry.get_sample_value("govcloud_nodes_online") == nodes_online


@pytest.mark.parametrize("value", ["yes", "false", 1], ids=["yes", "quoted-false", "one"])
def test_connected_must_be_a_real_boolean(value: object) -> None:
    with pytest.raises(ValueError, match="connected"):
        Platform.model_validate({"id": "foshan", "city": "foshan", "name": "F", "connected": value})


CALENDAR = """
time_zone: Asia/Shanghai
windows:
  - {name: weekend-night, days: [sat], start: "00:00", end: "06:00"}
  - {name: wednesday-noon, days: [wed], start: "11:00", end: "13:00",
     applies_to: {criticalities: [low]}}
  - {name: monthly-never, days: [sun], start: "01:00", end: "02:00",
     applies_to: {criticalities: [critical]}}
freezes:
  - {name: drill, start: 2026-12-01, end: 2026-12-02}
  - {name: Spring Festival 2027, start: 2027-02-05, end: 2027-02-13}
"""


def test_the_calendar_says_which_windows_are_open_their_next_start_and_which_freezes_are_on() -> (
    None
):
    calendar = build_calendar(
        parse_yaml(CALENDAR, source="c.yml"), source="c.yml", departments=load_departments()
    )
    now = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)  # Wednesday 12:00 in Shanghai
    registry = CollectorRegistry()

    class Calendared(Collector):
        def collect(self) -> Iterator[Metric]:
            yield from calendar_families(calendar, now)

    registry.register(Calendared())
    shanghai = ZoneInfo("Asia/Shanghai")
    saturday = datetime(2026, 12, 5, 0, 0, tzinfo=shanghai).timestamp()
    noon = datetime(2026, 12, 2, 11, 0, tzinfo=shanghai).timestamp()
    sunday = datetime(2026, 12, 6, 1, 0, tzinfo=shanghai).timestamp()
    start = "govcloud_maintenance_window_next_start_timestamp_seconds"
    expected = {
        (start, "weekend-night"): saturday,
        (start, "wednesday-noon"): noon,
        (start, "monthly-never"): sunday,
        ("govcloud_maintenance_window_open", "weekend-night"): 0,
        ("govcloud_maintenance_window_open", "wednesday-noon"): 1,
        ("govcloud_freeze_on", "drill"): 1,
        ("govcloud_freeze_on", "Spring Festival 2027"): 0,
    }
    for (name, label), value in expected.items():
        key = "freeze" if name == "govcloud_freeze_on" else "window"
        assert registry.get_sample_value(name, {key: label}) == value, (name, label)
