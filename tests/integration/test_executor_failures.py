"""When a phase goes wrong: injected failures, rollback, crashes, cancellation, Mitogen breaking.

Real ansible-runner and real services on loopback, as in ``test_executor``;
every sandbox lives under ``tmp_path`` and its services are stopped at teardown.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator.data_files import PLAYBOOK_DIR
from orchestrator.errors import PermanentError
from orchestrator.execution import ExecutionHost, FaultPlan, NodeTarget, SystemTarget
from orchestrator.execution.outcomes import CANCELLED
from orchestrator.execution.runner import PhaseRunner, prune_artifacts
from orchestrator.execution.strategy import LINEAR, AnsibleStrategy
from orchestrator.migrations.states import Phase
from orchestrator.providers import LocalProvider
from orchestrator.providers.local_sandbox import (
    fetch_health,
    instance_dir,
    prepare_source,
    read_name_record,
    source_dir,
    stop_service,
    stop_services,
)
from tests.fixtures.polling import wait_until
from tests.fixtures.targets import system_target

pytestmark = pytest.mark.ansible

NODE = NodeTarget(node_id="heyuan", ipv6_prefix="2001:db8:3::/48")
BEFORE_CUTOVER = (Phase.PREFLIGHT, Phase.PROVISION, Phase.REPLICATE)


class Sandbox:
    """A work root with sources, a runner, and the systems to move."""

    def __init__(self, base: Path, system_ids: tuple[str, ...], **runner_args: object) -> None:
        self.work = base / "work"
        self.artifacts = base / "artifacts"
        for sid in system_ids:
            prepare_source(self.work, sid, 3, 24_000, seed="failures")
        self.faults = FaultPlan()
        self.runner = PhaseRunner(
            playbook_dir=PLAYBOOK_DIR,
            artifacts_dir=self.artifacts,
            provider=LocalProvider(work_root=self.work),
            host_vars_hooks=[self.faults.host_vars],
            **runner_args,  # type: ignore[arg-type]
        )
        self.system_ids = system_ids

    def targets(self, fail: dict[str, Phase] | None = None) -> list[SystemTarget]:
        for sid, phase in (fail or {}).items():
            self.faults.inject(sid, phase)
        return [system_target(sid, index + 1) for index, sid in enumerate(self.system_ids)]

    def instance(self, sid: str) -> Path:
        return instance_dir(self.work, NODE.node_id, sid)


MakeSandbox = Callable[..., Sandbox]


@pytest.fixture
def make_sandbox(tmp_path: Path) -> Iterator[MakeSandbox]:
    """Sandboxes under ``tmp_path`` whose services are all stopped at teardown."""
    made: list[Sandbox] = []

    def make(system_ids: tuple[str, ...], **runner_args: object) -> Sandbox:
        made.append(Sandbox(tmp_path / f"s{len(made)}", system_ids, **runner_args))
        return made[-1]

    yield make
    for sandbox in made:
        stop_services(sandbox.work)


def assert_source_serves(box: Sandbox, sid: str) -> None:
    record = read_name_record(box.work, sid)
    assert record.location == "source"
    assert fetch_health(record)["location"] == "source"
    assert not box.instance(sid).exists()


@pytest.mark.parametrize(
    ("fault", "failed_task"),
    [
        (Phase.REPLICATE, "Check the copy against the source manifest"),
        (Phase.CUTOVER, "Check the instance serves the source's data"),
    ],
    ids=["replicate-checksum-mismatch", "cutover-after-source-stopped"],
)
def test_injected_failure_fails_alone_and_rolls_back(
    make_sandbox: MakeSandbox, fault: Phase, failed_task: str
) -> None:
    box = make_sandbox(("bad-one", "good-one"), keep_artifacts=4)
    systems = box.targets(fail={"bad-one": fault})
    phases = (*BEFORE_CUTOVER, Phase.CUTOVER)
    for phase in phases[: phases.index(fault) + 1]:
        result = box.runner.run(phase, [(NODE, systems)])
    bad, good = result.outcomes
    assert (bad.ok, bad.failed_task, bad.unreachable) == (False, failed_task, False)
    assert "failed check" in str(bad.message)
    assert good.ok, good.message
    (rolled,) = box.runner.run(Phase.ROLLBACK, [(NODE, systems[:1])]).outcomes
    assert rolled.ok
    assert_source_serves(box, "bad-one")
    assert box.instance("good-one").is_dir()
    # Rotation keeps the newest runs only.
    assert len(list(box.artifacts.iterdir())) == 4


def test_rollback_is_safe_when_nothing_was_provisioned_and_when_repeated(
    make_sandbox: MakeSandbox,
) -> None:
    box = make_sandbox(("fresh",))
    for _ in range(2):
        (outcome,) = box.runner.run(Phase.ROLLBACK, [(NODE, box.targets())]).outcomes
        assert outcome.ok, outcome
        assert_source_serves(box, "fresh")


def test_cutover_recovers_from_crashes_with_one_journal_line(
    make_sandbox: MakeSandbox,
) -> None:
    box = make_sandbox(("crash-early", "crash-late"))
    for phase in BEFORE_CUTOVER:
        assert box.runner.run(phase, [(NODE, box.targets())]).ok
    # Crash after the source was stopped, before the instance started.
    assert stop_service(source_dir(box.work, "crash-early"))
    assert box.runner.run(Phase.CUTOVER, [(NODE, box.targets())]).ok
    # Crash after the name record switched, before the journal line was written.
    (box.instance("crash-late") / "journal.log").unlink()
    assert box.runner.run(Phase.CUTOVER, [(NODE, box.targets())]).ok
    assert box.runner.run(Phase.VERIFY, [(NODE, box.targets())]).ok
    for sid in box.system_ids:
        assert read_name_record(box.work, sid).location == NODE.node_id
        lines = (box.instance(sid) / "journal.log").read_text().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith(f"cutover {sid} ")


def live_runner_pids(artifacts: Path) -> list[int]:
    """Live processes whose environment names these artifacts: ansible-playbook and forks."""
    needle = str(artifacts).encode()
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            zombie = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
            if not zombie and needle in (proc / "environ").read_bytes():
                found.append(int(proc.name))
        except (OSError, IndexError):
            continue
    return found


def wait_until_gone(artifacts: Path, timeout_s: float = 10.0) -> None:
    """Wait until none of the runner's processes is alive (a SIGKILL takes a moment)."""
    wait_until(
        lambda: not live_runner_pids(artifacts),
        timeout_s=timeout_s,
        what=lambda: f"runner processes {live_runner_pids(artifacts)} to exit",
        interval_s=0.1,
    )


def cancel_after_first_result(artifacts: Path, cancel: threading.Event) -> None:
    """Set ``cancel`` once any host has finished a task, so the batch is mid-run."""
    wait_until(
        lambda: cancel.is_set() or a_host_finished_a_task(artifacts),
        timeout_s=60,
        what="a host to finish a task",
    )
    cancel.set()


def a_host_finished_a_task(artifacts: Path) -> bool:
    for path in artifacts.glob("*/job_events/*.json"):
        try:
            event = json.loads(path.read_text() or "{}")
        except (OSError, ValueError):
            continue  # the runner renames "-partial" files and writes them as we read
        if event.get("event") == "runner_on_ok":
            return True
    return False


def test_cancel_stops_a_running_batch(make_sandbox: MakeSandbox) -> None:
    box = make_sandbox(("c-one", "c-two", "c-three"), use_mitogen=False)
    cancel = threading.Event()
    watcher = threading.Thread(target=cancel_after_first_result, args=(box.artifacts, cancel))
    watcher.start()
    result = box.runner.run(Phase.PREFLIGHT, [(NODE, box.targets())], cancel=cancel)
    watcher.join()
    assert (result.status, result.rc) == ("canceled", 254)
    assert [(o.ok, o.message) for o in result.outcomes] == [(False, CANCELLED)] * 3
    assert box.runner.invocations == 1
    wait_until_gone(box.artifacts)


def test_a_broken_mitogen_falls_back_to_linear(make_sandbox: MakeSandbox, tmp_path: Path) -> None:
    broken = tmp_path / "broken-strategy"
    broken.mkdir()
    (broken / "mitogen_linear.py").write_text(
        'raise ImportError("mitogen: simulated incompatibility")\n'
    )
    box = make_sandbox(("fallback",))
    box.runner.strategy = AnsibleStrategy(
        "mitogen_linear",
        {"ANSIBLE_STRATEGY_PLUGINS": str(broken), "ANSIBLE_STRATEGY": "mitogen_linear"},
    )
    result = box.runner.run(Phase.PREFLIGHT, [(NODE, box.targets())])
    assert result.ok, result.outcomes
    assert result.strategy == "linear"
    assert box.runner.strategy is LINEAR
    assert box.runner.invocations == 2
    assert result.ident.endswith("-linear")
    assert (result.artifact_dir / "status").read_text() == "successful"


def test_timeout_stops_the_batch(make_sandbox: MakeSandbox) -> None:
    box = make_sandbox(("t-one", "t-two", "t-three", "t-four"), use_mitogen=False, timeout_s=1)
    result = box.runner.run(Phase.PREFLIGHT, [(NODE, box.targets())])
    assert result.status == "timeout"
    assert {o.message for o in result.outcomes} == {"timed out before the phase finished"}
    wait_until_gone(box.artifacts)


def test_prune_keeps_the_newest_and_the_running(tmp_path: Path) -> None:
    for index, name in enumerate(["old", "running", "mid", "new"]):
        (tmp_path / name).mkdir()
        os.utime(tmp_path / name, (1000 + index, 1000 + index))
    prune_artifacts(tmp_path, keep=3, active=frozenset({"running"}))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mid", "new", "running"]
    prune_artifacts(tmp_path, keep=1, active=frozenset({"running"}))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["running"]


def test_a_stale_rollback_cannot_undo_a_newer_cutover(make_sandbox: MakeSandbox) -> None:
    """A run of an older lease claim finds the name record fenced, and changes nothing."""
    box = make_sandbox(("fenced",))
    (target,) = box.targets()
    newer = target.model_copy(update={"lease_generation": 5})
    for phase in (*BEFORE_CUTOVER, Phase.CUTOVER):
        (outcome,) = box.runner.run(phase, [(NODE, [newer])]).outcomes
        assert outcome.ok, outcome
    stale = target.model_copy(update={"lease_generation": 4})
    (refused,) = box.runner.run(Phase.ROLLBACK, [(NODE, [stale])]).outcomes
    assert not refused.ok
    assert refused.failed_task == "Check no newer run holds the name record"
    assert "stale run: the name record is fenced at generation 5, this run 4" in str(
        refused.message
    )
    record = read_name_record(box.work, "fenced")
    assert record.location == NODE.node_id
    assert fetch_health(record)["location"] == NODE.node_id, "the cutover's instance still serves"


# A process that runs one batch whose ansible-playbook child fails before its exec,
# as when the terminal hangs up because the orchestrator was killed -9 mid-fork.
# Every process that comes back out of the run notes its pid in a file (a forked
# child's stdout is its terminal, not ours).
FAILED_BEFORE_EXEC = """
import errno, os, sys
from pathlib import Path
import ptyprocess.ptyprocess
from orchestrator.execution import NodeTarget
from orchestrator.execution.runner import PhaseRunner
from orchestrator.migrations.states import Phase
from orchestrator.providers import LocalProvider
from tests.fixtures.targets import system_target

def hung_up(*_args):
    raise OSError(errno.EIO, "the terminal hung up")

ptyprocess.ptyprocess._setwinsize = hung_up  # called only in the forked child
base = Path(sys.argv[1])
runner = PhaseRunner(
    playbook_dir=Path("bench/playbooks"),
    artifacts_dir=base / "artifacts",
    provider=LocalProvider(work_root=base / "work"),
    use_mitogen=False,
)
node = NodeTarget(node_id="heyuan", ipv6_prefix="2001:db8:3::/48")
systems = [system_target("hup")]
try:
    result = runner.run(Phase.PREFLIGHT, [(node, systems)])
    outcome = "ok" if result.ok else "failed"
except OSError:
    outcome = "raised"
with (base / "came-back").open("a") as note:
    note.write(f"{os.getpid()} {outcome}\\n")
"""


def test_a_child_that_fails_before_its_exec_never_runs_our_code(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", FAILED_BEFORE_EXEC, str(tmp_path)],
        cwd=repo, env={**os.environ, "PYTHONPATH": str(repo)},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    came_back = [line.split() for line in (tmp_path / "came-back").read_text().splitlines()]
    # Only the process that started the run, told the run failed: its child never ran our code.
    assert [outcome for _pid, outcome in came_back] == ["raised"], came_back


@dataclass(frozen=True)
class SplitProvider(LocalProvider):
    """The local provider, but huizhou's runs go from an execution host."""

    def execution_host(self, node: NodeTarget) -> ExecutionHost | None:
        if node.node_id != "huizhou":
            return None
        return ExecutionHost("exec-huizhou", "192.0.2.1", "root", Path("/nonexistent/id"))


def test_a_batch_whose_nodes_run_from_two_places_is_refused_before_it_runs(
    tmp_path: Path,
) -> None:
    runner = PhaseRunner(
        playbook_dir=PLAYBOOK_DIR,
        artifacts_dir=tmp_path / "artifacts",
        provider=SplitProvider(work_root=tmp_path / "work"),
    )
    huizhou = NodeTarget(node_id="huizhou", ipv6_prefix="2001:db8:2::/48")
    work = [(NODE, [system_target("a")]), (huizhou, [system_target("b", 2)])]
    with pytest.raises(PermanentError, match="heyuan, huizhou do not run from one place"):
        runner.run(Phase.PREFLIGHT, work)
    assert runner.invocations == 0
    assert list((tmp_path / "artifacts").iterdir()) == []
