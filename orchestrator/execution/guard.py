"""A playbook run's guard: the run ends when its orchestrator does, and leaves nothing behind.

ansible-runner starts ``ansible-playbook`` in a pseudo-terminal with SIGHUP
ignored, and Mitogen's helpers start sessions of their own, so when the
orchestrator is killed (``kill -9``, OOM, a host reboot of its container) the
whole run lives on: a phase of a dead instance could keep acting while its
successor re-runs it. ``PhaseRunner`` therefore starts every run as::

    python guard.py --parent PID --remove PRIVATE_DIR -- ansible-playbook ...

The guard runs the command as its child and watches its own parent. When the
parent is gone it kills every process descended from it (those in sessions
of their own included), removes the run's private data dir (inventory, extra
vars: where secrets would be), and exits. A cancel or a timeout still kills
the guard's process group as ansible-runner does; the guard's child is in it.
A restarted orchestrator also ends any run whose orchestrator is gone before
it starts its own (``end_orphaned_runs``), rather than trust the guards' timing.

A process can leave the parent chain, though: a Mitogen helper that forks
twice or calls setsid, or whose parent exits first, is handed to init and is
no descendant of anything the guard knows. So the guard also tags its run:
its child starts with ``GOVMIG_RUN_TOKEN=<guard pid>:<guard start time>`` in
its environment, which every process of the run inherits whatever its parent
chain becomes (the start time tells a reused pid apart). Whenever the guard
ends its run it ends the processes carrying its token too, and when its child
exits normally it ends any still carrying it: a run leaves nothing behind.
``end_orphaned_runs`` ends the processes whose token names a guard that is
gone (killed with its child, say), and so does ``PhaseRunner`` after every
run (``end_unguarded_runs``): a guard killed alone leaves nothing acting. A
process meant to outlive its run (a service ``svcctl.py`` starts) must be
started without the token.

On an execution host (``remote.py``) the guard runs ``ansible-runner worker``
with ``--parent`` the SSH session that started it, so a run streamed from an
orchestrator that died (its SSH client killed by the orchestrator's own guard)
ends there too; ``--cleanup`` removes the worker's private data dir however
the run ends, since nothing on that host would remove it otherwise. The
worker's processes carry that guard's token, so they are found there as here.

A run killed mid-task leaves Ansible's temporary files where Ansible put them,
in ``~/.ansible/tmp`` and the temp dir: the controller's ``ansible-local-*``,
the local connection's modules and Mitogen's runner dirs, a module's payload.
With ``--tmp DIR`` the guard gives its child a temp dir of its own, inside the
private data dir: ``TMPDIR``, ``TMP``, ``TEMP``, ``ANSIBLE_LOCAL_TEMP`` and
``GOVMIG_RUN_TMP`` name it, and it goes with the run however the run ends.
ansible-runner starts a run that has an SSH key under ``ssh-agent``, which is
setgid on Debian, and the C library drops ``TMPDIR`` from the environment of a
setgid program. Python's ``tempfile`` reads ``TMP`` next, which is kept, so
what Ansible and Mitogen make there (Mitogen's socket, a local module's payload)
still lands in the run's dir; a shell's ``mktemp`` reads only ``TMPDIR``, so
``GOVMIG_RUN_TMP`` is the one to name in a setting: the local provider's
"remote" temp and the ssh provider's shared jump host login follow it.

Run as a script, not as a module of the package: it imports only the standard
library, so it starts in milliseconds.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# How often a guard without pidfds (Linux before 5.3) looks at its child and parent.
POLL_S = 0.2
# The prefix of a run's private data dir; ``PhaseRunner`` makes ``<prefix><pid>.<start>-*``
# (``private_prefix``) under the temp dir, so a dir whose orchestrator is gone is known as such.
PRIVATE_PREFIX = "govmig-runner-"
# The run's temp dir (``--tmp``), inside its private data dir, here and on an execution host,
# and the variable that names it to every process of the run.
RUN_TMP, RUN_TMP_ENV = "tmp", "GOVMIG_RUN_TMP"
# After SIGTERM, how long the tree gets to stop before SIGKILL.
GRACE_S = 2.0
# How many times ending a run scans again for processes that still carry its token.
END_ROUNDS = 5
# The variable the guard's child starts with: ``<guard pid>:<guard start time>``.
TOKEN_ENV = "GOVMIG_RUN_TOKEN"  # noqa: S105 - a name, not a secret
_TOKEN_VAR = f"{TOKEN_ENV}=".encode()


def descendants(root: int) -> list[int]:
    """Every process descended from ``root`` now, parents before children."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # it ended meanwhile
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        for child in children.get(pid, []):
            found.append(child)
            frontier.append(child)
    return found


def run_token(pid: int) -> str | None:
    """The token of a run ``pid`` guards: its pid and start time; None if it is gone."""
    try:
        # pid (comm) state ...: comm may hold spaces and parentheses; field 22 is the start.
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else f"{pid}:{fields[19]}"


def tokens() -> dict[int, str]:
    """Every process on this host that carries a run's token (this one aside), with it."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            token = _token_of(entry)
            if token is not None:
                found[int(entry.name)] = token
    return found


def _token_of(entry: Path) -> str | None:
    try:
        environ = (entry / "environ").read_bytes()  # empty for a zombie
    except OSError:  # not ours to read, or it ended meanwhile
        return None
    if _TOKEN_VAR not in environ:
        return None
    for var in environ.split(b"\0"):
        if var.startswith(_TOKEN_VAR):
            return var.removeprefix(_TOKEN_VAR).decode(errors="replace")
    return None


def carrying(token: str) -> list[int]:
    """The processes that carry ``token`` now (never this one)."""
    return [pid for pid, held in tokens().items() if held == token]


def end_run(token: str, *, first: list[int] | None = None, grace_s: float = GRACE_S) -> None:
    """End ``first`` and every process carrying ``token``, scanning again until none is left.

    One scan is not enough: a process forked between the scan and the signals (a
    Mitogen helper starting as its ansible-playbook is told to stop, say) was in
    no list, but it carries the token, so the next scan finds it. Bounded: a run
    that forks faster than it can be ended is not worth hanging the guard for.
    """
    pids = list(first or [])
    for _ in range(END_ROUNDS):
        pids += [pid for pid in carrying(token) if pid not in pids]
        live = [pid for pid in pids if _alive(pid)]
        if not live:
            return
        end_tree(live, grace_s=grace_s)
        pids = []


def end_tree(pids: list[int], *, grace_s: float = GRACE_S) -> None:
    """SIGTERM each of ``pids``, then SIGKILL whichever still runs after ``grace_s``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace_s
        while sig == signal.SIGTERM and time.monotonic() < deadline and any(map(_alive, pids)):
            time.sleep(0.05)


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs: a zombie has ended, only its reaper (init, say) is late."""
    return run_token(pid) is not None


def guards() -> dict[int, tuple[int | None, int, list[Path]]]:
    """Every guard on this host: its orchestrator's pid, its own parent's, the dirs it removes."""
    found: dict[int, tuple[int | None, int, list[Path]]] = {}
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if any(arg.endswith("/guard.py") for arg in argv[:2]):
            args = _PARSER.parse_known_args(argv[2:])[0]
            found[int(entry.name)] = (args.parent, ppid, list(args.remove))
    return found


def orphaned_runs() -> dict[int, list[Path]]:
    """Guards on this host whose orchestrator is gone, with the dirs each was to remove."""
    return _orphans(guards())


def _orphans(found: dict[int, tuple[int | None, int, list[Path]]]) -> dict[int, list[Path]]:
    return {
        pid: remove for pid, (parent, ppid, remove) in found.items() if parent not in (None, ppid)
    }


def end_orphaned_runs(private_root: Path | None = None) -> int:
    """End every run whose orchestrator or guard died, and remove what such runs left.

    Returns how many runs it ended: those whose guard outlived its orchestrator
    (the guard, its tree and its token's carriers end), and those whose guard is
    gone, each counted once however many of its processes still carried its
    token (a Mitogen helper handed to init, say). The caller's own token is
    spared: a process never ends itself nor its siblings.

    A run whose guard was killed too (the whole process tree at once), or whose
    orchestrator died before its guard started, leaves its private data dir
    behind with no guard to remove it. Each such dir under ``private_root`` (the
    temp dir) is named after the run token of the process that made it
    (``private_prefix``), so it goes exactly when that process is gone. No age
    is trusted: a dir being set up has no guard yet, and an instance on another
    clock (skewed, or a test's fake one) would find every young dir old.
    """
    orphans = orphaned_runs()
    for guard, remove in orphans.items():
        token = run_token(guard)
        tree = [guard, *descendants(guard)]
        if token is None:  # it ended meanwhile
            end_tree(tree)
        else:
            end_run(token, first=tree)
        for path in remove:
            shutil.rmtree(path, ignore_errors=True)
    unguarded = end_unguarded_runs()
    _remove_left_dirs(private_root)
    return len(orphans) + unguarded


def private_prefix() -> str:
    """The prefix of the private data dirs this process makes: its run token, file-name safe."""
    token = run_token(os.getpid()) or str(os.getpid())
    return f"{PRIVATE_PREFIX}{token.replace(':', '.')}-"


def end_unguarded_runs() -> int:
    """End the processes whose token names a guard that is gone; how many runs they were.

    Cheap (one read of each process's environment), so ``PhaseRunner`` calls it
    after every run: a guard killed on its own (the OOM killer's pick, say) took
    nothing with it, and its playbook must not act on while the phase is retried.
    """
    own = os.environ.get(TOKEN_ENV)
    left = {token for token in tokens().values() if token != own and not _still_runs(token)}
    for token in left:
        end_run(token)
    return len(left)


def _still_runs(token: str) -> bool:
    """Whether the process ``token`` names (``pid:start``) still runs, the same one.

    A token that names no pid is not ours to judge, so it is taken to run; one
    with a pid alone (a dir of an earlier release) runs while that pid does.
    """
    pid, _, start = token.partition(":")
    if not pid.isdigit():
        return True
    found = run_token(int(pid))
    return found is not None and (not start or found == token)


def _remove_left_dirs(private_root: Path | None) -> None:
    root = private_root if private_root is not None else Path(tempfile.gettempdir())
    for left in root.glob(f"{PRIVATE_PREFIX}*"):
        maker = left.name.removeprefix(PRIVATE_PREFIX).split("-", 1)[0]
        if not _still_runs(maker.replace(".", ":")):
            shutil.rmtree(left, ignore_errors=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parent", type=int, help="the orchestrator's pid")
    parser.add_argument("--remove", type=Path, action="append", default=[], help="on its death")
    parser.add_argument(
        "--cleanup", type=Path, action="append", default=[], help="whenever the run ends"
    )
    parser.add_argument(
        "--tmp", type=Path, help="the run's temp dir, made for it and removed with it"
    )
    parser.add_argument("command", nargs=argparse.REMAINDER)
    return parser


_PARSER = _parser()


def main(argv: list[str]) -> int:
    args = _PARSER.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if args.parent is None or not command:
        _PARSER.error("a guard needs --parent and a command")
    token = run_token(os.getpid())
    if token is None:  # no /proc: a guard could find nothing of its run
        _PARSER.error("a guard needs /proc")
    if args.tmp is not None:
        args.cleanup.append(args.tmp)
    child = subprocess.Popen(command, env={**os.environ, **temp_env(args.tmp), TOKEN_ENV: token})

    def stop(signum: int, _frame: object) -> None:  # a guard told to stop takes its run along
        # No grace: a cancel (ansible-runner) SIGKILLs the guard a moment after its SIGINT,
        # and a grace would end the guard first, leaving its tree orphaned (it happened).
        end_run(token, first=[child.pid, *descendants(child.pid)], grace_s=0)
        for path in args.cleanup:
            shutil.rmtree(path, ignore_errors=True)
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        return _watch(child, args.parent, args.remove, token)
    finally:
        for path in args.cleanup:
            shutil.rmtree(path, ignore_errors=True)


def temp_env(tmp: Path | None) -> dict[str, str]:
    """The variables that put a run's temporary files in ``tmp``, made private (none
    without one)."""
    if tmp is None:
        return {}
    tmp.mkdir(mode=0o700, exist_ok=True)
    names = ("TMPDIR", "TMP", "TEMP", "ANSIBLE_LOCAL_TEMP", RUN_TMP_ENV)
    return dict.fromkeys(names, str(tmp))


def _watch(child: subprocess.Popen[bytes], parent: int, remove: list[Path], token: str) -> int:
    if not _child_ends_first(child, parent):  # the orchestrator died: we were handed to init
        end_run(token, first=[child.pid, *descendants(child.pid)])
        child.wait()
        for path in remove:
            shutil.rmtree(path, ignore_errors=True)
        return 128 + signal.SIGKILL
    # The run is over: whatever still carries its token is left over. (Not the child's
    # descendants: it is reaped, so its pid may be another process's already.)
    returncode = child.wait()
    end_run(token)
    return returncode


def _child_ends_first(child: subprocess.Popen[bytes], parent: int) -> bool:
    """Wait until the child exits (True) or the parent is gone (False).

    Woken by the kernel through both processes' pidfds, so the run's end reaches
    ansible-runner at once, not at the next poll; without pidfds, polls.
    """
    try:
        fds = [os.pidfd_open(child.pid), os.pidfd_open(parent)]
    except OSError:  # the parent is gone already, or the kernel has no pidfds
        return _poll(child, parent)
    try:
        if os.getppid() != parent:  # gone before its pidfd was opened: that pid is another's
            return False
        ready, _, _ = select.select(fds, [], [])
        return fds[0] in ready
    finally:
        for fd in fds:
            os.close(fd)


def _poll(child: subprocess.Popen[bytes], parent: int) -> bool:
    while child.poll() is None:
        if os.getppid() != parent:
            return False
        time.sleep(POLL_S)
    return True


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
