"""The cgroups the benches and the test suite make, one way: make a group, move processes into
it, read its CPU time, and remove it with the groups under it.

A process in a group stays there with everything it starts, whatever session it opens, so a
group counts (cpuacct) or weighs (cpu) all of a bench's or a test's work. A group still
holding a process cannot be removed: ``remove`` first moves what is left to the hierarchy's
root. Making or entering a group needs root; a caller that cannot gets False and goes on
without it.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# How long a process that has just exited may keep its group from being removed.
REMOVE_TRIES, REMOVE_PAUSE_S = 50, 0.1


@dataclass(frozen=True)
class Cgroup:
    """The group ``name`` (a path, "a/b" for a group under another) in ``hierarchy``."""

    hierarchy: Path
    name: str

    @property
    def path(self) -> Path:
        return self.hierarchy / self.name

    def child(self, name: str) -> Cgroup:
        """The group ``name`` under this one."""
        return Cgroup(self.hierarchy, f"{self.name}/{name}" if self.name else name)

    def children(self) -> list[Cgroup]:
        """The groups made under this one (none where it is not there)."""
        found = self.path.iterdir() if self.path.is_dir() else iter(())
        return [self.child(entry.name) for entry in found if entry.is_dir()]

    def make(self, **settings: str) -> bool:
        """Make the group and its parents, and write each setting (``cpu.shares="4096"``
        writes that file); False where this process may not."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            for setting, value in settings.items():
                (self.path / setting).write_text(value)
        except OSError:  # not root, or no such controller
            return False
        return True

    def add(self, pids: Iterable[int | str]) -> None:
        """Move each process (all its threads) into the group; one gone meanwhile is skipped."""
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                (self.path / "cgroup.procs").write_text(str(pid))

    def enter(self) -> bool:
        """Move this process, and what it starts from now on, into the group; False where the
        group is not there to enter."""
        try:
            self.add([os.getpid()])
        except OSError:
            return False
        return True

    def pids(self) -> list[str]:
        """The processes in the group itself (not in the groups under it)."""
        return (self.path / "cgroup.procs").read_text().split()

    def cpu_seconds(self) -> float:
        """CPU seconds spent in the group since it was made: cgroup v1's cpuacct, or v2."""
        usage = self.path / "cpuacct.usage"
        if usage.exists():  # nanoseconds
            return int(usage.read_text()) / 1e9
        stat = dict(line.split() for line in (self.path / "cpu.stat").read_text().splitlines())
        return int(stat["usage_usec"]) / 1e6

    def remove(self) -> None:
        """Remove the group and every group under it, deepest first, moving their processes
        to the hierarchy's root; nothing where the group is not there."""
        if not self.path.is_dir():
            return
        for child in self.children():
            child.remove()
        root = Cgroup(self.hierarchy, "")
        for _attempt in range(REMOVE_TRIES):
            with contextlib.suppress(OSError):  # gone meanwhile
                root.add(self.pids())
            try:
                self.path.rmdir()
                return
            except OSError:
                time.sleep(REMOVE_PAUSE_S)
        self.path.rmdir()  # say why it stays
