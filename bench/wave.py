"""A wave of systems through every phase: batched worker against one run per system per phase.

Three measurements, each printed with the figures it was measured against:

(a) orchestration overhead: the same wave of ``--systems`` systems on
    ``--nodes`` nodes goes through every forward phase twice, with the trivial
    playbooks of ``bench/playbooks/`` (one ``set_fact`` per phase, so what is
    timed is ansible-runner and the orchestrator, not work): once through the
    real ``PhaseWorker`` (one ansible-runner invocation per batch of one
    phase, across the nodes), once as rule-based event automation does it,
    one invocation per system per phase (each system's phases in order,
    ``--max-batches`` systems at a time, the same concurrency the worker
    gets). Target: ratio >= 10.
(b) ``--large`` systems (default 500) through every phase, batched, same
    playbooks. Target: < 90 s. About a third of the catalogue's systems are
    in dependency groups, whose members cut over once all are ready, each
    after those it depends on completed: their cutovers and verifies come in
    smaller batches as the groups get there. So the wave runs again with as
    many systems in no group, which one run per batch of each phase moves.
(c) the real ``local`` provider playbooks for ``--local-systems`` systems, with
    and without Mitogen, through the worker: wall time per system, and the
    share of wall time during which no ansible-runner invocation was running
    (scheduling, leases, the store). Target: < 5 %.

Run ``python -m bench.wave [--systems 50] [--nodes 5] [--large 500]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.wave_rig import TimedExecutor, WaveTiming, placed_store, run_wave, wave_systems
from orchestrator.data_files import PLAYBOOK_DIR
from orchestrator.execution import NodeTarget, SystemTarget
from orchestrator.execution.runner import PhaseRunner
from orchestrator.inventory import Inventory, load_inventory
from orchestrator.migrations import FORWARD_PHASES
from orchestrator.providers import LocalProvider
from orchestrator.providers.local_sandbox import prepare_source, stop_services
from orchestrator.worker.scheduling import Limits
from orchestrator.worker.targets import node_targets

BENCH_PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"


def runner(base: Path, name: str, *, playbooks: Path, mitogen: bool = True) -> PhaseRunner:
    """A runner writing its artifacts and sandbox under ``base/name``."""
    return PhaseRunner(
        playbook_dir=playbooks,
        artifacts_dir=base / name / "artifacts",
        provider=LocalProvider(work_root=base / name / "work"),
        use_mitogen=mitogen,
        keep_artifacts=20,
    )


def batched(base: Path, inventory: Inventory, count: int, nodes: Sequence[str], limits: Limits,
            name: str, *, groups: bool = True) -> WaveTiming:  # fmt: skip
    """``count`` systems through the worker with the trivial playbooks (``groups=False``:
    none in a dependency group)."""
    systems = wave_systems(count, groups=groups)
    store = placed_store(base / f"{name}.db", inventory, systems, nodes)
    try:
        executor = TimedExecutor(runner(base, name, playbooks=BENCH_PLAYBOOKS))
        return run_wave(store, inventory, executor, limits=limits, systems=count)
    finally:
        store.close()


def per_system(base: Path, inventory: Inventory, count: int, nodes: Sequence[str],
               concurrency: int) -> tuple[float, int]:  # fmt: skip
    """Wall time and invocations of one ansible-runner run per system per phase."""
    each = runner(base, "per-system", playbooks=BENCH_PLAYBOOKS)
    targets = node_targets(inventory.nodes)
    systems = wave_systems(count)

    def one(index: int) -> None:
        node: NodeTarget = targets[nodes[index % len(nodes)]]
        system = systems[index]
        target = SystemTarget(
            system_id=system.id, vcpu=system.vcpu, memory_gb=system.memory_gb,
            storage_gb=system.storage_gb, ipv6_index=index + 1,
            free_vcpu=10**6, free_memory_gb=10**6, free_storage_gb=10**8, source=system.source,
        )  # fmt: skip
        for phase in FORWARD_PHASES:
            result = each.run(phase, [(node, [target])])
            if not result.ok:
                raise SystemExit(f"baseline {phase} failed for {system.id}: {result.outcomes}")

    started = time.monotonic()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(count)))
    return time.monotonic() - started, each.invocations


def local(base: Path, inventory: Inventory, count: int, nodes: Sequence[str], limits: Limits,
          *, mitogen: bool) -> WaveTiming:  # fmt: skip
    """``count`` systems moved for real by the ``local`` provider's playbooks."""
    name = "mitogen" if mitogen else "linear"
    systems = wave_systems(count)
    run, work = (
        runner(base, name, playbooks=PLAYBOOK_DIR, mitogen=mitogen),
        base / name / "work",
    )
    for system in systems:
        prepare_source(work, system.id, 4, 32_000, seed="bench")
    store = placed_store(base / f"{name}.db", inventory, systems, nodes)
    try:
        return run_wave(store, inventory, TimedExecutor(run), limits=limits, systems=count)
    finally:
        store.close()
        stop_services(work)


def row(label: str, timing: WaveTiming) -> str:
    """One line of the results table."""
    return (
        f"{label:<34} {timing.systems:>6} {timing.runs:>6} {timing.wall_s:>9.1f} "
        f"{timing.wall_s / timing.systems:>9.3f} {100 * timing.outside_share:>8.1f}% "
        f"{timing.completed:>6}"
    )


HEADER = (
    f"{'measurement':<34} {'sys':>6} {'runs':>6} {'wall s':>9} {'s/system':>9} "
    f"{'outside':>9} {'done':>6}"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", type=int, default=50, help="wave size for (a) and (c)")
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--large", type=int, default=500, help="wave size for (b); 0 skips it")
    parser.add_argument("--local-systems", type=int, default=20, help="(c); 0 skips it")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--max-batches", type=int, default=4)
    args = parser.parse_args()
    inventory = load_inventory()
    nodes = sorted(node_targets(inventory.nodes))[: args.nodes]
    limits = Limits(batch_size=args.batch_size, max_batches=args.max_batches, batch_window_s=0.2)
    print(HEADER)
    with tempfile.TemporaryDirectory(prefix="govmig-wave-") as tmp:
        base = Path(tmp)
        wave = batched(base, inventory, args.systems, nodes, limits, "batched")
        print(row("(a) batched worker, trivial", wave))
        baseline_s, baseline_runs = per_system(
            base, inventory, args.systems, nodes, args.max_batches
        )
        print(
            f"{'(a) one run per system per phase':<34} {args.systems:>6} {baseline_runs:>6} "
            f"{baseline_s:>9.1f} {baseline_s / args.systems:>9.3f}"
        )
        print(f"    ratio per-system / batched: {baseline_s / wave.wall_s:.1f}x (target >= 10)")
        if args.large:
            large = batched(base, inventory, args.large, nodes, limits, "large")
            print(row("(b) batched worker, trivial", large))
            print(
                f"    {args.large} systems through every phase: {large.wall_s:.1f} s (target < 90)"
            )
            alone = batched(base, inventory, args.large, nodes, limits, "alone", groups=False)
            print(row("(b) the same, in no group", alone))
        if args.local_systems:
            for mitogen in (True, False):
                moved = local(base, inventory, args.local_systems, nodes, limits, mitogen=mitogen)
                label = f"(c) local playbooks, {'mitogen' if mitogen else 'linear'}"
                print(row(label, moved))


if __name__ == "__main__":
    main()
