"""Leases on a real PostgreSQL: two instances never claim, nor run, the same system.

First the claim SQL itself, with two sessions racing for the same rows (the
loser's UPDATE waits for the winner's commit and then finds them taken); then
two whole phase workers on one database, running trivial playbooks through
real ansible-runner, each run recorded, until every system is completed.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.wave_rig import NO_APPROVALS
from orchestrator.engine import CauseContext, apply_cause
from orchestrator.execution.runner import PhaseRunner
from orchestrator.inventory import generate_catalogue, load_inventory
from orchestrator.migrations import FORWARD_PHASES, Register, RequestMigration, SystemState
from orchestrator.providers import LocalProvider
from orchestrator.store import Store, count_by_state, open_store, seed_nodes
from orchestrator.store import leases as lease_store
from orchestrator.worker.claims import start_placed
from orchestrator.worker.heartbeat import LeaseHeartbeat
from orchestrator.worker.phase_worker import PhaseWorker
from orchestrator.worker.ports import WorkerConfig
from orchestrator.worker.running import RunningBatches
from orchestrator.worker.scheduling import Limits
from orchestrator.worker.targets import node_targets
from tests.fixtures.polling import wait_until
from tests.fixtures.recording_runner import RecordingRunner, Run

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
                    session, ids[:8], owner="a", states=[SystemState.PREFLIGHT], now=now, ttl_s=30
                )
                first_claimed.set()
                time.sleep(0.5)  # hold the row locks while the other instance tries

        thread = threading.Thread(target=first)
        thread.start()
        assert first_claimed.wait(10)
        started = time.monotonic()
        with other.transaction() as session:
            won["b"] = lease_store.claim(
                session, ids, owner="b", states=[SystemState.PREFLIGHT], now=now, ttl_s=30
            )
        waited = time.monotonic() - started
        thread.join(10)
    assert won["a"] == sorted(ids[:8])
    assert won["b"] == sorted(ids[8:]), "the loser finds the winner's rows taken"
    assert waited >= 0.3, "the loser waited for the winner's commit"


@pytest.mark.ansible
def test_two_workers_on_one_database_run_each_phase_of_each_system_once(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    runs: list[Run] = []
    stores = [open_store(fresh_postgres_url) for _ in range(2)]
    ids = place(stores[0], 8, ["shantou", "huizhou"])
    workers = [
        PhaseWorker(
            store,
            RecordingRunner(
                PhaseRunner(
                    playbook_dir=BENCH_PLAYBOOKS,
                    artifacts_dir=tmp_path / f"artifacts-{name}",
                    provider=LocalProvider(work_root=tmp_path / "work"),
                ),
                runs,
                name=name,
            ),
            nodes=node_targets(INVENTORY.nodes),
            config=WorkerConfig(
                instance_id=name,
                limits=Limits(batch_size=3, batch_window_s=0.1),
                poll_s=0.05,
                replication=NO_APPROVALS,
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
    forward = [p.value for p in FORWARD_PHASES]
    ran = [(phase, sid) for _name, phase, sids in runs for sid in sids]
    assert Counter(ran) == {(phase, sid): 1 for phase in forward for sid in ids}
    assert len(ran) == len(ids) * len(forward)


HOLD = """
import sys, time
from orchestrator.store import open_store
from orchestrator.store.liveness import hold_instance_lock
store = open_store(sys.argv[1], create=False)
lock = hold_instance_lock(store, sys.argv[2])
print("held", flush=True)
time.sleep(120)
"""


def test_a_dead_instances_leases_are_freed_at_once_and_a_live_ones_are_kept(
    fresh_postgres_url: str,
) -> None:
    """Its session ends with its process (kill -9): its leases are free before their TTL is up."""
    with open_store(fresh_postgres_url) as store:
        ids = place(store, 2, ["shantou"])
        now = datetime.now(UTC)
        with store.transaction() as session:
            start_placed(session, Limits(), now=now)
            for owner, system_id in zip(("doomed", "alive"), ids, strict=True):
                claimed = lease_store.claim(
                    session,
                    [system_id],
                    owner=owner,
                    states=[SystemState.PREFLIGHT],
                    now=now,
                    ttl_s=600,
                )
                assert claimed == [system_id]
        holders = {owner: hold(fresh_postgres_url, owner) for owner in ("doomed", "alive")}
        try:
            heartbeat = LeaseHeartbeat(store, RunningBatches(), owner="me", ttl_s=30, interval_s=1)
            heartbeat.beat()
            assert free(store, ids) == set(), "both owners live: nothing is freed"
            holders["doomed"].kill()  # SIGKILL: PostgreSQL ends its session
            holders["doomed"].wait(10)

            def freed_after_a_beat() -> bool:
                heartbeat.beat()
                return free(store, ids) == {ids[0]}

            wait_until(freed_after_a_beat, timeout_s=10, what="the dead instance's lease freed")
        finally:
            for process in holders.values():
                process.kill()
                process.wait(10)
                if process.stdout is not None:
                    process.stdout.close()


def hold(url: str, owner: str) -> subprocess.Popen[str]:
    """Another process holding ``owner``'s liveness lock until it is killed."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, url, owner], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "held"
    return process


def free(store: Store, ids: Sequence[str]) -> set[str]:
    """Those of ``ids`` no live lease holds now."""
    with store.transaction() as session:
        ready = lease_store.ready_systems(
            session, [SystemState.PREFLIGHT], now=datetime.now(UTC), limit=100
        )
    return {row.id for row in ready} & set(ids)
