"""Where the lab keeps its files, and the record of everything it started.

One lab directory holds the keys, every daemon's config and log, the ssh
provider's ``hosts.yml`` and ``lab.json``: the options ``up`` was given and
every pid it started. ``lab.json`` is written before anything is created, so
``down`` can undo even a partial ``up``; pids are trusted only after their
``/proc`` command line is checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from orchestrator.errors import ConfigurationError
from orchestrator.lab.topology import LabOptions

STATE_FILE = "lab.json"
# On every host, the private disk's directory of seeded and migrated systems.
HOST_DATA_ROOT = "/srv/govmig"


def host_home(system_id: str) -> str:
    """A system's directory on the host that serves it: ``data/`` and ``service.py``."""
    return f"{HOST_DATA_ROOT}/{system_id}"


def service_script(system_id: str) -> str:
    """The sample service's path on the host; its command line names it, so we know it."""
    return f"{host_home(system_id)}/service.py"


@dataclass(frozen=True)
class LabPaths:
    """The files of one lab, all absolute: they are named on daemons' command lines."""

    root: Path

    @classmethod
    def under(cls, root: Path) -> LabPaths:
        """The layout rooted at ``root``, made absolute."""
        return cls(root.expanduser().absolute())

    @property
    def state(self) -> Path:
        """The pid record; its presence is what makes a directory a lab directory."""
        return self.root / STATE_FILE

    @property
    def lock(self) -> Path:
        """Held while a command changes the lab, so two never race."""
        return self.root / ".lock"

    @property
    def inventory(self) -> Path:
        """The ssh provider's inventory of this lab."""
        return self.root / "hosts.yml"

    @property
    def ssh_dir(self) -> Path:
        """The client key, its ``authorized_keys``, the ``known_hosts`` of every host, and the
        login user's sudo password if it has one."""
        return self.root / "ssh"

    @property
    def client_key(self) -> Path:
        """The ed25519 key the login user (root by default) logs in with on every host."""
        return self.ssh_dir / "id_ed25519"

    @property
    def authorized_keys(self) -> Path:
        """The client key's public half, shared by every host's sshd."""
        return self.ssh_dir / "authorized_keys"

    @property
    def known_hosts(self) -> Path:
        """Every host's key, under its name and both addresses."""
        return self.ssh_dir / "known_hosts"

    @property
    def etc_dir(self) -> Path:
        """With a login user other than root: every host's passwd, group, shadow and
        sudoers, mounted over its ``/etc`` files in the host's mount namespace only."""
        return self.root / "etc"

    @property
    def sudo_password(self) -> Path:
        """With ``sudo_password``: the login user's password, which sudo asks for."""
        return self.ssh_dir / "sudo-password"

    def host_dir(self, name: str) -> Path:
        """One host's sshd config, host key, pid file and log."""
        return self.root / "hosts" / name

    def sshd_config(self, name: str) -> Path:
        """The host's sshd config, named on its command line (that is how we recognise it)."""
        return self.host_dir(name) / "sshd_config"

    @property
    def dns_dir(self) -> Path:
        """named's config, zone, journal, TSIG key and log."""
        return self.root / "dns"

    @property
    def named_conf(self) -> Path:
        """named's config, named on its command line."""
        return self.dns_dir / "named.conf"

    @property
    def tsig_key(self) -> Path:
        """The TSIG key in BIND's format, as ``tsig-keygen`` writes it."""
        return self.dns_dir / "tsig.key"

    def zone_file(self, zone: str) -> Path:
        """The zone's master file; named keeps its journal beside it."""
        return self.dns_dir / f"{zone}.zone"

    @property
    def logs(self) -> Path:
        """The seeded services' logs."""
        return self.root / "logs"


class SeededSystem(BaseModel):
    """A system ``seed`` placed on a source host."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    slot: int
    host: str
    pid: int | None = None


class LabState(BaseModel):
    """What ``up`` and ``seed`` recorded: the options, and every pid they started."""

    model_config = ConfigDict(extra="forbid")

    options: LabOptions
    pids: dict[str, int] = {}  # host name -> its sshd (or named, for "dns")
    systems: dict[str, SeededSystem] = {}


def read_state(paths: LabPaths) -> LabState | None:
    """The recorded state; None when no lab was brought up in this directory."""
    try:
        text = paths.state.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return LabState.model_validate_json(text)
    except ValidationError as error:
        raise ConfigurationError(
            f"{paths.state} is not a lab record ({error.error_count()} errors): "
            "remove the lab by hand"
        ) from error


def write_state(paths: LabPaths, state: LabState) -> None:
    """Write the record atomically, so a reader never sees half of it."""
    partial = paths.state.with_name(f".{paths.state.name}.partial")
    partial.write_text(state.model_dump_json(indent=2) + "\n", encoding="utf-8")
    partial.replace(paths.state)
