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
for the phase is >= 0.8 of bare rsync.

Run as root: ``python -m bench.replication [--mb 256] [--rounds 3]``.
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
        result = self.runner.run(phase, self.node, [self.target], secrets=self.provider.secrets())
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


def rig(lab: Lab, base: Path, mb: int) -> Rig:
    """The lab seeded with one system of ``mb`` MB, preflighted and provisioned."""
    inventory = load_inventory()
    (system,) = [s for s in generate_catalogue(20) if not s.depends_on][:1]
    (seeded,) = seed_systems(lab, [system], size=mb * MB)
    provider = SshProvider(hosts=load_ssh_hosts(lab.paths.root / "hosts.yml"))
    runner = PhaseRunner(
        playbook_dir=PLAYBOOK_DIR, artifacts_dir=base / "artifacts", provider=provider
    )
    target = SystemTarget(
        system_id=seeded.id, vcpu=seeded.vcpu, memory_gb=seeded.memory_gb,
        storage_gb=seeded.storage_gb, ipv6_index=1, free_vcpu=10**6,
        free_memory_gb=10**6, free_storage_gb=10**8, source=seeded.source,
    )  # fmt: skip
    found = Rig(lab, runner, provider, node_targets(inventory.nodes)[NODE], target)
    found.run(Phase.PREFLIGHT)
    found.run(Phase.PROVISION)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=256, help="MB of data to replicate")
    parser.add_argument("--rounds", type=int, default=3, help="passes of each kind")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="govmig-replication-") as tmp:
        base = Path(tmp)
        lab = Lab(LabPaths.under(base / "lab"), load_inventory())
        try:
            disk_mb = 3 * args.mb + 64  # the source's data, the phase's copy and the bare copy
            lab.up(LabOptions(nodes=(NODE,), per_node=1, sources=1, disk_mb=disk_mb))
            each = rig(lab, base, args.mb)
            phases, rsyncs, bares = [], [], []
            for _ in range(args.rounds):  # alternating, so drift hits both alike
                wall, inside = each.phase()
                phases.append(wall)
                rsyncs.append(inside)
                bares.append(each.bare())
            median = statistics.median
            report(args.mb, median(phases), median(rsyncs), median(bares))
        finally:
            lab.down()


def report(mb: int, phase_s: float, inside_s: float, bare_s: float) -> None:
    """The table: median seconds and MB/s of each, and the ratios against bare rsync."""
    print(f"{'measurement (median)':<44} {'s':>7} {'MB/s':>8} {'vs bare':>8}")
    rows = [
        ("(a) replicate phase, whole ansible-runner run", phase_s),
        ("(a) replicate phase, its rsync alone", inside_s),
        ("(b) bare rsync, same data, same hosts", bare_s),
    ]
    for label, seconds in rows:
        print(f"{label:<44} {seconds:>7.2f} {mb / seconds:>8.1f} {bare_s / seconds:>7.2f}x")
    print(f"data: {mb} MB; target: the phase >= 0.8x of bare rsync")


if __name__ == "__main__":
    main()
