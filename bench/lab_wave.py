"""A wave of real systems on the lab: batched worker against one run per system per phase.

Needs root (it brings up ``govmig lab`` in a temporary directory and takes it
down at the end). Two waves of ``--systems`` catalogue systems (default 28, two
per node on the 14 nodes), each seeded on the lab's source hosts with small
data, go through every forward phase with the real ``ssh`` provider's role:

(a) through the real ``PhaseWorker``: one ansible-runner invocation per
    batch of one phase (the lab's nodes all run from here, so a batch spans
    nodes; at most ``--batch-size`` systems), ``--max-batches`` at a time;
(b) as rule-based event automation does it: one ansible-runner invocation per
    system per phase (each system's phases in order), ``--max-batches``
    systems at a time: the same playbooks, hosts and concurrency.

It prints the wall time of each, their ratio (target >= 10), the wall time
per system of (a) (the data is a few KiB, so this is orchestration and Ansible,
not copying; target <= 1 s with Mitogen), the share of (a)'s wall time
outside any ansible-runner invocation, and for each wave the CPU time and the
SSH logins (to the hosts, and to the bastion) per system. With ``--tasks`` it
also prints where each run of (a) spent its time, task by task (``bench.task_times``).

With ``--hardened``, the lab is a hardened site's: the logins go through a
bastion, as a user that becomes root with sudo (which asks its password, as
Mitogen answers it, for all but rsync), to sshd on port 2222.

Run as root: ``python -m bench.lab_wave [--systems 28] [--max-batches 4] [--batch-size 50]
[--hardened] [--tasks]``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import tempfile
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench import task_times
from bench.cgroups import Cgroup
from bench.cpu_split import cpu_groups
from bench.wave_rig import TimedExecutor, WaveTiming, placed_store, run_wave, wave_systems
from orchestrator.data_files import PLAYBOOK_DIR
from orchestrator.execution import SystemTarget
from orchestrator.execution.reports import downtime_seconds
from orchestrator.execution.runner import PhaseRunner
from orchestrator.inventory import Inventory, load_inventory
from orchestrator.inventory.models import BusinessSystem
from orchestrator.lab import Lab, LabOptions, LabPaths, choose_nodes, seed_systems
from orchestrator.lab.network import lab_namespaces, pids_in
from orchestrator.lab.topology import BASTION
from orchestrator.migrations import FORWARD_PHASES
from orchestrator.providers import SshProvider
from orchestrator.providers.ssh_hosts import load_ssh_hosts
from orchestrator.worker.scheduling import Limits
from orchestrator.worker.targets import node_targets

SEED_BYTES = 64 * 1024
# Host numbers for the baseline's systems, clear of those the worker hands out (1, 2, ...).
BASELINE_INDEX = 200


# A hardened site's sshd port (--hardened).
HARDENED_PORT = 2222


def lab_options(nodes: Sequence[str], *, hardened: bool) -> LabOptions:
    """One target per node and 3 sources; a hardened site's logins go through a bastion, as
    a user that becomes root with sudo (asking its password), to sshd on ``HARDENED_PORT``."""
    plain = LabOptions(nodes=tuple(nodes), per_node=1, sources=3)
    site = {
        "login_user": "govmig-ops",
        "sudo_password": True,
        "bastion": True,
        "ssh_port": HARDENED_PORT,
    }
    return LabOptions.model_validate(plain.model_dump() | site) if hardened else plain


def runner(base: Path, name: str, provider: SshProvider, forks: int = 10) -> PhaseRunner:
    """A runner of the ssh role writing its artifacts under ``base/name``."""
    return PhaseRunner(
        playbook_dir=PLAYBOOK_DIR,
        artifacts_dir=base / name / "artifacts",
        provider=provider,
        keep_artifacts=20,
        forks=forks,
    )


def batched(
    base: Path,
    inventory: Inventory,
    provider: SshProvider,
    systems: Sequence[BusinessSystem],
    nodes: Sequence[str],
    limits: Limits,
    forks: int = 10,
) -> WaveTiming:
    """The wave through the real worker."""
    store = placed_store(base / "batched.db", inventory, systems, nodes)
    try:
        executor = TimedExecutor(runner(base, "batched", provider, forks))
        return run_wave(
            store, inventory, executor, limits=limits, systems=len(systems), provider=provider
        )
    finally:
        store.close()


def per_system(
    base: Path,
    inventory: Inventory,
    provider: SshProvider,
    systems: Sequence[BusinessSystem],
    nodes: Sequence[str],
    concurrency: int,
) -> tuple[float, int, int, list[float]]:
    """Wall time, invocations, systems completed and their cutovers' downtimes, one
    invocation per system per phase."""
    each = runner(base, "per-system", provider)
    targets = node_targets(inventory.nodes)

    def one(index: int) -> tuple[bool, float | None]:
        """Whether every phase succeeded, and the downtime its cutover measured."""
        node, system = targets[nodes[index % len(nodes)]], systems[index]
        target = SystemTarget(
            system_id=system.id, vcpu=system.vcpu, memory_gb=system.memory_gb,
            storage_gb=system.storage_gb, ipv6_index=BASELINE_INDEX + index,
            free_vcpu=10**6, free_memory_gb=10**6, free_storage_gb=10**8, source=system.source,
        )  # fmt: skip
        downtime = None
        for phase in FORWARD_PHASES:
            result = each.run(phase, [(node, [target])], secrets=provider.secrets())
            if not result.ok:
                return False, downtime
            if (measured := downtime_seconds(phase, result.outcome(system.id).report)) is not None:
                downtime = measured
        return True, downtime

    started = time.monotonic()
    with ThreadPoolExecutor(concurrency) as pool:
        ends = list(pool.map(one, range(len(systems))))
    downtimes = [downtime for _, downtime in ends if downtime is not None]
    return time.monotonic() - started, each.invocations, sum(ok for ok, _ in ends), downtimes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", type=int, default=28, help="systems per wave")
    parser.add_argument("--max-batches", type=int, default=4, help="runs at a time, both ways")
    parser.add_argument("--batch-size", type=int, default=50, help="systems per batched run")
    parser.add_argument("--forks", type=int, default=10, help="Ansible forks of a batched run")
    parser.add_argument(
        "--hardened",
        action="store_true",
        help="a hardened site's lab: logins through a bastion, as a user become root with "
        f"sudo (asking its password), on port {HARDENED_PORT}",
    )
    parser.add_argument(
        "--tasks", action="store_true", help="where each batched run's time went, task by task"
    )
    args = parser.parse_args()
    inventory = load_inventory()
    nodes = choose_nodes(inventory, [])
    pool = wave_systems(2 * args.systems, groups=False)
    limits = Limits(batch_size=args.batch_size, max_batches=args.max_batches, batch_window_s=0.5)
    with tempfile.TemporaryDirectory(prefix="govmig-lab-wave-") as tmp:
        base = Path(tmp)
        lab = Lab(LabPaths.under(base / "lab"), inventory)
        try:
            lab.up(lab_options(nodes, hardened=args.hardened))
            systems = seed_systems(lab, pool, size=SEED_BYTES)
            provider = SshProvider(hosts=load_ssh_hosts(lab.paths.root / "hosts.yml"))
            with cpu_groups("controller", "hosts") as groups:
                if groups is not None:
                    groups["hosts"].add(pid for ns in lab_namespaces() for pid in pids_in(ns))
                    groups["controller"].add([os.getpid()])
                report(lab, base, inventory, provider, systems, nodes, limits, args, groups)
        finally:
            lab.down()


def report(
    lab: Lab,
    base: Path,
    inventory: Inventory,
    provider: SshProvider,
    systems: Sequence[BusinessSystem],
    nodes: Sequence[str],
    limits: Limits,
    args: argparse.Namespace,
    groups: Mapping[str, Cgroup] | None,
) -> None:
    """Run both waves and print the table."""
    count = args.systems
    cpu, logins = [cpu_now(groups)], [logins_now(lab)]
    wave = batched(base, inventory, provider, systems[:count], nodes, limits, args.forks)
    cpu.append(cpu_now(groups))
    logins.append(logins_now(lab))
    baseline_s, runs, done, baseline_downtimes = per_system(
        base, inventory, provider, systems[count:], nodes, args.max_batches
    )
    cpu.append(cpu_now(groups))
    logins.append(logins_now(lab))
    print(f"{'measurement':<36} {'sys':>5} {'done':>5} {'runs':>5} {'wall s':>8} {'s/sys':>7}")
    print(
        f"{'(a) batched worker, ssh role':<36} {count:>5} {wave.completed:>5} {wave.runs:>5} "
        f"{wave.wall_s:>8.1f} {wave.wall_s / count:>7.2f}"
    )
    print(
        f"{'(b) one run per system per phase':<36} {count:>5} {done:>5} {runs:>5} "
        f"{baseline_s:>8.1f} {baseline_s / count:>7.2f}"
    )
    print(f"ratio (b) / (a): {baseline_s / wave.wall_s:.1f}x (target >= 10)")
    print(f"(a) per system: {wave.wall_s / count:.2f} s (target <= 1 s with Mitogen)")
    print(f"(a) outside ansible-runner: {100 * wave.outside_share:.1f}% of the wall time")
    for label, downtimes in (("(a)", wave.downtimes_s), ("(b)", baseline_downtimes)):
        print(f"{label} cutover downtime: {spread(downtimes)}")
    if groups is None:
        print("CPU per system: not measured (no cgroup hierarchy this process may write)")
    else:
        print("\n".join(cpu_lines(cpu, count, (wave.wall_s, baseline_s))))
    for label, before, after in (("(a)", logins[0], logins[1]), ("(b)", logins[1], logins[2])):
        made = {host: (after[host] - before.get(host, 0)) / count for host in after}
        bastion = f", {made.pop(BASTION):.1f} to the bastion" if BASTION in made else ""
        print(f"{label} SSH logins per system: {sum(made.values()):.1f} to the hosts{bastion}")
    for failure in wave.failures:
        print(f"(a) not completed: {failure}")
    if args.tasks:
        kept = (base / "batched" / "artifacts").glob("*/job_events")
        print("\n".join(task_times.report(sorted(path.parent for path in kept))))


def spread(seconds: Sequence[float]) -> str:
    """The median and the longest of ``seconds``, and how many there are."""
    if not seconds:
        return "none measured"
    return (
        f"median {statistics.median(seconds):.2f} s, longest {max(seconds):.2f} s"
        f" ({len(seconds)} systems)"
    )


def cpu_lines(
    cpu: Sequence[Mapping[str, float]], count: int, walls_s: Sequence[float]
) -> list[str]:
    """Each wave's CPU per system, from the groups' CPU seconds before (a), between the
    waves and after (b), with how many cores it kept busy, and the ratio of their CPU."""
    spent = [
        {name: (end[name] - start[name]) / count for name in end}
        for start, end in itertools.pairwise(cpu)
    ]
    lines = [
        f"{label} CPU per system: controller {each['controller']:.2f} s, lab hosts "
        f"{each['hosts']:.2f} s; cores busy {sum(each.values()) * count / wall_s:.2f}"
        f" of {os.cpu_count()}"
        for label, each, wall_s in zip(("(a)", "(b)"), spent, walls_s, strict=True)
    ]
    # The lab's hosts share this machine's cores: once both waves keep them all busy,
    # the wall ratio is this ratio.
    ratio = sum(spent[1].values()) / sum(spent[0].values())
    return [*lines, f"CPU ratio (b) / (a): {ratio:.1f}x"]


def logins_now(lab: Lab) -> dict[str, int]:
    """How many logins each lab host's sshd has accepted so far."""
    return {host: len(lines) for host, lines in lab.logins().items()}


def cpu_now(groups: Mapping[str, Cgroup] | None) -> dict[str, float]:
    """Each group's CPU seconds so far (nothing without groups)."""
    return {name: group.cpu_seconds() for name, group in (groups or {}).items()}


if __name__ == "__main__":
    main()
