"""This instance's name on its leases, stable across restarts on the same host.

Without ``--instance-id``, an instance takes the lowest free slot on this host
for its state database: ``<host>-<n>``, held by an ``flock`` on a file for as
long as the process lives. The kernel releases the lock when the process dies,
however it dies, so a restarted instance takes the same slot, hence the same
name, and takes its own leases back at once instead of waiting for them to
expire. Two instances running at once on one host get different slots. The lock
files live in the user's runtime directory (``$XDG_RUNTIME_DIR``, which the
system empties at logout and boot), else in the temporary directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import socket
import tempfile
from pathlib import Path
from typing import IO

MAX_SLOTS = 64
# Held for the life of the process: closing a file releases its lock.
_held: list[IO[bytes]] = []


def slot_instance_id(database: str, *, runtime_dir: Path | None = None) -> str:
    """``<host>-<n>`` for the lowest slot no live process on this host holds for ``database``."""
    digest = hashlib.sha256(database.encode()).hexdigest()[:16]
    root = (runtime_dir or runtime_root()) / f"govmig-instances-{digest}"
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    host = socket.gethostname()[:60]
    for slot in range(1, MAX_SLOTS + 1):
        handle = (root / f"slot-{slot}.lock").open("ab")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        _held.append(handle)
        with contextlib.suppress(OSError):
            os.set_inheritable(handle.fileno(), False)  # a playbook must not keep the slot
        return f"{host}-{slot}"
    raise RuntimeError(f"{MAX_SLOTS} instances of govmig already run on {host} for {database}")


def runtime_root() -> Path:
    """Where the slots' lock files live (module docstring)."""
    return Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
