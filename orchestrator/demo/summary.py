"""The demo's closing summary: what migrated, what it cost, and capacity against the plan.

What it cost is the bytes the wave's replication passes sent and each
migrated system's downtime (its source stopped to the first healthy answer
by name), both as the provider measured them.

Pure: rows from the store in, lines of text out. "As expected" means every
system completed, except those given an injected failure, which must have
rolled back with their source serving again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from orchestrator.capacity import NodeUsage, ResourceClass
from orchestrator.demo.scenario import DemoPlan
from orchestrator.inventory.plan import PLAN_MEMORY_GB, PLAN_STORAGE_GB, PLAN_SYSTEMS, PLAN_VCPU
from orchestrator.migrations.states import SystemState
from orchestrator.store import SystemRow

_PLAN = (
    (ResourceClass.VCPU, "vCPU", PLAN_VCPU, 1, ""),
    (ResourceClass.MEMORY_GB, "memory", PLAN_MEMORY_GB, 1000, " TB"),
    (ResourceClass.STORAGE_GB, "storage", PLAN_STORAGE_GB, 1000, " TB"),
)


@dataclass(frozen=True, slots=True)
class Summary:
    """Outcome counts, used capacity per resource, and whether it went as planned."""

    states: Counter[SystemState]
    used: dict[ResourceClass, int]
    unexpected: tuple[str, ...]
    moved: dict[str, int] = field(default_factory=dict)  # completed systems per node
    on_platforms: dict[str, int] = field(default_factory=dict)  # completed per PRD platform
    bytes_replicated: int = 0
    downtime_s: dict[str, float] = field(default_factory=dict)  # per migrated system

    @property
    def as_expected(self) -> bool:
        """True when every system ended where the demo meant it to."""
        return not self.unexpected

    def lines(self) -> list[str]:
        """The summary as printable lines."""
        done = self.states[SystemState.COMPLETED]
        out = [
            f"\nmigrated: {done}   rolled back: {self.states[SystemState.ROLLED_BACK]}   "
            f"failed: {self.states[SystemState.FAILED]}   (plan: {PLAN_SYSTEMS} city systems)"
        ]
        if self.moved:
            per_node = ", ".join(f"{node} {count}" for node, count in sorted(self.moved.items()))
            out.append(f"moved per node: {per_node}")
        out.extend(
            f"platform {platform}: {count} system{'s' if count != 1 else ''} moved"
            for platform, count in sorted(self.on_platforms.items())
        )
        out.append(f"replicated: {self.bytes_replicated:,} bytes")
        if self.downtime_s:
            worst = max(self.downtime_s.values())
            out.append(f"downtime (source stopped to healthy by name), worst {worst:.2f} s:")
            out.extend(_columns(f"{sid} {s:.2f} s" for sid, s in sorted(self.downtime_s.items())))
        for resource, label, target, scale, unit in _PLAN:
            used = self.used.get(resource, 0)
            out.append(
                f"{label:>8} allocated {used / scale:,.1f}{unit} of the plan's "
                f"{target / scale:,.0f}{unit} ({used / target:.3%})"
            )
        out.extend(f"[red]unexpected:[/] {line}" for line in self.unexpected)
        return out


def summarise(
    rows: Sequence[SystemRow],
    usage: Sequence[NodeUsage],
    plan: DemoPlan,
    bytes_sent: Mapping[str, int] | None = None,
) -> Summary:
    """Summarise the wave's final rows, the bytes each system's passes sent, and allocations."""
    wanted = {system.id for system in plan.wave}
    mine = [row for row in rows if row.id in wanted]
    missing = sorted(wanted - {row.id for row in mine})
    unexpected = [f"{system_id}: never registered" for system_id in missing]
    unexpected += [
        f"{row.id}: ended {row.state}, expected {expected}"
        + (f" ({row.last_error})" if row.last_error else "")
        for row in mine
        if row.state is not (expected := _expected(row.id, plan))
    ]
    unexpected += [
        f"{row.id}: moved to {row.node}, expected platform {plan.platforms[row.id]}"
        for row in mine
        if row.id in plan.platforms
        and row.state is SystemState.COMPLETED
        and row.node != plan.platforms[row.id]
    ]
    used: dict[ResourceClass, int] = {}
    for node in usage:
        for resource in ResourceClass:
            used[resource] = used.get(resource, 0) + node.used.get(resource, 0)
    done = [row for row in mine if row.state is SystemState.COMPLETED]
    platforms = set(plan.platforms.values())
    landed = [row.node for row in done if row.node]
    moved = Counter(node for node in landed if node not in platforms)
    on_platforms = Counter(node for node in landed if node in platforms)
    sent = bytes_sent or {}
    downtime = {row.id: row.downtime_seconds for row in done if row.downtime_seconds is not None}
    return Summary(
        Counter(row.state for row in mine),
        used,
        tuple(unexpected),
        dict(moved),
        dict(on_platforms),
        bytes_replicated=sum(sent.get(row.id, 0) for row in mine),
        downtime_s=downtime,
    )


def _columns(cells: Iterable[str], width: int = 3) -> list[str]:
    """``cells`` laid out ``width`` to a line, each padded to the widest."""
    items = list(cells)
    pad = max((len(cell) for cell in items), default=0) + 3
    return [
        "  " + "".join(cell.ljust(pad) for cell in items[i : i + width]).rstrip()
        for i in range(0, len(items), width)
    ]


def _expected(system_id: str, plan: DemoPlan) -> SystemState:
    return SystemState.ROLLED_BACK if system_id in plan.failures else SystemState.COMPLETED
