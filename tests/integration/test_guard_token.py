"""A run's processes that left the parent chain still end with the run.

Each guarded command here starts a helper as Mitogen's may: it calls setsid
and forks, and its parent exits, so the helper (a ``sleep``) is handed to init
and is no descendant of the guard's. Only the run's token in its environment
(``GOVMIG_RUN_TOKEN``) ties it to the run: it must be gone when the run ends
normally, when its orchestrator dies, when its guard is told to stop, and,
once a restarted orchestrator looks, when guard and child were killed at once.
A helper forked as the command is being stopped (after the guard listed what
to end) ends too: the guard scans for its token again until none is left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.execution.guard import descendants, end_orphaned_runs, run_token, tokens
from orchestrator.execution.runner import GUARD_SCRIPT as GUARD
from tests.fixtures.polling import wait_until

# end_orphaned_runs looks at every process on the host: never beside test_guard.py's.
pytestmark = pytest.mark.xdist_group("test_guard")

# Starts the helper: setsid and fork, its parent exits, so init inherits the ``sleep``.
# The pid file appears only once that parent has exited: the helper has escaped by then.
START_HELPER = """\
import os, signal, sys, time
from pathlib import Path

pid_file, release, seconds = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]

def start_helper():
    if os.fork() == 0:
        os.setsid()
        helper = os.fork()
        if helper == 0:
            os.execvp("sleep", ["sleep", seconds])
        pid_file.with_suffix(".tmp").write_text(str(helper))
        os._exit(0)
    os.wait()
    pid_file.with_suffix(".tmp").replace(pid_file)
"""
# argv: the helper's pid file, the file whose existence lets the command exit, the sleep.
ESCAPING = (
    START_HELPER
    + """
start_helper()
deadline = time.monotonic() + 60
while not release.exists() and time.monotonic() < deadline:
    time.sleep(0.05)
"""
)
# The helper started only when the command is told to stop (SIGTERM), as it exits: it was
# in no list the guard made before signalling, only its token tells. ``release`` is made
# once the command is ready.
ESCAPING_ON_STOP = (
    START_HELPER
    + """
signal.signal(signal.SIGTERM, lambda signum, frame: (start_helper(), os._exit(0)))
release.touch()
time.sleep(60)
"""
)


class Run:
    """A guarded command whose helper escapes; what the test started, ended at its end."""

    def __init__(self, tmp_path: Path, name: str, script: str = ESCAPING) -> None:
        self.pid_file = tmp_path / f"{name}.pid"
        self.release = tmp_path / f"{name}.release"
        self.seconds = f"60.{uuid.uuid4().int % 10**6:06d}"  # a sleep no other test runs
        files = [str(self.pid_file), str(self.release)]
        self.command = [sys.executable, "-c", script, *files, self.seconds]
        self.started: list[subprocess.Popen[bytes]] = []

    def guarded(self, parent: int) -> list[str]:
        return [sys.executable, str(GUARD), "--parent", str(parent), "--", *self.command]

    def under_orchestrator(self) -> subprocess.Popen[bytes]:
        """A stand-in orchestrator (a shell) running the command under its guard; kill it
        as ``kill -9`` of ``govmig run`` would."""
        shell = f'"$0" {GUARD} --parent $$ -- "$@" & wait'
        return self.start(["sh", "-c", shell, sys.executable, *self.command])

    def start(self, argv: list[str]) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(argv)
        self.started.append(process)
        return process

    def helper(self) -> int:
        """The escaped helper's pid, once it runs ``sleep``."""
        wait_until(self.pid_file.exists, timeout_s=10, what="the helper to start")
        pid = int(self.pid_file.read_text())
        wait_until(lambda: self.seconds in cmdline(pid), timeout_s=10, what="the helper's sleep")
        return pid

    def end(self) -> None:
        """Kill what it started, and the command and helper its guard left, if any: both
        carry this run's sleep in their command line (a guard killed alone leaves them)."""
        for process in self.started:
            process.kill()
            process.wait(10)
        for proc in Path("/proc").glob("[0-9]*"):
            if self.seconds in cmdline(int(proc.name)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(proc.name), signal.SIGKILL)


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[dict[str, Run]]:
    """Runs by name; each ended, its helper killed, at the end of the test however it went."""
    made: dict[str, Run] = {}
    try:
        yield made
    finally:
        for run in made.values():
            run.end()


def new_run(runs: dict[str, Run], tmp_path: Path, name: str, script: str = ESCAPING) -> Run:
    runs[name] = Run(tmp_path, name, script)
    return runs[name]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def gone(pid: int) -> bool:
    """Whether ``pid`` has ended (a zombie has: only its reaper has yet to wait for it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def escaped_from(guard: int, helper: int) -> bool:
    """The helper is out of the guard's tree and carries its run's token."""
    return helper not in descendants(guard) and tokens().get(helper) == run_token(guard)


def test_a_run_that_ends_normally_leaves_no_escaped_process(
    tmp_path: Path, runs: dict[str, Run]
) -> None:
    run = new_run(runs, tmp_path, "normal")
    guard = run.start(run.guarded(os.getpid()))
    helper = run.helper()
    assert escaped_from(guard.pid, helper)
    run.release.touch()  # the command exits 0; its helper sleeps on
    assert guard.wait(15) == 0
    wait_until(lambda: gone(helper), timeout_s=5, what="the escaped helper to end")


def test_an_escaped_process_ends_when_the_orchestrator_dies(
    tmp_path: Path, runs: dict[str, Run]
) -> None:
    run = new_run(runs, tmp_path, "orphan")
    orchestrator = run.under_orchestrator()
    helper = run.helper()
    (guard,) = [pid for pid in descendants(orchestrator.pid) if str(GUARD) in cmdline(pid)]
    assert escaped_from(guard, helper)
    orchestrator.send_signal(signal.SIGKILL)
    orchestrator.wait(10)
    wait_until(lambda: gone(helper), timeout_s=10, what="the escaped helper to end")
    wait_until(lambda: gone(guard), timeout_s=10, what="the guard to end")


def test_a_guard_told_to_stop_ends_its_escaped_process(
    tmp_path: Path, runs: dict[str, Run]
) -> None:
    run = new_run(runs, tmp_path, "stopped")
    guard = run.start(run.guarded(os.getpid()))
    helper = run.helper()
    assert escaped_from(guard.pid, helper)
    guard.send_signal(signal.SIGINT)  # as ansible-runner cancels a run
    assert guard.wait(10) == 128 + signal.SIGINT
    wait_until(lambda: gone(helper), timeout_s=5, what="the escaped helper to end")


def test_a_restarted_orchestrator_ends_what_a_run_killed_whole_left_carrying_its_token(
    tmp_path: Path, runs: dict[str, Run]
) -> None:
    """Guard and child killed at once: the helper has no guard; a live guard's helper stays."""
    dead, live = new_run(runs, tmp_path, "dead"), new_run(runs, tmp_path, "live")
    killed = dead.start(dead.guarded(os.getpid()))
    dead_helper = dead.helper()
    assert escaped_from(killed.pid, dead_helper)
    living = live.start(live.guarded(os.getpid()))
    live_helper = live.helper()
    for pid in [killed.pid, *descendants(killed.pid)]:
        os.kill(pid, signal.SIGKILL)
    killed.wait(10)
    # Every runner also ends unguarded runs as each of its runs ends, so another test's
    # run may end this one first: what matters is that it goes, and the live one stays.
    end_orphaned_runs(tmp_path)
    wait_until(lambda: gone(dead_helper), timeout_s=10, what="the unguarded helper to end")
    assert not gone(live_helper)
    assert living.poll() is None
    assert escaped_from(living.pid, live_helper)


def test_a_process_forked_while_the_run_is_being_ended_ends_too(
    tmp_path: Path, runs: dict[str, Run]
) -> None:
    run = new_run(runs, tmp_path, "late", ESCAPING_ON_STOP)
    orchestrator = run.under_orchestrator()
    wait_until(run.release.exists, timeout_s=10, what="the command to be ready")
    orchestrator.send_signal(signal.SIGKILL)  # the guard ends the run: SIGTERM, then ...
    orchestrator.wait(10)
    # ... the command forks its helper as it stops. (Not ``run.helper()``: the guard may
    # end the helper before this test could see its sleep.)
    wait_until(run.pid_file.exists, timeout_s=10, what="the command to fork its helper")
    helper = int(run.pid_file.read_text())
    wait_until(lambda: gone(helper), timeout_s=10, what="the helper forked while stopping to end")
