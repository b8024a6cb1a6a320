"""Operating-system plumbing for the development broker: ports, spawning, liveness, signals.

Linux only (it reads ``/proc``), like the rest of the dev setup. The broker is
spawned with ``posix_spawn`` rather than ``subprocess.Popen``: it must outlive
the process that started it, and a ``Popen`` object dropped while its child
runs warns and keeps it on a private reaping list. Instead, ``is_alive`` treats
a zombie as dead and reaps it with ``waitpid`` when it is our own child.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import time
from collections.abc import Sequence
from pathlib import Path

from orchestrator.errors import ConfigurationError

_POLL_S = 0.1
_DEAD = ("Z", "X")  # zombie, dead
_KILL_WAIT_S = 10.0


def ensure_port_free(host: str, port: int, *, option: str) -> None:
    """Fail clearly if ``host:port`` cannot be bound; ``option`` is the flag that changes it."""
    error = _bind_error(host, port)
    if error is None:
        return
    if error.errno == errno.EADDRINUSE:
        raise ConfigurationError(
            f"port {port} on {host} is taken by another process: stop it or pass {option}"
        ) from error
    raise ConfigurationError(
        f"cannot bind port {port} on {host} ({error.strerror}): pass another {option}"
    ) from error


def is_port_free(host: str, port: int) -> bool:
    """Whether ``ensure_port_free`` would pass."""
    return _bind_error(host, port) is None


def _bind_error(host: str, port: int) -> OSError | None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Like the broker's own listener, so a port lingering in TIME_WAIT counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            return error
    return None


def free_port_pair(host: str, start: int, *, attempts: int = 50) -> tuple[int, int]:
    """The first ``(port, port + 1)`` from ``start`` upward in steps of two that are both free.

    Lets two sessions (or a leftover broker) share a machine without colliding.
    """
    for port in range(start, start + 2 * attempts, 2):
        if is_port_free(host, port) and is_port_free(host, port + 1):
            return port, port + 1
    raise ConfigurationError(
        f"no free port pair on {host} between {start} and {start + 2 * attempts - 1}: "
        "stop the brokers left running there"
    )


def accepts_connections(host: str, port: int, *, timeout_s: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def spawn_detached(argv: Sequence[str], log_path: Path) -> int:
    """Start ``argv`` in its own session, stdin from /dev/null, stdout+stderr to ``log_path``."""
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(log_path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    return os.posix_spawn(argv[0], list(argv), os.environ, file_actions=actions, setsid=True)


def is_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process; a zombie is not (and is reaped if it is our child)."""
    state = _state(Path(f"/proc/{pid}/stat"))
    if state is None:
        return False
    if state not in _DEAD:
        return True
    # A zombie leader whose other threads still run is a live process.
    if any(_state(task / "stat") not in (None, *_DEAD) for task in _tasks(pid)):
        return True
    with contextlib.suppress(ChildProcessError):  # not our child: its parent reaps it
        os.waitpid(pid, os.WNOHANG)
    return False


def _state(stat_path: Path) -> str | None:
    """The state letter in a ``/proc`` stat file, or None if the task is gone."""
    try:
        stat = stat_path.read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The state follows the parenthesised command name, which may itself hold ')'.
    return stat.rpartition(")")[2].split()[0]


def _tasks(pid: int) -> list[Path]:
    try:
        return list(Path(f"/proc/{pid}/task").iterdir())
    except (FileNotFoundError, ProcessLookupError):
        return []


def command_line(pid: int) -> list[str]:
    """The argv of ``pid``; empty when it is gone or unreadable."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [os.fsdecode(part) for part in raw.split(b"\0") if part]


def wait_gone(pid: int, timeout_s: float) -> bool:
    """Poll until ``pid`` is dead or ``timeout_s`` passes; True if it is gone."""
    deadline = time.monotonic() + timeout_s
    while is_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_S)
    return True


def terminate(pid: int, *, timeout_s: float) -> None:
    """SIGTERM, wait up to ``timeout_s`` for a clean shutdown, then SIGKILL."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if wait_gone(pid, timeout_s):
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    if not wait_gone(pid, _KILL_WAIT_S):
        raise ConfigurationError(f"pid {pid} survived SIGKILL: check it with `ps -o stat {pid}`")
