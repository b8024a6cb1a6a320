"""bench/cpu_split.py on this machine's real cgroups (CI runs as root): a group counts the CPU
of the processes put in it and of those they start, and leaves nothing behind."""

from __future__ import annotations

import subprocess
import sys

from bench.cpu_split import cpu_groups

BUSY = "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass"
# Waits to be moved into its group (its stdin closes), then starts a busy child.
PARENT = (
    f"import subprocess, sys\nsys.stdin.read()\nsubprocess.run([sys.executable, '-c', {BUSY!r}])"
)


def test_each_group_counts_what_its_processes_and_their_children_spend() -> None:
    with cpu_groups("parent", "idle") as groups:
        assert groups is not None, "no cgroup hierarchy this process may write: run as root"
        parent = subprocess.Popen([sys.executable, "-c", PARENT], stdin=subprocess.PIPE)
        assert parent.stdin is not None
        groups["parent"].add([parent.pid])
        parent.stdin.close()
        assert parent.wait(30) == 0
        paths = [group.path for group in groups.values()]

        assert groups["parent"].cpu_seconds() >= 0.4
        assert groups["idle"].cpu_seconds() == 0
    assert not any(path.exists() for path in paths)
