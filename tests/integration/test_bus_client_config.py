"""The live kafka-python clients govmig builds carry the settings ``bus/config.py`` states.

Read back from each client's ``config`` after it connected to the real broker,
so a kafka-python release that renamed, normalised or overrode one of them
(3.0 turned idempotence off silently when it conflicted) is caught here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from kafka.partitioner import DefaultPartitioner

from orchestrator.bus import Consumer, Producer
from orchestrator.settings import KafkaSettings

pytestmark = pytest.mark.kafka


@pytest.fixture
def settings(kafka_bootstrap: str, new_topic: Callable[..., str]) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=kafka_bootstrap,
        events_topic=new_topic("client-config", partitions=1),
        consumer_group=f"test-{uuid.uuid4().hex[:12]}",
        request_timeout_s=5.0,
    )


def test_the_live_producer_is_idempotent_with_acks_from_all_replicas(
    settings: KafkaSettings,
) -> None:
    with Producer(settings) as producer:
        config = producer._client.config
        assert config["acks"] == -1  # "all", as kafka-python stores it
        assert config["enable_idempotence"] is True
        assert config["retries"] == 2**31 - 1
        assert config["max_in_flight_requests_per_connection"] == 5
        assert config["request_timeout_ms"] == 5000
        assert config["linger_ms"] == 5
        assert type(config["partitioner"]) is DefaultPartitioner


def test_the_live_consumer_commits_only_when_told(settings: KafkaSettings) -> None:
    consumer = Consumer(settings, topics=[settings.events_topic], session_timeout_s=10.0)
    with consumer:
        config = consumer._client.config
        assert config["group_id"] == settings.consumer_group
        assert config["enable_auto_commit"] is False
        assert config["auto_offset_reset"] == "earliest"
        assert config["isolation_level"] == "read_committed"
        assert (config["session_timeout_ms"], config["heartbeat_interval_ms"]) == (10_000, 3_000)
        assert config["max_poll_interval_ms"] == 300_000
        assert config["max_poll_records"] == 500
        assert config["check_crcs"] is True
