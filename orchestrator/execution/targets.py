"""What one batch runs on, and the inventory and extra vars built from it.

Pure: the executor (``runner.py``) turns a phase, a node and its systems into
one ansible-runner invocation, and everything that reaches a playbook is
built here from validated records, never from an event's raw text. Host
names are system ids (DNS labels), so the inventory has exactly the systems
of the batch and nothing an event wrote can become a path or a template.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator

from orchestrator.errors import ConfigurationError, PermanentError
from orchestrator.execution.strategy import Strategy
from orchestrator.inventory.models import Frozen, MemoryGb, NodeId, StorageGb, SystemId, Vcpu
from orchestrator.migrations.states import Phase

# Secrets reach a playbook only under these names, so logs and outcomes can be scrubbed.
SECRET_NAME_PATTERN = r"^govmig_secret_[a-z0-9_]{1,64}$"  # noqa: S105 - a name, not a secret
# A work root is spliced into paths inside templates: no braces, no percent, no spaces.
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9._/+-]+$")
_PROVIDER = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# What ansible-playbook may see of the orchestrator's environment (runner records it).
_ENV_NAMES = frozenset(
    {"PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "USER", "LOGNAME", "VIRTUAL_ENV"}
    | {"SSL_CERT_FILE", "SSL_CERT_DIR"}
)
_ENV_PREFIXES = ("ANSIBLE_", "AWX_", "RUNNER_", "ORIGINAL_", "LC_", "PYTHON")
_FREE = Annotated[int, Field(ge=0, strict=True)]


class NodeTarget(Frozen):
    """The city node a batch moves systems onto."""

    node_id: NodeId
    # A network of /64 or shorter: the playbooks append one hex group after "::".
    ipv6_prefix: Annotated[str, Field(max_length=64)]

    @field_validator("ipv6_prefix")
    @classmethod
    def _canonical_prefix(cls, value: str) -> str:
        try:
            network = ipaddress.IPv6Network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"not an IPv6 network: {value!r} ({exc})") from exc
        if network.prefixlen > 64:
            raise ValueError(f"the node prefix must be /64 or shorter, got /{network.prefixlen}")
        return network.compressed


class SystemTarget(Frozen):
    """One system of a batch, with the validated vars its playbook needs.

    ``free_*`` is what the capacity ledger says this system may use on its node
    (its own reservation included); preflight re-checks it against the request.
    ``fail_phase`` is the failure-injection hook for tests and the demo: the
    event path never sets it.
    """

    system_id: SystemId
    vcpu: Vcpu
    memory_gb: MemoryGb
    storage_gb: StorageGb
    ipv6_index: Annotated[int, Field(ge=1, le=0xFFFF, strict=True)]
    free_vcpu: _FREE
    free_memory_gb: _FREE
    free_storage_gb: _FREE
    fail_phase: Phase | None = None


def host_vars(system: SystemTarget) -> dict[str, Any]:
    """The inventory vars of one system's host."""
    found: dict[str, Any] = {
        "govmig_system_id": system.system_id,
        "govmig_vcpu": system.vcpu,
        "govmig_memory_gb": system.memory_gb,
        "govmig_storage_gb": system.storage_gb,
        "govmig_ipv6_index": system.ipv6_index,
        "govmig_free_vcpu": system.free_vcpu,
        "govmig_free_memory_gb": system.free_memory_gb,
        "govmig_free_storage_gb": system.free_storage_gb,
    }
    if system.fail_phase is not None:
        found["govmig_fail_phase"] = system.fail_phase.value
    return found


def build_inventory(
    systems: Sequence[SystemTarget], *, python: str, secrets: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """An inventory whose hosts are exactly the batch's systems, all run on this machine.

    Secrets go here (the private data dir, deleted after the run) and never into
    extra vars or the environment, which ansible-runner copies into artifacts.
    """
    ids = [system.system_id for system in systems]
    if not ids:
        raise PermanentError("a batch needs at least one system")
    if len(set(ids)) != len(ids):
        raise PermanentError(f"a batch names a system twice: {sorted(ids)}")
    shared: dict[str, Any] = {"ansible_connection": "local", "ansible_python_interpreter": python}
    shared.update(check_secrets(secrets or {}))
    return {"all": {"vars": shared, "hosts": {s.system_id: host_vars(s) for s in systems}}}


def build_extravars(node: NodeTarget, *, work_root: Path, provider: str) -> dict[str, str]:
    """The vars every host of a batch shares."""
    return {
        "govmig_provider": check_provider(provider),
        "govmig_work_root": str(check_work_root(work_root)),
        "govmig_node": node.node_id,
        "govmig_ipv6_prefix": node.ipv6_prefix,
    }


def check_secrets(secrets: Mapping[str, str]) -> dict[str, str]:
    """Secrets, if every name is a ``govmig_secret_*`` name and every value a string."""
    for name, value in secrets.items():
        if not re.fullmatch(SECRET_NAME_PATTERN, name) or not isinstance(value, str):
            raise ConfigurationError(f"a secret must be a string named govmig_secret_*: {name!r}")
    return dict(secrets)


def check_provider(provider: str) -> str:
    """A provider name fit to be a role name."""
    if not _PROVIDER.fullmatch(provider):
        raise ConfigurationError(f"not a provider name: {provider!r}")
    return provider


def check_work_root(work_root: Path) -> Path:
    """An absolute work root made only of characters that are inert in a template."""
    if not _SAFE_PATH.fullmatch(str(work_root)) or ".." in work_root.parts:
        raise ConfigurationError(
            f"the work root must be an absolute path of letters, digits and ._/+-: {work_root}"
        )
    return work_root


def runner_envvars(strategy: Strategy, *, python: str) -> dict[str, str]:
    """What a batch adds to ansible-playbook's environment: never a secret."""
    bin_dir = str(Path(python).parent)
    path = os.environ.get("PATH", "")
    return {
        # ansible-playbook of the same environment as the interpreter the hosts use.
        "PATH": f"{bin_dir}{os.pathsep}{path}" if path else bin_dir,
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "ANSIBLE_NOCOLOR": "true",
        # Task arguments stay out of the event stream, and so out of the artifacts.
        "ANSIBLE_DISPLAY_ARGS_TO_STDOUT": "false",
        **strategy.envvars,
    }


def scrub_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The environment without anything a playbook does not need (tokens, passwords, URLs)."""
    return {
        name: value
        for name, value in env.items()
        if name in _ENV_NAMES or name.startswith(_ENV_PREFIXES)
    }
