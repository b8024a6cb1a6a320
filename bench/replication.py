"""Replication throughput: the ssh provider's replicate phase against a bare rsync.

Needs root (it brings up ``govmig lab`` with one target host and one source
host in a temporary directory, and takes it down at the end). One system is
seeded with ``--mb`` MB of incompressible data; then, ``--rounds`` times each,
alternating, onto an empty target directory:

(a) the replicate phase, a full pass, through the real ``PhaseRunner`` and the
    ``ssh`` role (ansible-runner, Mitogen, the source pushing with rsync over
    the agent the run forwards), timed two ways: the whole ansible-runner
    invocation, and the rsync inside it (the ``transfer_ms`` the role reports);
(b) a bare ``rsync --archive --delete`` of the same data between the same two
    hosts, run on the source host over ssh with the lab's key.

It prints each median throughput in MB/s and the ratios (a)/(b); the target
for the phase is >= 0.8 of bare rsync. With several sizes (one system each) it
also prints the throughput of each extra MB between the smallest and the
largest, for the whole phase and for bare rsync, and each run's fixed cost:
a run of the phase costs Ansible's start-up and logins whatever the data.

Run as root: ``python -m bench.replication [--mb 256 1024] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from orchestrator.data_files import PLAYBOOK_DIR
from orchestrator.execution import NodeTarget, RunResult, SystemTarget
from orchestrator.execution.reports import replication_pass
from orchestrator.execution.runner import PhaseRunner
from orchestrator.inventory import generate_catalogue, load_inventory
from orchestrator.lab import Lab, LabOptions, LabPaths, seed_systems
from orchestrator.lab.daemons import host_argv
from orchestrator.lab.layout import read_state
from orchestrator.migrations import Phase
from orchestrator.providers import SshProvider
from orchestrator.providers.ssh_hosts import load_ssh_hosts
from orchestrator.worker.targets import node_targets

NODE = "shantou"
TARGET_HOST = f"{NODE}-1"
MB = 10**6


@dataclass
class Rig:
    """One seeded system on the lab, its phase runner, and commands on the lab's hosts."""

    lab: Lab
    runner: PhaseRunner
    provider: SshProvider
    node: NodeTarget
    target: SystemTarget

    def on(self, host: str, *argv: str) -> None:
        """Run ``argv`` on ``host``, in its namespaces."""
        state = read_state(self.lab.paths)
        assert state is not None, "the lab is up"
        subprocess.run(host_argv(state.pids[host], argv), capture_output=True, check=True)

    @property
    def data(self) -> str:
        return f"/srv/govmig/{self.target.system_id}/data/"

    def run(self, phase: Phase) -> RunResult:
        result = self.runner.run(
            phase, [(self.node, [self.target])], secrets=self.provider.secrets()
        )
        assert result.ok, result.outcomes
        return result

    def phase(self) -> tuple[float, float]:
        """A full replicate pass: the run's wall time, and its rsync's as the role timed it."""
        self.on(TARGET_HOST, "rm", "-rf", self.data)
        started = time.monotonic()
        result = self.run(Phase.REPLICATE)
        wall = time.monotonic() - started
        found = replication_pass(Phase.REPLICATE, result.outcome(self.target.system_id).report)
        assert found is not None, "the role reported its pass"
        assert found.seconds is not None, "the role timed its rsync"
        return wall, found.seconds

    def bare(self) -> float:
        """A bare rsync of the same data from the source host to the target host."""
        self.on(TARGET_HOST, "rm", "-rf", "/srv/govmig/bare-copy")
        paths = self.lab.paths
        rsh = (
            f"ssh -l root -i {paths.client_key} -o BatchMode=yes "
            f"-o StrictHostKeyChecking=yes -o UserKnownHostsFile={paths.known_hosts}"
        )
        target_ipv6 = next(h.ipv6 for h in self.lab.status().hosts if h.name == TARGET_HOST)
        argv = ["rsync", "--archive", "--delete", "--rsh", rsh]
        argv += [self.data, f"[{target_ipv6}]:/srv/govmig/bare-copy/"]
        started = time.monotonic()
        self.on(self.target.source.host, *argv)
        return time.monotonic() - started


def rig(lab: Lab, base: Path, mb: int, index: int = 0) -> Rig:
    """The lab seeded with a system of ``mb`` MB (the ``index``-th), preflighted and provisioned."""
    inventory = load_inventory()
    system = [s for s in generate_catalogue(20) if not s.depends_on][index]
    (seeded,) = seed_systems(lab, [system], size=mb * MB)
    provider = SshProvider(hosts=load_ssh_hosts(lab.paths.root / "hosts.yml"))
    runner = PhaseRunner(
        playbook_dir=PLAYBOOK_DIR, artifacts_dir=base / "artifacts", provider=provider
    )
    target = SystemTarget(
        system_id=seeded.id, vcpu=seeded.vcpu, memory_gb=seeded.memory_gb,
        storage_gb=seeded.storage_gb, ipv6_index=index + 1, free_vcpu=10**6,
        free_memory_gb=10**6, free_storage_gb=10**8, source=seeded.source,
    )  # fmt: skip
    found = Rig(lab, runner, provider, node_targets(inventory.nodes)[NODE], target)
    found.run(Phase.PREFLIGHT)
    found.run(Phase.PROVISION)
    return found


@dataclass(frozen=True)
class Medians:
    """One data size's median seconds: the whole phase, its rsync, the bare rsync."""

    mb: int
    phase_s: float
    inside_s: float
    bare_s: float


def measure(each: Rig, mb: int, rounds: int) -> Medians:
    phases, rsyncs, bares = [], [], []
    for _ in range(rounds):  # alternating, so drift hits both alike
        wall, inside = each.phase()
        phases.append(wall)
        rsyncs.append(inside)
        bares.append(each.bare())
    median = statistics.median
    return Medians(mb, median(phases), median(rsyncs), median(bares))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mb", type=int, nargs="+", default=[256, 1024], help="MB of data, one system per size"
    )
    parser.add_argument("--rounds", type=int, default=3, help="passes of each kind")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="govmig-replication-") as tmp:
        base = Path(tmp)
        lab = Lab(LabPaths.under(base / "lab"), load_inventory())
        try:
            disk_mb = 3 * sum(args.mb) + 64  # each source's data, the phase's and the bare copy
            lab.up(LabOptions(nodes=(NODE,), per_node=1, sources=1, disk_mb=disk_mb))
            rigs = [rig(lab, base, mb, index) for index, mb in enumerate(args.mb)]
            found = [measure(each, mb, args.rounds) for each, mb in zip(rigs, args.mb, strict=True)]
        finally:
            lab.down()
    for medians in found:
        report(medians)
    if len(found) > 1:
        marginal(min(found, key=lambda m: m.mb), max(found, key=lambda m: m.mb))


def report(m: Medians) -> None:
    """The table: median seconds and MB/s of each, and the ratios against bare rsync."""
    print(f"{'measurement (median)':<44} {'s':>7} {'MB/s':>8} {'vs bare':>8}")
    rows = [
        ("(a) replicate phase, whole ansible-runner run", m.phase_s),
        ("(a) replicate phase, its rsync alone", m.inside_s),
        ("(b) bare rsync, same data, same hosts", m.bare_s),
    ]
    for label, seconds in rows:
        print(f"{label:<44} {seconds:>7.2f} {m.mb / seconds:>8.1f} {m.bare_s / seconds:>7.2f}x")
    print(f"data: {m.mb} MB; target: the phase >= 0.8x of bare rsync\n")


def marginal(small: Medians, large: Medians) -> None:
    """Throughput as the extra data over the extra time (what each MB more costs), and each
    run's fixed cost (time at no data, on that line): the phase's and bare rsync's."""
    extra = large.mb - small.mb
    phase_rate = extra / (large.phase_s - small.phase_s)
    bare_rate = extra / (large.bare_s - small.bare_s)
    print(f"from {small.mb} MB to {large.mb} MB, each extra MB:")
    print(f"  replicate phase, whole run  {phase_rate:8.1f} MB/s {phase_rate / bare_rate:6.2f}x")
    print(f"  bare rsync                  {bare_rate:8.1f} MB/s {1:6.2f}x")
    print(f"  fixed cost per run: phase {small.phase_s - small.mb / phase_rate:.2f} s, "
          f"bare rsync {small.bare_s - small.mb / bare_rate:.2f} s")  # fmt: skip


if __name__ == "__main__":
    main()
