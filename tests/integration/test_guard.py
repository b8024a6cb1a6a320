"""A dead orchestrator's playbooks die with it, and nothing of the run is left behind.

A process runs a real playbook through ``PhaseRunner`` (Mitogen, two hosts,
sleeping in a task); it is killed with SIGKILL mid-task, as ``kill -9``
of ``govmig run`` would. Within seconds no process of the run is left (not
ansible-playbook, not Mitogen's helpers in their own sessions, not the task's
command) and its private data dir, where the inventory and secrets go, is gone.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from orchestrator.errors import ConfigurationError
from orchestrator.execution import NodeTarget
from orchestrator.execution.guard import (
    PRIVATE_PREFIX,
    RUN_TMP,
    _child_ends_first,
    _poll,
    descendants,
    end_orphaned_runs,
    orphaned_runs,
    private_prefix,
    run_token,
)
from orchestrator.execution.runner import GUARD_SCRIPT as GUARD
from orchestrator.execution.runner import PhaseRunner, longest_temp_dir
from orchestrator.execution.targets import SSH_KEY_SECRET
from orchestrator.migrations import Phase
from orchestrator.providers import LocalProvider
from tests.fixtures.polling import wait_until
from tests.fixtures.sleeping_playbook import sleeping_playbooks
from tests.fixtures.targets import system_target

pytestmark = pytest.mark.ansible

REPO = Path(__file__).resolve().parents[2]
NODE = NodeTarget(node_id="shantou", ipv6_prefix="2001:db8:1::/48")
RUN = textwrap.dedent(
    """\
    import sys
    from pathlib import Path
    from orchestrator.execution import NodeTarget
    from orchestrator.execution.runner import PhaseRunner
    from orchestrator.migrations import Phase
    from orchestrator.providers import LocalProvider
    from tests.fixtures.targets import system_target

    root = Path(sys.argv[1])
    runner = PhaseRunner(
        playbook_dir=root / "playbooks",
        artifacts_dir=root / "artifacts",
        provider=LocalProvider(root / "work"),
        use_mitogen=sys.argv[2] == "mitogen",
    )
    node = NodeTarget(node_id="shantou", ipv6_prefix="2001:db8:1::/48")
    runner.run(Phase.PREFLIGHT, [(node, [system_target("a"), system_target("b", 2)])])
    """
)


def local_runner(playbooks: Path, tmp_path: Path) -> PhaseRunner:
    return PhaseRunner(
        playbook_dir=playbooks,
        artifacts_dir=tmp_path / "artifacts",
        provider=LocalProvider(tmp_path / "work"),
    )


def running_guard() -> tuple[int, Path]:
    """The one guard this process's run is under, and the private dir it removes."""
    (guard,) = [pid for pid in descendants(os.getpid()) if removed_by(pid) is not None]
    private = removed_by(guard)
    assert private is not None
    return guard, private


def processes_naming(marker: str) -> list[str]:
    found = subprocess.run(["pgrep", "-af", marker], capture_output=True, text=True, check=False)
    return [line for line in found.stdout.splitlines() if "pgrep" not in line]


def removed_by(pid: int) -> Path | None:
    """The private data dir a guard (``pid``) removes when its orchestrator dies, if it is one."""
    argv = cmdline(pid)
    if not any(arg.endswith("guard.py") for arg in argv):
        return None
    return Path(argv[argv.index("--remove") + 1])


@pytest.mark.parametrize("strategy", ["mitogen", "linear"])
def test_killing_the_orchestrator_ends_its_runs_whole_and_removes_their_private_data(
    tmp_path: Path, strategy: str
) -> None:
    """And Ansible's temporary files, which it keeps in the run's private data dir:
    the controller's and the local connection's (Mitogen's, or each module's)."""
    _, marker = sleeping_playbooks(tmp_path, "local")
    home = tmp_path / "home"  # where Ansible kept them: ~/.ansible/tmp
    home.mkdir()
    orchestrator = subprocess.Popen(
        [sys.executable, "-c", RUN, str(tmp_path), strategy],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "HOME": str(home)},
    )
    try:
        wait_until(lambda: processes_naming(f"sleep {marker}") != [], timeout_s=60, what="a task")
        run = descendants(orchestrator.pid)
        (private,) = [found for pid in run if (found := removed_by(pid)) is not None]
        assert private.is_dir()
        # ansible-local-* (the controller's), and without Mitogen ansible-tmp-* (a module's).
        kept = {entry.name.split("-")[1] for entry in (private / RUN_TMP).glob("ansible-*")}
        assert kept == ({"local", "tmp"} if strategy == "linear" else {"local"})
        if strategy == "mitogen":  # its runner dirs and its multiplexer's socket
            assert list((private / RUN_TMP).glob("ansible_mitogen_runner_*")) != []
            assert list((private / RUN_TMP).glob("mitogen_unix_*.sock")) != []
        assert list(home.glob(".ansible/tmp/*")) == []
        orchestrator.send_signal(signal.SIGKILL)
        orchestrator.wait(10)
        wait_until(
            lambda: not any(map(alive, run)),
            timeout_s=15,
            what=lambda: f"the run's processes to end: {[p for p in run if alive(p)]}",
        )
        assert processes_naming(f"sleep {marker}") == []
        wait_until(
            lambda: not private.exists(),
            timeout_s=5,
            what="its private dir removed",
        )
    finally:
        orchestrator.kill()
        orchestrator.wait(10)


def test_a_guards_child_keeps_its_temp_files_in_the_runs_own_dir_which_goes_with_it(
    tmp_path: Path,
) -> None:
    tmp = tmp_path / "private" / RUN_TMP
    tmp.parent.mkdir()
    seen = tmp_path / "seen"
    script = 'echo "$TMPDIR $ANSIBLE_LOCAL_TEMP $GOVMIG_RUN_TMP" >"$0"; mktemp >/dev/null;'
    script += ' ls -ld "$TMPDIR" >>"$0";'
    # As ansible-runner starts a run with an SSH key: Debian's ssh-agent is setgid, and the
    # C library drops TMPDIR for its child. The run's own variable is kept, and Python's
    # tempfile (Mitogen's socket, a local module's payload) reads TMP where TMPDIR is gone.
    python = f'{sys.executable} -c "import tempfile; print(tempfile.gettempdir())"'
    script += f' ssh-agent sh -c \'echo "$GOVMIG_RUN_TMP ${{TMPDIR:-unset}}"; {python}\' >>"$0"'
    guard = [sys.executable, str(GUARD), "--parent", str(os.getpid()), "--tmp", str(tmp)]
    subprocess.run([*guard, "--", "sh", "-c", script, str(seen)], check=True, timeout=30)
    named, listed, under_agent, python_under_agent = seen.read_text().splitlines()
    assert named == f"{tmp} {tmp} {tmp}"
    assert listed.startswith("drwx------ ")  # the run's alone
    assert under_agent == f"{tmp} unset"
    assert python_under_agent == str(tmp)
    assert not tmp.exists()


def test_a_temp_dir_too_long_for_a_runs_sockets_is_refused_and_the_longest_one_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a longer one, Mitogen's multiplexer could not bind its socket, and its run hung."""
    playbooks = tmp_path / "playbooks"
    (playbooks / "roles" / "local").mkdir(parents=True)
    (playbooks / "preflight.yml").write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.command: 'true'\n"
    )
    most = longest_temp_dir()
    root = Path(tempfile.mkdtemp(prefix="govmig-t-", dir="/tmp"))
    try:
        longest = root / ("d" * (most - len(str(root)) - 1))
        longest.mkdir()
        assert len(str(longest)) == most
        monkeypatch.setattr(tempfile, "tempdir", str(longest))
        runner = local_runner(playbooks, tmp_path)
        result = runner.run(Phase.PREFLIGHT, [(NODE, [system_target("a")])])
        assert result.ok, result
        assert runner.strategy.name.startswith("govmig_mitogen")  # Mitogen's socket was made
        monkeypatch.setattr(tempfile, "tempdir", f"{longest}x")
        with pytest.raises(
            ConfigurationError, match=rf"too long .* \({most + 1} bytes, at most {most}\)"
        ):
            local_runner(playbooks, tmp_path)
    finally:
        shutil.rmtree(root)


def test_a_run_whose_guard_was_killed_alone_is_ended_before_the_runner_returns(
    tmp_path: Path,
) -> None:
    """The orchestrator lives on (and would retry the phase): its run must not act beside it.

    Nor leave its private dir: the run writes in its temp dir until it is ended (as a
    dying run's Ansible made its temp files there), so the dir goes only after that."""
    playbooks, marker = sleeping_playbooks(tmp_path, "local", writing=True)
    runner = local_runner(playbooks, tmp_path)
    with ThreadPoolExecutor(max_workers=1) as pool:
        run = pool.submit(runner.run, Phase.PREFLIGHT, [(NODE, [system_target("a")])])
        wait_until(lambda: processes_naming(f"sleep {marker}") != [], timeout_s=60, what="a task")
        guard, private = running_guard()
        wait_until(lambda: (private / RUN_TMP / "late").is_dir(), timeout_s=30, what="a write")
        playbook = descendants(guard)
        os.kill(guard, signal.SIGKILL)  # the OOM killer's pick, say
        result = run.result(timeout=60)
    assert not result.ok
    assert processes_naming(f"sleep {marker}") == []
    assert not any(map(alive, playbook)), "the guard's run outlived the runner's return"
    assert not private.exists(), f"the run's private dir outlived it: {list(private.rglob('*'))}"


def test_a_cancelled_run_with_an_ssh_key_leaves_no_agent_socket_behind(tmp_path: Path) -> None:
    """ansible-runner's ssh-agent made its socket's dir in /tmp, which a cancel (SIGINT to
    the guard, which ends its run at once) left there: the agent listens in the run's dir."""
    playbooks, marker = sleeping_playbooks(tmp_path, "local")
    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    runner = local_runner(playbooks, tmp_path)
    cancel = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        run = pool.submit(
            runner.run,
            Phase.PREFLIGHT,
            [(NODE, [system_target("a")])],
            cancel=cancel,
            secrets={SSH_KEY_SECRET: key.read_text()},
        )
        try:
            wait_until(
                lambda: processes_naming(f"sleep {marker}") != [], timeout_s=60, what="a task"
            )
            guard, private = running_guard()
            (agent,) = [
                argv for pid in descendants(guard) if (argv := cmdline(pid))[0] == "ssh-agent"
            ]
            socket = Path(agent[agent.index("-a") + 1])
            assert socket.parent == private / RUN_TMP
            assert socket.is_socket()
        finally:
            cancel.set()
        result = run.result(timeout=60)
    assert result.status == "canceled"
    assert not private.exists()


def test_a_runs_secrets_are_gone_from_its_private_dir_once_the_run_has_read_them(
    tmp_path: Path,
) -> None:
    """A run killed whole, with its guard and orchestrator, leaves its private dir until the
    next orchestrator starts: so from its playbook's start on, it holds no secret (not the
    inventory's, not the SSH key ansible-runner gave the run's agent)."""
    secret = uuid.uuid4().hex
    digest = hashlib.sha1(secret.encode()).hexdigest()
    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    key_line = key.read_text().splitlines()[1]  # the first line of the key's own base64
    flag = tmp_path / "go-on"
    playbooks = tmp_path / "playbooks"
    (playbooks / "roles" / "local").mkdir(parents=True)
    (playbooks / "preflight.yml").write_text(
        textwrap.dedent(
            f"""\
            - hosts: all
              gather_facts: false
              tasks:
                - ansible.builtin.command: sh -c 'while [ ! -e {flag} ]; do sleep 0.05; done'
                - ansible.builtin.assert:
                    that: govmig_secret_test | hash('sha1') == '{digest}'
                - ansible.builtin.command: ssh-add -l
            """
        )
    )
    runner = local_runner(playbooks, tmp_path)
    with ThreadPoolExecutor(max_workers=1) as pool:
        run = pool.submit(
            runner.run,
            Phase.PREFLIGHT,
            [(NODE, [system_target("a")])],
            secrets={"govmig_secret_test": secret, SSH_KEY_SECRET: key.read_text()},
        )
        try:
            wait_until(
                lambda: processes_naming(str(flag)) != [], timeout_s=60, what="the waiting task"
            )
            _guard, private = running_guard()
            assert private.is_dir()
            assert [p for p in (private / "inventory").rglob("*") if p.is_file()] == []
            assert not (private / "env" / "ssh_key").exists()
            needles = (secret.encode(), key_line.encode())
            holding = [
                path
                for path in private.rglob("*")
                if path.is_file() and any(needle in path.read_bytes() for needle in needles)
            ]
            assert holding == []
        finally:
            flag.touch()
        result = run.result(timeout=60)
    # The run goes on with what it read: the inventory's secret, and the key in its agent.
    assert result.ok, result


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:  # it ended meanwhile
        return [""]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has ended; only its parent has yet to reap it.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("wait", [_child_ends_first, _poll], ids=["pidfds", "polling"])
def test_a_guard_tells_its_child_ending_from_its_parent_dying(
    wait: Callable[[subprocess.Popen[bytes], int], bool],
) -> None:
    """By pidfds or by polling: True when the child exits, False when the parent is gone."""
    child = subprocess.Popen(["true"])
    assert wait(child, os.getppid()) is True
    assert child.wait(5) == 0
    stranger = subprocess.Popen(["sleep", "60"])  # alive, but not our parent: ours is gone
    child = subprocess.Popen(["sleep", "60"])
    try:
        assert wait(child, stranger.pid) is False
        assert child.poll() is None
    finally:
        for process in (child, stranger):
            process.kill()
            process.wait(5)


def test_a_restarted_orchestrator_ends_runs_whose_orchestrator_died(tmp_path: Path) -> None:
    """Even a guard that could not act (stopped here) is found, its run ended, its dir removed."""
    private = tmp_path / "govmig-runner-x"
    private.mkdir()
    marker = f"{uuid.uuid4().int % 10**6 + 10**6}.25"
    parent = subprocess.Popen(
        [
            "sh",
            "-c",
            f'"$0" {GUARD} --parent $$ --remove {private} -- sleep {marker} & wait',
            sys.executable,
        ]
    )
    wait_until(lambda: processes_naming(f"sleep {marker}") != [], timeout_s=10, what="the run")
    (guard,) = [pid for pid in descendants(parent.pid) if removed_by(pid) == private]
    os.kill(guard, signal.SIGSTOP)  # it cannot notice its orchestrator's death now
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    assert guard in orphaned_runs()
    assert end_orphaned_runs() >= 1
    wait_until(lambda: not alive(guard), timeout_s=10, what="the stopped guard to end")
    assert processes_naming(f"sleep {marker}") == []
    assert not private.exists()


def test_what_a_run_killed_whole_left_behind_is_removed_and_nothing_in_use(
    tmp_path: Path,
) -> None:
    """Guard and all killed at once: its private dir has no guard left to remove it.

    Whose dir it is decides, never its age: a live maker's dir stays however old
    it looks (an instance on a clock a week ahead once removed a run's inventory
    as it started), and a dead maker's goes however young.
    """
    no_such_pid = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1
    ours = private_prefix()
    pid, start = ours.removeprefix(PRIVATE_PREFIX).rstrip("-").split(".")
    assert (pid, start) == tuple(str(run_token(os.getpid())).split(":"))
    dirs = {
        "ours, old": tmp_path / f"{ours}old",
        "ours, in use": tmp_path / f"{ours}used",
        "a dead maker's": tmp_path / f"{PRIVATE_PREFIX}{no_such_pid}.12345-x",
        "a reused pid's": tmp_path / f"{PRIVATE_PREFIX}{pid}.{int(start) + 1}-x",
        "an earlier release's, live": tmp_path / f"{PRIVATE_PREFIX}{pid}-y",
        "an earlier release's, dead": tmp_path / f"{PRIVATE_PREFIX}{no_such_pid}-y",
        "not a maker's": tmp_path / f"{PRIVATE_PREFIX}x",
    }
    for path in dirs.values():
        path.mkdir()
        (path / "inventory").write_text("secrets would be here")
        os.utime(path, (time.time() - 7200, time.time() - 7200))
    live = subprocess.Popen(
        [sys.executable, str(GUARD), "--parent", str(os.getpid()), "--remove",
         str(dirs["ours, in use"]), "--", "sleep", "60"]
    )  # fmt: skip
    try:
        wait_until(
            lambda: removed_by(live.pid) == dirs["ours, in use"], timeout_s=10, what="the guard"
        )
        # It looks machine-wide: another test's orphans, killed at this moment, may be ended
        # too (it happened in CI). Ours, in use, is none of them.
        assert live.pid not in orphaned_runs()
        end_orphaned_runs(tmp_path)
        assert live.poll() is None
        left = {what for what, path in dirs.items() if path.exists()}
        assert left == {"ours, old", "ours, in use", "an earlier release's, live", "not a maker's"}
    finally:
        live.terminate()
        live.wait(10)
