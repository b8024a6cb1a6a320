"""Whose CPU a lab wave spends: the controller's or the lab hosts', counted by cgroups.

The lab's hosts share this machine's cores with the controller (the
orchestrator, ansible-playbook, its workers and SSH clients), so a wave's wall
time on the lab is the work of both. Each side's processes go into a cgroup of
their own, which counts the CPU time of every process in it and of every
process they start, short-lived ones included: the hosts' daemons (sshd, the
DNS server, the sample services) and so what runs on the hosts (logins,
Mitogen's interpreters, rsync, the helpers); and the bench's own process, so
everything it starts from then on. On real hosts, the hosts' share runs on
their own cores; the controller's is what govmig and Ansible cost.

cgroup v1's ``cpuacct`` hierarchy or cgroup v2; without either (or without
root), ``cpu_groups`` yields None and the bench says the split was not measured.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from bench.cgroups import Cgroup

_V1 = Path("/sys/fs/cgroup/cpuacct")
_V2 = (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified"))


def _hierarchy() -> Path | None:
    """The root of a hierarchy that counts CPU time, if this process may make groups in it."""
    roots = [_V1] if (_V1 / "cpuacct.usage").exists() else _V2
    found = [p for p in roots if (p / "cgroup.procs").exists() and os.access(p, os.W_OK)]
    return found[0] if found else None


@contextlib.contextmanager
def cpu_groups(*names: str) -> Iterator[dict[str, Cgroup] | None]:
    """A new cgroup per name, removed at the end (what is left in one goes back to the
    root first); None when this machine cannot count CPU by cgroup."""
    root = _hierarchy()
    if root is None:
        yield None
        return
    groups = {name: Cgroup(root, f"govmig-bench-{os.getpid()}-{name}") for name in names}
    try:
        for group in groups.values():
            group.path.mkdir()
        yield groups
    finally:
        for group in groups.values():
            group.remove()
