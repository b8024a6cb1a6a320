"""What one batch runs on, and the inventory and extra vars built from it.

Pure: the executor (``runner.py``) turns a phase and the systems of one or
more nodes (``NodeWork``) into one ansible-runner invocation, and everything
that reaches a playbook is built here from validated records, never from an
event's raw text. Host names are system ids (DNS labels), so the inventory
has exactly the systems of the batch and nothing an event wrote can become a
path or a template. Each host's vars are the common ``govmig_*`` ones and its
node's (``node_vars``), then the provider's
(connection and per-host), then those of any ``HostVarsHook`` (the tests'
and the demo's failure injection is one).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Protocol

from pydantic import Field, field_validator

from orchestrator.data_files import PLAYBOOK_DIR
from orchestrator.errors import ConfigurationError, PermanentError
from orchestrator.execution.strategy import AnsibleStrategy
from orchestrator.inventory.models import (
    Frozen,
    MemoryGb,
    NodeId,
    SourceLocation,
    StorageGb,
    SystemId,
    Vcpu,
    canonical_ipv6_prefix,
)
from orchestrator.migrations.states import Phase

# Secrets reach a playbook only under these names, so logs and outcomes can be scrubbed.
SECRET_NAME_PATTERN = r"^govmig_secret_[a-z0-9_]{1,64}$"  # noqa: S105 - a name, not a secret
# The one secret that never enters the inventory: ansible-runner loads it into an ssh-agent.
SSH_KEY_SECRET = "govmig_secret_ssh_private_key"  # noqa: S105 - a name, not a secret
_PROVIDER = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# What ansible-playbook may see of the orchestrator's environment (runner records it).
MAX_DOWN_ENV = "GOVMIG_MAX_DOWN"
_ENV_NAMES = frozenset(
    {"PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "USER", "LOGNAME", "VIRTUAL_ENV"}
    | {"XDG_CACHE_HOME"}  # where govmig_mitogen keeps the modules it built
    | {"SSL_CERT_FILE", "SSL_CERT_DIR"}
    | {MAX_DOWN_ENV}  # the run's own: how many of its hosts govmig_mitogen lets be down at once
)
_ENV_PREFIXES = ("ANSIBLE_", "AWX_", "RUNNER_", "ORIGINAL_", "LC_", "PYTHON")
_FREE = Annotated[int, Field(ge=0, strict=True)]


@dataclass(frozen=True)
class ExecutionHost:
    """A machine near a node's hosts that runs its playbooks (``execution/remote.py``),
    and how the orchestrator logs in to it."""

    name: str
    address: str
    user: str
    identity_file: Path
    ssh_options: tuple[str, ...] = ()


class NodeTarget(Frozen):
    """The city node a batch moves systems onto."""

    node_id: NodeId
    # A network of /64 or shorter: the playbooks append one hex group after "::".
    ipv6_prefix: Annotated[str, Field(max_length=64)]
    # A platform's target host pool as its connect event named it (a node's: none), for
    # a provider to check against its own inventory.
    hosts: tuple[str, ...] = ()

    @field_validator("ipv6_prefix")
    @classmethod
    def _canonical_prefix(cls, value: str) -> str:
        return canonical_ipv6_prefix(value)


class SystemTarget(Frozen):
    """One system of a batch, with the validated vars its playbook needs.

    ``free_*`` is what the capacity ledger says this system may use on its node
    (its own reservation included); preflight re-checks it against the request.
    ``source`` is where the system runs today, from its registration.
    ``lease_generation`` is the fencing token of the claim this run runs under.
    """

    system_id: SystemId
    vcpu: Vcpu
    memory_gb: MemoryGb
    storage_gb: StorageGb
    ipv6_index: Annotated[int, Field(ge=1, le=0xFFFF, strict=True)]
    free_vcpu: _FREE
    free_memory_gb: _FREE
    free_storage_gb: _FREE
    source: SourceLocation
    lease_generation: Annotated[int, Field(ge=0, strict=True)] = 0


# The systems of one batch placed on one node; a batch is one or more of these.
NodeWork = tuple[NodeTarget, Sequence[SystemTarget]]

UNSAFE_KEY = "__ansible_unsafe"
# Extra vars for one host of one phase, added last (e.g. failure injection).
HostVarsHook = Callable[[Phase, SystemTarget], Mapping[str, Any]]


class HostVarsSource(Protocol):
    """The provider's side of the inventory (``execution.provider.Provider`` has it all)."""

    def connection_vars(self, system: SystemTarget, node: NodeTarget) -> Mapping[str, Any]: ...
    def host_vars(self, system: SystemTarget, node: NodeTarget) -> Mapping[str, Any]: ...
    def delegate_hosts(
        self, system: SystemTarget, node: NodeTarget
    ) -> Mapping[str, Mapping[str, Any]]: ...


# The inventory group of the hosts a role delegates tasks to (a system's source host):
# reachable by name, never a play's host (the phase playbooks play "all:!" this group).
DELEGATES = "govmig_delegates"


# A path spliced into a template, ssh's options or a remote shell: inert characters only.
_PLAIN_PATH = re.compile(r"^/[A-Za-z0-9._/+-]+$")


def plain_path(path: Path | str, what: str) -> str:
    """``path`` if it is absolute and made of letters, digits and ._/+- only (no ``..``)."""
    if not _PLAIN_PATH.fullmatch(str(path)) or ".." in Path(path).parts:
        raise ConfigurationError(
            f"the {what} must be an absolute path of letters, digits and ._/+-: {path}"
        )
    return str(path)


def unsafe(value: str) -> dict[str, str]:
    """``value`` as Ansible reads a string it must never evaluate as a template.

    The inventory is JSON, and ``__ansible_unsafe`` is how Ansible's JSON marks
    a string untrusted: ``{{ lookup('pipe', 'id') }}`` in it stays that text.
    """
    return {UNSAFE_KEY: value}


def common_host_vars(system: SystemTarget) -> dict[str, Any]:
    """The vars every provider's role gets for one system's host.

    The strings that came from an event are validated to safe patterns when the
    event is decoded, and handed to Ansible marked unsafe all the same.
    """
    return {
        "govmig_system_id": unsafe(system.system_id),
        "govmig_vcpu": system.vcpu,
        "govmig_memory_gb": system.memory_gb,
        "govmig_storage_gb": system.storage_gb,
        "govmig_ipv6_index": system.ipv6_index,
        "govmig_free_vcpu": system.free_vcpu,
        "govmig_free_memory_gb": system.free_memory_gb,
        "govmig_free_storage_gb": system.free_storage_gb,
        "govmig_source_host": unsafe(system.source.host),
        "govmig_lease_generation": system.lease_generation,
    }


def build_inventory(
    phase: Phase,
    work: Sequence[NodeWork],
    *,
    provider: HostVarsSource,
    hooks: Sequence[HostVarsHook] = (),
    secrets: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """An inventory whose hosts are exactly the batch's systems, on whichever nodes, and
    beside them, in ``DELEGATES``, the hosts their tasks are delegated to.

    Secrets go here (the private data dir, deleted after the run) and never into
    extra vars or the environment, which ansible-runner copies into artifacts;
    marked unsafe, so that a secret is never evaluated as a template, nor compiled
    as one (and kept in the strategy's cache of compiled templates).
    """
    ids = [system.system_id for _node, systems in work for system in systems]
    if not ids:
        raise PermanentError("a batch needs at least one system")
    if len(set(ids)) != len(ids):
        raise PermanentError(f"a batch names a system twice: {sorted(ids)}")
    on_node = Counter(node.node_id for node, systems in work for _ in systems)
    hosts = {
        s.system_id: _host_vars(phase, node, s, provider, hooks, on_node)
        for node, systems in work
        for s in systems
    }
    delegates = {
        name: dict(login)
        for node, systems in work
        for s in systems
        for name, login in provider.delegate_hosts(s, node).items()
    }
    both = sorted(set(delegates) & set(hosts))
    if both:
        raise PermanentError(
            f"{both[0]!r} names both a system of the batch and a host its tasks are delegated to"
        )
    marked = {name: unsafe(value) for name, value in check_secrets(secrets or {}).items()}
    children = {DELEGATES: {"hosts": delegates}}
    return {"all": {"vars": marked, "hosts": hosts, "children": children}}


def _host_vars(
    phase: Phase,
    node: NodeTarget,
    system: SystemTarget,
    provider: HostVarsSource,
    hooks: Sequence[HostVarsHook],
    on_node: Mapping[str, int],
) -> dict[str, Any]:
    found = common_host_vars(system) | node_vars(node, on_node)
    found.update(provider.connection_vars(system, node))
    found.update(provider.host_vars(system, node))
    for hook in hooks:
        found.update(hook(phase, system))
    return found


def node_vars(node: NodeTarget, on_node: Mapping[str, int]) -> dict[str, Any]:
    """The vars of the node a host's system moves onto (one batch may span several), with
    how many of the run's systems it takes: they share what the node gives a run (its link)."""
    return {
        "govmig_node": node.node_id,
        "govmig_ipv6_prefix": node.ipv6_prefix,
        "govmig_node_systems": on_node[node.node_id],
    }


def retention_vars(days: int) -> HostVarsHook:
    """A hook giving the finalize phase how many days a source's data is kept."""

    def hook(phase: Phase, system: SystemTarget) -> dict[str, Any]:
        return {"govmig_source_retention_days": days} if phase is Phase.FINALIZE else {}

    return hook


def build_extravars(*, provider: str) -> dict[str, str]:
    """The vars every host of a batch shares."""
    return {"govmig_provider": check_provider(provider)}


def check_secrets(secrets: Mapping[str, str]) -> dict[str, str]:
    """Secrets, if every name is a ``govmig_secret_*`` name and every value a string."""
    for name, value in secrets.items():
        if not re.fullmatch(SECRET_NAME_PATTERN, name) or not isinstance(value, str):
            raise ConfigurationError(f"a secret must be a string named govmig_secret_*: {name!r}")
    return dict(secrets)


def split_ssh_key(secrets: Mapping[str, str]) -> tuple[str | None, dict[str, str]]:
    """The SSH private key (for ansible-runner's ``ssh_key``) and every other secret.

    The key goes to an ``ssh-agent`` that lives only for the run, never into the
    inventory: ansible-runner writes it into the run's private dir (``env/ssh_key``),
    which the run removes once the agent holds it (``govmig_forget_secrets``).
    """
    rest = dict(secrets)
    return rest.pop(SSH_KEY_SECRET, None), rest


def check_provider(provider: str) -> str:
    """A provider name fit to be a role name."""
    if not _PROVIDER.fullmatch(provider):
        raise ConfigurationError(f"not a provider name: {provider!r}")
    return provider


# Removes the secrets from a run's private dir when its playbook starts, in every run.
CALLBACK_PLUGINS = PLAYBOOK_DIR / "callback_plugins"
FORGET_SECRETS = "govmig_forget_secrets"


def runner_envvars(strategy: AnsibleStrategy, *, python: str) -> dict[str, str]:
    """What a batch adds to ansible-playbook's environment: never a secret."""
    return {
        # ansible-playbook of the same environment as the interpreter the hosts use.
        "PATH": prepended("PATH", str(Path(python).parent), os.pathsep),
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "ANSIBLE_NOCOLOR": "true",
        # Task arguments stay out of the event stream, and so out of the artifacts.
        "ANSIBLE_DISPLAY_ARGS_TO_STDOUT": "false",
        # The run's secrets (its inventory, its SSH key) leave the disk as the playbook
        # starts; callbacks an operator enabled in our environment stay enabled.
        "ANSIBLE_CALLBACK_PLUGINS": prepended(
            "ANSIBLE_CALLBACK_PLUGINS", str(CALLBACK_PLUGINS), os.pathsep
        ),
        "ANSIBLE_CALLBACKS_ENABLED": prepended("ANSIBLE_CALLBACKS_ENABLED", FORGET_SECRETS, ","),
        **strategy.envvars,
    }


def prepended(name: str, value: str, separator: str) -> str:
    """``value``, then what this process's environment has in the list variable ``name``."""
    ours = os.environ.get(name, "")
    return f"{value}{separator}{ours}" if ours else value


def scrub_environment(
    env: Mapping[str, str], *, keep: frozenset[str] = frozenset()
) -> dict[str, str]:
    """The environment without anything a playbook does not need (tokens, passwords, URLs).

    ``keep`` adds a provider's own names; one ending in ``*`` keeps that prefix.
    """
    names = _ENV_NAMES | {name for name in keep if not name.endswith("*")}
    prefixes = _ENV_PREFIXES + tuple(name[:-1] for name in keep if name.endswith("*"))
    return {
        name: value for name, value in env.items() if name in names or name.startswith(prefixes)
    }
