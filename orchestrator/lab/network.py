"""The lab's network: a bridge in the root namespace and one namespace per host. I/O.

Every call is ``ip`` with an argument list. Addresses are added with
``nodad``: duplicate address detection would hold each IPv6 address back for
a second or two, and the lab owns these ranges. Inside a host, IPv4 is on-link
for the lab's /16 (and the platforms' /16 when it has platforms) and IPv6 for
the whole documentation /32, so hosts of different node prefixes reach each
other across the one bridge.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address
from pathlib import Path

from orchestrator.errors import ConfigurationError
from orchestrator.lab.topology import (
    BRIDGE,
    BRIDGE_IPV4,
    BRIDGE_IPV6,
    CONTROL_IPV4,
    CONTROL_IPV6,
    LAB_IPV4,
    LAB_IPV6,
    NETNS_PREFIX,
    LabHost,
    Topology,
)

_NETNS_DIR = Path("/run/netns")
_ON_LINK_V6 = "2001:db8::/32"


def ip(*args: str, netns: str | None = None, check: bool = True) -> bool:
    """Run ``ip [-n netns] args``; True if it succeeded. A checked failure says what failed."""
    argv = ["ip", *(["-n", netns] if netns else []), *args]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise ConfigurationError(f"`{' '.join(argv)}` failed: {done.stderr.strip()}")
    return done.returncode == 0


def link_exists(name: str) -> bool:
    """Whether a link called ``name`` exists in the root namespace."""
    return Path("/sys/class/net", name).exists()


def netns_exists(name: str) -> bool:
    """Whether the named network namespace exists."""
    return (_NETNS_DIR / name).exists()


def create_bridge(topology: Topology) -> None:
    """The bridge, its addresses, and on-link routes for the chosen nodes' prefixes."""
    ip("link", "add", BRIDGE, "type", "bridge", "mcast_snooping", "0")
    ip("addr", "add", f"{BRIDGE_IPV4}/{LAB_IPV4.prefixlen}", "dev", BRIDGE)
    ip("addr", "add", f"{BRIDGE_IPV6}/{LAB_IPV6.prefixlen}", "dev", BRIDGE, "nodad")
    # The lab's own: IPv4's second address and a deprecated IPv6 one are never a
    # connection's source unless it binds them, as the lab does (control_source).
    ip("addr", "add", f"{CONTROL_IPV4}/{LAB_IPV4.prefixlen}", "dev", BRIDGE)
    control_ipv6 = f"{CONTROL_IPV6}/{LAB_IPV6.prefixlen}"
    ip("addr", "add", control_ipv6, "dev", BRIDGE, "nodad", "preferred_lft", "0")
    ip("link", "set", BRIDGE, "up")
    for network in topology.ipv4_networks[1:]:
        ip("route", "replace", str(network), "dev", BRIDGE)
    for plan in topology.nodes:
        ip("-6", "route", "replace", str(plan.prefix), "dev", BRIDGE)


def create_host(host: LabHost, ipv4_networks: Sequence[IPv4Network], *, walled: bool) -> None:
    """The host's namespace, its veth pair onto the bridge, its addresses and routes.

    ``ipv4_networks`` are on-link: the host's address gets its own network's
    length, and every other one a route. A ``walled`` host has no route back to
    the bridge's first addresses: this machine's connections reach it only
    through the bastion (the lab's own, from ``CONTROL_IPV4``, still do).
    """
    ip("netns", "add", host.netns)
    ip("link", "add", host.veth, "type", "veth", "peer", "name", "eth0", "netns", host.netns)
    ip("link", "set", host.veth, "master", BRIDGE, "up")
    ns = host.netns
    ip("link", "set", "lo", "up", netns=ns)
    own = next(network for network in ipv4_networks if host.ipv4 in network)
    ip("addr", "add", f"{host.ipv4}/{own.prefixlen}", "dev", "eth0", netns=ns)
    ip("addr", "add", f"{host.ipv6}/128", "dev", "eth0", "nodad", netns=ns)
    ip("link", "set", "eth0", "up", netns=ns)
    for network in ipv4_networks:
        if network != own:
            ip("route", "add", str(network), "dev", "eth0", netns=ns)
    ip("-6", "route", "add", _ON_LINK_V6, "dev", "eth0", netns=ns)
    if walled:
        ip("route", "add", "blackhole", f"{BRIDGE_IPV4}/32", netns=ns)
        ip("-6", "route", "add", "blackhole", f"{BRIDGE_IPV6}/128", netns=ns)


def add_address(host: LabHost, ipv4: IPv4Address, ipv6: IPv6Address) -> None:
    """Give a system its own addresses on ``host``, as a VM would have; a repeat is a no-op."""
    ip("addr", "replace", f"{ipv4}/32", "dev", "eth0", netns=host.netns)
    ip("addr", "replace", f"{ipv6}/128", "dev", "eth0", "nodad", netns=host.netns)


def lab_namespaces() -> list[str]:
    """Every network namespace named as the lab names its hosts'."""
    if not _NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in _NETNS_DIR.iterdir() if p.name.startswith(NETNS_PREFIX))


def delete_netns(name: str) -> None:
    """Remove a namespace; the veths inside it go with it, and so do their root ends."""
    if netns_exists(name):
        ip("netns", "del", name)


def delete_host(host: LabHost) -> None:
    """Remove the namespace and, in case it outlives it, the root end of the veth."""
    delete_netns(host.netns)
    if link_exists(host.veth):
        ip("link", "del", host.veth, check=False)


def delete_bridge() -> None:
    """Remove the bridge; its addresses and routes go with it."""
    if link_exists(BRIDGE):
        ip("link", "del", BRIDGE)


def pids_in(netns: str) -> list[int]:
    """Every process whose network namespace is ``netns``."""
    done = subprocess.run(
        ["ip", "netns", "pids", netns], capture_output=True, text=True, check=False
    )
    return [int(word) for word in done.stdout.split() if word.isdigit()]
