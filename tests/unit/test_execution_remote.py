"""The command that runs a node's playbooks on its execution host (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import ConfigurationError
from orchestrator.execution import ExecutionHost
from orchestrator.execution.remote import REMOTE_PREFIX, worker_command

HOST = ExecutionHost(
    name="exec-shantou",
    address="10.213.2.251",
    user="root",
    identity_file=Path("/lab/ssh/id_ed25519"),
    ssh_options=("-o", "StrictHostKeyChecking=yes"),
)
GUARD = Path("/opt/govmig/lib/orchestrator/execution/guard.py")


def test_the_worker_runs_under_a_guard_of_its_ssh_session_in_an_empty_environment() -> None:
    command = worker_command(HOST, python="/opt/govmig/bin/python", guard=GUARD)
    ssh, remote = command[:-1], command[-1]
    assert ssh[:3] == ["ssh", "-F", "/dev/null"]  # no SendEnv from the system's ssh_config
    assert ssh[-1] == "10.213.2.251"
    assert ssh[3:7] == ["-l", "root", "-i", "/lab/ssh/id_ed25519"]
    assert "StrictHostKeyChecking=yes" in ssh
    assert f"mktemp -d /tmp/{REMOTE_PREFIX}XXXXXXXX" in remote
    assert "exec env -i PATH=/usr/bin:/bin" in remote
    # What the exec would need is checked first: a failed exec could not remove the dir.
    checks = "[ -x /opt/govmig/bin/python ] && [ -r " + str(GUARD) + " ] && "
    assert checks + '[ -x /opt/govmig/bin/ansible-runner ] || { rmdir "$d";' in remote
    # The guard watches the SSH session (its parent once the shell execs), removes the dir
    # always, and keeps the run's temp files in it.
    guard = f'/opt/govmig/bin/python {GUARD} --parent $PPID --cleanup "$d" --tmp "$d/tmp" --'
    assert guard in remote
    assert remote.endswith('/opt/govmig/bin/ansible-runner worker --private-data-dir "$d"')


@pytest.mark.parametrize("python", ["relative/python", "/opt/my env/python", "/opt/$(id)/python"])
def test_a_path_the_remote_shell_would_read_as_more_than_a_path_is_refused(python: str) -> None:
    with pytest.raises(ConfigurationError, match="must be an absolute path of letters"):
        worker_command(HOST, python=python, guard=GUARD)
