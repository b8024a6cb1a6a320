"""A wave moved by the real phase worker, on a fresh SQLite store, timed from outside.

Used by ``bench/wave.py``. ``placed_store`` registers N catalogue systems and
places them round-robin on K nodes through the engine (``apply_cause``), as the
intake would; ``run_wave`` starts a ``PhaseWorker`` exactly as ``govmig run``
configures it (minus Kafka: nothing here needs the bus) and waits until no
system is placed or in a phase. ``TimedExecutor`` wraps the ``PhaseRunner`` and
records when each ansible-runner invocation ran, so the time spent outside
ansible-runner (scheduling, leases, the store) can be told apart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.engine import CauseContext, apply_cause
from orchestrator.execution import NodeWork, RunResult
from orchestrator.execution.runner import PhaseRunner
from orchestrator.inventory import Inventory, generate_catalogue
from orchestrator.inventory.cutover_policy import ApprovalPolicy, CutoverPolicy
from orchestrator.inventory.models import BusinessSystem
from orchestrator.migrations import (
    ACTIVE_PHASE_STATES,
    Phase,
    Register,
    RequestMigration,
    SystemState,
)
from orchestrator.store import Store, count_by_state, list_systems, open_store, seed_nodes
from orchestrator.worker.phase_worker import PhaseWorker
from orchestrator.worker.ports import WorkerConfig, WorkerProvider
from orchestrator.worker.replication import Replication
from orchestrator.worker.scheduling import Limits
from orchestrator.worker.targets import node_targets

CONTEXT = CauseContext(component="bench")
MOVING = frozenset({SystemState.PLACED, *ACTIVE_PHASE_STATES})


@dataclass
class TimedExecutor:
    """A ``PhaseRunner`` whose every invocation is timed (monotonic start, end)."""

    runner: PhaseRunner
    intervals: list[tuple[float, float]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(
        self,
        phase: Phase,
        work: Sequence[NodeWork],
        *,
        cancel: threading.Event | None = None,
        secrets: Mapping[str, str] | None = None,
    ) -> RunResult:
        """Run the batch and note when."""
        started = time.monotonic()
        try:
            return self.runner.run(phase, work, cancel=cancel, secrets=secrets)
        finally:
            with self._lock:
                self.intervals.append((started, time.monotonic()))

    def busy_s(self) -> float:
        """Seconds during which at least one invocation ran (overlaps counted once)."""
        total, end = 0.0, float("-inf")
        for start, stop in sorted(self.intervals):
            if stop > end:
                total += stop - max(start, end)
                end = stop
        return total


def wave_systems(count: int, *, groups: bool = True) -> list[BusinessSystem]:
    """``count`` catalogue systems (the catalogue's own mix of sizes); with ``groups=False``,
    only systems outside any dependency group (whose members cut over in dependency order)."""
    if groups:
        return generate_catalogue(count)
    # About half the catalogue is in no group: thrice the count is enough, and at least
    # 200, so that the lab benchmarks' small waves are the systems they always were.
    alone = [s for s in generate_catalogue(max(200, 3 * count)) if not s.depends_on][:count]
    if len(alone) < count:
        raise ValueError(f"the catalogue has only {len(alone)} systems in no group")
    return alone


def placed_store(
    db: Path, inventory: Inventory, systems: Sequence[BusinessSystem], nodes: Sequence[str]
) -> Store:
    """A fresh store holding ``systems`` placed round-robin on ``nodes``, all in wave 1."""
    store = open_store(f"sqlite:///{db}")
    with store.transaction() as session:
        seed_nodes(session, inventory.nodes.values())
        for index, system in enumerate(systems):
            apply_cause(session, system.id, Register(), context=CONTEXT, record=system)
            node = nodes[index % len(nodes)]
            request = RequestMigration(target_node=node, wave=1, requested_by="bench")
            apply_cause(session, system.id, request, context=CONTEXT)
    return store


@dataclass(frozen=True)
class WaveTiming:
    """One wave through the worker: wall time, time inside ansible-runner, runs, outcome."""

    wall_s: float
    busy_s: float
    runs: int
    completed: int
    systems: int
    # Each system that did not complete: "id state: last error".
    failures: tuple[str, ...] = ()
    # Each cutover's downtime the providers measured, in seconds.
    downtimes_s: tuple[float, ...] = ()

    @property
    def outside_share(self) -> float:
        """Share of the wall time no ansible-runner invocation was running."""
        return max(0.0, self.wall_s - self.busy_s) / self.wall_s if self.wall_s else 0.0


# The benchmarks measure the moves, not change control: no system waits for an approval.
NO_APPROVALS = Replication(
    cutover=CutoverPolicy(approval=ApprovalPolicy(criticalities=frozenset()))
)


def run_wave(
    store: Store,
    inventory: Inventory,
    executor: TimedExecutor,
    *,
    limits: Limits,
    systems: int,
    timeout_s: float = 1800.0,
    provider: WorkerProvider | None = None,
) -> WaveTiming:
    """Start a worker, wait until every system has finished moving, stop it."""
    worker = PhaseWorker(
        store,
        executor,
        nodes=node_targets(inventory.nodes),
        # The worker's own poll interval: a batch that ends wakes it at once, so
        # polling faster only spends the cores the runs need.
        config=WorkerConfig(instance_id="bench", limits=limits, replication=NO_APPROVALS),
        provider=provider,
    )
    started = time.monotonic()
    worker.start()
    try:
        counts = _wait_until_still(store, started + timeout_s)
    finally:
        worker.stop()
    wall = time.monotonic() - started
    with store.transaction() as session:
        rows = list_systems(session)
    failures = tuple(
        f"{row.id} {row.state.value}: {row.last_error}"
        for row in rows
        if row.state is not SystemState.COMPLETED
    )
    return WaveTiming(
        wall_s=wall,
        busy_s=executor.busy_s(),
        runs=executor.runner.invocations,
        completed=counts[SystemState.COMPLETED],
        systems=systems,
        failures=failures,
        downtimes_s=tuple(row.downtime_seconds for row in rows if row.downtime_seconds is not None),
    )


def _wait_until_still(store: Store, deadline: float) -> dict[SystemState, int]:
    while True:
        with store.transaction() as session:
            counts = count_by_state(session)
        if sum(counts[state] for state in MOVING) == 0 or time.monotonic() > deadline:
            return counts
        time.sleep(0.2)
