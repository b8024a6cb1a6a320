"""The phase worker's store side on SQLite: leases, starts, claims and applied outcomes."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.wave_rig import NO_APPROVALS
from orchestrator.capacity import DependencyGraph
from orchestrator.engine import CauseContext, apply_cause
from orchestrator.engine.lifecycle import Lifecycle
from orchestrator.engine.notices import notice_for
from orchestrator.errors import PermanentError
from orchestrator.events.data import SystemStatusChanged
from orchestrator.execution import HostOutcome, NodeWork, RunResult
from orchestrator.execution.outcomes import ReportValue
from orchestrator.gates import Wait, cutover_order
from orchestrator.hooks import Hooks
from orchestrator.inventory import generate_catalogue, load_inventory
from orchestrator.inventory.cutover_policy import ApprovalPolicy, CutoverPolicy
from orchestrator.migrations import (
    FORWARD_PHASES,
    Approve,
    Phase,
    Refusal,
    Register,
    RequestMigration,
    RequestRehearsal,
    ScheduleCutover,
    SystemState,
    Transition,
)
from orchestrator.migrations.replication import PassKind, Rehearsal, ReplicationPass, WarmPolicy
from orchestrator.observability.snapshot import read_snapshot
from orchestrator.store import Session, Store, get_allocation, get_system, history, seed_nodes
from orchestrator.store import leases as lease_store
from orchestrator.store import replication as replication_store
from orchestrator.store.systems import StaleSystemError
from orchestrator.worker import outcomes as outcome_module
from orchestrator.worker.batch_run import BatchRunner
from orchestrator.worker.claims import FINALIZER, Claimed, claim_batch, finalize_due, start_placed
from orchestrator.worker.gating import CutoverGates, ask_due
from orchestrator.worker.outcomes import OutcomeRecorder, apply_outcomes
from orchestrator.worker.ports import NoProvider
from orchestrator.worker.replication import Replication
from orchestrator.worker.running import Running, RunningBatches
from orchestrator.worker.scheduling import Batch, Limits
from orchestrator.worker.targets import node_targets
from tests.fixtures.recording_hooks import GiveUps, Moves
from tests.fixtures.seeding import drive
from tests.fixtures.store import lease_of

S = SystemState
NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
INVENTORY = load_inventory()
NODES = node_targets(INVENTORY.nodes)
CONTEXT = CauseContext(component="tests")


@pytest.fixture(autouse=True)
def city_nodes(store: Store) -> None:
    """Every test here starts with the 14 city nodes seeded."""
    with store.transaction() as session:
        seed_nodes(session, INVENTORY.nodes.values())


def place(
    store: Store, count: int, *, node: str = "shantou", waves: list[int] | None = None
) -> list[str]:
    systems = [s for s in generate_catalogue(60) if not s.depends_on][:count]
    with store.transaction() as session:
        for index, system in enumerate(systems):
            apply_cause(session, system.id, Register(), context=CONTEXT, record=system)
            wave = waves[index] if waves else 1
            request = RequestMigration(target_node=node, wave=wave, requested_by="tests")
            assert isinstance(apply_cause(session, system.id, request, context=CONTEXT), Transition)
    return [s.id for s in systems]


def started(store: Store, ids: list[str]) -> None:
    with store.transaction() as session:
        assert sorted(start_placed(session, Limits(), now=NOW)) == sorted(ids)


def test_placed_systems_start_lower_waves_first_while_there_is_room(store: Store) -> None:
    ids = place(store, 4, waves=[3, 1, 2, 1])
    limits = Limits(batch_size=1, max_batches=2)
    with store.transaction() as session:
        first = start_placed(session, limits, now=NOW)
        assert sorted(first) == sorted([ids[1], ids[3]])
        assert start_placed(session, limits, now=NOW) == [], "two in flight: no more room"
        assert get_system(session, ids[1]).state is S.PREFLIGHT  # type: ignore[union-attr]


def test_a_claim_is_won_once_until_the_lease_expires_or_is_released(store: Store) -> None:
    ids = place(store, 2)
    started(store, ids)
    with store.transaction() as session:
        claim = {"states": [S.PREFLIGHT], "now": NOW, "ttl_s": 30.0}
        assert lease_store.claim(session, ids, owner="a", **claim) == sorted(ids)  # type: ignore[arg-type]
        assert lease_store.claim(session, ids, owner="b", **claim) == []  # type: ignore[arg-type]
        assert lease_store.ready_systems(session, {S.PREFLIGHT}, now=NOW, limit=10) == []
        later = NOW + timedelta(seconds=31)
        assert lease_store.renew(session, ids[:1], owner="b", now=NOW, ttl_s=30) == set()
        assert lease_store.renew(session, ids[:1], owner="a", now=NOW, ttl_s=60) == {ids[0]}
        # ids[1] expired, ids[0] was renewed: another instance may take only the first.
        won = lease_store.claim(
            session, ids, owner="b", states=[S.PREFLIGHT], now=later, ttl_s=30.0
        )
        assert won == [ids[1]]
        assert lease_store.give_back(session, ids, owner="a") == {ids[0]}
        assert lease_store.give_back_all(session, "b") == [ids[1]]
        assert lease_of(session, ids[1]) == (None, None)


def test_a_claim_skips_systems_that_left_the_phase(store: Store) -> None:
    ids = place(store, 2)
    with store.transaction() as session:
        assert (
            lease_store.claim(session, ids, owner="a", states=[S.PREFLIGHT], now=NOW, ttl_s=5) == []
        )


def test_a_claimed_batch_has_targets_unique_addresses_and_refusals(store: Store) -> None:
    ids = place(store, 3)
    started(store, ids)
    batch = Batch(Phase.PREFLIGHT, tuple(ids), ("shantou",))
    missing = ids[2]
    with store.transaction() as session:
        claimed = claim_batch(
            session,
            batch,
            owner="a",
            now=NOW,
            ttl_s=30,
            nodes=NODES,
            precheck=lambda phase, t: "no source" if t.system_id == missing else None,
        )
    assert claimed is not None
    assert [t.system_id for t in claimed.targets] == sorted(set(ids) - {missing})
    assert {t.ipv6_index for t in claimed.targets} == {1, 2}
    assert claimed.refused == {missing: "no source"}
    assert all(t.free_vcpu >= t.vcpu for t in claimed.targets)
    assert set(claimed.ipv6.values()) == {"2001:db8:1::1", "2001:db8:1::2"}


def claim(session: Session, ids: list[str], phase: Phase, now: datetime = NOW) -> Claimed:
    """Lease ``ids`` for ``phase`` on shantou as instance ``a`` at ``now``."""
    claimed = claim_batch(
        session,
        Batch(phase, tuple(ids), ("shantou",)),
        owner="a",
        now=now,
        ttl_s=30,
        nodes=NODES,
        precheck=NoProvider().precheck,
    )
    assert claimed is not None
    return claimed


def advance(
    store: Store,
    ids: list[str],
    phase: Phase,
    outcomes: dict[str, HostOutcome],
    replication: Replication | None = None,
) -> dict[str, Transition | Refusal]:
    """Claim ``ids`` for ``phase`` and apply ``outcomes`` (cold, under open gates, unless
    ``replication`` says otherwise)."""
    with store.transaction() as session:
        claimed = claim(session, ids, phase)
        return apply_outcomes(
            session,
            claimed,
            outcomes,
            owner="a",
            note="artifacts /x",
            replication=replication or NO_APPROVALS,
        )


def test_outcomes_move_each_system_on_its_own_and_record_what_the_role_reported(
    store: Store,
) -> None:
    ids = place(store, 2)
    started(store, ids)
    good, bad = ids
    advance(store, ids, Phase.PREFLIGHT, {i: HostOutcome(i, ok=True) for i in ids})
    claimed_host = {i: HostOutcome(i, ok=True, report={"target_host": f"host-{i}"}) for i in ids}
    advance(store, ids, Phase.PROVISION, claimed_host)
    sent = {"bytes_sent": 4096, "literal_bytes": 1024}
    advance(store, ids, Phase.REPLICATE, {i: HostOutcome(i, ok=True, report=sent) for i in ids})
    failed = HostOutcome(bad, ok=False, failed_task="Switch", message="no luck")
    applied = advance(store, ids, Phase.CUTOVER, {good: HostOutcome(good, ok=True), bad: failed})
    ok, rolling = applied[good], applied[bad]
    assert isinstance(ok, Transition)
    assert isinstance(rolling, Transition)
    assert (ok.to_state, rolling.to_state) == (S.VERIFYING, S.ROLLING_BACK)
    assert "cutover failed at task 'Switch': no luck" in rolling.reason
    with store.transaction() as session:
        assert lease_of(session, good) == (None, None), "released with the outcome"
        assert get_system(session, bad).target_host == f"host-{bad}"  # type: ignore[union-attr]
        replicated = [row.reason or "" for row in history(session, good)]
    assert any("replicated 4096 bytes (1024 literal)" in reason for reason in replicated)
    verified = HostOutcome(good, ok=True, report={"ipv6_by_name": True, "ipv4_by_name": True})
    advance(store, [good], Phase.VERIFY, {good: verified})
    advance(store, [bad], Phase.ROLLBACK, {bad: HostOutcome(bad, ok=True)})
    with store.transaction() as session:
        done, undone = get_system(session, good), get_system(session, bad)
        assert done is not None
        assert undone is not None
        assert (done.state, done.target_host) == (S.COMPLETED, f"host-{good}")
        assert done.ipv6_address is not None
        assert done.ipv6_address.startswith("2001:db8:1::")
        assert (undone.state, undone.target_host, undone.ipv6_address) == (
            S.ROLLED_BACK,
            None,
            None,
        )
        assert get_allocation(session, bad) is None
        snapshot = read_snapshot(session, now=NOW)
    assert snapshot.systems_ipv6 == 1


def test_each_replication_pass_and_the_cutovers_downtime_are_recorded_and_told(
    store: Store,
) -> None:
    ids = place(store, 2)
    started(store, ids)
    good, bad = ids
    for phase in (Phase.PREFLIGHT, Phase.PROVISION):
        advance(store, ids, phase, {i: HostOutcome(i, ok=True) for i in ids})
    full: dict[str, ReportValue] = {
        "replication_pass": "full",
        "bytes_sent": 65_000,
        "transfer_ms": 412,
    }
    advance(store, ids, Phase.REPLICATE, {i: HostOutcome(i, ok=True, report=full) for i in ids})
    moves = Moves()
    recorder = OutcomeRecorder(store, owner="a", attempts=1, hooks=[moves])
    final = {"bytes_sent": 1_200, "transfer_ms": 90, "downtime_ms": 1_250, "literal_bytes": 7}
    cutover = {
        good: HostOutcome(good, ok=True, report=final),
        bad: HostOutcome(bad, ok=False, failed_task="Switch", message="refused", report=final),
    }
    with store.transaction() as session:
        claimed = claim(session, ids, Phase.CUTOVER)
    assert recorder.record(claimed, cutover, note="") is not None
    with store.transaction() as session:
        passes = [row.replication for row in replication_store.passes(session, good)]
        cut, failed = get_system(session, good), get_system(session, bad)
        assert replication_store.bytes_by_system(session, ids) == {good: 66_200, bad: 65_000}
    assert passes == [
        ReplicationPass(PassKind.FULL, 65_000, 0.412),
        ReplicationPass(PassKind.FINAL, 1_200, 0.09),
    ]
    assert cut is not None
    assert failed is not None
    assert (cut.downtime_seconds, failed.downtime_seconds) == (1.25, None)
    assert (moves.passes, moves.downtimes) == ([passes[1]], [1.25]), "only what was recorded"
    with store.session() as session:
        (cut_row,) = [t for t in history(session, good) if t.from_state is S.CUTOVER]
    # The audit row is the status outbox: its event carries the downtime and the bytes.
    assert (cut_row.downtime_seconds, cut_row.bytes_sent) == (1.25, 1_200)
    assert cut_row.reason is not None
    assert cut_row.reason.endswith("(replicated 1200 bytes (7 literal); down 1.25 s)")
    status = notice_for(cut_row).data
    assert isinstance(status, SystemStatusChanged)
    assert (status.downtime_seconds, status.bytes_sent) == (1.25, 1_200)


def test_a_system_verify_did_not_reach_over_ipv6_is_not_counted_as_ipv6(store: Store) -> None:
    ids = place(store, 1)
    started(store, ids)
    for phase in (Phase.PREFLIGHT, Phase.PROVISION, Phase.REPLICATE, Phase.CUTOVER):
        advance(store, ids, phase, {i: HostOutcome(i, ok=True) for i in ids})
    only_ipv4 = {"ipv6_by_name": False, "ipv4_by_name": True}
    advance(store, ids, Phase.VERIFY, {i: HostOutcome(i, ok=True, report=only_ipv4) for i in ids})
    with store.transaction() as session:
        row = get_system(session, ids[0])
        assert row is not None
        assert (row.state, row.ipv6_address) == (S.COMPLETED, None)
        assert read_snapshot(session, now=NOW).systems_ipv6 == 0


def test_an_outcome_for_a_lease_lost_meanwhile_is_not_applied(store: Store) -> None:
    ids = place(store, 1)
    started(store, ids)
    with store.transaction() as session:
        claimed = claim(session, ids, Phase.PREFLIGHT)
        lease_store.give_back_all(session, "a")  # expired and taken over, say
        applied = apply_outcomes(
            session, claimed, {ids[0]: HostOutcome(ids[0], ok=True)}, owner="a", note=""
        )
        assert applied == {}
        assert get_system(session, ids[0]).state is S.PREFLIGHT  # type: ignore[union-attr]


def claimed_preflight(store: Store, ids: list[str]) -> Claimed:
    with store.transaction() as session:
        return claim(session, ids, Phase.PREFLIGHT)


def failing_then_real(monkeypatch: pytest.MonkeyPatch, errors: list[Exception]) -> None:
    """``apply_outcomes`` raises each of ``errors`` in turn, then works."""
    real = outcome_module.apply_outcomes

    def flaky(*args: object, **kwargs: object) -> object:
        if errors:
            raise errors.pop(0)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(outcome_module, "apply_outcomes", flaky)


def test_recording_outcomes_retries_what_is_temporary(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = place(store, 1)
    started(store, ids)
    claimed = claimed_preflight(store, ids)
    failing_then_real(monkeypatch, [StaleSystemError("raced"), StaleSystemError("raced")])
    hooks = GiveUps()
    recorder = OutcomeRecorder(
        store, owner="a", attempts=3, hooks=[hooks], backoff_s=lambda attempt: 0.0
    )
    applied = recorder.record(claimed, {ids[0]: HostOutcome(ids[0], ok=True)}, note="")
    assert applied is not None
    assert isinstance(applied[ids[0]], Transition)
    assert hooks.calls == []


@pytest.mark.parametrize(
    ("errors", "attempts"),
    [
        ([PermanentError("a row the engine cannot read")], 5),
        ([StaleSystemError("raced")] * 2, 2),
    ],
    ids=["permanent-at-once", "temporary-outlasting-its-attempts"],
)
def test_giving_up_on_outcomes_fails_each_system_visibly(
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    errors: list[Exception],
    attempts: int,
) -> None:
    ids = place(store, 2)
    started(store, ids)
    claimed = claimed_preflight(store, ids)
    failing_then_real(monkeypatch, list(errors))
    hooks = GiveUps()
    recorder = OutcomeRecorder(
        store, owner="a", attempts=attempts, hooks=[hooks], backoff_s=lambda attempt: 0.0
    )
    outcomes = {i: HostOutcome(i, ok=True) for i in ids}
    with caplog.at_level(logging.ERROR, logger="orchestrator.worker.outcomes"):
        assert recorder.record(claimed, outcomes, note="") is None
    assert hooks.calls == [("apply_outcomes", tuple(ids))]
    assert "gave up recording the preflight outcomes" in caplog.text
    with store.transaction() as session:
        for system_id in ids:
            row = get_system(session, system_id)
            assert row is not None
            assert row.state is S.ROLLING_BACK
            assert row.last_error is not None
            assert "Record the outcome" in row.last_error
            assert lease_of(session, system_id) == (None, None)


class SecretProvider(NoProvider):
    """A provider whose role needs one secret."""

    def secrets(self) -> Mapping[str, str]:
        return {"govmig_secret_tsig_key": "c2VjcmV0"}


class Succeeding:
    """An executor that notes what it was handed and reports every system done."""

    def __init__(self) -> None:
        self.secrets: list[Mapping[str, str] | None] = []

    def run(
        self,
        phase: Phase,
        work: Sequence[NodeWork],
        *,
        cancel: threading.Event | None = None,
        secrets: Mapping[str, str] | None = None,
    ) -> RunResult:
        self.secrets.append(secrets)
        outcomes = tuple(HostOutcome(s.system_id, ok=True) for _n, systems in work for s in systems)
        nodes = tuple(node.node_id for node, _systems in work)
        return RunResult(phase, nodes, "run-1", Path("/x"), 0, "successful", 0.1, "", outcomes)


class Playbooks(Hooks):
    def __init__(self) -> None:
        self.runs: list[tuple[str, str, int]] = []

    def after_playbook(self, phase: str, status: str, batch_size: int) -> None:
        self.runs.append((phase, status, batch_size))


def test_a_batch_run_hands_the_providers_secrets_to_the_executor_and_records_outcomes(
    store: Store,
) -> None:
    ids = place(store, 2)
    started(store, ids)
    claimed = claimed_preflight(store, ids)
    executor, hooks, running = Succeeding(), Playbooks(), RunningBatches()
    runner = BatchRunner(
        executor,
        SecretProvider(),
        OutcomeRecorder(store, owner="a", attempts=1),
        store=store,
        running=running,
        owner="a",
        stopping=threading.Event(),
        hooks=[hooks],
    )
    running.add("shantou/preflight", Running(claimed))
    runner.execute("shantou/preflight", Running(claimed))
    assert executor.secrets == [{"govmig_secret_tsig_key": "c2VjcmV0"}]
    assert hooks.runs == [("preflight", "successful", 2)]
    assert running.system_ids() == set()
    with store.transaction() as session:
        assert {get_system(session, i).state for i in ids} == {S.PROVISIONING}  # type: ignore[union-attr]


def test_every_claim_bumps_the_systems_fencing_token(store: Store) -> None:
    ids = place(store, 1)
    started(store, ids)
    for expected in (1, 2):
        with store.transaction() as session:
            claimed = claim(session, ids, Phase.PREFLIGHT)
            assert [t.lease_generation for t in claimed.targets] == [expected]
            lease_store.give_back(session, ids, owner="a")


def test_a_policy_holds_a_ready_system_until_a_recorded_rehearsal_passes(store: Store) -> None:
    ids = place(store, 1)
    started(store, ids)
    (system,) = ids
    for phase in (Phase.PREFLIGHT, Phase.PROVISION):
        advance(store, ids, phase, {system: HostOutcome(system, ok=True)})
    every = frozenset({"critical", "high", "medium", "low"})
    warm = Replication(warm=WarmPolicy(ready_budget_s=5), rehearsal_required=every)
    delta: dict[str, ReportValue] = {
        "replication_pass": "delta",
        "bytes_sent": 10,
        "transfer_ms": 100,
    }

    def replicate() -> SystemState:
        with store.transaction() as session:
            claimed = claim(session, ids, Phase.REPLICATE)
            outcome = {system: HostOutcome(system, ok=True, report=delta)}
            apply_outcomes(session, claimed, outcome, owner="a", note="", replication=warm)
            row = get_system(session, system)
        assert row is not None
        return row.state

    assert replicate() is S.READY  # caught up, but not rehearsed: it waits
    with store.transaction() as session:
        apply_cause(session, system, RequestRehearsal("bob"), context=CONTEXT)
    failed = HostOutcome(system, ok=False, failed_task="Check by name", message="no answer")
    after_failure = advance(store, ids, Phase.REHEARSE, {system: failed}, warm)[system]
    assert isinstance(after_failure, Transition)
    assert after_failure.to_state is S.READY
    assert replicate() is S.READY  # a failed rehearsal does not count
    with store.transaction() as session:
        apply_cause(session, system, RequestRehearsal("bob"), context=CONTEXT)
    report: dict[str, ReportValue] = {"rehearsal_name": "t.rehearsal", "rehearsal_ms": 700}
    passed = {system: HostOutcome(system, ok=True, report=report)}
    # Back in ready after a passed rehearsal, it is asked at once: no pass needed.
    after_rehearsal = advance(store, ids, Phase.REHEARSE, passed, warm)[system]
    with store.session() as session:
        last = replication_store.last_rehearsal(session, system)
        refusals = [t.reason for t in history(session, system) if t.refused]
    assert last is not None
    assert last.rehearsal == Rehearsal(True, "passed", "t.rehearsal", 0.7)
    assert any("needs a passed rehearsal" in (reason or "") for reason in refusals)
    assert isinstance(after_rehearsal, Transition)
    assert after_rehearsal.to_state is S.READY
    with store.session() as session:
        assert get_system(session, system).state is S.CUTOVER  # type: ignore[union-attr]
        started_cutover = history(session, system)[-1]
    # The forecast: the 0.1 s delta x 2, plus the 0.7 s start the rehearsal measured.
    assert started_cutover.reason is not None
    assert started_cutover.reason.startswith("cutover started: forecast downtime 0.9 s")


def test_the_finalize_after_policy_finalizes_only_what_completed_long_enough_ago(
    store: Store,
) -> None:
    ids = place(store, 2)
    started(store, ids)
    old, fresh = ids
    for phase in FORWARD_PHASES:
        advance(store, [old], phase, {old: HostOutcome(old, ok=True)})
    now = datetime.now(UTC)
    with store.transaction() as session:
        assert finalize_due(session, 2 * 86400, now=now + timedelta(days=1)) == []
        assert finalize_due(session, 2 * 86400, now=now + timedelta(days=3)) == [old]
        row, other = get_system(session, old), get_system(session, fresh)
        asked = history(session, old)[-1]
    assert row is not None
    assert other is not None
    assert (row.state, other.state) == (S.FINALIZING, S.PREFLIGHT)
    assert asked.actor == FINALIZER
    assert asked.reason is not None
    assert "completed over 2 days ago" in asked.reason


def test_a_group_member_that_fails_its_cutover_takes_the_cut_over_members_back(
    store: Store,
) -> None:
    """Warm: of a dependency group of three, two cut over; the third fails its cutover. The two
    revert (the group is never split between old and new); an unrelated system stays."""
    catalogue = generate_catalogue(120)  # the first with a group of three
    graph = DependencyGraph((s.id, s.depends_on) for s in catalogue)
    by_id = {s.id: s for s in catalogue}
    first, *rest = next(g for g in map(sorted, map(graph.group, by_id)) if len(g) == 3)
    alone = next(s for s in catalogue if not s.depends_on and not graph.group(s.id) - {s.id})
    with store.transaction() as session:
        for member in (first, rest[0]):
            drive(session, by_id[member], S.COMPLETED, node="shantou")
        drive(session, alone, S.COMPLETED, node="shantou")
        drive(session, by_id[rest[1]], S.CUTOVER, node="shantou")
        claimed = claim(session, [rest[1]], Phase.CUTOVER)
        failed = HostOutcome(rest[1], ok=False, failed_task="Switch the name", message="refused")
        warm = Replication(warm=WarmPolicy(ready_budget_s=5, interval_s=0))
        apply_outcomes(session, claimed, {rest[1]: failed}, owner="a", note="", replication=warm)
        states = {i: get_system(session, i).state for i in (first, rest[0], alone.id)}  # type: ignore[union-attr]
        audit = history(session, first)
    assert states == {first: S.REVERTING, rest[0]: S.REVERTING, alone.id: S.COMPLETED}
    assert audit[-1].requested_by == "dependency group policy"
    assert f"{rest[1]} of its dependency group failed its cutover" in (audit[-1].reason or "")


def test_a_group_members_completion_sends_the_next_to_its_cutover_without_waiting_a_pass(
    store: Store,
) -> None:
    """Warm: the first of a group of three in dependency order completes its verify; the
    second, ready and caught up, starts its cutover in the same application of outcomes (not
    after its next delta pass); the third waits for the second."""
    catalogue = generate_catalogue(120)  # the first with a group of three
    graph = DependencyGraph((s.id, s.depends_on) for s in catalogue)
    by_id = {s.id: s for s in catalogue}
    group = next(g for g in map(graph.group, by_id) if len(g) == 3)
    first, second, third = cutover_order({i: by_id[i].depends_on for i in group})
    with store.transaction() as session:
        drive(session, by_id[first], S.VERIFYING, node="shantou")
        for member in (second, third):
            drive(session, by_id[member], S.READY, node="shantou")
            replication_store.add_pass(session, member, ReplicationPass(PassKind.DELTA, 10, 0.1))
        claimed = claim(session, [first], Phase.VERIFY)
        warm = Replication(
            warm=WarmPolicy(ready_budget_s=5, interval_s=0),
            cutover=CutoverPolicy(approval=ApprovalPolicy(criticalities=frozenset())),
        )
        verified = {first: HostOutcome(first, ok=True)}
        apply_outcomes(session, claimed, verified, owner="a", note="", replication=warm)
        rows = {i: get_system(session, i) for i in (first, second, third)}
    assert {i: row.state for i, row in rows.items() if row} == {
        first: S.COMPLETED,
        second: S.CUTOVER,
        third: S.READY,
    }
    held = rows[third]
    assert held is not None
    assert f"cuts over after the members it depends on: {second} (cutover)" in (held.waiting or "")


def held_ready(store: Store, warm: Replication, count: int = 1) -> list[str]:
    """``count`` systems ready after a caught-up delta pass, asked once and held."""
    systems = [s for s in generate_catalogue(60) if not s.depends_on][:count]
    with store.transaction() as session:
        for system in systems:
            drive(session, system, S.READY, node="shantou", requested_by="ops.li")
            replication_store.add_pass(session, system.id, ReplicationPass(PassKind.DELTA, 10, 0.1))
        lifecycle = Lifecycle(session)
        gates = CutoverGates(session, lifecycle, warm)
        for system in systems:
            row = lifecycle.system(system.id)
            assert row is not None
            assert isinstance(gates.ask(row, CONTEXT), Wait)
        lifecycle.flush()
    return [s.id for s in systems]


EVERYONE_APPROVES = CutoverPolicy(
    approval=ApprovalPolicy(criticalities=frozenset({"critical", "high", "medium", "low"}))
)


def test_an_approval_sends_a_held_system_to_its_cutover_without_waiting_for_a_pass(
    store: Store,
) -> None:
    warm = Replication(warm=WarmPolicy(ready_budget_s=5), cutover=EVERYONE_APPROVES)
    first, second = held_ready(store, warm, 2)
    with store.transaction() as session:
        assert ask_due(session, warm, component="tests", limit=10) == []  # nothing changed
        approve = Approve("CHG-9", "ops.wang", migration_requested_by="ops.li")
        assert isinstance(apply_cause(session, first, approve, context=CONTEXT), Transition)
        assert ask_due(session, warm, component="tests", limit=10) == [first]
        assert ask_due(session, warm, component="tests", limit=10) == []  # taken once
        rows = {i: get_system(session, i) for i in (first, second)}
        went = history(session, first)[-1]
    assert {i: r.state for i, r in rows.items() if r} == {first: S.CUTOVER, second: S.READY}
    assert went.reason is not None
    assert "approved by ops.wang under CHG-9" in went.reason
    assert "asked again: what held it changed" in went.reason


def test_a_held_system_is_asked_again_when_its_scheduled_moment_comes(store: Store) -> None:
    moment = datetime.now(UTC) + timedelta(hours=1)
    clock = [datetime.now(UTC)]
    warm = Replication(
        warm=WarmPolicy(ready_budget_s=5), cutover=EVERYONE_APPROVES, clock=lambda: clock[0]
    )
    (system,) = held_ready(store, warm)
    with store.transaction() as session:
        apply_cause(session, system, ScheduleCutover(moment, "ops.li"), context=CONTEXT)
        approve = Approve("CHG-9", "ops.wang", migration_requested_by="ops.li")
        apply_cause(session, system, approve, context=CONTEXT)
        clock[0] = datetime.now(UTC)
        assert ask_due(session, warm, component="tests", limit=10) == [system]
        held = get_system(session, system)
        assert held is not None
        assert (held.state, held.gate_due_at) == (S.READY, moment)
        assert (held.waiting or "").startswith("window: scheduled for ")
        assert ask_due(session, warm, component="tests", limit=10) == []  # not yet
        clock[0] = moment
        assert ask_due(session, warm, component="tests", limit=10) == [system]
        assert get_system(session, system).state is S.CUTOVER  # type: ignore[union-attr]


def test_a_system_in_a_pass_is_left_to_the_pass(store: Store) -> None:
    warm = Replication(warm=WarmPolicy(ready_budget_s=5), cutover=EVERYONE_APPROVES)
    (system,) = held_ready(store, warm)
    with store.transaction() as session:
        approve = Approve("CHG-9", "ops.wang", migration_requested_by="ops.li")
        apply_cause(session, system, approve, context=CONTEXT)
        claim = {"states": [S.READY], "now": datetime.now(UTC), "ttl_s": 30.0}
        assert lease_store.claim(session, [system], owner="a", **claim) == [system]  # type: ignore[arg-type]
        assert ask_due(session, warm, component="tests", limit=10) == []
        lease_store.give_back(session, [system], owner="a")
        assert ask_due(session, warm, component="tests", limit=10) == [system]


def test_an_approval_that_lands_during_a_pass_is_seen_by_the_pass_and_asked_once(
    store: Store,
) -> None:
    """The race between an approval and the delta pass holding the system: the pass's
    outcome, applied after the approval, reads it and starts the cutover; the re-ask the
    approval asked for finds the system gone on and asks nothing twice."""
    warm = Replication(warm=WarmPolicy(ready_budget_s=5, interval_s=0), cutover=EVERYONE_APPROVES)
    (system,) = held_ready(store, warm)
    with store.transaction() as session:  # the delta pass, leased as the worker does now
        claimed = claim(session, [system], Phase.REPLICATE, now=datetime.now(UTC))
    with store.transaction() as session:  # meanwhile, the change board approves
        approve = Approve("CHG-9", "ops.wang", migration_requested_by="ops.li")
        assert isinstance(apply_cause(session, system, approve, context=CONTEXT), Transition)
        assert ask_due(session, warm, component="tests", limit=10) == [], "the pass holds it"
    caught_up: dict[str, ReportValue] = {
        "replication_pass": "delta",
        "bytes_sent": 10,
        "transfer_ms": 100,
    }
    with store.transaction() as session:
        applied = apply_outcomes(
            session,
            claimed,
            {system: HostOutcome(system, ok=True, report=caught_up)},
            owner="a",
            note="",
            replication=warm,
        )
        assert ask_due(session, warm, component="tests", limit=10) == []
        row = get_system(session, system)
        to_cutover = [t for t in history(session, system) if t.to_state is S.CUTOVER]
    assert isinstance(applied[system], Transition)
    assert row is not None
    assert (row.state, row.gate_due_at) == (S.CUTOVER, None)
    assert len(to_cutover) == 1
    assert "approved by ops.wang under CHG-9" in (to_cutover[0].reason or "")


def test_a_cold_pass_leaves_the_system_ready_at_its_gates_and_an_approval_moves_it_on(
    store: Store,
) -> None:
    cold = Replication(cutover=EVERYONE_APPROVES)
    ids = place(store, 1)
    started(store, ids)
    (system,) = ids
    for phase in (Phase.PREFLIGHT, Phase.PROVISION):
        advance(store, ids, phase, {system: HostOutcome(system, ok=True)})
    copied: dict[str, ReportValue] = {
        "replication_pass": "full",
        "bytes_sent": 10,
        "transfer_ms": 400,
    }
    replicated = advance(
        store, ids, Phase.REPLICATE, {system: HostOutcome(system, ok=True, report=copied)}, cold
    )
    with store.transaction() as session:
        held = get_system(session, system)
        approve = Approve("CHG-9", "ops.wang", migration_requested_by="tests")
        apply_cause(session, system, approve, context=CONTEXT)
        assert ask_due(session, cold, component="tests", limit=10) == [system]
        went = history(session, system)[-1]
    assert isinstance(replicated[system], Transition)
    assert replicated[system].to_state is S.READY  # type: ignore[union-attr]
    assert held is not None
    assert (held.state, held.waiting_reason) == (S.READY, "approval")
    assert went.to_state is S.CUTOVER
    # The forecast: the 0.4 s copy x 2, plus the 2 s start the policy estimates; no budget.
    assert (went.reason or "").startswith(
        "cutover started: forecast downtime 2.8 s (a cold cutover)"
    )


def test_a_cold_group_goes_when_its_last_member_becomes_ready(store: Store) -> None:
    """Cold, no passes to ask again: the first in dependency order, ready and held by the
    group while the others replicate, is asked when the last of them becomes ready."""
    catalogue = generate_catalogue(120)
    graph = DependencyGraph((s.id, s.depends_on) for s in catalogue)
    by_id = {s.id: s for s in catalogue}
    group = next(g for g in map(graph.group, by_id) if len(g) == 3)
    first, second, third = cutover_order({i: by_id[i].depends_on for i in group})
    copied = HostOutcome("", ok=True, report={"replication_pass": "full", "transfer_ms": 100})
    with store.transaction() as session:
        for member in group:
            drive(session, by_id[member], S.REPLICATING, node="shantou")

    def replicate(member: str) -> None:
        outcome = {member: replace(copied, system_id=member)}
        advance(store, [member], Phase.REPLICATE, outcome, NO_APPROVALS)

    replicate(first)
    replicate(second)
    with store.transaction() as session:
        waiting = get_system(session, first)
    replicate(third)
    with store.transaction() as session:
        states = {i: get_system(session, i).state for i in (first, second, third)}  # type: ignore[union-attr]
    assert waiting is not None
    assert (waiting.state, waiting.waiting_reason) == (S.READY, "group")
    assert states == {first: S.CUTOVER, second: S.READY, third: S.READY}
