"""``govmig inventory publish``: one registered event per system, idempotent on republish.

The ``publish`` command is mounted on a Typer app here, as ``cli/inventory.py`` mounts it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from orchestrator.bus import Consumer, Producer, read_topic
from orchestrator.cli.publish import publish
from orchestrator.errors import InventoryError
from orchestrator.events import decode
from orchestrator.events.envelope import SystemRegisteredEvent
from orchestrator.reactor import Reactor
from orchestrator.settings import KafkaSettings
from tests.fixtures.polling import wait_until
from tests.fixtures.recording import RecordingHandler

pytestmark = pytest.mark.kafka

app = typer.Typer()
app.command()(publish)
runner = CliRunner()


def system(number: int) -> dict[str, object]:
    return {
        "id": f"shantou-test-{number:03d}",
        "name": f"Test system {number}",
        "city": "shantou",
        "department": "Data Management Bureau (数据管理局)",
        "vcpu": 4,
        "memory_gb": 16,
        "storage_gb": 500,
        "source": {"city": "shantou", "site": "Shantou DC", "host": f"src-{number}.gov.local"},
    }


@pytest.fixture
def settings(kafka_bootstrap: str, new_topic: Callable[..., str]) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=kafka_bootstrap,
        events_topic=new_topic("publish.events"),
        status_topic=new_topic("publish.status"),
        dlq_topic=new_topic("publish.dlq"),
        consumer_group=f"test-{uuid.uuid4().hex[:12]}",
    )


def run_publish(settings: KafkaSettings, file: Path) -> str:
    args = [str(file), "--source", "/cmdb/shantou", "--bootstrap-servers"]
    args += [settings.bootstrap_servers, "--events-topic", settings.events_topic]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_publish_twice_is_processed_once(settings: KafkaSettings, tmp_path: Path) -> None:
    file = tmp_path / "systems.yaml"
    file.write_text(yaml.safe_dump({"systems": [system(n) for n in range(3)]}), encoding="utf-8")
    first = run_publish(settings, file)
    assert first.startswith(
        f"published 3 gov.cloud.system.registered events to {settings.events_topic}"
    )
    run_publish(settings, file)
    events = [decode(record) for record in read_topic(settings, settings.events_topic)]
    assert all(isinstance(event, SystemRegisteredEvent) for event in events)
    assert len(events) == 6
    assert len({event.id for event in events}) == 3  # content-derived ids repeat
    assert {event.source for event in events} == {"/cmdb/shantou"}
    handler = RecordingHandler()
    consumer = Consumer(settings, topics=[settings.events_topic])
    with Producer(settings) as producer:
        reactor = Reactor(
            consumer=consumer,
            producer=producer,
            handler=handler,
            dlq_topic=settings.dlq_topic,
            poll_timeout_s=0.3,
        )

        def six_handled() -> bool:
            if len(handler.outcomes) >= 6:
                return True
            reactor.run_once()
            return False

        wait_until(six_handled, timeout_s=20, what="six events handled", interval_s=0)
    consumer.close()
    assert (len(handler.processed), handler.duplicates) == (3, 3)


def test_an_invalid_file_sends_nothing(settings: KafkaSettings, tmp_path: Path) -> None:
    file = tmp_path / "systems.yaml"
    file.write_text(yaml.safe_dump([system(1), {**system(2), "vcpu": 0}]), encoding="utf-8")
    result = runner.invoke(app, [str(file), "--bootstrap-servers", settings.bootstrap_servers])
    assert isinstance(result.exception, InventoryError)
    assert "vcpu" in str(result.exception)
    assert list(read_topic(settings, settings.events_topic)) == []
