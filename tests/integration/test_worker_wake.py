"""The phase worker's scheduler ticks when a batch ends: the batch's systems go on to
their next phase at once, together, without waiting a poll or the batch window.
It ticks too when its own process's intake commits: a system the intake places
starts at once.

The worker polls only every ten minutes here and its batch window is as long, so
a system that waited for either would not finish within the test's minute. The
playbooks are the benchmark's trivial ones, run through real ansible-runner
(``govmig run``'s own, for the intake's).
"""

from __future__ import annotations

import dataclasses
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from chaos.harness import govmig_run, kafka_settings, read_fleet, register_and_request
from orchestrator.engine import CauseContext, apply_cause
from orchestrator.execution import RunResult
from orchestrator.execution.runner import PhaseRunner
from orchestrator.inventory import generate_catalogue, load_inventory
from orchestrator.migrations import FORWARD_PHASES, Phase, Register, RequestMigration, SystemState
from orchestrator.providers import LocalProvider
from orchestrator.store import Store, get_systems, open_store, seed_nodes
from orchestrator.worker.phase_worker import PhaseWorker
from orchestrator.worker.ports import WorkerConfig
from orchestrator.worker.scheduling import Limits
from orchestrator.worker.targets import node_targets
from tests.fixtures.polling import wait_until
from tests.fixtures.recording_runner import RecordingRunner, Run

pytestmark = pytest.mark.ansible

INVENTORY = load_inventory()
BENCH_PLAYBOOKS = Path(__file__).resolve().parents[2] / "bench" / "playbooks"
CONTEXT = CauseContext(component="tests")
NODE = "shantou"
NEVER_S = 600.0  # the worker's poll and batch window: longer than the test waits
SYSTEMS = 3


def failing_preflight(system_id: str | None) -> Callable[[Phase, RunResult], RunResult]:
    """What a run gives back when ``system_id``'s preflight fails, as a failed host's would."""

    def alter(phase: Phase, result: RunResult) -> RunResult:
        if phase is not Phase.PREFLIGHT:
            return result
        outcomes = tuple(
            dataclasses.replace(o, ok=False, failed_task="Check", message="injected")
            if o.system_id == system_id
            else o
            for o in result.outcomes
        )
        return dataclasses.replace(result, outcomes=outcomes)

    return alter


def placed(store: Store) -> list[str]:
    systems = [s for s in generate_catalogue(80) if not s.depends_on][:SYSTEMS]
    with store.transaction() as session:
        seed_nodes(session, INVENTORY.nodes.values())
        for system in systems:
            apply_cause(session, system.id, Register(), context=CONTEXT, record=system)
            request = RequestMigration(target_node=NODE, wave=1, requested_by="tests")
            apply_cause(session, system.id, request, context=CONTEXT)
    return [s.id for s in systems]


def run_until_settled(
    tmp_path: Path, failing_index: int | None
) -> tuple[list[Run], dict[str, str]]:
    """Place the systems, run one worker until each is completed or rolled back; the
    runs it made and each system's final state."""
    with open_store(f"sqlite:///{tmp_path / 'govmig.db'}") as store:
        ids = placed(store)
        runner = PhaseRunner(
            playbook_dir=BENCH_PLAYBOOKS,
            artifacts_dir=tmp_path / "artifacts",
            provider=LocalProvider(work_root=tmp_path / "work"),
        )
        failing = ids[failing_index] if failing_index is not None else None
        runs: list[Run] = []
        executor = RecordingRunner(runner, runs, alter=failing_preflight(failing))
        limits = Limits(batch_size=SYSTEMS, batch_window_s=NEVER_S)
        worker = PhaseWorker(
            store,
            executor,
            nodes=node_targets(INVENTORY.nodes),
            config=WorkerConfig(instance_id="wake", limits=limits, poll_s=NEVER_S),
        )
        settled = {SystemState.COMPLETED, SystemState.ROLLED_BACK}

        def states() -> dict[str, str]:
            with store.transaction() as session:
                return {sid: row.state.value for sid, row in get_systems(session, ids).items()}

        worker.start()
        try:
            wait_until(
                lambda: {SystemState(s) for s in states().values()} <= settled,
                timeout_s=60,
                what="every system completed or rolled back",
                interval_s=0.1,
            )
        finally:
            worker.stop()
        return runs, states()


def test_a_batch_goes_through_every_phase_without_waiting_a_poll(tmp_path: Path) -> None:
    runs, states = run_until_settled(tmp_path, failing_index=None)
    assert set(states.values()) == {SystemState.COMPLETED.value}
    everyone = frozenset(states)
    assert runs == [("", phase.value, everyone) for phase in FORWARD_PHASES]


def test_what_is_left_of_a_batch_goes_on_at_once_without_its_window(tmp_path: Path) -> None:
    # One system fails its preflight: the other two are no longer a full batch, and
    # the failed one rolls back alone; neither waits the ten-minute window.
    runs, states = run_until_settled(tmp_path, failing_index=0)
    failed = next(sid for sid, state in states.items() if state == SystemState.ROLLED_BACK.value)
    survivors = frozenset(states) - {failed}
    assert {states[sid] for sid in survivors} == {SystemState.COMPLETED.value}
    later = [(phase, sids) for _name, phase, sids in runs if phase != Phase.PREFLIGHT.value]
    expected = [(Phase.ROLLBACK.value, frozenset({failed}))]
    expected += [(phase.value, survivors) for phase in FORWARD_PHASES[1:]]
    assert sorted(later) == sorted(expected)


@pytest.mark.kafka
def test_a_system_its_intake_places_starts_at_once_though_the_worker_polls_rarely(
    kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> None:
    settings = kafka_settings(kafka_bootstrap, new_topic)
    [system] = [s for s in generate_catalogue(80) if not s.depends_on][:1]
    url = f"sqlite:///{tmp_path / 'govmig.db'}"
    options = ("--worker", "--work-root", str(tmp_path / "work"), "--batch-window", "0")
    env = {"GOVMIG_POLL_S": str(NEVER_S)}
    with govmig_run(settings, url, tmp_path, *options, env=env) as run:
        # Its first tick is past (at start): only a wake can start what comes now.
        wait_until(lambda: "phase worker" in run.written(), timeout_s=60, what="the worker")
        register_and_request(settings, [system], target=NODE)
        wait_until(
            lambda: SystemState.PREFLIGHT in went_through(url, system.id),
            timeout_s=60,
            what="its preflight started",
        )
        run.signal(signal.SIGTERM)
        assert run.wait(60) == 0, run.output()


def went_through(url: str, system_id: str) -> list[SystemState | None]:
    """The states the system's audit shows it entered, in order."""
    return [row.to_state for row in read_fleet(url).audit.get(system_id, [])]
