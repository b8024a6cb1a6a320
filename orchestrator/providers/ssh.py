"""The ``ssh`` provider: real migrations between real hosts, reached over SSH.

Its role (``playbooks/roles/ssh/``) connects to each system's target host (one
of its node's pool in the hosts inventory, ``ssh_hosts.py``), delegates to the
source host to rsync the data across with the forwarded agent, starts the
service on the system's own addresses, switches the service name in DNS with a
TSIG-signed RFC 2136 update and checks the name over IPv6 and IPv4. This module
turns a batch's validated targets into that role's vars; it runs nothing.

Every host var is built from the hosts inventory (validated when loaded) and
from the system's validated target; the one value an event chose, the
registration's ``source.host``, is matched against the inventory's sources and
refused unless it names one. The private key and the TSIG secret are read
afresh for each batch and handed over only as ``govmig_secret_*`` values.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from orchestrator.errors import ConfigurationError, PermanentError
from orchestrator.execution import ExecutionHost, NodeTarget, SystemTarget
from orchestrator.execution.guard import RUN_TMP_ENV
from orchestrator.execution.strategy import HOST_CODE_CACHE_ENV
from orchestrator.execution.targets import SSH_KEY_SECRET, plain_path, unsafe
from orchestrator.inventory.models import SYSTEM_ID_PATTERN
from orchestrator.migrations import Phase
from orchestrator.providers.ssh_hosts import (
    NodePool,
    SshHost,
    SshHosts,
    load_ssh_hosts,
    tsig_secret,
)
from orchestrator.settings import WorkerSettings

TSIG_SECRET = "govmig_secret_tsig_key"  # noqa: S105 - a name, not a secret
BECOME_PASSWORD_SECRET = "govmig_secret_become_password"  # noqa: S105 - a name, not a secret
SERVICE_PORT = 8080
# Clients re-resolve within seconds of the switch (and of a rollback's switch back).
DNS_TTL_S = 5
HOST_PYTHON = "/usr/bin/python3"
BECOME_ROOT = {"ansible_become_method": "sudo", "ansible_become_user": "root"}


def choose_target(system_id: str, pool: tuple[SshHost, ...]) -> SshHost:
    """The pool's host for ``system_id``: rendezvous hashing, so a re-run picks the same one
    and adding a host moves only the systems that now hash highest onto it."""
    return max(pool, key=lambda host: hashlib.sha256(f"{system_id}/{host.name}".encode()).digest())


def check_pool(node: NodeTarget, pool: tuple[SshHost, ...]) -> None:
    """A platform whose connect event named its hosts must have that pool in the hosts file.

    Otherwise a system would land on a host the platform's owners never offered.
    """
    named, listed = set(node.hosts), {host.name for host in pool}
    if named and named != listed:
        raise PermanentError(
            f"platform {node.node_id}'s connect event names hosts {', '.join(sorted(named))} "
            f"but the hosts inventory's pool is {', '.join(sorted(listed))}: make them agree "
            "(govmig platform connect --host, or the hosts file)"
        )


def system_ipv4(pool_hosts: SshHosts, node: str, index: int) -> IPv4Address:
    """The system's IPv4 address on its node: the pool's ``index``-th address."""
    pool = pool_hosts.nodes[node].system_ipv4_pool
    if not 1 <= index < pool.num_addresses - 1:
        raise PermanentError(f"node {node}'s IPv4 pool {pool} has no address number {index}")
    return pool[index]


def system_ipv6(prefix: str, index: int) -> str:
    """``<node prefix>::<index>``, exactly as ``worker.targets.ipv6_address`` records it."""
    return f"{prefix.split('/')[0]}{index:x}"


def replication_limit_kb(pool: NodePool) -> int:
    """The node's link limit for a run's replicate passes (0 for none): its Mbit/s in
    kilobytes (1000 bytes) a second, the unit of rsync's ``--bwlimit=<n>KB``."""
    limit = pool.replication_limit_mbps
    return 0 if limit is None else limit * 125


# A run's connections through the jump host (its logins to the hosts, the role's checks)
# share one login to it: the first makes it, its socket in the run's own temp dir (the
# guard's, which ssh finds by expanding the variable), and the rest are channels of it.
# A bastion login costs both ends a key exchange and an authentication, and a run made
# over a dozen per system. The shared login never outlives its run, so no later run rides
# on this run's ssh-agent: the guard ends whatever carries the run's token when the run
# ends, and it ends by itself a minute after its last channel closes.
JUMP_SHARING = (
    "ControlMaster=auto",
    f"ControlPath=${{{RUN_TMP_ENV}}}/govmig-jump",
    "ControlPersist=60",
)


@dataclass(frozen=True)
class SshProvider:
    """Hosts from an ``ssh_hosts`` inventory; keys read from the files it names."""

    hosts: SshHosts
    name: str = "ssh"
    env_names: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        plain_path(self.hosts.ssh.known_hosts_file, "known_hosts file")

    @property
    def run_env(self) -> Mapping[str, str]:
        """Whether the hosts keep the code their Python compiles (read by the strategy,
        ``govmig_mitogen``); nothing else: the hosts keep Ansible's temporary files
        where their users expect them."""
        return {} if self.hosts.ssh.host_code_cache else {HOST_CODE_CACHE_ENV: "0"}

    @classmethod
    def from_settings(cls, settings: WorkerSettings) -> SshProvider:
        """The provider ``govmig run --provider ssh --hosts FILE`` uses."""
        if settings.hosts_file is None:
            raise ConfigurationError(
                "the ssh provider needs its hosts inventory: --hosts FILE (env GOVMIG_HOSTS_FILE)"
            )
        return cls(hosts=load_ssh_hosts(settings.hosts_file))

    def source(self, system: SystemTarget) -> SshHost:
        """The inventory's source host the registration names; refused unless there is one."""
        wanted = system.source.host
        if re.fullmatch(SYSTEM_ID_PATTERN, wanted):
            for host in self.hosts.sources:
                if host.name == wanted:
                    return host
        raise PermanentError(
            f"source host {wanted!r} of {system.system_id} is not a source in the hosts inventory"
        )

    def target(self, system: SystemTarget, node: NodeTarget) -> SshHost:
        """The target host of ``system`` on ``node`` (a city node or a PRD platform, by id)."""
        pool = self.hosts.nodes.get(node.node_id)
        if pool is None:
            raise PermanentError(f"node {node.node_id} has no target hosts in the hosts inventory")
        check_pool(node, pool.hosts)
        return choose_target(system.system_id, pool.hosts)

    def connection_vars(self, system: SystemTarget, node: NodeTarget) -> Mapping[str, Any]:
        """Log in to the target host (a system's host in the inventory)."""
        return self._login(self.target(system, node), inside=self.runs_inside(node))

    def delegate_hosts(
        self, system: SystemTarget, node: NodeTarget
    ) -> Mapping[str, Mapping[str, Any]]:
        """The source host, logged in to as the target is; none for an unknown source (only a
        rollback gets that far, see ``precheck``, and it has nothing to undo there)."""
        try:
            source = self.source(system)
        except PermanentError:
            return {}
        return {source.name: self._login(source, inside=self.runs_inside(node))}

    def runs_inside(self, node: NodeTarget) -> bool:
        """Whether the node's runs run on its execution host, inside the site: they reach
        every host, service and the DNS server straight, not through the jump host."""
        pool = self.hosts.nodes.get(node.node_id)
        return pool is not None and pool.execution_host is not None

    def _login(self, host: SshHost, *, inside: bool) -> dict[str, Any]:
        """SSH to ``host`` with pinned host keys and the run's agent forwarded, through the
        jump host unless the run runs ``inside``, becoming root there if the login user is
        not (sudo's flags: ``playbooks/ansible.cfg``)."""
        return {
            "ansible_connection": "ssh",
            "ansible_host": str(host.ipv4),
            "ansible_port": host.port,
            "ansible_user": self.hosts.ssh.user,
            "ansible_ssh_args": self.ssh_args(through_jump=not inside),
            "ansible_python_interpreter": HOST_PYTHON,
            "ansible_become": self.becomes,
            **self._become_vars(),
        }

    def _become_vars(self) -> dict[str, Any]:
        """sudo to root, given the run's secret password if sudo asks one; none for root."""
        if not self.becomes:
            return {}
        if self.hosts.ssh.become_password_file is None:
            return dict(BECOME_ROOT)
        # A reference: the password itself is one of the run's secrets (``secrets``).
        return {**BECOME_ROOT, "ansible_become_password": f"{{{{ {BECOME_PASSWORD_SECRET} }}}}"}

    @property
    def becomes(self) -> bool:
        """Whether the login user becomes root on every host (sudo), or is root."""
        return self.hosts.ssh.become is not None

    def execution_host(self, node: NodeTarget) -> ExecutionHost | None:
        """The node's execution host from the hosts inventory, reached as every host is."""
        pool = self.hosts.nodes.get(node.node_id)
        if pool is None or pool.execution_host is None:
            return None
        return ExecutionHost(
            name=pool.execution_host.name,
            address=str(pool.execution_host.ipv4),
            user=self.hosts.ssh.user,
            identity_file=self.hosts.ssh.private_key_file,
            # No agent: this machine has none to lend. Through the jump host, if any.
            ssh_options=(
                *self._login_options(),
                *self._jump_options(identity=self.hosts.ssh.private_key_file),
                *("-p", str(pool.execution_host.port)),
            ),
        )

    def ssh_args(self, *, through_jump: bool = True) -> str:
        """Options for every SSH login of a run, the target's and the delegated source's.

        No connection sharing with the hosts: a master kept alive after a run would
        forward that run's ssh-agent, which is gone by the next run. With a jump
        host, each login goes through it (unless ``through_jump`` is false: a run on
        an execution host), checked and authenticated as every host is, over the
        run's one connection to it (``JUMP_SHARING``).
        """
        jump = self._jump_options() if through_jump else []
        return shlex.join([*self._login_options(), *jump, "-o", "ForwardAgent=yes"])

    def jump(self, *, shared: bool = True) -> dict[str, Any] | None:
        """How a run reaches the site through its jump host, None straight: ssh with its options
        (``argv``, to which ``-W host:port`` and ``address`` are added), for every login and
        for the role's own connections to the site's services and DNS server (``govmig_jump``,
        read by ``playbooks/plugin_utils/govmig_site.py``).

        ``shared``: all of a run's connections through the jump host share one login to it
        (``JUMP_SHARING``), so each costs a channel of it rather than a login."""
        jump = self.hosts.ssh.jump_host
        if jump is None:
            return None
        options = self._login_options(shared=shared)
        login = ["ssh", "-l", self.hosts.ssh.user, "-p", str(jump.port), *options]
        return {"argv": login, "address": str(jump.ipv4)}

    def _jump_options(self, *, identity: Path | None = None) -> list[str]:
        """``ProxyCommand``: ssh's ``-J`` would ignore these options for the jump host. With
        ``identity``, it logs in to the jump host with that key file, not an agent's, on its
        own: that login (to an execution host) is made outside any run."""
        jump = self.jump(shared=identity is None)
        if jump is None:
            return []
        login = list(jump["argv"])
        if identity is not None:
            login += ["-i", plain_path(identity, "private key file"), "-o", "IdentitiesOnly=yes"]
        # Quoted for ProxyCommand's shell: ssh itself expands the variable in ControlPath.
        return ["-o", "ProxyCommand=" + shlex.join([*login, "-W", "[%h]:%p", jump["address"]])]

    def _login_options(self, *, shared: bool = False) -> list[str]:
        """Pinned host keys, no prompts, no connection sharing (but a run's, with ``shared``:
        the jump host's, ``JUMP_SHARING``): every login's options."""
        known = plain_path(self.hosts.ssh.known_hosts_file, "known_hosts file")
        options = list(JUMP_SHARING) if shared else ["ControlMaster=no"]
        options += ["StrictHostKeyChecking=yes", f"UserKnownHostsFile={known}"]
        options += ["BatchMode=yes", "ConnectTimeout=5"]
        return [word for option in options for word in ("-o", option)]

    def host_vars(self, system: SystemTarget, node: NodeTarget) -> Mapping[str, Any]:
        """Where the system comes from and goes to, its own addresses, and the DNS to switch."""
        target, dns = self.target(system, node), self.hosts.dns
        return {
            "govmig_target_host": target.name,
            "govmig_target_ipv4": str(target.ipv4),
            "govmig_target_ipv6": str(target.ipv6),
            "govmig_target_port": target.port,
            "govmig_system_ipv4": str(system_ipv4(self.hosts, node.node_id, system.ipv6_index)),
            "govmig_system_ipv6": system_ipv6(node.ipv6_prefix, system.ipv6_index),
            # The source's rsync logs in to the target as this user, root's end by sudo if so.
            "govmig_ssh_user": self.hosts.ssh.user,
            "govmig_become": self.becomes,
            "govmig_known_hosts_file": str(self.hosts.ssh.known_hosts_file),
            "govmig_jump": None if self.runs_inside(node) else self.jump(),
            "govmig_dns_server": str(dns.server_ipv4),
            "govmig_dns_zone": dns.zone,
            "govmig_tsig_key_name": dns.tsig_key_name,
            "govmig_tsig_algorithm": dns.tsig_algorithm,
            "govmig_service_name": unsafe(f"{system.system_id}.{dns.zone}"),
            "govmig_service_port": SERVICE_PORT,
            "govmig_dns_ttl": DNS_TTL_S,
            "govmig_replication_limit_kb": replication_limit_kb(self.hosts.nodes[node.node_id]),
        }

    def precheck(self, phase: Phase, system: SystemTarget) -> str | None:
        """No phase but rollback can run for a system whose source host is not in the inventory.

        Rollback can: it undoes only what the target's migration record says was
        done, which for such a system is nothing, so it ends ``rolled_back``.
        """
        if phase is Phase.ROLLBACK:
            return None
        try:
            self.source(system)
        except PermanentError as error:
            return str(error)
        return None

    def secrets(self) -> Mapping[str, str]:
        """The SSH private key (for the run's ssh-agent), the TSIG secret and sudo's password
        if sudo asks one, read now."""
        ssh, dns = self.hosts.ssh, self.hosts.dns
        try:
            found = {
                SSH_KEY_SECRET: ssh.private_key_file.read_text(encoding="utf-8"),
                TSIG_SECRET: tsig_secret(dns.tsig_key_file.read_text(encoding="utf-8")),
            }
            if ssh.become_password_file is not None:
                password = ssh.become_password_file.read_text(encoding="utf-8").rstrip("\n")
                found[BECOME_PASSWORD_SECRET] = password
        except OSError as error:
            raise ConfigurationError(f"cannot read an ssh provider key file: {error}") from None
        if found.get(BECOME_PASSWORD_SECRET) == "":
            raise ConfigurationError(f"{ssh.become_password_file} holds no password")
        return found
