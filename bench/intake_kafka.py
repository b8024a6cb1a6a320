"""The benchmark's Kafka: a throwaway ``LocalKafka``, or the cluster named on the command line.

A local broker gets a free port pair and a temporary data directory and is
stopped on the way out, whatever happens; the jars come from the same cache as
the tests' broker (``.cache/kafka``), so they are resolved once per machine.
Topics are created fresh for every run, with a random suffix, so runs never
read each other's records.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from kafka.admin import KafkaAdminClient, NewTopic

from orchestrator.bus import Producer
from orchestrator.bus.types import RecordLike
from orchestrator.devkafka import LocalKafka, free_port_pair
from orchestrator.settings import KafkaSettings, LocalKafkaSettings

REPO = Path(__file__).resolve().parent.parent
KAFKA_CACHE = REPO / ".cache" / "kafka"
FIRST_PORT = 49092
START_TIMEOUT_S = 120.0
# Records handed to the producer per ``send_all``: bounded, so a large run never
# holds every future at once, and large enough to keep the producer's batches full.
PUBLISH_CHUNK = 5_000


@contextmanager
def kafka(bootstrap_servers: str | None) -> Iterator[str]:
    """The bootstrap address to use: the given one, or a local broker's for the block."""
    if bootstrap_servers:
        yield bootstrap_servers
        return
    with tempfile.TemporaryDirectory(prefix="govmig-bench-kafka-") as data:
        port, controller_port = free_port_pair("127.0.0.1", FIRST_PORT)
        settings = LocalKafkaSettings(
            port=port,
            controller_port=controller_port,
            data_dir=Path(data),
            cache_dir=KAFKA_CACHE,
            start_timeout_s=START_TIMEOUT_S,
        )
        broker = LocalKafka(settings)
        status = broker.up()
        try:
            yield status.bootstrap_servers
        finally:
            broker.down()


def unique(prefix: str) -> str:
    """A topic or group name no earlier run used."""
    return f"{prefix}.{uuid.uuid4().hex[:10]}"


def create_topics(bootstrap_servers: str, partitions: Mapping[str, int]) -> None:
    """Create each topic (name -> partition count) on the broker."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="govmig-bench")
    try:
        admin.create_topics(
            [
                NewTopic(name, num_partitions=n, replication_factor=1)
                for name, n in partitions.items()
            ]
        )
    finally:
        admin.close()


def settings_for(
    bootstrap_servers: str, *, events: str, status: str, dlq: str, control: str | None = None
) -> KafkaSettings:
    """The orchestrator's Kafka settings for one benchmark run's topics (and a fresh group)."""
    return KafkaSettings(
        bootstrap_servers=bootstrap_servers,
        events_topic=events,
        status_topic=status,
        dlq_topic=dlq,
        control_topic=control or KafkaSettings.model_fields["control_topic"].default,
        consumer_group=unique("bench-intake"),
        client_id="govmig-bench",
        request_timeout_s=30.0,
    )


def publish(settings: KafkaSettings, topic: str, records: Sequence[RecordLike]) -> None:
    """Send ``records`` in order and wait until the broker acknowledged all of them."""
    with Producer(settings) as producer:
        for start in range(0, len(records), PUBLISH_CHUNK):
            producer.send_all(topic, records[start : start + PUBLISH_CHUNK])
