"""The ssh provider's host inventory: which machines it may use, and how to reach them.

One YAML file, the same for the lab (``govmig lab up`` writes it) and for a
real environment (ops write it by hand)::

    ssh:
      user: root                                 # or a user that becomes root:
      # become: sudo                             #   with sudo, no password (NOPASSWD), or
      # become_password_file: /abs/path/sudo-password   # the password sudo asks for
      private_key_file: /abs/path/id_ed25519
      known_hosts_file: /abs/path/known_hosts    # strict host key checking
      # Optional: a bastion every login and check from the orchestrator goes through (same
      # user and key), to execution hosts too; a run on an execution host goes straight.
      # jump_host: {name: bastion, ipv4: 10.213.0.22, ipv6: "2001:db8:1000::22"}
    dns:
      server_ipv4: 10.213.0.53
      server_ipv6: "2001:db8:1000::53"
      zone: lab.govmig.test
      tsig_key_file: /abs/path/tsig.key          # BIND format (tsig-keygen)
      tsig_key_name: govmig-lab
      tsig_algorithm: hmac-sha256
    nodes:
      shantou:
        system_ipv4_pool: 10.213.32.0/20         # a moved system's IPv4: pool[its index]
        hosts:                                   # a moved system's IPv6 is <node prefix>::<index>
          - {name: shantou-1, ipv4: 10.213.2.1, ipv6: "2001:db8:1:ffff::1"}   # port: 22 (default)
        # Optional: a machine inside the node's network that runs its playbooks
        # (ansible-runner worker over SSH; govmig installed at the same path).
        execution_host: {name: exec-shantou, ipv4: 10.213.2.251, ipv6: "2001:db8:1:ffff::fb"}
        # Optional: the most a run's replicate passes may send to this node, in Mbit/s.
        replication_limit_mbps: 200
    sources:
      - {name: src-1, ipv4: 10.213.1.1, ipv6: "2001:db8:1000:1::1"}

Pure apart from ``load_ssh_hosts`` reading the file; every problem is reported
the way ``orchestrator.inventory`` reports its own: file, record, field.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network, IPv6Address
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    StringConstraints,
    ValidationError,
    model_validator,
)

from orchestrator.errors import ConfigurationError, InventoryError
from orchestrator.inventory.models import SLUG_PATTERN, SYSTEM_ID_PATTERN
from orchestrator.inventory.problems import from_validation_error, render

# A host name becomes an Ansible host, a DNS label and a file name: a DNS label, nothing more.
HostName = Annotated[str, StringConstraints(pattern=SYSTEM_ID_PATTERN, max_length=63)]
NodeKey = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, max_length=32)]
ZoneName = Annotated[
    str, StringConstraints(pattern=r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z]{2,63}$")
]
_TSIG_SECRET = re.compile(r'secret\s+"([A-Za-z0-9+/=]+)"\s*;')
UserName = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_-]{0,31}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DnsServer(_Strict):
    """The authoritative server of the service names, updated by RFC 2136 with TSIG."""

    server_ipv4: IPv4Address
    server_ipv6: IPv6Address
    zone: ZoneName
    tsig_key_file: Path
    tsig_key_name: HostName
    tsig_algorithm: Literal["hmac-sha256"] = "hmac-sha256"


class SshHost(_Strict):
    """One machine the provider reaches over SSH, by either address, on its sshd's port."""

    name: HostName
    ipv4: IPv4Address
    ipv6: IPv6Address
    port: int = Field(default=22, ge=1, le=65_535)


class SshAccess(_Strict):
    """How the provider logs in to every host: one user, one key, pinned host keys.

    The role works as root on every host (it adds addresses, writes ``/srv/govmig``
    and runs the services): a user other than root must become root, with sudo, as
    hardened hosts that refuse root's logins require. Sudo may ask for the user's
    password (``become_password_file``), except for rsync: the far end of each copy
    runs ``sudo -n rsync``, whose input is rsync's protocol, so no password can reach it.
    """

    user: UserName = "root"
    become: Literal["sudo"] | None = None
    become_password_file: Path | None = None
    private_key_file: Path
    known_hosts_file: Path
    # A bastion: the orchestrator logs in to every host through it, never directly
    # (hosts to one another, as the source's rsync to the target, go directly).
    jump_host: SshHost | None = None
    # Each host's Python keeps the code it compiles, for the next run, in its user's
    # ~/.cache/govmig/host-code (root's, and the login user's): false keeps nothing there.
    host_code_cache: bool = True

    @model_validator(mode="after")
    def _works_as_root(self) -> SshAccess:
        if self.user != "root" and self.become is None:
            raise ValueError(
                f"user {self.user!r} is not root: set become: sudo (the role works as root)"
            )
        if self.become_password_file is not None and self.become is None:
            raise ValueError("become_password_file is sudo's password: set become: sudo")
        return self


class NodePool(_Strict):
    """A city node's target hosts, and the IPv4 addresses its migrated systems get.

    A system's IPv6 address is not chosen here: it is ``<node prefix>::<index>``
    from govmig's own inventory (``worker.targets.ipv6_address``), the address
    the state store records.
    """

    system_ipv4_pool: IPv4Network
    hosts: Annotated[tuple[SshHost, ...], Field(min_length=1)]
    execution_host: SshHost | None = None
    # The node's link also carries the services it already runs: a run's replicate passes
    # (full or delta, while the source serves) share this, each its part. A cutover's final
    # pass and a revert's reverse pass do not: each runs inside a downtime.
    replication_limit_mbps: PositiveInt | None = None


class SshHosts(_Strict):
    """The whole inventory of the ``ssh`` provider."""

    ssh: SshAccess
    dns: DnsServer
    nodes: dict[NodeKey, NodePool]
    sources: Annotated[tuple[SshHost, ...], Field(min_length=1)]

    def all_hosts(self) -> list[SshHost]:
        """Every source, target and execution host, sources first, then the jump host if any."""
        targets = [host for pool in self.nodes.values() for host in pool.hosts]
        runners = [pool.execution_host for pool in self.nodes.values() if pool.execution_host]
        jump = [self.ssh.jump_host] if self.ssh.jump_host else []
        return [*self.sources, *targets, *runners, *jump]


def parse_ssh_hosts(document: Any, *, source: str) -> SshHosts:
    """Validate a parsed document; ``InventoryError`` names ``source`` and every bad field."""
    try:
        hosts = SshHosts.model_validate(document)
    except ValidationError as error:
        raise InventoryError(
            render(from_validation_error(error, source=source, record=None))
        ) from None
    _check_unique_names(hosts, source)
    return hosts


def _check_unique_names(hosts: SshHosts, source: str) -> None:
    seen: set[str] = set()
    for host in hosts.all_hosts():
        if host.name in seen:
            raise InventoryError(f"{source}: host {host.name!r} appears twice")
        seen.add(host.name)


def load_ssh_hosts(path: Path) -> SshHosts:
    """The inventory in ``path``, validated."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InventoryError(f"{path}: cannot read it ({error.strerror})") from error
    except yaml.YAMLError as error:
        raise InventoryError(f"{path}: not valid YAML ({error})") from error
    return parse_ssh_hosts(document, source=str(path))


def tsig_secret(key_text: str) -> str:
    """The base64 secret in a ``tsig-keygen`` key file."""
    found = _TSIG_SECRET.search(key_text)
    if found is None:
        raise ConfigurationError('the TSIG key file holds no secret "..."; line')
    return found.group(1)


def dump_ssh_hosts(hosts: SshHosts) -> str:
    """The YAML text ``load_ssh_hosts`` reads back into an equal ``SshHosts``."""
    return yaml.safe_dump(hosts.model_dump(mode="json", exclude_none=True), sort_keys=False)
