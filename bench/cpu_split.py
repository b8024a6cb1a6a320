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
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

_V1 = Path("/sys/fs/cgroup/cpuacct")
_V2 = (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified"))


@dataclass(frozen=True)
class CpuGroup:
    """One cgroup: the processes put in it and all they start; their CPU seconds."""

    path: Path

    def add(self, pids: Iterable[int]) -> None:
        """Move each process (all its threads) into the group; one gone meanwhile is skipped."""
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                (self.path / "cgroup.procs").write_text(str(pid))

    def seconds(self) -> float:
        """CPU seconds spent in the group since it was made."""
        usage = self.path / "cpuacct.usage"
        if usage.exists():  # v1: nanoseconds
            return int(usage.read_text()) / 1e9
        stat = dict(line.split() for line in (self.path / "cpu.stat").read_text().splitlines())
        return int(stat["usage_usec"]) / 1e6


def _hierarchy() -> Path | None:
    """The root of a hierarchy that counts CPU time, if this process may make groups in it."""
    roots = [_V1] if (_V1 / "cpuacct.usage").exists() else _V2
    found = [p for p in roots if (p / "cgroup.procs").exists() and os.access(p, os.W_OK)]
    return found[0] if found else None


@contextlib.contextmanager
def cpu_groups(*names: str) -> Iterator[dict[str, CpuGroup] | None]:
    """A new cgroup per name, removed at the end (what is left in one goes back to the
    root first); None when this machine cannot count CPU by cgroup."""
    root = _hierarchy()
    if root is None:
        yield None
        return
    made: list[Path] = []
    try:
        for name in names:
            path = root / f"govmig-bench-{os.getpid()}-{name}"
            path.mkdir()
            made.append(path)
        yield {name: CpuGroup(path) for name, path in zip(names, made, strict=True)}
    finally:
        for path in made:
            _remove(path, CpuGroup(root))


def _remove(path: Path, root: CpuGroup) -> None:
    """Move what is left in the group to the root, then remove it (a process that has
    just exited may hold it a moment longer)."""
    for _attempt in range(50):
        root.add(int(pid) for pid in (path / "cgroup.procs").read_text().split())
        try:
            path.rmdir()
            return
        except OSError:
            time.sleep(0.1)
    path.rmdir()
