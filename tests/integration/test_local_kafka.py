"""The development broker for real: clients talk to it, and up/down/status tell the truth.

The first tests use the session broker (``kafka_bootstrap``). The lifecycle
tests start a separate ``LocalKafka`` on other ports, so stopping it cannot
take the session broker down.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.structs import OffsetAndMetadata, TopicPartition

from orchestrator.devkafka import BrokerState, LocalKafka, free_port_pair
from orchestrator.devkafka.layout import BrokerRecord, write_record
from orchestrator.devkafka.processes import spawn_detached, terminate, wait_gone
from orchestrator.errors import ConfigurationError
from orchestrator.settings import LocalKafkaSettings
from tests.fixtures.polling import wait_until
from tests.fixtures.ports import worker_base

REPO = Path(__file__).resolve().parents[2]
SEPARATE_PORTS = worker_base(29192)  # the session broker starts at 29092
POLL_DEADLINE_S = 30.0


def _produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for value in values:
            producer.send(topic, key=b"system-1", value=value).get(timeout=30)
    finally:
        producer.close()


def _consumer(bootstrap: str, topic: str, group: str) -> KafkaConsumer:
    return KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )


def _poll_until(consumer: KafkaConsumer, count: int) -> list[tuple[int, bytes]]:
    """(offset, value) of at least ``count`` records, or fail after a bounded wait."""
    seen: list[tuple[int, bytes]] = []

    def enough() -> bool:
        if len(seen) < count:
            for records in consumer.poll(timeout_ms=500).values():
                seen.extend((record.offset, record.value) for record in records)
        return len(seen) >= count

    wait_until(
        enough,
        timeout_s=POLL_DEADLINE_S,
        what=lambda: f"{count} records (only {len(seen)} arrived)",
        interval_s=0,
    )
    return seen


@pytest.mark.kafka
def test_produce_and_consume_through_a_group_with_manual_commits(
    kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topic = new_topic("devkafka", partitions=1)
    values = [f"event-{n}".encode() for n in range(5)]
    _produce(kafka_bootstrap, topic, values)
    consumer = _consumer(kafka_bootstrap, topic, group=f"{topic}.group")
    try:
        seen = _poll_until(consumer, len(values))
        consumer.commit()
        committed = consumer.committed(TopicPartition(topic, 0))
    finally:
        consumer.close()
    assert [value for _, value in seen] == values
    assert committed == len(values)


@pytest.mark.kafka
def test_a_committed_offset_survives_a_consumer_restart(
    kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topic = new_topic("devkafka", partitions=1)
    group = f"{topic}.group"
    values = [f"event-{n}".encode() for n in range(6)]
    _produce(kafka_bootstrap, topic, values)
    first = _consumer(kafka_bootstrap, topic, group)
    try:
        handled = _poll_until(first, 3)[:3]
        # Commit exactly what was handled, even if the poll fetched more.
        next_offset = handled[-1][0] + 1
        first.commit({TopicPartition(topic, 0): OffsetAndMetadata(next_offset, "", -1)})
    finally:
        first.close()
    second = _consumer(kafka_bootstrap, topic, group)
    try:
        resumed = _poll_until(second, len(values) - 3)
    finally:
        second.close()
    assert [value for _, value in resumed] == values[3:]
    assert resumed[0][0] == next_offset


@pytest.fixture
def separate_settings(tmp_path: Path) -> LocalKafkaSettings:
    """A broker of its own, on ports and a data dir the session broker does not use."""
    port, controller_port = free_port_pair("127.0.0.1", SEPARATE_PORTS)
    return LocalKafkaSettings(
        port=port,
        controller_port=controller_port,
        data_dir=tmp_path / "kafka",
        cache_dir=REPO / ".cache" / "kafka",
        heap="256m",
        start_timeout_s=120.0,
    )


@pytest.fixture
def separate_broker(separate_settings: LocalKafkaSettings) -> Iterator[LocalKafka]:
    """A ``LocalKafka`` that is stopped after the test, whatever the test did."""
    broker = LocalKafka(separate_settings)
    yield broker
    broker.down()


def _gone(pid: int) -> bool:
    """Whether ``pid`` has left the process table (a zombie still counts as present)."""
    return not Path(f"/proc/{pid}").exists()


def _processes_naming(path: Path) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if entry.name.isdigit() and os.fsencode(str(path)) in argv:
            pids.append(int(entry.name))
    return pids


def _dead_pid() -> int:
    finished = subprocess.Popen(["true"])
    finished.wait()
    return finished.pid


def _record(settings: LocalKafkaSettings, pid: int) -> None:
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    record = BrokerRecord(
        pid=pid,
        port=settings.port,
        controller_port=settings.controller_port,
        version=settings.version,
        server_properties=data_dir / "server.properties",
        log=data_dir / "broker.log",
        started_at=datetime.now(UTC),
    )
    write_record(data_dir / "broker.json", record)


@pytest.mark.kafka
def test_up_is_idempotent_and_down_leaves_no_process(
    separate_broker: LocalKafka, separate_settings: LocalKafkaSettings
) -> None:
    assert separate_broker.status().state is BrokerState.STOPPED
    _record(separate_settings, _dead_pid())  # a leftover from a crash must not block `up`
    assert separate_broker.status().state is BrokerState.STALE

    started = separate_broker.up()
    assert started.state is BrokerState.RUNNING
    assert started.reachable is True
    assert started.bootstrap_servers == f"127.0.0.1:{separate_settings.port}"
    assert started.pid is not None

    again = separate_broker.up()
    assert again.pid == started.pid
    assert "already running" in again.detail
    assert LocalKafka(separate_settings).status().pid == started.pid

    assert separate_broker.down() is True
    assert _gone(started.pid)
    assert separate_broker.status().state is BrokerState.STOPPED
    assert separate_broker.down() is False
    assert _processes_naming(separate_settings.data_dir / "server.properties") == []


def test_down_refuses_a_process_that_is_not_ours(separate_settings: LocalKafkaSettings) -> None:
    config = separate_settings.data_dir / "server.properties"
    # Names our config and the broker's main class, but is not java: must not count as ours.
    stranger = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "kafka.Kafka", str(config)]
    )
    try:
        _record(separate_settings, stranger.pid)
        broker = LocalKafka(separate_settings)
        before = broker.status()
        assert before.state is BrokerState.STALE
        assert f"recorded pid {stranger.pid} is not a Kafka broker" in before.detail
        assert broker.down() is False
        assert stranger.poll() is None, "down signalled a process that is not its broker"
        assert broker.status().state is BrokerState.STOPPED  # the stale record is gone
    finally:
        stranger.kill()
        stranger.wait()


def test_a_record_of_a_dead_process_is_stale(separate_settings: LocalKafkaSettings) -> None:
    pid = _dead_pid()
    _record(separate_settings, pid)
    status = LocalKafka(separate_settings).status()
    assert status.state is BrokerState.STALE
    assert f"recorded pid {pid} is not running" in status.detail


@pytest.mark.kafka
def test_a_broker_that_does_not_answer_in_time_is_killed(
    separate_settings: LocalKafkaSettings,
) -> None:
    settings = separate_settings.model_copy(update={"start_timeout_s": 0.5})
    broker = LocalKafka(settings)
    with pytest.raises(ConfigurationError) as raised:
        broker.up()
    message = str(raised.value)
    assert "did not answer" in message
    assert "killed the half-started broker" in message
    assert str(settings.data_dir / "broker.log") in message
    assert _processes_naming(settings.data_dir / "server.properties") == []
    assert broker.status().state is BrokerState.STOPPED


def test_a_failed_resolve_names_the_version(tmp_path: Path) -> None:
    port, controller_port = free_port_pair("127.0.0.1", SEPARATE_PORTS)
    settings = LocalKafkaSettings(
        port=port,
        controller_port=controller_port,
        data_dir=tmp_path / "kafka",
        cache_dir=tmp_path / "cache",
        version="0.0.1-govmig-no-such-release",
    )
    with pytest.raises(ConfigurationError) as raised:
        LocalKafka(settings).up()
    assert "kafka_2.13:0.0.1-govmig-no-such-release" in str(raised.value)
    assert not (tmp_path / "cache" / "0.0.1-govmig-no-such-release" / "libs.complete").exists()


def test_terminate_falls_back_to_sigkill_when_sigterm_is_ignored() -> None:
    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert stubborn.stdout is not None
        assert stubborn.stdout.readline().strip() == "ready"
        terminate(stubborn.pid, timeout_s=0.3)
        # It ignored SIGTERM, so only SIGKILL can have removed it (terminate reaped it too).
        assert _gone(stubborn.pid)
    finally:
        stubborn.kill()
        stubborn.wait()
        if stubborn.stdout is not None:
            stubborn.stdout.close()


def test_a_spawned_broker_that_exits_is_reaped_not_left_a_zombie(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    pid = spawn_detached(["/bin/sh", "-c", "echo to-the-log; echo to-stderr >&2"], log)
    assert wait_gone(pid, 10.0)
    assert _gone(pid)
    assert log.read_text().splitlines() == ["to-the-log", "to-stderr"]
