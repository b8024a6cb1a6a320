"""The lab's daemons: keys, config files, one sshd per host and named on the DNS host. I/O.

A host's sshd runs in the host's network namespace and in a mount namespace
of its own whose ``/srv`` is a size-limited tmpfs: that is the host's private
disk (``/srv/govmig``), where root's login scripts are empty and root's
``~/.ansible`` is the host's own. Anything
started later on the host enters both namespaces through the sshd's pid
(``host_argv``), so it sees the same disk.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import orchestrator
from orchestrator.data_files import PLAYBOOK_DIR
from orchestrator.devkafka.processes import command_line, is_alive, spawn_detached
from orchestrator.errors import ConfigurationError
from orchestrator.lab import render
from orchestrator.lab.layout import LabPaths
from orchestrator.lab.topology import ZONE, LabHost, Topology, control_source

SSHD = "/usr/sbin/sshd"
NAMED = "/usr/sbin/named"
TOOLS = (
    *("ip", "nsenter", "unshare", "ssh-keygen", "tsig-keygen", "openssl"),
    *(SSHD, NAMED, "/usr/bin/python3"),
)
# Fixed script: its only inputs are a validated size (an int) and sshd's own argv.
_PRIVATE_DISK = 'mount -t tmpfs -o "size=$1M,mode=0755" govmig-lab /srv && mkdir /srv/govmig'
# Root's Ansible directory (its temp files: Mitogen's runner dirs, modules) is the host's
# own, as on a real host, not this machine's: a run killed mid-task left them in the
# machine's ~/.ansible/tmp, shared by every host of every lab. Made here if missing.
_OWN_ANSIBLE_DIR = (
    "mkdir -p ~root/.ansible && mount -t tmpfs -o size=64M,mode=0700 govmig-lab ~root/.ansible"
)
# The host's root starts its shell as a fresh host's would: bash reads ~/.bashrc for every
# command sshd runs, and this machine's (here: pyenv's, its shims first on PATH) cost each SSH
# session of a phase run 0.1 s. The files are masked in the host's mount namespace only.
LOGIN_SCRIPTS = ("/root/.bashrc", "/root/.profile", "/root/.bash_profile", "/root/.bash_login")
_NO_LOGIN_SCRIPTS = "".join(
    f"{{ [ ! -f {path} ] || mount --bind /dev/null {path}; }} && " for path in LOGIN_SCRIPTS
)
# With a login user other than root ($3, home $4): the lab's passwd, group, shadow and
# sudoers (in $2) over this machine's, in the host's mount namespace only, and the user's
# home on the private disk with the client key's public half.
_LOGIN_USER = (
    '{ [ -z "$3" ] || { for f in passwd group shadow sudoers; do mount --bind "$2/$f" "/etc/$f"'
    ' || exit 1; done && mkdir -p "$4/.ssh" && cp "$2/authorized_keys" "$4/.ssh/"'
    ' && chown -R "$3:" "$4"; }; }'
)
# On an execution host with a login user other than root ($5, a line per directory
# others cannot enter: the directory, then what under it the user's runs need): each
# such directory becomes an empty tmpfs holding only those paths, bind-mounted at their
# own places, so the user reaches this machine's govmig (its Python under /root, say)
# and the lab's known_hosts, in the host's mount namespace only, and nothing else there.
# The paths are split on spaces (none has one) and never globbed (set -f).
_OPEN_TO_LOGIN_USER = (
    '{ [ -z "$5" ] || printf "%s\\n" "$5" | { set -f; while read -r top needed; do'
    " stage=$(mktemp -d /srv/.open.XXXXXX) || exit 1; i=0;"
    " for path in $needed; do i=$((i + 1));"
    ' mkdir "$stage/$i" && mount --bind "$path" "$stage/$i" || exit 1; done;'
    ' mount -t tmpfs -o size=1M,mode=0755 govmig-lab-open "$top" || exit 1; i=0;'
    " for path in $needed; do i=$((i + 1));"
    ' mkdir -p "$path" && mount --move "$stage/$i" "$path" && rmdir "$stage/$i" || exit 1;'
    ' done; rmdir "$stage"; done; }; }'
)
_DISK_THEN_SSHD = (
    f"{_PRIVATE_DISK} && {_OWN_ANSIBLE_DIR} && {_LOGIN_USER} && {_OPEN_TO_LOGIN_USER} && "
    f'{_NO_LOGIN_SCRIPTS}shift 5 && exec "$@"'
)
# The modes sudo, sshd and every user's programs expect of these files.
_ETC_MODES = {"passwd": 0o644, "group": 0o644, "shadow": 0o600, "sudoers": 0o440}


def check_prerequisites() -> None:
    """One clear line if this machine cannot run the lab."""
    if os.geteuid() != 0:
        raise ConfigurationError("the lab needs root (it creates network namespaces): run as root")
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        raise ConfigurationError(f"the lab needs {', '.join(missing)}: run scripts/system-deps.sh")
    done = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ConfigurationError(f"this machine has no `ip netns` support: {done.stderr.strip()}")


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by root only, creating its directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)


def make_keys(topology: Topology, paths: LabPaths) -> None:
    """The client key, every sshd's host key, known_hosts and the TSIG key."""
    paths.ssh_dir.mkdir(parents=True, exist_ok=True)
    _keygen(paths.client_key, comment="govmig-lab")
    public = {}
    for host in topology.hosts:
        if host.role != "dns":
            key = paths.host_dir(host.name) / "ssh_host_ed25519_key"
            _keygen(key, comment=host.name)
            public[host.name] = key.with_suffix(".pub").read_text(encoding="utf-8")
    write_private(paths.authorized_keys, paths.client_key.with_suffix(".pub").read_text())
    write_private(paths.known_hosts, render.known_hosts(public, topology))
    paths.known_hosts.chmod(0o644)  # public keys: a login user's runs read it on an execution host
    done = _run(["tsig-keygen", "-a", render.TSIG_ALGORITHM, render.TSIG_KEY_NAME])
    write_private(paths.tsig_key, done.stdout)


def make_login_user(user: str, paths: LabPaths, *, sudo_password: bool) -> None:
    """Every host's ``/etc`` files for ``user``, beside the client key's public half; with
    ``sudo_password``, a new password for ``user`` (in ``paths.sudo_password``) that sudo asks."""
    password_hash = None
    if sudo_password:
        password = secrets.token_urlsafe(24)
        write_private(paths.sudo_password, password + "\n")
        password_hash = _run(["openssl", "passwd", "-6", "-stdin"], stdin=password).stdout.strip()
    files = render.login_user_files(
        user,
        Path("/etc/passwd").read_text(encoding="utf-8"),
        Path("/etc/group").read_text(encoding="utf-8"),
        password_hash,
    )
    files["authorized_keys"] = paths.client_key.with_suffix(".pub").read_text(encoding="utf-8")
    for name, text in files.items():
        write_private(paths.etc_dir / name, text)
        (paths.etc_dir / name).chmod(_ETC_MODES.get(name, 0o600))


def _keygen(path: Path, *, comment: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])


def _run(argv: Sequence[str], *, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ConfigurationError(f"`{' '.join(argv)}` failed: {done.stderr.strip()}")
    return done


def start_sshd(host: LabHost, topology: Topology, paths: LabPaths) -> int:
    """Start the host's sshd on its private disk; its pid (``ip``, ``unshare``, ``sh`` exec)."""
    config = paths.sshd_config(host.name)
    write_private(config, render.sshd_config(host, topology, paths))
    disk_mb, login_user = topology.options.disk_mb, topology.options.login_user
    user_args = ["", "", "", ""]  # root: this machine's users, root's keys in the lab directory
    if topology.options.hardened_login:
        runs_govmig = host.role == "execution"
        opened = closed_on_the_way(govmig_paths(paths), _others_may_enter) if runs_govmig else {}
        user_args = [str(paths.etc_dir), login_user, render.login_home(login_user), _lines(opened)]
    # sshd refuses to start without its privilege separation directory.
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    sshd = [SSHD, "-D", "-e", "-f", str(config)]
    argv = [shutil.which("ip") or "ip", "netns", "exec", host.netns]
    argv += ["unshare", "--mount", "--propagation", "private"]
    argv += ["sh", "-c", _DISK_THEN_SSHD, "lab-host", str(int(disk_mb)), *user_args, *sshd]
    return spawn_detached(argv, paths.host_dir(host.name) / "sshd.log")


def govmig_paths(paths: LabPaths) -> list[Path]:
    """What an execution host's runs read of this machine, at the same paths: govmig's
    Python (its environment and the installation beneath it), its package and playbooks,
    and the lab's directory (the hosts' ``known_hosts``)."""
    found = [Path(sys.prefix), Path(sys.base_prefix), Path(orchestrator.__file__).parent]
    return [path.resolve() for path in [*found, PLAYBOOK_DIR, paths.root]]


def closed_on_the_way(
    needed: Sequence[Path], may_enter: Callable[[Path], bool]
) -> dict[Path, list[Path]]:
    """For each directory others may not enter, the first on the way to a needed path,
    the needed paths beneath it (a path beneath another needed one goes with it).

    Each needed path must be one others may enter itself: the lab opens the way, not it.
    """
    opened: dict[Path, list[Path]] = {}
    for path in sorted(set(needed)):
        if any(path.is_relative_to(other) for others in opened.values() for other in others):
            continue
        if not may_enter(path) or any(c.isspace() for c in str(path)):
            raise ConfigurationError(
                f"{path} must be a directory other users may enter, with no space in its "
                "name, for a login user other than root to run govmig on an execution host"
            )
        closed = next((d for d in reversed(path.parents) if not may_enter(d)), None)
        if closed is not None:
            opened.setdefault(closed, []).append(path)
    return opened


def _others_may_enter(path: Path) -> bool:
    return path.is_dir() and path.stat().st_mode & 0o005 == 0o005


def _lines(opened: Mapping[Path, Sequence[Path]]) -> str:
    return "\n".join(" ".join(map(str, [top, *under])) for top, under in opened.items())


def start_named(topology: Topology, paths: LabPaths) -> int:
    """Start named in the DNS host's namespace, on a config and zone in the lab directory."""
    write_private(paths.named_conf, render.named_conf(topology, paths))
    write_private(paths.zone_file(ZONE), render.zone_file(topology))
    argv = [shutil.which("ip") or "ip", "netns", "exec", topology.dns.netns]
    argv += [NAMED, "-f", "-c", str(paths.named_conf)]
    return spawn_detached(argv, paths.dns_dir / "named.log")


def host_argv(sshd_pid: int, argv: Sequence[str]) -> list[str]:
    """``argv`` run on a host: in its sshd's network and mount namespaces."""
    nsenter = shutil.which("nsenter") or "nsenter"
    return [nsenter, "--target", str(sshd_pid), "--net", "--mount", "--", *argv]


def is_ours(pid: int, marker: str) -> bool:
    """Whether ``pid`` is alive and its command line names ``marker`` (a lab path).

    A substring of the joined argv: sshd rewrites its own into one string.
    """
    return is_alive(pid) and marker in " ".join(command_line(pid))


def wait_listening(address: str, port: int, pid: int, *, timeout_s: float = 15.0) -> None:
    """Wait until ``address:port`` accepts TCP; fail early if ``pid`` dies first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not is_alive(pid):
            raise ConfigurationError(f"pid {pid} exited before listening on {address}:{port}")
        try:
            source = (control_source(address), 0)  # through a bastion's wall, as the lab's own
            with socket.create_connection((address, port), timeout=0.5, source_address=source):
                return
        except OSError:
            time.sleep(0.05)
    raise ConfigurationError(f"nothing listens on {address}:{port} after {timeout_s:.0f}s")
