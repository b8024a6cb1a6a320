"""What a run and a system cost on the lab: the linear model under the lab wave's ratio.

Needs root (it brings up ``govmig lab`` on two nodes in a temporary directory
and takes it down at the end). Two waves go through every forward phase with
the real phase worker and ``ssh`` role, one playbook run at a time so nothing
overlaps: the first with one system per node, the second with ``--per-node``
systems per node. Both run the same 5 playbook runs (one per phase, both nodes
in each batch), so with wall = runs x F + systems x m the two waves give:

* F, what one run costs whatever it holds (ansible-runner and ansible-playbook
  start-up, inventory, the SSH logins and Mitogen's bootstrap on each host);
* m, what each system adds to the runs it is in (its task executions: the
  controller's work per task and host, and the work on the hosts).

From them it prints the bound those costs put on batching: a system migrated
alone costs 5F + m, one in a batch of b costs 5F/b + m, so at b systems per
run the batched worker can be at most (5F + m) / (5F/b + m) times faster than
one run per system per phase, and never more than (5F + m) / m; and the
controller time per task execution, m over the task executions per system
(counted from the second wave's job events). Against that, Ansible's own floor
on this machine: the time per task execution of a playbook of ``FLOOR_TASKS``
``command: true`` tasks on ``FLOOR_HOSTS`` local hosts, with the strategy the
worker uses, less the same playbook without tasks.

Run as root: ``python -m bench.lab_cost [--per-node 6]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import ansible_runner

from bench.lab_wave import SEED_BYTES, runner
from bench.wave_rig import TimedExecutor, WaveTiming, placed_store, run_wave, wave_systems
from orchestrator.execution.runner import kept_events
from orchestrator.execution.strategy import choose_strategy
from orchestrator.inventory import Inventory, load_inventory
from orchestrator.inventory.models import BusinessSystem
from orchestrator.lab import Lab, LabOptions, LabPaths, choose_nodes, seed_systems
from orchestrator.migrations import FORWARD_PHASES
from orchestrator.providers import SshProvider
from orchestrator.providers.ssh_hosts import load_ssh_hosts
from orchestrator.worker.scheduling import Limits

NODES = 2
FLOOR_TASKS, FLOOR_HOSTS = 40, 6
# One run at a time: the model needs runs that do not share the two cores.
SERIAL = Limits(batch_size=100, max_batches=1, batch_window_s=0.5)


@dataclass(frozen=True)
class Costs:
    """The model's two figures, from a wave of one system per node and one of ``per_node``."""

    run_s: float  # F
    system_s: float  # m
    per_node: int

    @classmethod
    def solve(cls, single: WaveTiming, batched: WaveTiming, per_node: int) -> Costs:
        """F and m from the two waves (same runs, different systems)."""
        system_s = (batched.wall_s - single.wall_s) / (batched.systems - single.systems)
        return cls((single.wall_s - single.systems * system_s) / single.runs, system_s, per_node)

    @property
    def alone_s(self) -> float:
        """A system migrated alone: one run per phase, 5F + m."""
        return len(FORWARD_PHASES) * self.run_s + self.system_s

    def ratio_bound(self, batch: float) -> float:
        """How much faster a batch of ``batch`` systems per run can be than one system per run."""
        return self.alone_s / (len(FORWARD_PHASES) * self.run_s / batch + self.system_s)


def wave(
    base: Path, inventory: Inventory, pool: Sequence[BusinessSystem], nodes: Sequence[str]
) -> WaveTiming:
    """``pool`` through the real worker, runs one at a time, on a lab of its own.

    A lab of its own: a store numbers its systems' addresses from 1, so a second
    wave on the same hosts would bind addresses the first one's services hold.
    """
    lab = Lab(LabPaths.under(base / "lab"), inventory)
    try:
        lab.up(LabOptions(nodes=nodes, per_node=1, sources=1))
        systems = seed_systems(lab, pool, size=SEED_BYTES)
        provider = SshProvider(hosts=load_ssh_hosts(lab.paths.root / "hosts.yml"))
        store = placed_store(base / "store.db", inventory, systems, nodes)
        try:
            executor = TimedExecutor(runner(base, "runs", provider))
            timing = run_wave(
                store, inventory, executor, limits=SERIAL, systems=len(systems), provider=provider
            )
            if timing.completed != len(systems):
                raise SystemExit(
                    f"{timing.completed} of {len(systems)}: {'; '.join(timing.failures)}"
                )
        finally:
            store.close()
    finally:
        lab.down()
    return timing


def task_executions(artifacts: Path) -> Counter[str]:
    """Task executions per inventory host (a system) over every run under ``artifacts``."""
    started: Counter[str] = Counter()
    for run_dir in artifacts.iterdir():
        for event in kept_events(run_dir):
            if event.get("event") == "runner_on_start":
                started[str(event["event_data"].get("host"))] += 1
    return started


def floor_ms(base: Path) -> float:
    """Milliseconds per task execution of trivial tasks on local hosts, start-up excluded."""
    strategy, _why = choose_strategy(use_mitogen=True)
    python = sys.executable
    hosts = {f"h{i}": {"ansible_connection": "local", "ansible_python_interpreter": python}
             for i in range(FLOOR_HOSTS)}  # fmt: skip
    task = {"ansible.builtin.command": "true", "changed_when": False}

    def timed(tasks: int) -> float:
        play = [{"hosts": "all", "gather_facts": False, "tasks": [task] * tasks}]
        (base / "floor.yml").write_text(json.dumps(play))
        (base / f"floor-{tasks}").mkdir()
        started = time.monotonic()
        result = ansible_runner.run(
            private_data_dir=str(base / f"floor-{tasks}"), playbook=str(base / "floor.yml"),
            inventory={"all": {"hosts": hosts}}, envvars=strategy.envvars, forks=10, quiet=True,
        )  # fmt: skip
        if result.rc != 0:
            raise SystemExit(f"the floor playbook failed: rc {result.rc}")
        return time.monotonic() - started

    empty = timed(0)
    return 1000 * (timed(FLOOR_TASKS) - empty) / (FLOOR_TASKS * FLOOR_HOSTS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-node", type=int, default=6, help="systems per node, second wave")
    args = parser.parse_args()
    if args.per_node < 2:
        parser.error("--per-node must be at least 2")
    inventory = load_inventory()
    nodes = choose_nodes(inventory, [])[:NODES]
    pool = wave_systems(NODES * (1 + args.per_node), groups=False)
    with tempfile.TemporaryDirectory(prefix="govmig-lab-cost-") as tmp:
        single = wave(Path(tmp) / "single", inventory, pool[:NODES], nodes)
        batched = wave(Path(tmp) / "batched", inventory, pool[NODES:], nodes)
        tasks = task_executions(Path(tmp) / "batched" / "runs" / "artifacts")
        floor = floor_ms(Path(tmp))
    report(single, batched, Costs.solve(single, batched, args.per_node), tasks, floor)


def report(
    single: WaveTiming, batched: WaveTiming, costs: Costs, tasks: Counter[str], floor: float
) -> None:
    """Print both waves, the model and its bounds."""
    per_system_tasks = sum(tasks.values()) / max(1, len(tasks))
    print(f"{'wave (one run at a time)':<34} {'sys':>4} {'runs':>5} {'wall s':>8}")
    for label, timing in (
        ("one system per node", single),
        ("per node: " + str(costs.per_node), batched),
    ):
        print(f"{label:<34} {timing.systems:>4} {timing.runs:>5} {timing.wall_s:>8.1f}")
    print(f"F, one run whatever it holds:      {costs.run_s:.2f} s")
    print(f"m, each system in its runs:        {costs.system_s:.2f} s")
    print(f"task executions per system:        {per_system_tasks:.0f}")
    print(f"m per task execution:              {1000 * costs.system_s / per_system_tasks:.0f} ms")
    print(f"Ansible's floor per task execution: {floor:.0f} ms ({FLOOR_TASKS} x command: true, "
          f"{FLOOR_HOSTS} local hosts)")  # fmt: skip
    print(f"a system alone, 5 runs (5F + m):   {costs.alone_s:.1f} s")
    for batch in (2, 10, 28):
        print(f"batching bound at {batch:>2} per run:        {costs.ratio_bound(batch):.1f}x")
    print(f"batching bound, any batch:         {costs.ratio_bound(float('inf')):.1f}x")


if __name__ == "__main__":
    main()
