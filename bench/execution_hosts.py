"""Execution hosts: a wave streamed to each node's execution host against the same wave run here.

Needs root (it brings up ``govmig lab`` with an execution host per node in a
temporary directory, fresh for each wave, and takes it down at the end). The
same wave of ``--systems`` catalogue systems (spread over ``--nodes`` nodes),
seeded with small data on the lab's source hosts, goes through every forward
phase with the real ``ssh`` provider's role and the real phase worker
(``--max-batches`` ansible-runner invocations at a time):

(a) run from the orchestrator directly, as without execution hosts: a batch
    of one phase spans the nodes, one invocation for all of them;
(b) each node's batch streamed to its own execution host (one invocation per
    node and phase: ``ansible-runner transmit | ssh EXEC worker | process``).

It prints both wall times and the ratio (b)/(a): what streaming costs,
with the runs that a batch per node adds.

Run as root: ``python -m bench.execution_hosts [--systems 8] [--nodes 4] [--max-batches 4]``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench.lab_wave import SEED_BYTES, batched
from bench.wave_rig import WaveTiming
from orchestrator.inventory import generate_catalogue, load_inventory
from orchestrator.lab import Lab, LabOptions, LabPaths, choose_nodes, seed_systems
from orchestrator.providers import SshProvider
from orchestrator.providers.ssh_hosts import SshHosts, load_ssh_hosts
from orchestrator.worker.scheduling import Limits


def without_execution_hosts(hosts: SshHosts) -> SshHosts:
    """The same inventory with every node's playbooks run here."""
    nodes = {
        name: pool.model_copy(update={"execution_host": None}) for name, pool in hosts.nodes.items()
    }
    return hosts.model_copy(update={"nodes": nodes})


def wave(base: Path, args: argparse.Namespace, *, streamed: bool) -> WaveTiming:
    """One wave on a fresh lab (the same systems, the same addresses), here or streamed."""
    inventory = load_inventory()
    nodes = choose_nodes(inventory, [])[: args.nodes]
    pool = [s for s in generate_catalogue(200) if not s.depends_on][: args.systems]
    limits = Limits(batch_size=50, max_batches=args.max_batches, batch_window_s=0.5)
    base.mkdir(parents=True)
    lab = Lab(LabPaths.under(base / "lab"), inventory)
    try:
        lab.up(LabOptions(nodes=nodes, per_node=1, sources=3, execution_hosts=True))
        systems = seed_systems(lab, pool, size=SEED_BYTES)
        hosts = load_ssh_hosts(lab.paths.inventory)
        provider = SshProvider(hosts=hosts if streamed else without_execution_hosts(hosts))
        return batched(base, inventory, provider, systems, nodes, limits)
    finally:
        lab.down()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", type=int, default=8, help="systems per wave")
    parser.add_argument("--nodes", type=int, default=4, help="nodes the systems spread over")
    parser.add_argument("--max-batches", type=int, default=4, help="runs at a time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="govmig-exec-bench-") as tmp:
        direct = wave(Path(tmp) / "direct", args, streamed=False)
        streamed = wave(Path(tmp) / "streamed", args, streamed=True)
    print(f"{'measurement':<36} {'sys':>5} {'done':>5} {'runs':>5} {'wall s':>8}")
    rows = (("(a) from the orchestrator", direct), ("(b) on execution hosts", streamed))
    for label, done in rows:
        print(
            f"{label:<36} {args.systems:>5} {done.completed:>5} {done.runs:>5} {done.wall_s:>8.1f}"
        )
    ratio = streamed.wall_s / direct.wall_s
    print(f"ratio (b) / (a): {ratio:.2f}x (streaming, and a batch per node)")


if __name__ == "__main__":
    main()
