"""Whole migrations through ``govmig run``: events in, playbooks run, systems moved.

Real broker, real ansible-runner (Mitogen), real services on loopback, SQLite
in ``tmp_path``. Each test prepares its systems' sources (``govmig run`` never
does), publishes registered + migration requested events, and checks what a
client would see through the name records, what the store says, and the
cutover journals on the targets.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import signal
import sqlite3
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from chaos.sites import LocalSites
from orchestrator.bus import Producer
from orchestrator.events.data import (
    MigrationFinalizeRequested,
    MigrationRehearsalRequested,
    MigrationRequested,
    MigrationRetryRequested,
    MigrationRevertRequested,
    MigrationRollbackRequested,
)
from orchestrator.events.registration import registration_records
from orchestrator.inventory import generate_catalogue
from orchestrator.inventory.models import BusinessSystem
from orchestrator.migrations import SystemState
from orchestrator.migrations.replication import PassKind
from orchestrator.providers.local_sandbox import (
    NameRecord,
    fetch_health,
    instance_dir,
    prepare_source,
    read_name_record,
    source_dir,
)
from orchestrator.settings import KafkaSettings
from orchestrator.store import open_store
from orchestrator.store import replication as replication_store
from tests.fixtures.orchestrator import (
    INVENTORY,
    count_sqlite,
    govmig_run,
    kafka_settings,
    publish,
    read_fleet,
)
from tests.fixtures.polling import wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.ansible]

S = SystemState
PHASES_TIMEOUT_S = 150


def pick(count: int) -> list[BusinessSystem]:
    """``count`` catalogue systems without dependencies (placement is given by ``--to``)."""
    return [s for s in generate_catalogue(80) if not s.depends_on][:count]


def prepare(work: Path, systems: list[BusinessSystem]) -> dict[str, object]:
    """Each system's source, and the data checksum its service reports."""
    checksums = {}
    for system in systems:
        record = prepare_source(work, system.id, 3, 24_000, seed=11)
        checksums[system.id] = fetch_health(record)["checksum"]
    return checksums


def request(settings: KafkaSettings, targets: Mapping[BusinessSystem, str]) -> None:
    """Register the systems, then ask for each to move to its node."""
    with Producer(settings) as producer:
        producer.send_all(settings.events_topic, registration_records(list(targets)))
    publish(
        settings,
        [
            MigrationRequested(system_id=s.id, target_node=node, wave=1, requested_by="e2e")
            for s, node in targets.items()
        ],
    )


def in_state(db: Path, state: S, ids: list[str]) -> int:
    quoted = ",".join(f"'{i}'" for i in ids)
    query = f"SELECT count(*) FROM systems WHERE state = '{state}' AND id IN ({quoted})"
    return count_sqlite(db, query)


def wait_for(db: Path, state: S, ids: list[str], *, timeout_s: float = PHASES_TIMEOUT_S) -> None:
    wait_until(
        lambda: in_state(db, state, ids) == len(ids),
        timeout_s=timeout_s,
        what=f"{ids} {state}",
    )


def data_digests(home: Path) -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted((home / "data").iterdir())
    }


def assert_moved(work: Path, system_id: str, node: str, checksum: object) -> None:
    """The name record leads to the instance on ``node``, serving the source's data."""
    record = read_name_record(work, system_id)
    assert record.location == node
    assert fetch_health(record) == {
        "system": system_id,
        "location": node,
        "status": "ok",
        "checksum": checksum,
    }
    target = instance_dir(work, node, system_id)
    assert data_digests(target) == data_digests(source_dir(work, system_id))


def assert_on_source(work: Path, system_id: str) -> None:
    record = read_name_record(work, system_id)
    assert record.location == "source"
    assert fetch_health(record)["location"] == "source"


def runs_by_phase(artifacts: Path) -> Counter[tuple[str, str]]:
    """Playbook runs by phase and where (``stamp-phase-where-n-suffix``): a node, or the
    first of a batch's nodes and how many more (``huizhou+2``)."""
    found: Counter[tuple[str, str]] = Counter()
    for run in artifacts.iterdir():
        _stamp, phase, where, *_rest = run.name.split("-")
        found[(phase, where)] += 1
    return found


def test_a_wave_on_three_nodes_completes_in_one_run_per_phase(
    kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path, work: Path
) -> None:
    settings = kafka_settings(kafka_bootstrap, new_topic)
    systems = pick(6)
    nodes = ["shantou", "shantou", "shantou", "huizhou", "huizhou", "zhanjiang"]
    targets = dict(zip(systems, nodes, strict=True))
    checksums = prepare(work, systems)
    request(settings, targets)
    db, artifacts = tmp_path / "govmig.db", tmp_path / "artifacts"
    options = (
        "--worker",
        "--work-root",
        str(work),
        "--artifacts-dir",
        str(artifacts),
        "--batch-window",
        "1",
    )
    with govmig_run(settings, f"sqlite:///{db}", tmp_path, *options) as run:
        wait_for(db, S.COMPLETED, [s.id for s in systems])
        run.signal(signal.SIGTERM)
        assert run.wait(60) == 0, run.output()
    for system, node in targets.items():
        assert_moved(work, system.id, node, checksums[system.id])
    # Six systems on three nodes run from here move as one batch: one playbook run per
    # phase, its nodes in order (huizhou, shantou, zhanjiang).
    assert runs_by_phase(artifacts) == {
        (phase, "huizhou+2"): 1
        for phase in ("preflight", "provision", "replicate", "cutover", "verify")
    }
    fleet = read_fleet(f"sqlite:///{db}")
    for system, node in targets.items():
        path = [row.to_state for row in fleet.audit[system.id]]
        assert path[-7:] == [S.PREFLIGHT, S.PROVISIONING, S.REPLICATING, S.READY, S.CUTOVER,
                             S.VERIFYING, S.COMPLETED]  # fmt: skip
        prefix = INVENTORY.nodes[node].ipv6_prefix
        assert prefix is not None
        network = json.loads((instance_dir(work, node, system.id) / "network.json").read_text())
        # The playbook gave the instance an address inside the node's prefix...
        assert ipaddress.IPv6Address(network["ipv6_address"]) in ipaddress.IPv6Network(prefix)
        # ...but the local provider never reaches a service by name over IPv6, so item
        # 三十's IPv6 figure does not count it: that figure is measured, not assumed.
        assert query_one(db, f"SELECT ipv6_address FROM systems WHERE id = '{system.id}'") is None
    planned = [
        json.loads((instance_dir(work, node, s.id) / "network.json").read_text())["ipv6_address"]
        for s, node in targets.items()
    ]
    assert len(set(planned)) == len(systems)


def query_one(db: Path, query: str) -> str | None:
    with sqlite3.connect(db) as connection:
        found = connection.execute(query).fetchone()[0]
    return None if found is None else str(found)


def test_a_failed_system_rolls_back_alone_then_retry_and_rollback_work(
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    tmp_path: Path,
    work: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = kafka_settings(kafka_bootstrap, new_topic)
    systems = pick(3)
    ok, bad = [systems[0].id, systems[2].id], systems[1].id
    checksums = prepare(work, systems)
    request(settings, dict.fromkeys(systems, "shantou"))
    monkeypatch.setenv("GOVMIG_INJECT_FAILURES", f"{bad}:replicate")
    db, url = tmp_path / "govmig.db", f"sqlite:///{tmp_path / 'govmig.db'}"
    options = ("--worker", "--work-root", str(work), "--artifacts-dir", str(tmp_path / "artifacts"))
    with govmig_run(settings, url, tmp_path, *options) as run:
        wait_for(db, S.COMPLETED, ok)
        wait_for(db, S.ROLLED_BACK, [bad])
        fleet = read_fleet(url)
        (shantou,) = [u for u in fleet.usage if u.node.node_id == "shantou"]
        assert set(shantou.allocations) == set(ok), "the failed system's capacity is released"
        assert_on_source(work, bad)
        for system_id in ok:
            assert_moved(work, system_id, "shantou", checksums[system_id])
        failure = next(r for r in fleet.audit[bad] if r.to_state is S.ROLLING_BACK)
        assert failure.reason is not None
        assert "replicate failed at task 'Check the copy against the source manifest'" in (
            failure.reason
        )
        assert "checksum mismatch" in failure.reason
        assert "artifacts " in failure.reason

        publish(settings, [MigrationRetryRequested(system_id=bad, requested_by="e2e")])
        wait_for(db, S.COMPLETED, [bad])
        assert_moved(work, bad, "shantou", checksums[bad])

        publish(settings, [MigrationRollbackRequested(system_id=ok[0], requested_by="e2e")])
        wait_for(db, S.ROLLED_BACK, [ok[0]])
        assert_on_source(work, ok[0])
        assert query_one(db, f"SELECT ipv6_address FROM systems WHERE id = '{ok[0]}'") is None
        assert not instance_dir(work, "shantou", ok[0]).exists()
        run.signal(signal.SIGTERM)
        assert run.wait(60) == 0, run.output()


def test_warm_passes_until_ready_then_cuts_over_within_budget_or_waits_ready(
    kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path, work: Path
) -> None:
    """``--warm``: a full pass, delta passes until one is within the ready budget, then the
    cutover if its forecast fits the criticality's downtime budget. The medium system's
    budget fits: it completes. The low one's (set tiny) does not: it stays ready, refused
    once with both figures (the wait is audited when its reason changes, not on each pass),
    its replica refreshed by more passes, until an operator rolls it back.
    """
    settings = kafka_settings(kafka_bootstrap, new_topic)
    by_id = {s.id: s for s in generate_catalogue(80) if not s.depends_on}
    fits, waits = by_id["shantou-psb-001"], by_id["shantou-mca-001"]
    assert (fits.criticality, waits.criticality) == ("medium", "low")
    checksums = prepare(work, [fits, waits])
    request(settings, {fits: "shantou", waits: "shantou"})
    db, url = tmp_path / "govmig.db", f"sqlite:///{tmp_path / 'govmig.db'}"
    options = (
        "--worker", "--work-root", str(work), "--artifacts-dir", str(tmp_path / "artifacts"),
        "--warm", "--ready-budget", "30", "--delta-interval", "1",
        "--downtime-budgets", "low=0.001",
    )  # fmt: skip
    with govmig_run(settings, url, tmp_path, *options) as run:
        wait_for(db, S.COMPLETED, [fits.id])
        assert_moved(work, fits.id, "shantou", checksums[fits.id])
        wait_until(
            lambda: passes_of(db, waits.id) >= 3,
            timeout_s=60,
            what="the waiting system's replica refreshed while ready",
        )
        assert in_state(db, S.READY, [waits.id]) == 1
        assert_on_source(work, waits.id)  # nothing cut over: the source serves
        publish(settings, [MigrationRollbackRequested(system_id=waits.id, requested_by="e2e")])
        wait_for(db, S.ROLLED_BACK, [waits.id])
        assert_on_source(work, waits.id)
        run.signal(signal.SIGTERM)
        assert run.wait(60) == 0, run.output()
    fleet = read_fleet(url)
    moved = [(r.from_state, r.to_state, r.reason or "") for r in fleet.audit[fits.id]]
    warm = [(f, t, why) for f, t, why in moved if S.READY in (f, t) or f is S.REPLICATING]
    assert warm[0][:2] == (S.REPLICATING, S.REPLICATING)
    assert warm[0][2].startswith("full pass of ")
    assert "another delta pass" in warm[0][2]
    assert warm[1][:2] == (S.REPLICATING, S.READY)
    assert warm[1][2].startswith("delta pass of ")
    assert "ready for cutover" in warm[1][2]
    assert warm[2][:2] == (S.READY, S.CUTOVER)
    assert "within the 120 s budget" in warm[2][2]
    refusals = [r.reason or "" for r in fleet.audit[waits.id] if r.to_state is None]
    over = [why for why in refusals if "exceeds the 0.001 s budget; delta passes go on" in why]
    # Asked again after each refreshing pass, but audited once: the reason never changed.
    assert len(over) == 1, refusals
    assert over[0].startswith("cutover not started: budget: forecast downtime")


def passes_of(db: Path, system_id: str) -> int:
    return count_sqlite(
        db, f"SELECT count(*) FROM replication_passes WHERE system_id = '{system_id}'"
    )


def test_a_rehearsal_gates_the_cutover_a_revert_brings_back_what_the_target_wrote_and_finalize_ends_the_way_back(  # noqa: E501
    kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path, work: Path
) -> None:
    """``--require-rehearsal``: ready systems wait for a passed rehearsal, then cut over.
    One is reverted after a client wrote through it: the file reaches the source. The other
    is finalized: its source stops, and a rollback is refused. Requests in the wrong state
    are refused with their reason: a rehearsal before ready, a finalize before completed.
    """
    settings = kafka_settings(kafka_bootstrap, new_topic)
    by_id = {s.id: s for s in generate_catalogue(80) if not s.depends_on}
    reverted, finalized = by_id["shantou-psb-001"], by_id["shantou-mca-001"]
    prepare(work, [reverted, finalized])
    request(settings, {reverted: "shantou", finalized: "shantou"})
    publish(settings, [MigrationRehearsalRequested(system_id=reverted.id, requested_by="e2e")])
    db, url = tmp_path / "govmig.db", f"sqlite:///{tmp_path / 'govmig.db'}"
    options = (
        "--worker", "--work-root", str(work), "--artifacts-dir", str(tmp_path / "artifacts"),
        "--warm", "--ready-budget", "30", "--delta-interval", "1",
        "--require-rehearsal", "medium,low",
    )  # fmt: skip
    both = [reverted.id, finalized.id]
    with govmig_run(settings, url, tmp_path, *options) as run:
        wait_for(db, S.READY, both)
        publish(settings, [MigrationFinalizeRequested(system_id=reverted.id, requested_by="e2e")])
        wait_until(
            lambda: refusals_of(url, reverted.id, "needs a passed rehearsal") >= 1,
            timeout_s=60,
            what="the cutover held for want of a rehearsal",
        )
        assert in_state(db, S.READY, both) == 2
        publish(
            settings,
            [MigrationRehearsalRequested(system_id=i, requested_by="bob") for i in both],
        )
        wait_for(db, S.COMPLETED, both)
        LocalSites(work).write(reverted.id, "written-after-cutover", b"keep me\n")
        publish(settings, [MigrationRevertRequested(system_id=reverted.id, requested_by="e2e")])
        publish(settings, [MigrationFinalizeRequested(system_id=finalized.id, requested_by="e2e")])
        wait_for(db, S.ROLLED_BACK, [reverted.id])
        wait_for(db, S.FINALIZED, [finalized.id])
        publish(settings, [MigrationRollbackRequested(system_id=finalized.id, requested_by="e2e")])
        wait_until(
            lambda: refusals_of(url, finalized.id, "the way back ended") == 1,
            timeout_s=60,
            what="the rollback of a finalized system refused",
        )
        run.signal(signal.SIGTERM)
        assert run.wait(60) == 0, run.output()
    assert_on_source(work, reverted.id)
    kept = source_dir(work, reverted.id) / "data" / "written-after-cutover"
    assert kept.read_bytes() == b"keep me\n"
    assert (source_dir(work, finalized.id) / "finalized.json").exists()
    with pytest.raises(OSError):  # decommissioned: the source no longer serves
        fetch_health(NameRecord("127.0.0.1", source_port(work, finalized.id), "source"))
    assert refusals_of(url, reverted.id, "cannot rehearse: system is placed") == 1
    assert refusals_of(url, reverted.id, "only a completed system can be finalized") == 1
    with open_store(url, create=False) as store, store.session() as session:
        for system_id in both:
            last = replication_store.last_rehearsal(session, system_id)
            assert last is not None
            assert (last.rehearsal.passed, last.rehearsal.test_name) == (
                True,
                f"{system_id}.rehearsal",
            )
        kinds = [p.replication.kind for p in replication_store.passes(session, reverted.id)]
    assert kinds[0] is PassKind.FULL
    assert kinds[-2:] == [PassKind.FINAL, PassKind.REVERSE]


def refusals_of(url: str, system_id: str, text: str) -> int:
    """How many of ``system_id``'s refusals say ``text``."""
    fleet = read_fleet(url)
    return sum(1 for r in fleet.audit[system_id] if r.to_state is None and text in (r.reason or ""))


def source_port(work: Path, system_id: str) -> int:
    return int((source_dir(work, system_id) / "service.port").read_text())
