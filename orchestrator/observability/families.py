"""The fleet's figures as metric families: pure, from a ``FleetSnapshot`` to Prometheus.

At every scrape ``collector.FleetCollector`` reads one ``FleetSnapshot`` from
the state store (``snapshot.read_snapshot``) and turns it into metric families
here. Nothing in this module does I/O, so unit tests build a snapshot by hand
and read the families back from a fresh registry.

Because the figures come from the store, not from counters in the process,
they are true for the whole fleet whichever instance is scraped, after a
restart too. With several instances every one reports the same fleet figures:
dashboards and rules take ``max`` over instances for them, never ``sum``.

Units follow Prometheus conventions: memory and storage in bytes (decimal,
GB × 10⁹, so the 14 nodes sum to the plan's 3e14 and 1e16 exactly), times in
seconds, vCPU and systems as plain counts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from orchestrator.gates import WaitReason
from orchestrator.inventory import Calendar, plan
from orchestrator.migrations.states import TERMINAL_STATES, Phase, SystemState

# Label value for systems that have no wave (or no node) yet.
NONE_LABEL: Final = "none"
OUTCOMES: Final = tuple(sorted(str(state) for state in TERMINAL_STATES))
REHEARSAL_RESULTS: Final = ("passed", "failed")
REVERT_RESULTS: Final = ("reverted", "failed")
APPROVAL_OUTCOMES: Final = ("granted", "refused", "withdrawn")
# Every phase is one playbook and one in-flight state (``PHASE_STATES``).
INFLIGHT_PHASES: Final = tuple(str(phase) for phase in Phase)
# (name in the metric, unit suffix, what HELP calls it)
RESOURCES: Final = (
    ("vcpu", "", "vCPU"),
    ("memory", "_bytes", "memory in bytes"),
    ("storage", "_bytes", "storage in bytes"),
)
AMOUNTS: Final = (
    ("capacity", "physical total"),
    ("allocatable", "(total - reserved) x allocation ratio, what the ledger may hand out"),
    ("allocated", "held by systems now"),
)


@dataclass(frozen=True)
class Resource:
    """One resource on one node, in exposed units (vCPU, or bytes)."""

    capacity: int  # the physical total
    allocatable: int  # floor((total - reserved) * allocation ratio)
    allocated: int  # what systems hold now

    def amount(self, kind: str) -> int:
        """``capacity``, ``allocatable`` or ``allocated`` by name."""
        amounts = {
            "capacity": self.capacity,
            "allocatable": self.allocatable,
            "allocated": self.allocated,
        }
        return amounts[kind]


@dataclass(frozen=True)
class NodeFigures:
    """One city node's status and resources."""

    node: str
    online: bool
    vcpu: Resource
    memory_bytes: Resource
    storage_bytes: Resource

    def resource(self, name: str) -> Resource:
        """``vcpu``, ``memory`` or ``storage`` by name."""
        resources = {"vcpu": self.vcpu, "memory": self.memory_bytes, "storage": self.storage_bytes}
        return resources[name]


@dataclass(frozen=True)
class FleetSnapshot:
    """Everything the fleet collector exports, read from the store in one go."""

    nodes: tuple[NodeFigures, ...] = ()
    # The connected PRD platforms' ledger rows (never in ``nodes``), and every PRD platform id.
    platforms: tuple[NodeFigures, ...] = ()
    platform_ids: tuple[str, ...] = ()
    systems: Mapping[str, int] = field(default_factory=dict)  # state -> count
    systems_by_wave: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (wave, state)
    migrations: Mapping[str, int] = field(default_factory=dict)  # outcome -> transitions into it
    inflight: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (node, phase)
    oldest_active_age_s: float = 0.0
    systems_ipv6: int = 0
    reverts: Mapping[str, int] = field(default_factory=dict)  # result -> finished reverts
    rehearsals: Mapping[str, int] = field(default_factory=dict)  # result -> rehearsals
    oldest_ready_replica_age_s: float = 0.0
    approvals: Mapping[str, int] = field(default_factory=dict)  # outcome -> approvals
    # reason -> (systems a gate holds for it, seconds the longest of them has waited)
    waiting: Mapping[str, tuple[int, float]] = field(default_factory=dict)
    # wave -> (share of its systems rolled back or failed, whether it halts the waves after it)
    waves: Mapping[int, tuple[float, bool]] = field(default_factory=dict)
    # (requests held for their system's registration, seconds the oldest has waited)
    awaiting_registration: tuple[int, float] = (0, 0.0)


def plan_families() -> Iterator[Metric]:
    """The plan's stated totals (item 三十): constants, exported so panels can divide by them."""
    targets = (
        ("vcpu", "vCPU across the 14 city nodes.", plan.PLAN_VCPU),
        ("memory_bytes", "Memory across the 14 city nodes (300 TB).", plan.PLAN_MEMORY_BYTES),
        ("storage_bytes", "Storage across the 14 city nodes (10 PB).", plan.PLAN_STORAGE_BYTES),
        ("systems", "City business systems to move onto the cloud.", plan.PLAN_SYSTEMS),
        ("nodes", "Province-coordinated city cloud nodes.", plan.PLAN_NODES),
        ("prd_platforms", "PRD cities' self-built clouds to connect.", plan.PLAN_PLATFORMS),
    )
    for name, doc, value in targets:
        yield GaugeMetricFamily(f"govcloud_plan_target_{name}", f"Plan target: {doc}", value=value)


def fleet_families(snapshot: FleetSnapshot) -> Iterator[Metric]:
    """Every store-derived family: node capacity, system states, outcomes, progress."""
    yield from node_families(snapshot.nodes)
    yield from platform_families(snapshot)
    yield from system_families(snapshot)
    yield from progress_families(snapshot)
    yield from warm_families(snapshot)
    yield approval_family(snapshot)
    yield from waiting_families(snapshot)
    yield from wave_families(snapshot)
    yield from awaiting_families(snapshot)


def awaiting_families(snapshot: FleetSnapshot) -> Iterator[Metric]:
    """Requests held because their system's registration has not come yet."""
    count, seconds = snapshot.awaiting_registration
    yield GaugeMetricFamily(
        "govcloud_requests_awaiting_registration",
        "Requests about a system not registered yet, held until its registration comes "
        "or their wait (GOVMIG_REGISTRATION_WAIT_S) ends.",
        value=count,
    )
    yield GaugeMetricFamily(
        "govcloud_requests_awaiting_registration_longest_seconds",
        "How long the oldest request awaiting its system's registration has waited; 0 if none.",
        value=seconds,
    )


def wave_families(snapshot: FleetSnapshot) -> Iterator[Metric]:
    """Each wave's health and whether it is halted (gated waves, ``--wave-threshold``)."""
    bad = GaugeMetricFamily(
        "govcloud_wave_rolled_back_or_failed_ratio",
        "Share of a wave's systems (cancelled ones not counted) rolled back or failed.",
        labels=["wave"],
    )
    halted = GaugeMetricFamily(
        "govcloud_wave_halted",
        "1 while the wave is halted (over its health threshold, not resumed): the waves "
        "after it do not start.",
        labels=["wave"],
    )
    for wave, (share, held) in sorted(snapshot.waves.items()):
        bad.add_metric([str(wave)], share)
        halted.add_metric([str(wave)], int(held))
    yield bad
    yield halted


def waiting_families(snapshot: FleetSnapshot) -> Iterator[Metric]:
    """Systems a gate holds, by the first gate that holds each, and the longest wait."""
    waiting = GaugeMetricFamily(
        "govcloud_systems_waiting",
        "Systems a gate holds, by the first gate that holds each: approval, freeze, window, "
        "rehearsal, budget, group or wave.",
        labels=["reason"],
    )
    longest = GaugeMetricFamily(
        "govcloud_systems_waiting_longest_seconds",
        "How long the system waiting longest for this reason has waited for it; 0 if none.",
        labels=["reason"],
    )
    for reason in WaitReason:
        count, seconds = snapshot.waiting.get(reason, (0, 0.0))
        waiting.add_metric([reason], count)
        longest.add_metric([reason], seconds)
    yield waiting
    yield longest


def approval_family(snapshot: FleetSnapshot) -> Metric:
    """Approvals of cutovers (four eyes) by outcome: granted, refused (audited), withdrawn."""
    approvals = CounterMetricFamily(
        "govcloud_approvals",
        "Cutover approvals by outcome: granted, refused (e.g. a self-approval) or withdrawn "
        "(by a reject).",
        labels=["outcome"],
    )
    for outcome in APPROVAL_OUTCOMES:
        approvals.add_metric([outcome], snapshot.approvals.get(outcome, 0))
    return approvals


def warm_families(snapshot: FleetSnapshot) -> Iterator[Metric]:
    """Warm migration's way there and back: replica freshness, rehearsals, reverts."""
    yield GaugeMetricFamily(
        "govcloud_oldest_ready_replica_age_seconds",
        "Time since the last pass of the stalest replica among systems ready to cut over "
        "(ready or rehearsing); 0 if none.",
        value=snapshot.oldest_ready_replica_age_s,
    )
    rehearsals = CounterMetricFamily(
        "govcloud_rehearsals", "Rehearsals (test migrations) by result.", labels=["result"]
    )
    for result in REHEARSAL_RESULTS:
        rehearsals.add_metric([result], snapshot.rehearsals.get(result, 0))
    yield rehearsals
    reverts = CounterMetricFamily(
        "govcloud_reverts",
        "Finished reverts of completed systems: reverted (data synced back) or failed.",
        labels=["result"],
    )
    for result in REVERT_RESULTS:
        reverts.add_metric([result], snapshot.reverts.get(result, 0))
    yield reverts


def node_families(nodes: tuple[NodeFigures, ...]) -> Iterator[Metric]:
    """Per node: capacity, allocatable and allocated of each resource, and whether it is online."""
    return _target_families("node", "City node", nodes)


def platform_families(snapshot: FleetSnapshot) -> Iterator[Metric]:
    """Per connected PRD platform, apart from the nodes: the same figures, labelled ``platform``;
    and per PRD platform whether it is connected."""
    yield from _target_families("platform", "Connected PRD platform", snapshot.platforms)
    connected = {platform.node for platform in snapshot.platforms}
    family = GaugeMetricFamily(
        "govcloud_platform_connected",
        "1 if the PRD platform is connected (by gov.cloud.platform.connected), else 0.",
        labels=["platform"],
    )
    for platform in sorted({*snapshot.platform_ids, *connected}):
        family.add_metric([platform], 1 if platform in connected else 0)
    yield family


def _target_families(label: str, title: str, targets: tuple[NodeFigures, ...]) -> Iterator[Metric]:
    """``govcloud_<label>_<resource>_<amount>`` and ``govcloud_<label>_online``, by ``label``."""
    for resource, unit, what in RESOURCES:
        for kind, doc in AMOUNTS:
            family = GaugeMetricFamily(
                f"govcloud_{label}_{resource}_{kind}{unit}",
                f"{title} {what}: {doc}.",
                labels=[label],
            )
            for target in targets:
                family.add_metric([target.node], target.resource(resource).amount(kind))
            yield family
    online = GaugeMetricFamily(
        f"govcloud_{label}_online",
        f"1 if the {title[0].lower()}{title[1:]} takes new allocations.",
        labels=[label],
    )
    for target in targets:
        online.add_metric([target.node], 1 if target.online else 0)
    yield online


def system_families(snapshot: FleetSnapshot) -> Iterator[Metric]:
    """Systems by state and by wave, finished migrations, and what is in flight."""
    systems = GaugeMetricFamily("govcloud_systems", "Systems in each state.", labels=["state"])
    for state in SystemState:
        systems.add_metric([str(state)], snapshot.systems.get(state, 0))
    yield systems
    by_wave = GaugeMetricFamily(
        "govcloud_systems_by_wave", "Systems in each wave and state.", labels=["wave", "state"]
    )
    for wave in sorted({wave for wave, _ in snapshot.systems_by_wave}, key=_wave_order):
        for state in SystemState:
            by_wave.add_metric([wave, str(state)], snapshot.systems_by_wave.get((wave, state), 0))
    yield by_wave
    migrations = CounterMetricFamily(
        "govcloud_migrations",
        "Finished migrations by outcome: audited transitions into each terminal state.",
        labels=["outcome"],
    )
    for outcome in OUTCOMES:
        migrations.add_metric([outcome], snapshot.migrations.get(outcome, 0))
    yield migrations
    yield _inflight_family(snapshot)


def progress_families(snapshot: FleetSnapshot) -> Iterator[Metric]:
    """Item 三十 progress: nodes online, PRD platforms connected, IPv6, and stuck systems."""
    online = sum(1 for node in snapshot.nodes if node.online)
    yield GaugeMetricFamily("govcloud_nodes_online", "City nodes online.", value=online)
    yield GaugeMetricFamily(
        "govcloud_prd_platforms_connected",
        "PRD self-built clouds connected, as gov.cloud.platform.connected/disconnected left them.",
        value=len(snapshot.platforms),
    )
    yield GaugeMetricFamily(
        "govcloud_systems_ipv6",
        "Completed systems with an IPv6 address recorded (given at cutover on an IPv6 node).",
        value=snapshot.systems_ipv6,
    )
    yield GaugeMetricFamily(
        "govcloud_oldest_active_system_age_seconds",
        "Time since the oldest system in a phase (placed..verifying, rolling_back) last moved.",
        value=snapshot.oldest_active_age_s,
    )


def _inflight_family(snapshot: FleetSnapshot) -> Metric:
    # Every target x phase is exported, zeros included, so a phase that empties
    # reads 0 on the dashboard instead of the series going stale. The label is the
    # target's id: a node's, or a connected platform's (systems move, not capacity).
    inflight = GaugeMetricFamily(
        "govcloud_inflight_systems",
        "Systems in a phase now, by target (node or PRD platform) and phase.",
        labels=["node", "phase"],
    )
    targets = (*snapshot.nodes, *snapshot.platforms)
    keys = {(target.node, phase) for target in targets for phase in INFLIGHT_PHASES}
    for node, phase in sorted(keys | set(snapshot.inflight)):
        inflight.add_metric([node, phase], snapshot.inflight.get((node, phase), 0))
    return inflight


def _wave_order(wave: str) -> tuple[int, int]:
    """Waves in numeric order, ``none`` last."""
    return (1, 0) if not wave.isdigit() else (0, int(wave))


def calendar_families(calendar: Calendar, now: datetime) -> Iterator[Metric]:
    """Each maintenance window: whether it is open, and when its current or next one starts;
    each freeze: whether it is on. From the calendar and the clock, not the store."""
    opens = GaugeMetricFamily(
        "govcloud_maintenance_window_next_start_timestamp_seconds",
        "When the window's current (if open) or next occurrence starts, Unix time; a window "
        "with none in the next 8 days is left out.",
        labels=["window"],
    )
    open_now = GaugeMetricFamily(
        "govcloud_maintenance_window_open",
        "1 while the window is open, else 0.",
        labels=["window"],
    )
    frozen = GaugeMetricFamily(
        "govcloud_freeze_on", "1 while the freeze is on, else 0.", labels=["freeze"]
    )
    ahead = calendar.occurrences(now - timedelta(days=1), now + timedelta(days=8))
    current = [o for o in ahead if o.closes_at > now]
    for window in calendar.windows:
        found = next((o for o in current if o.kind == "window" and o.name == window.name), None)
        if found is not None:
            opens.add_metric([window.name], found.opens_at.timestamp())
        open_now.add_metric([window.name], int(found is not None and found.opens_at <= now))
    for freeze in calendar.freezes:
        frozen.add_metric([freeze.name], int(freeze.starts_at <= now < freeze.ends_at))
    yield opens
    yield open_now
    yield frozen
