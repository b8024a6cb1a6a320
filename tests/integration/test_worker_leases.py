"""Leases on a real PostgreSQL: two instances never claim, nor run, the same system.

First the claim SQL itself, with two sessions racing for the same rows (the
loser's UPDATE waits for the winner's commit and then finds them taken); then
two whole phase workers on one database, running trivial playbooks through
real ansible-runner, each run recorded, until every system is completed.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestrator.engine import CauseContext, apply_cause
from orchestrator.execution import NodeTarget, RunResult, SystemTarget
from orchestrator.execution.runner import PhaseRunner
from orchestrator.inventory import generate_catalogue, load_inventory
from orchestrator.migrations import Phase, Register, RequestMigration, SystemState
from orchestrator.providers import LocalProvider
from orchestrator.store import Store, count_by_state, open_store, seed_nodes
from orchestrator.store import leases as lease_store
from orchestrator.worker.claims import start_placed
from orchestrator.worker.phase_worker import PhaseWorker
from orchestrator.worker.ports import WorkerConfig
from orchestrator.worker.scheduling import Limits
from orchestrator.worker.targets import node_targets
from tests.fixtures.polling import wait_until

pytestmark = pytest.mark.postgres

INVENTORY = load_inventory()
BENCH_PLAYBOOKS = Path(__file__).resolve().parents[2] / "bench" / "playbooks"
CONTEXT = CauseContext(component="tests")


def place(store: Store, count: int, nodes: Sequence[str]) -> list[str]:
    systems = [s for s in generate_catalogue(80) if not s.depends_on][:count]
    with store.transaction() as session:
        seed_nodes(session, INVENTORY.nodes.values())
        for index, system in enumerate(systems):
            apply_cause(session, system.id, Register(), context=CONTEXT, record=system)
            node = nodes[index % len(nodes)]
            request = RequestMigration(target_node=node, wave=1, requested_by="tests")
            apply_cause(session, system.id, request, context=CONTEXT)
    return [s.id for s in systems]


def test_two_sessions_racing_for_the_same_systems_split_them(fresh_postgres_url: str) -> None:
    with open_store(fresh_postgres_url) as one, open_store(fresh_postgres_url) as other:
        ids = place(one, 12, ["shantou"])
        with one.transaction() as session:
            start_placed(session, Limits(), now=datetime.now(UTC))
        now = datetime.now(UTC)
        won: dict[str, list[str]] = {}
        first_claimed = threading.Event()

        def first() -> None:
            with one.transaction() as session:
                won["a"] = lease_store.claim(
                    session, ids[:8], owner="a", state=SystemState.PREFLIGHT, now=now, ttl_s=30
                )
                first_claimed.set()
                time.sleep(0.5)  # hold the row locks while the other instance tries

        thread = threading.Thread(target=first)
        thread.start()
        assert first_claimed.wait(10)
        started = time.monotonic()
        with other.transaction() as session:
            won["b"] = lease_store.claim(
                session, ids, owner="b", state=SystemState.PREFLIGHT, now=now, ttl_s=30
            )
        waited = time.monotonic() - started
        thread.join(10)
    assert won["a"] == sorted(ids[:8])
    assert won["b"] == sorted(ids[8:]), "the loser finds the winner's rows taken"
    assert waited >= 0.3, "the loser waited for the winner's commit"


class Recording:
    """A ``PhaseRunner`` that notes which instance ran which phase for which system."""

    def __init__(self, runner: PhaseRunner, name: str, runs: list[tuple[str, str, str]]) -> None:
        self._runner, self._name, self._runs = runner, name, runs
        self._lock = threading.Lock()

    def run(
        self,
        phase: Phase,
        node: NodeTarget,
        systems: Sequence[SystemTarget],
        *,
        cancel: threading.Event | None = None,
        secrets: Mapping[str, str] | None = None,
    ) -> RunResult:
        with self._lock:
            self._runs.extend((self._name, phase.value, s.system_id) for s in systems)
        return self._runner.run(phase, node, systems, cancel=cancel, secrets=secrets)


@pytest.mark.ansible
def test_two_workers_on_one_database_run_each_phase_of_each_system_once(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    runs: list[tuple[str, str, str]] = []
    stores = [open_store(fresh_postgres_url) for _ in range(2)]
    ids = place(stores[0], 8, ["shantou", "huizhou"])
    workers = [
        PhaseWorker(
            store,
            Recording(
                PhaseRunner(
                    playbook_dir=BENCH_PLAYBOOKS,
                    artifacts_dir=tmp_path / f"artifacts-{name}",
                    provider=LocalProvider(work_root=tmp_path / "work"),
                ),
                name,
                runs,
            ),
            nodes=node_targets(INVENTORY.nodes),
            config=WorkerConfig(
                instance_id=name, limits=Limits(batch_size=3, batch_window_s=0.1), poll_s=0.05
            ),
        )
        for name, store in zip(("one", "two"), stores, strict=True)
    ]
    try:
        for worker in workers:
            worker.start()

        def all_completed() -> bool:
            with stores[0].transaction() as session:
                return count_by_state(session)[SystemState.COMPLETED] == len(ids)

        wait_until(all_completed, timeout_s=120, what="every system completed", interval_s=0.2)
    finally:
        for worker in workers:
            worker.stop()
        for store in stores:
            store.close()
    forward = [p.value for p in Phase if p is not Phase.ROLLBACK]
    assert Counter((phase, sid) for _name, phase, sid in runs) == {
        (phase, sid): 1 for phase in forward for sid in ids
    }
    assert len(runs) == len(ids) * len(forward)
