"""``govmig dlq list|replay`` as an operator runs them, against dead letters the reactor made.

The ``dlq`` sub-app is driven with Typer's ``CliRunner`` and ``--bootstrap-servers``;
the dead letters come from the real loop refusing real records.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from typer.testing import CliRunner

from orchestrator.bus import Consumer, Producer, read_topic
from orchestrator.bus.types import RawRecord
from orchestrator.cli.dlq import app
from orchestrator.errors import TemporaryError
from orchestrator.reactor import Reactor
from orchestrator.reactor.deadletter import PREFIX
from orchestrator.settings import KafkaSettings
from tests.fixtures.polling import wait_until
from tests.fixtures.recording import RecordingHandler

pytestmark = pytest.mark.kafka

runner = CliRunner()

STRUCTURED = ("content-type", b"application/cloudevents+json")
GARBAGE = [
    RawRecord(b"shantou-a", b"{oops", (STRUCTURED, ("trace", b"t-1"))),
    RawRecord(b"shantou-b", b"\x00\x01", (("trace", b"t-2"),)),
    RawRecord(b"shantou-c", json.dumps({"specversion": "1.0"}).encode(), (STRUCTURED,)),
]
EXPECTED_REASONS = ["not_json", "not_json", "missing_attribute"]


@pytest.fixture
def settings(kafka_bootstrap: str, new_topic: Callable[..., str]) -> KafkaSettings:
    """Topics holding three dead letters the reactor produced from GARBAGE."""
    settings = KafkaSettings(
        bootstrap_servers=kafka_bootstrap,
        events_topic=new_topic("cli.events", partitions=1),
        status_topic=new_topic("cli.status", partitions=1),
        dlq_topic=new_topic("cli.dlq", partitions=1),
        consumer_group=f"test-{uuid.uuid4().hex[:12]}",
    )
    with Producer(settings) as producer:
        producer.send_all(settings.events_topic, GARBAGE)
    consume_all(settings, until_dead=3)
    return settings


def consume_all(settings: KafkaSettings, *, until_dead: int) -> None:
    """Run the real loop until the DLQ holds ``until_dead`` records."""
    consumer = Consumer(settings, topics=[settings.events_topic])
    with contextlib.closing(consumer), Producer(settings) as producer:
        reactor = Reactor(
            consumer=consumer,
            producer=producer,
            handler=RecordingHandler(),
            dlq_topic=settings.dlq_topic,
            poll_timeout_s=0.3,
        )

        def enough_dead() -> bool:
            if dead_count(settings) >= until_dead:
                return True
            reactor.run_once()
            return False

        wait_until(enough_dead, timeout_s=20, what=f"{until_dead} dead letters", interval_s=0)


def dead_count(settings: KafkaSettings) -> int:
    return sum(1 for _ in read_topic(settings, settings.dlq_topic))


def govmig_dlq(settings: KafkaSettings, *args: str) -> str:
    common = ["--bootstrap-servers", settings.bootstrap_servers, "--dlq-topic", settings.dlq_topic]
    # A wide terminal, so table cells are not wrapped mid-word.
    result = runner.invoke(app, [*args, *common], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def listed(settings: KafkaSettings, *args: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(govmig_dlq(settings, "list", "--output", "json", *args))
    return rows


def test_list_shows_reason_message_source_and_time(settings: KafkaSettings) -> None:
    rows = listed(settings)
    assert [row["reason"] for row in rows] == EXPECTED_REASONS
    assert [row["key"] for row in rows] == ["shantou-a", "shantou-b", "shantou-c"]
    assert [row["source_offset"] for row in rows] == [0, 1, 2]
    assert {row["source_topic"] for row in rows} == {settings.events_topic}
    assert rows[2]["message"] == "id is required"
    assert all(row["time"].endswith("Z") for row in rows)
    assert [row["offset"] for row in listed(settings, "--reason", "not_json")] == [0, 1]
    assert len(listed(settings, "--limit", "1")) == 1
    table = govmig_dlq(settings, "list")
    assert "missing_attribute" in table
    assert "shantou-c" in table


def test_list_does_not_consume(settings: KafkaSettings) -> None:
    assert len(listed(settings)) == len(listed(settings)) == 3


def test_replay_sends_originals_back(settings: KafkaSettings) -> None:
    dry = govmig_dlq(settings, "replay", "--reason", "not_json", "--dry-run")
    assert "would replay 2 dead letters" in dry
    assert len(list(read_topic(settings, settings.events_topic))) == 3  # nothing sent
    out = govmig_dlq(
        settings, "replay", "--reason", "not_json", "--events-topic", settings.events_topic
    )
    assert f"replayed 2 dead letters to {settings.events_topic}" in out
    replayed = list(read_topic(settings, settings.events_topic))[3:]
    assert [(r.key, r.value, r.headers) for r in replayed] == [
        (g.key, g.value, g.headers) for g in GARBAGE[:2]
    ]
    assert not any(name.startswith(PREFIX) for r in replayed for name, _ in r.headers)
    # Still garbage, so the loop refuses them again: the DLQ keeps the whole history.
    consume_all(settings, until_dead=5)
    assert [row["source_offset"] for row in listed(settings)] == [0, 1, 2, 3, 4]


def test_unknown_reason_is_a_usage_error(kafka_bootstrap: str) -> None:
    result = runner.invoke(app, ["list", "--reason", "bogus", "--bootstrap-servers", "x:1"])
    assert result.exit_code == 2
    assert "is not a reason code" in result.output


def test_missing_dlq_topic_lists_nothing(kafka_bootstrap: str) -> None:
    missing = f"never.created.{uuid.uuid4().hex[:8]}"
    out = runner.invoke(
        app, ["list", "-o", "json", "--bootstrap-servers", kafka_bootstrap, "--dlq-topic", missing]
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == []


def test_unreachable_broker_fails_fast_and_clearly() -> None:
    result = runner.invoke(
        app,
        ["list", "--bootstrap-servers", "127.0.0.1:1"],
        env={"GOVMIG_REQUEST_TIMEOUT_S": "1"},
    )
    assert isinstance(result.exception, TemporaryError)
    assert "cannot reach Kafka at 127.0.0.1:1 within 1 s" in str(result.exception)
    assert "govmig kafka status" in str(result.exception)
