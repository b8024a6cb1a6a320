"""A node's playbooks run on its execution host, streamed over SSH, and die with the orchestrator.

One small lab: node shantou with one target host and an execution host
(``exec-shantou``), one source host, BIND; built twice: as is, and as a
hardened site's: a bastion in front, which this machine reaches alone
(``--bastion``): it reaches the execution host through it, and the execution
host every host straight; and a login user other than root, whom sudo asks a
password (the runs on the execution host run as that user).
A seeded system goes through every forward phase with the real ``ssh`` provider,
every run streamed as ``ansible-runner transmit | ssh exec-shantou worker |
process``; the target
host sees each SSH connection come from the execution host, not from this
machine (the provision phase reports it). The stream carries none of the
orchestrator's environment. A run whose orchestrator is killed ends on the
execution host too, leaving no private data dir there; no secret is left in
the artifacts or on the execution host's disk; an execution host that does not
answer fails the batch with a reason that names it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator.data_files import PLAYBOOK_DIR
from orchestrator.execution import NodeTarget, RunResult, SystemTarget
from orchestrator.execution.guard import PRIVATE_PREFIX
from orchestrator.execution.remote import REMOTE_PREFIX
from orchestrator.execution.runner import PhaseRunner
from orchestrator.inventory import load_inventory
from orchestrator.inventory.models import SourceLocation
from orchestrator.lab import Lab, LabOptions, LabPaths, seed
from orchestrator.lab.topology import BASTION_IPV4, BRIDGE_IPV4, DNS_IPV4
from orchestrator.migrations.states import FORWARD_PHASES, Phase
from orchestrator.providers import SshProvider
from orchestrator.providers.ssh_hosts import SshHost, SshHosts, load_ssh_hosts
from tests.fixtures.polling import wait_until
from tests.fixtures.sleeping_playbook import sleeping_playbooks
from tests.fixtures.targets import system_target

pytestmark = [pytest.mark.lab, pytest.mark.ansible]

REPO = Path(__file__).resolve().parents[2]
INVENTORY = load_inventory()
NODE = NodeTarget(node_id="shantou", ipv6_prefix=str(INVENTORY.nodes["shantou"].ipv6_prefix))
SYSTEM = "st-streamed"
# Set in the orchestrator's environment while the phases run: it must not travel.
MARKER_NAME, MARKER = "GOVMIG_TEST_ENV_MARKER", f"not-for-the-stream-{uuid.uuid4().hex}"
# What a streamed run's environment may hold: the worker's own (env -i, and the run
# token its guard there adds), the job's envvars and what ansible-runner and its
# ssh-agent add. Nothing of this machine's.
STREAM_ENV = {
    *("PATH", "HOME", "LANG", "PWD", "SHLVL", "_", "SSH_AUTH_SOCK", "SSH_AGENT_PID"),
    # The guard's: its run's token, and its temp dir.
    *("GOVMIG_RUN_TOKEN", "GOVMIG_RUN_TMP", "TMPDIR", "TMP", "TEMP"),
    # The job's own: how many of its systems the strategy lets be down at once.
    "GOVMIG_MAX_DOWN",
}
STREAM_ENV_PREFIXES = ("ANSIBLE_", "PYTHON", "RUNNER_", "AWX_", "JOB_")


# The hardened site's lab: a bastion in front, a login user whom sudo asks a password.
# (A bastion in front of root's logins is no third case: the jump is the same for all.)
USER = "govmig-ops"
HARDENED = {"bastion": True, "login_user": USER, "sudo_password": True}


@dataclass
class Streamed:
    lab: Lab
    hardened: bool
    hosts: SshHosts
    runner: PhaseRunner
    target: SystemTarget
    results: dict[Phase, RunResult]


@pytest.fixture(scope="module", params=[False, True], ids=["straight", "hardened"])
def streamed(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Streamed]:
    # The lab's directory is where only root may enter (pytest's): a login user's runs on
    # the execution host read its known_hosts, and govmig's Python under /root, all the same.
    base = tmp_path_factory.mktemp("exec")
    lab = Lab(LabPaths.under(base / "lab"), INVENTORY)
    hardened: bool = request.param
    options = LabOptions.model_validate(
        {"nodes": ("shantou",), "sources": 1, "disk_mb": 8, "execution_hosts": True}
        | (HARDENED if hardened else {})
    )
    lab.up(options)
    os.environ[MARKER_NAME] = MARKER
    try:
        (seeded,) = seed(lab, [SYSTEM], size=64 * 1024)
        hosts = load_ssh_hosts(lab.paths.inventory)
        provider = SshProvider(hosts=hosts)
        runner = PhaseRunner(
            playbook_dir=PLAYBOOK_DIR, artifacts_dir=base / "artifacts", provider=provider
        )
        source = SourceLocation(city="shantou", site="lab", host=seeded["source"]["host"])
        target = system_target(SYSTEM, 1, source=source)
        results = {
            phase: runner.run(phase, [(NODE, [target])], secrets=provider.secrets())
            for phase in FORWARD_PHASES
        }
        yield Streamed(lab, hardened, hosts, runner, target, results)
    finally:
        os.environ.pop(MARKER_NAME, None)
        lab.down()


def execution_host(hosts: SshHosts) -> SshHost:
    found = hosts.nodes["shantou"].execution_host
    assert found is not None, "the lab wrote no execution host for shantou"
    return found


def test_every_phase_runs_on_the_execution_host(streamed: Streamed) -> None:
    for phase, result in streamed.results.items():
        assert result.status == "successful", (phase, result.outcomes)
        assert [o.ok for o in result.outcomes] == [True], (phase, result.outcomes)
    hardened = streamed.hardened
    provisioned = streamed.results[Phase.PROVISION].outcome(SYSTEM).report
    exec_host = execution_host(streamed.hosts)
    # The target saw the playbook's SSH connection come from the execution host, which saw
    # this machine's come through the bastion if there is one.
    assert provisioned["controlled_from"] == str(exec_host.ipv4) != str(BRIDGE_IPV4)
    logins = [line.split() for line in streamed.lab.logins()[exec_host.name]]
    assert {words[5] for words in logins} == {str(BASTION_IPV4 if hardened else BRIDGE_IPV4)}
    # As the site's login user: one other than root runs there govmig's Python and reads
    # the lab's known_hosts through the ways the lab opened for it.
    assert {words[3] for words in logins} == {USER if hardened else "root"}
    verified = streamed.results[Phase.VERIFY].outcome(SYSTEM).report
    assert verified["ipv6_by_name"] is True
    # The worker's private data dir (inventory, the run's key) went with each run.
    assert list(Path("/tmp").glob(f"{REMOTE_PREFIX}*")) == []


def test_the_stream_carries_none_of_the_orchestrators_environment(streamed: Streamed) -> None:
    for result in streamed.results.values():
        written = [p for p in result.artifact_dir.rglob("*") if p.is_file()]
        assert written, f"no artifacts came back for {result.ident}"
        for path in written:
            assert MARKER.encode() not in path.read_bytes(), path
        env = json.loads((result.artifact_dir / "command").read_text())["env"]
        foreign = {
            name
            for name in env
            if name not in STREAM_ENV and not name.startswith(STREAM_ENV_PREFIXES)
        }
        assert foreign == set(), f"the worker's environment carried {sorted(foreign)}"
        # Ansible's temp files stay in the worker's private dir, which goes with the run.
        temp_names = ("TMPDIR", "TMP", "TEMP", "ANSIBLE_LOCAL_TEMP", "GOVMIG_RUN_TMP")
        assert len({env[name] for name in temp_names}) == 1, {
            name: env[name] for name in temp_names
        }
        assert env["TMPDIR"].startswith(f"/tmp/{REMOTE_PREFIX}")


def test_no_secret_is_left_in_the_artifacts_or_on_the_execution_host(streamed: Streamed) -> None:
    given = SshProvider(hosts=streamed.hosts).secrets()  # the key, TSIG's, sudo's password
    assert ("govmig_secret_become_password" in given) is streamed.hardened
    artifacts = streamed.runner.artifacts_dir
    assert any(p.name == "stdout" for p in artifacts.rglob("*"))  # the runs' output is there
    # The execution host's private disk: the login user's home (Ansible's and govmig's caches).
    disk = streamed.lab.host_root(execution_host(streamed.hosts).name) / "srv"
    assert holding_secrets(artifacts, given) + holding_secrets(disk, given) == []


def holding_secrets(root: Path, secrets: Mapping[str, str]) -> list[Path]:
    """The files under ``root`` holding any of ``secrets``, or a line of the SSH key's."""
    key = secrets["govmig_secret_ssh_private_key"]
    needles = [value.encode() for value in secrets.values()]
    needles += [line.encode() for line in key.splitlines() if len(line) > 20 and "-" not in line]
    files = [p for p in root.rglob("*") if p.is_file()]
    return [p for p in files if any(needle in p.read_bytes() for needle in needles)]


def test_an_execution_host_that_does_not_answer_fails_the_batch_naming_it(
    streamed: Streamed, tmp_path: Path
) -> None:
    # Nothing listens on port 22 of the DNS server's address: refused at once.
    nowhere = SshHost(name="exec-nowhere", ipv4=DNS_IPV4, ipv6="2001:db8:1000::53")
    pool = streamed.hosts.nodes["shantou"].model_copy(update={"execution_host": nowhere})
    hosts = streamed.hosts.model_copy(update={"nodes": {"shantou": pool}})
    provider = SshProvider(hosts=hosts)
    runner = PhaseRunner(playbook_dir=PLAYBOOK_DIR, artifacts_dir=tmp_path, provider=provider)
    result = runner.run(Phase.PREFLIGHT, [(NODE, [streamed.target])], secrets=provider.secrets())
    (outcome,) = result.outcomes
    assert not outcome.ok
    assert "execution host exec-nowhere" in str(outcome.message), outcome.message
    assert "Connection refused" in str(outcome.message), outcome.message


def test_an_execution_host_that_cannot_run_govmig_says_so_and_keeps_no_worker_dir(
    streamed: Streamed, tmp_path: Path
) -> None:
    # As when govmig is not installed there at the same path as here.
    before = set(Path("/tmp").glob(f"{REMOTE_PREFIX}*"))
    runner = PhaseRunner(
        playbook_dir=PLAYBOOK_DIR,
        artifacts_dir=tmp_path,
        provider=SshProvider(hosts=streamed.hosts),
        python="/opt/nowhere/bin/python",
    )
    batch = [(NODE, [streamed.target])]
    result = runner.run(Phase.PREFLIGHT, batch, secrets=runner.provider.secrets())
    (outcome,) = result.outcomes
    assert not outcome.ok
    assert "execution host exec-shantou: cannot run govmig's /opt/nowhere/bin/python here" in str(
        outcome.message
    )
    assert set(Path("/tmp").glob(f"{REMOTE_PREFIX}*")) == before


RUN = textwrap.dedent(
    """\
    import sys
    from pathlib import Path
    from orchestrator.execution import NodeTarget
    from orchestrator.execution.runner import PhaseRunner
    from orchestrator.migrations import Phase
    from orchestrator.providers import SshProvider
    from orchestrator.providers.ssh_hosts import load_ssh_hosts
    from tests.fixtures.targets import system_target

    root, hosts = Path(sys.argv[1]), Path(sys.argv[2])
    provider = SshProvider(hosts=load_ssh_hosts(hosts))
    runner = PhaseRunner(
        playbook_dir=root / "playbooks", artifacts_dir=root / "artifacts", provider=provider
    )
    node = NodeTarget(node_id="shantou", ipv6_prefix="2001:db8:1::/48")
    runner.run(Phase.PREFLIGHT, [(node, [system_target("a")])], secrets=provider.secrets())
    """
)


@pytest.fixture
def readable_dir() -> Iterator[Path]:
    """A directory every user may read, as an execution host's login user must its playbooks."""
    path = Path(tempfile.mkdtemp(prefix="govmig-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def test_a_killed_orchestrators_streamed_run_ends_on_the_execution_host(
    streamed: Streamed, readable_dir: Path
) -> None:
    task_extra = "      delegate_to: localhost\n"
    _, marker = sleeping_playbooks(readable_dir, "ssh", task_extra=task_extra)
    before = set(Path("/tmp").glob(f"{REMOTE_PREFIX}*"))
    own_tmp = readable_dir / "tmp"  # short: a run makes its sockets under it
    own_tmp.mkdir()
    orchestrator = subprocess.Popen(
        [sys.executable, "-c", RUN, str(readable_dir), str(streamed.lab.paths.inventory)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(own_tmp)},
    )
    try:
        # delegate_to localhost: the sleep runs on the execution host, beside its worker.
        wait_until(lambda: sleeping(marker) != [], timeout_s=60, what="the task on exec-shantou")
        (worker_dir,) = set(Path("/tmp").glob(f"{REMOTE_PREFIX}*")) - before
        # Its secrets left the worker's dir when its playbook started: not its inventory,
        # not the SSH key ansible-runner gave the run's agent there.
        assert not (worker_dir / "env" / "ssh_key").exists()
        assert [p for p in (worker_dir / "inventory").rglob("*") if p.is_file()] == []
        assert holding_secrets(worker_dir, SshProvider(hosts=streamed.hosts).secrets()) == []
        orchestrator.send_signal(signal.SIGKILL)
        orchestrator.wait(10)
        wait_until(lambda: sleeping(marker) == [], timeout_s=20, what="the remote run to end")
        wait_until(lambda: not worker_dir.exists(), timeout_s=10, what="its worker dir removed")
        # What the dead orchestrator left here is named as its own, which the next one removes.
        left = [path.name for path in own_tmp.iterdir()]
        assert all(name.startswith(f"{PRIVATE_PREFIX}{orchestrator.pid}.") for name in left), left
    finally:
        orchestrator.kill()
        orchestrator.wait(10)


def sleeping(marker: str) -> list[str]:
    found = subprocess.run(["pgrep", "-af", f"sleep {marker}"], capture_output=True, text=True)
    return [line for line in found.stdout.splitlines() if "pgrep" not in line]
