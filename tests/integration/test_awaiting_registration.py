"""A system's request read before its registration waits for it, on the real broker.

The issue's case: an inventory system producing with librdkafka (here kcat, on
its default partitioner: CRC32 of the key) and an operator producing with the
CLI (kafka-python: murmur2) put one system's registration and its migration
request on different partitions of a six-partition events topic. The request
is produced first and read first; ``govmig run`` holds it (status and metrics
say so) and applies it once the registration comes. A request whose
registration never comes is dead-lettered when its wait ends, with
``unknown_system`` and how long it waited.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kafka.partitioner.default import murmur2

from orchestrator.bus.reader import read_topic
from orchestrator.events import encode, new_event
from orchestrator.inventory import generate_catalogue
from orchestrator.inventory.models import BusinessSystem
from orchestrator.migrations import SystemState
from orchestrator.reactor.deadletter import describe
from orchestrator.settings import KafkaSettings
from tests.fixtures.cli import govmig as run_govmig
from tests.fixtures.orchestrator import (
    GovmigRun,
    govmig_run,
    kafka_settings,
    read_fleet,
    wait_for_states,
)
from tests.fixtures.polling import wait_until
from tests.fixtures.prometheus import free_port

pytestmark = [pytest.mark.kafka]

PARTITIONS = 6
TIMEOUT_S = 60.0
AWAITING = "govcloud_requests_awaiting_registration"
EXPIRED = "govcloud_requests_awaiting_registration_expired_total"


def crc32_partition(key: bytes, partitions: int) -> int:
    """librdkafka's default partitioner (``consistent_random``) for a keyed record."""
    return zlib.crc32(key) % partitions


def murmur2_partition(key: bytes, partitions: int) -> int:
    """The Java client's and kafka-python's default partitioner for a keyed record."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


def split_system() -> BusinessSystem:
    """A catalogue system whose two partitioners disagree, so its events can cross."""
    return next(
        s
        for s in generate_catalogue(80)
        if not s.depends_on
        and crc32_partition(s.id.encode(), PARTITIONS)
        != murmur2_partition(s.id.encode(), PARTITIONS)
    )


def govmig(*args: str, settings: KafkaSettings, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``govmig`` aimed at the test's broker and topics."""
    env = {
        "GOVMIG_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "GOVMIG_EVENTS_TOPIC": settings.events_topic,
        "GOVMIG_ACTOR": "alice",
    }
    return run_govmig(*args, cwd=cwd, env=env)


def status(system_id: str, url: str, settings: KafkaSettings, cwd: Path) -> Any:
    result = govmig(
        "status", system_id, "--state-db", url, "--output", "json", settings=settings, cwd=cwd
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def request_migration(system_id: str, settings: KafkaSettings, cwd: Path) -> None:
    """``govmig migrate`` as an operator runs it while the registration is under way."""
    result = govmig(
        "migrate", system_id, "--no-check", "--output", "json", settings=settings, cwd=cwd
    )
    assert result.returncode == 0, result.stderr


def register_with_kcat(system: BusinessSystem, settings: KafkaSettings) -> None:
    """The registration in binary mode through kcat, on librdkafka's default partitioner."""
    record = encode(new_event(system, source="/cmdb/kcat"))
    assert b"\n" not in record.value
    headers = [arg for name, value in record.headers for arg in ("-H", f"{name}={value.decode()}")]
    subprocess.run(
        ["kcat", "-P", "-b", settings.bootstrap_servers, "-t", settings.events_topic,
         "-k", system.id, *headers],
        input=record.value + b"\n", check=True, timeout=60, capture_output=True,
    )  # fmt: skip


def scrape(port: int, name: str, run: GovmigRun) -> float | None:
    """One sample of ``govmig run``'s metrics endpoint (no labels), None if it is not there."""
    run.assert_alive()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    return None


def partitions_of(settings: KafkaSettings, system_id: str) -> dict[str, int]:
    """Which partition each of the system's events was written to, by event type."""
    return {
        dict(record.headers)["ce_type"].decode(): record.partition
        for record in read_topic(settings, settings.events_topic)
        if record.key == system_id.encode()
    }


def test_a_request_read_before_its_registration_waits_for_it(
    kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> None:
    settings = kafka_settings(kafka_bootstrap, new_topic, events=PARTITIONS)
    system = split_system()
    url = f"sqlite:///{tmp_path / 'govmig.db'}"
    port = free_port()
    wait = {"GOVMIG_REGISTRATION_WAIT_S": "120"}
    with govmig_run(settings, url, tmp_path, "--metrics-port", str(port), env=wait) as run:
        request_migration(system.id, settings, tmp_path)
        wait_until(
            lambda: scrape(port, AWAITING, run) == 1, timeout_s=TIMEOUT_S, what="the held request"
        )
        shown = status(system.id, url, settings, tmp_path)
        assert shown["system"] is None
        ((held,),) = [shown["awaiting_registration"]]
        assert (held["request"], held["requested_by"]) == ("migrate", "alice")

        register_with_kcat(system, settings)
        wait_for_states(url, {system.id: SystemState.PLACED}, run, timeout_s=TIMEOUT_S)

        assert scrape(port, AWAITING, run) == 0
        assert scrape(port, EXPIRED, run) == 0
    # Written where each producer's partitioner put them: the request read first.
    key = system.id.encode()
    assert partitions_of(settings, system.id) == {
        "gov.cloud.migration.requested": murmur2_partition(key, PARTITIONS),
        "gov.cloud.system.registered": crc32_partition(key, PARTITIONS),
    }
    audit = read_fleet(url).audit[system.id]
    assert [(row.cause, row.to_state) for row in audit] == [
        ("register", SystemState.REGISTERED),
        ("migrate", SystemState.QUEUED),
        ("place", SystemState.PLACED),
    ]
    assert audit[1].actor == "alice"
    assert audit[1].reason is not None
    assert "s for the system's registration" in audit[1].reason
    assert list(read_topic(settings, settings.dlq_topic)) == []


def test_a_request_whose_registration_never_comes_is_dead_lettered_when_its_wait_ends(
    kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> None:
    settings = kafka_settings(kafka_bootstrap, new_topic, events=PARTITIONS)
    system_id = "shantou-psb-999"
    url = f"sqlite:///{tmp_path / 'govmig.db'}"
    port = free_port()
    wait = {"GOVMIG_REGISTRATION_WAIT_S": "2"}
    with govmig_run(settings, url, tmp_path, "--metrics-port", str(port), env=wait) as run:
        request_migration(system_id, settings, tmp_path)
        dead = wait_until(
            lambda: list(read_topic(settings, settings.dlq_topic)),
            timeout_s=TIMEOUT_S,
            what="the dead letter",
        )
        wait_until(lambda: scrape(port, EXPIRED, run) == 1, timeout_s=TIMEOUT_S, what="the count")
        assert scrape(port, AWAITING, run) == 0
    (letter,) = dead
    seen = describe(letter)
    assert (seen.key, seen.reason, seen.message) == (
        system_id,
        "unknown_system",
        "system 'shantou-psb-999' is not registered: the migrate request waited 2.0 s "
        "for its registration",
    )
    assert seen.source_topic == settings.events_topic
    result = govmig("status", system_id, "--state-db", url, settings=settings, cwd=tmp_path)
    assert result.returncode == 2
    assert "unknown system 'shantou-psb-999'" in result.stderr
