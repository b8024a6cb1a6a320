"""lab: a lab of real hosts on this machine, for development, the demo and the tests.

It sits beside ``devkafka``, under the CLI: ``govmig lab up|down|status|seed``
and the test fixtures call ``Lab`` and ``seed``. Each host is a Linux network
namespace on one bridge, with its own IPv4 and IPv6 addresses, its own OpenSSH
sshd and its own private disk; one host runs BIND 9 as the authoritative DNS
server of the lab zone. ``up`` writes the ``ssh`` provider's inventory for the
lab (``providers/ssh_hosts.py`` is its format), and ``seed`` creates business
systems' sources on the source hosts.

It is not a provider (it migrates nothing) and not meant for production: it
needs root, uses documentation address ranges, and leaves nothing behind after
``down``. The pure part is ``topology`` (hosts, addresses) and ``render``
(config text); the rest runs ``ip``, ``sshd``, ``named`` and friends.
"""

from orchestrator.lab.layout import LabPaths
from orchestrator.lab.lifecycle import HostStatus, Lab, LabStatus
from orchestrator.lab.seeding import DEFAULT_SIZE, seed, seed_systems
from orchestrator.lab.topology import LabOptions, choose_nodes, choose_platforms

__all__ = [
    "DEFAULT_SIZE",
    "HostStatus",
    "Lab",
    "LabOptions",
    "LabPaths",
    "LabStatus",
    "choose_nodes",
    "choose_platforms",
    "seed",
    "seed_systems",
]
