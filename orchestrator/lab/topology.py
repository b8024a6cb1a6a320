"""The lab's shape: which hosts exist, their names, roles and addresses. Pure.

The address plan (all private or documentation ranges, so nothing leaves the machine):

* IPv4 ``10.213.0.0/16``, on-link on the bridge: ``.0.1`` the bridge, ``.0.53``
  the DNS server, ``.1.i`` source host *i*, ``.(1+k).j`` target *j* of node *k*
  (1-based, in ``inventory/hosts.yml`` order, so a node keeps its addresses
  whichever nodes are chosen), ``10.213.16.0/20`` systems seeded on sources,
  ``10.213.(32+16(k-1)).0/20`` systems migrated onto node *k*.
* IPv6: ``2001:db8:1000::/48`` for the lab itself (bridge ``::1``, DNS ``::53``,
  source *i* ``:1::i``, seeded system *n* ``:2::n``); a target host's address is
  ``::j`` in the last /64 of its node prefix (``2001:db8:1:ffff::1`` for
  ``2001:db8:1::/48``), because a migrated system gets ``<node prefix>::<index>``
  (``worker.targets.ipv6_address``), which lies in the first /64 and must never
  be a host's.
* ``.0.2`` and ``::2`` on the bridge are the lab's own: its waits for each daemon
  and ``seed``'s updates come from them, never a migration's connections (the
  bridge's first address, which this machine's connections come from by default).
* With ``bastion``, the host ``bastion`` (``.0.22``, ``::22``) is this machine's one
  way in: every other host (the DNS server too) has no route back to the bridge's
  first addresses, so a migration reaches them, its logins and its checks, only
  through the bastion, as at a site whose management network reaches its bastion alone.
* With ``execution_hosts``, node *k*'s execution host ``exec-<node>`` (which
  runs the node's playbooks) is ``10.213.(1+k).251`` and ``::fb`` in that last /64.
* With ``platforms``, PRD platform *p* (1-based, in ``prd_platforms`` order) has
  no prefix in ``inventory/hosts.yml`` (its connect event brings one), so the lab
  gives it ``2001:db8:(100+p-1)::/48``, clear of the nodes' and the lab's own.
  The 10.213 /16 is full, so platforms live in ``10.214.0.0/16`` (on-link on the
  bridge too): target *j* is ``10.214.p.j``, its systems ``10.214.(16+16(p-1)).0/20``;
  its target hosts' IPv6 addresses follow the nodes' rule in its prefix.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from orchestrator.errors import ConfigurationError
from orchestrator.inventory import Inventory
from orchestrator.providers.ssh_hosts import UserName

ZONE = "lab.govmig.test"
TTL_S = 30
BRIDGE = "govmig-br0"
NETNS_PREFIX = "govmig-"
LAB_IPV4 = IPv4Network("10.213.0.0/16")
LAB_IPV6 = IPv6Network("2001:db8:1000::/48")
BRIDGE_IPV4 = IPv4Address("10.213.0.1")
BRIDGE_IPV6 = IPv6Address("2001:db8:1000::1")
CONTROL_IPV4 = IPv4Address("10.213.0.2")
CONTROL_IPV6 = IPv6Address("2001:db8:1000::2")
DNS_IPV4 = IPv4Address("10.213.0.53")
DNS_IPV6 = IPv6Address("2001:db8:1000::53")
BASTION = "bastion"  # the bastion host's name
BASTION_IPV4 = IPv4Address("10.213.0.22")
BASTION_IPV6 = IPv6Address("2001:db8:1000::22")
SEEDED_IPV4 = IPv4Network("10.213.16.0/20")
SEEDED_IPV6 = IPv6Network("2001:db8:1000:2::/64")
# Each pool is a /24 or a /20; more hosts or systems than that would spill into a neighbour's.
MAX_HOSTS = 250
MAX_SEEDED = SEEDED_IPV4.num_addresses - 2
PLATFORM_IPV4 = IPv4Network("10.214.0.0/16")
PLATFORM_IPV6_BASE = IPv6Network("2001:db8:100::/48")

Role = Literal["source", "target", "execution", "dns", "bastion"]
# An execution host's number within its node's addresses: above every target's (MAX_HOSTS).
EXECUTION_HOST_INDEX = 251


class LabOptions(BaseModel):
    """What ``up`` was asked for; a second ``up`` must ask for the same."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    nodes: tuple[str, ...]
    per_node: int = Field(default=1, ge=1, le=MAX_HOSTS)
    sources: int = Field(default=3, ge=1, le=MAX_HOSTS)
    disk_mb: int = Field(default=256, ge=1, le=65_536)
    execution_hosts: bool = False
    platforms: tuple[str, ...] = ()  # PRD platforms given a target pool each, like a node
    # Who Ansible logs in as on every host. Any other user than root is a hardened host's:
    # root cannot log in, and the user becomes root with sudo (no password, unless
    # sudo_password: then sudo asks the user's password for all but rsync).
    login_user: UserName = "root"
    sudo_password: bool = False
    # A bastion in front: this machine logs in to the hosts through it only.
    bastion: bool = False
    # Every sshd's port (hardened sites move it off 22).
    ssh_port: int = Field(default=22, ge=1, le=65_535)

    @property
    def hardened_login(self) -> bool:
        """Whether the login user is not root: it becomes root with sudo, root cannot log in."""
        return self.login_user != "root"

    @model_validator(mode="after")
    def _sudo_password_for_a_login_user(self) -> LabOptions:
        if self.sudo_password and not self.hardened_login:
            raise ValueError("a sudo password is for a login user other than root")
        return self


@dataclass(frozen=True)
class LabHost:
    """One host: a network namespace joined to the bridge by a veth pair."""

    name: str
    role: Role
    node: str | None
    ipv4: IPv4Address
    ipv6: IPv6Address
    index: int  # position in the lab, for the root-side veth name (15 characters at most)

    @property
    def netns(self) -> str:
        """The network namespace's name."""
        return f"{NETNS_PREFIX}{self.name}"

    @property
    def veth(self) -> str:
        """The root-side end of its veth pair; the other end is ``eth0`` in the namespace."""
        return f"gmv{self.index}"


@dataclass(frozen=True)
class NodePlan:
    """A city node's (or a platform's) target hosts' pools of the systems moved onto it."""

    node: str
    prefix: IPv6Network
    system_ipv4_pool: IPv4Network
    platform: bool = False  # a PRD platform: ``prefix`` is the lab's, for its connect event


@dataclass(frozen=True)
class Topology:
    """Every host of the lab: the DNS server first, the bastion if any, sources, targets."""

    hosts: tuple[LabHost, ...]
    nodes: tuple[NodePlan, ...]  # the city nodes', then the platforms'
    options: LabOptions  # what it was planned from: the login user, the bastion, the port

    @property
    def platforms(self) -> list[NodePlan]:
        """The platforms' pools, in lab order."""
        return [plan for plan in self.nodes if plan.platform]

    @property
    def ipv4_networks(self) -> list[IPv4Network]:
        """The IPv4 networks on-link on the bridge: the lab's, and the platforms' if any."""
        return [LAB_IPV4, *([PLATFORM_IPV4] if self.platforms else [])]

    @property
    def dns(self) -> LabHost:
        """The DNS server's host."""
        return next(host for host in self.hosts if host.role == "dns")

    @property
    def bastion(self) -> LabHost | None:
        """The host every login from this machine goes through, if the lab has one."""
        return next((host for host in self.hosts if host.role == "bastion"), None)

    def walled_off(self, host: LabHost) -> bool:
        """Whether this machine's connections reach ``host`` only through the bastion."""
        return self.bastion is not None and host.role != "bastion"

    def of_role(self, role: Role) -> list[LabHost]:
        """The hosts of one role, in lab order."""
        return [host for host in self.hosts if host.role == role]

    def host(self, name: str) -> LabHost:
        """The host called ``name``; ``ConfigurationError`` if there is none."""
        for host in self.hosts:
            if host.name == name:
                return host
        raise ConfigurationError(f"the lab has no host {name!r}")


def control_source(address: str) -> str:
    """The lab's own address to connect to ``address`` from, in its family."""
    return str(CONTROL_IPV6 if ":" in address else CONTROL_IPV4)


def choose_nodes(inventory: Inventory, wanted: Sequence[str]) -> tuple[str, ...]:
    """``wanted`` checked against the inventory (every node if empty), in inventory order."""
    known = list(inventory.nodes)
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise ConfigurationError(f"unknown node {unknown[0]!r}; known: {', '.join(known)}")
    return tuple(node for node in known if not wanted or node in wanted)


def choose_platforms(inventory: Inventory, wanted: Sequence[str]) -> tuple[str, ...]:
    """``wanted`` checked against the inventory's PRD platforms (none if empty), in its order."""
    known = list(inventory.platforms)
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise ConfigurationError(f"unknown platform {unknown[0]!r}; known: {', '.join(known)}")
    return tuple(platform for platform in known if platform in wanted)


def plan_topology(inventory: Inventory, options: LabOptions) -> Topology:
    """The hosts and pools ``options`` ask for, addressed as the module docstring says."""
    hosts = [LabHost("dns", "dns", None, DNS_IPV4, DNS_IPV6, 0)]
    if options.bastion:
        hosts.append(LabHost(BASTION, "bastion", None, BASTION_IPV4, BASTION_IPV6, 1))
    for i in range(1, options.sources + 1):
        v6 = _within(IPv6Network("2001:db8:1000:1::/64"), i)
        hosts.append(LabHost(f"src-{i}", "source", None, LAB_IPV4[256 + i], v6, len(hosts)))
    plans = []
    order = list(inventory.nodes)
    for node in options.nodes:
        k = order.index(node) + 1
        prefix = node_prefix(inventory, node)
        for j in range(1, options.per_node + 1):
            v4 = LAB_IPV4[256 * (1 + k) + j]
            v6 = _within(host_subnet(prefix), j)
            hosts.append(LabHost(f"{node}-{j}", "target", node, v4, v6, len(hosts)))
        if options.execution_hosts:
            v4, v6 = (
                LAB_IPV4[256 * (1 + k) + EXECUTION_HOST_INDEX],
                _within(host_subnet(prefix), EXECUTION_HOST_INDEX),
            )
            hosts.append(LabHost(f"exec-{node}", "execution", node, v4, v6, len(hosts)))
        pool4 = IPv4Network(f"10.213.{32 + 16 * (k - 1)}.0/20")
        plans.append(NodePlan(node, prefix, pool4))
    for platform in options.platforms:
        plans.append(_plan_platform(inventory, platform, options.per_node, hosts))
    return Topology(tuple(hosts), tuple(plans), options)


def _plan_platform(
    inventory: Inventory, platform: str, per_node: int, hosts: list[LabHost]
) -> NodePlan:
    """A platform's target hosts (appended to ``hosts``) and its pools."""
    p = list(inventory.platforms).index(platform) + 1
    prefix = platform_prefix(inventory, platform)
    for j in range(1, per_node + 1):
        v4, v6 = PLATFORM_IPV4[256 * p + j], _within(host_subnet(prefix), j)
        hosts.append(LabHost(f"{platform}-{j}", "target", platform, v4, v6, len(hosts)))
    pool4 = IPv4Network(f"10.214.{16 + 16 * (p - 1)}.0/20")
    return NodePlan(platform, prefix, pool4, platform=True)


def platform_prefix(inventory: Inventory, platform: str) -> IPv6Network:
    """The lab's IPv6 prefix for a PRD platform: the base's /48 plus its index.

    Checked against every node prefix and the lab's own network, so an inventory
    that moved into this range fails here rather than on the wire.
    """
    p = list(inventory.platforms).index(platform)
    base = PLATFORM_IPV6_BASE
    prefix = IPv6Network((int(base.network_address) + p * base.num_addresses, base.prefixlen))
    taken = [LAB_IPV6] + [
        IPv6Network(node.ipv6_prefix) for node in inventory.nodes.values() if node.ipv6_prefix
    ]
    clash = next((network for network in taken if network.overlaps(prefix)), None)
    if clash is not None:
        raise ConfigurationError(f"platform {platform!r}: lab prefix {prefix} overlaps {clash}")
    return prefix


def node_prefix(inventory: Inventory, node: str) -> IPv6Network:
    """The node's IPv6 prefix from ``inventory/hosts.yml``; the lab needs one for every node."""
    text = inventory.nodes[node].ipv6_prefix
    if text is None:
        raise ConfigurationError(f"node {node!r} has no ipv6_prefix in inventory/hosts.yml")
    prefix = IPv6Network(text)
    if prefix.prefixlen > 63:
        raise ConfigurationError(f"node {node!r}: ipv6_prefix {text} is longer than /63")
    return prefix


def host_subnet(prefix: IPv6Network) -> IPv6Network:
    """The last /64 of a node prefix: its target hosts' addresses, clear of its systems'."""
    last = int(prefix.broadcast_address) - (2**64 - 1)
    return IPv6Network((last, 64))


def _within(network: IPv6Network, offset: int) -> IPv6Address:
    return network.network_address + offset


def source_for(system_id: str, sources: Sequence[LabHost]) -> LabHost:
    """The source host that serves ``system_id``: stable for a given number of sources."""
    digest = hashlib.sha256(system_id.encode()).digest()
    return sources[int.from_bytes(digest[:8], "big") % len(sources)]


def seeded_addresses(slot: int) -> tuple[IPv4Address, IPv6Address]:
    """The IPv4 and IPv6 address of the ``slot``-th seeded system (1-based)."""
    if not 1 <= slot <= MAX_SEEDED:
        raise ConfigurationError(f"the lab holds at most {MAX_SEEDED} seeded systems")
    return SEEDED_IPV4[slot], _within(SEEDED_IPV6, slot)
