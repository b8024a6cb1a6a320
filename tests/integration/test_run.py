"""``govmig run`` as a real subprocess against the real broker and a SQLite store.

A batch through the whole pipeline, SIGTERM while busy, and SIGKILL in the
middle of a run followed by a restart, compared with an undisturbed run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka.admin import KafkaAdminClient

from orchestrator.events.envelope import SystemStatusChangedEvent
from orchestrator.inventory import generate_catalogue
from orchestrator.migrations import SystemState
from orchestrator.settings import KafkaSettings
from tests.fixtures.orchestrator import (
    Fleet,
    count_sqlite,
    govmig_run,
    kafka_settings,
    read_fleet,
    register_and_request,
    status_events,
)
from tests.fixtures.polling import wait_until

pytestmark = pytest.mark.kafka

S = SystemState
PLACED_PATH = [(None, S.REGISTERED), (S.REGISTERED, S.QUEUED), (S.QUEUED, S.PLACED)]
PLACED = "SELECT count(*) FROM systems WHERE state = 'placed'"
AUDITED = "SELECT count(*) FROM transitions"
UNPUBLISHED = "SELECT count(*) FROM transitions WHERE published_at IS NULL"


def settle(db: Path, systems: int, *, timeout_s: float = 60) -> None:
    """Wait until every system is placed and every audit row is published."""
    wait_until(
        lambda: count_sqlite(db, PLACED) == systems and count_sqlite(db, UNPUBLISHED) == 0,
        timeout_s=timeout_s,
        what=f"{systems} systems placed and announced",
    )


def assert_announced_once(settings: KafkaSettings, fleet: Fleet) -> None:
    """The status topic holds exactly one event per audit row, with the row's states."""
    events = status_events(settings)
    expected = {f"transition-{row.id}": row for row in fleet.audit_rows()}
    assert Counter(event.id for event in events) == Counter(expected.keys())
    for event in events:
        assert isinstance(event, SystemStatusChangedEvent)
        row = expected[event.id]
        assert (event.data.system_id, event.data.from_state, event.data.to_state) == (
            row.system_id,
            row.from_state,
            row.to_state,
        )


def test_govmig_run_places_a_batch_and_announces_each_transition_once(
    kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> None:
    settings = kafka_settings(kafka_bootstrap, new_topic)
    db = tmp_path / "govmig.db"
    systems = generate_catalogue(60)
    assert len({system.city for system in systems}) >= 3
    register_and_request(settings, systems)
    with govmig_run(settings, f"sqlite:///{db}", tmp_path) as run:
        settle(db, len(systems))
        run.assert_alive()
        run.signal(signal.SIGTERM)
        assert run.wait(30) == 0, run.output()
    fleet = read_fleet(f"sqlite:///{db}")
    assert set(fleet.states()) == {system.id for system in systems}
    assert set(fleet.states().values()) == {S.PLACED}
    assert fleet.over_committed() == []
    for system in systems:
        path = [(row.from_state, row.to_state) for row in fleet.audit[system.id]]
        assert path == PLACED_PATH, system.id
    assert_announced_once(settings, fleet)


def committed_offsets(settings: KafkaSettings) -> int:
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    try:
        offsets = admin.list_group_offsets(settings.consumer_group)[settings.consumer_group]
    finally:
        admin.close()
    return sum(meta.offset for part, meta in offsets.items() if part.topic == settings.events_topic)


def test_sigterm_while_busy_drains_the_batch_and_exits_zero(
    kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> None:
    settings = kafka_settings(kafka_bootstrap, new_topic)
    db = tmp_path / "govmig.db"
    systems = generate_catalogue(300)
    register_and_request(settings, systems)
    with govmig_run(settings, f"sqlite:///{db}", tmp_path, "--batch-size", "10") as run:
        wait_until(lambda: count_sqlite(db, AUDITED) > 0, timeout_s=30, what="a first batch")
        run.signal(signal.SIGTERM)
        assert run.wait(30) == 0, run.output()
    processed = count_sqlite(db, "SELECT count(*) FROM processed_events")
    assert 0 < processed < 2 * len(systems), "stopped before the end, after some work"
    # Drained: what is durable is exactly what was committed, and all of it is announced.
    assert committed_offsets(settings) == processed
    assert count_sqlite(db, UNPUBLISHED) == 0
    assert len(status_events(settings)) == count_sqlite(db, AUDITED)


def test_a_run_killed_mid_batch_and_restarted_ends_as_an_undisturbed_run(
    kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> None:
    # One partition: both runs see the same order, so placement must come out the same.
    base = kafka_settings(kafka_bootstrap, new_topic, events=1)
    systems = generate_catalogue(240)
    register_and_request(base, systems)
    transitions = 3 * len(systems)

    calm = base.model_copy(update={"consumer_group": base.consumer_group + "-calm"})
    calm_db = tmp_path / "calm.db"
    with govmig_run(calm, f"sqlite:///{calm_db}", tmp_path, name="calm") as run:
        settle(calm_db, len(systems))
        run.signal(signal.SIGTERM)
        assert run.wait(30) == 0, run.output()

    killed = base.model_copy(update={"status_topic": new_topic("status-killed", partitions=3)})
    db = tmp_path / "killed.db"
    url = f"sqlite:///{db}"
    options = ("--batch-size", "10", "--session-timeout", "6")
    with govmig_run(killed, url, tmp_path, *options, name="killed") as run:
        wait_until(lambda: count_sqlite(db, AUDITED) >= transitions // 4, timeout_s=60, what="work")
        run.signal(signal.SIGKILL)
        run.wait(10)
    assert count_sqlite(db, AUDITED) < transitions, "killed after the end: nothing was tested"
    # The killed member stays in the group until its session times out: keep that short.
    with govmig_run(killed, url, tmp_path, "--session-timeout", "6", name="restarted") as run:
        settle(db, len(systems))
        run.signal(signal.SIGTERM)
        assert run.wait(30) == 0, run.output()

    calm_fleet, fleet = read_fleet(f"sqlite:///{calm_db}"), read_fleet(url)
    assert fleet.placements() == calm_fleet.placements()
    assert fleet.over_committed() == []
    for system in systems:
        assert [(r.from_state, r.to_state) for r in fleet.audit[system.id]] == PLACED_PATH
    # At least once: a status event sent before the kill may be sent again, same id and data.
    events = status_events(killed)
    expected = {f"transition-{row.id}" for row in fleet.audit_rows()}
    assert {event.id for event in events} == expected
    by_id: dict[str, object] = {}
    for event in events:
        assert by_id.setdefault(event.id, event.data) == event.data


def test_an_unreachable_broker_is_one_clear_line_and_exit_status_2(tmp_path: Path) -> None:
    command = [
        sys.executable, "-m", "orchestrator.cli.run",
        "--bootstrap-servers", "127.0.0.1:1",
        "--state-db", f"sqlite:///{tmp_path / 'govmig.db'}",
        "--metrics-port", "0",
    ]  # fmt: skip
    env = {**os.environ, "GOVMIG_REQUEST_TIMEOUT_S": "1"}
    result = subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60, check=False
    )
    assert result.returncode == 2, result.stderr
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("error: cannot reach Kafka at 127.0.0.1:1 within 1 s")
    ), result.stderr
