"""The bus against a real broker: records round-trip byte for byte, commits are explicit.

The unreachable-broker and option tests need no broker and carry no marker.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka.admin import KafkaAdminClient
from kafka.partitioner import DefaultPartitioner

from orchestrator.bus import Consumer, Partition, Producer, read_topic
from orchestrator.bus.config import client_options, not_acknowledged
from orchestrator.bus.reader import UnknownTopicError
from orchestrator.bus.types import RawRecord
from orchestrator.errors import PermanentError, TemporaryError
from orchestrator.events.codec import KafkaRecord
from orchestrator.settings import KafkaSettings
from tests.fixtures.polling import wait_until

RECORDS = [
    RawRecord(b"shantou-a", b"first", (("b", b"2"), ("a", b"1"), ("b", b"3"))),
    RawRecord(None, b"no key"),
    RawRecord(b"shantou-a", None, (("why", b"tombstone"),)),
    RawRecord(b"shantou-a", b"\xff\x00binary", (("empty", b""),)),
]


@pytest.fixture
def settings(kafka_bootstrap: str, new_topic: Callable[..., str]) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=kafka_bootstrap,
        events_topic=new_topic("bus", partitions=1),
        consumer_group=f"test-{uuid.uuid4().hex[:12]}",
        request_timeout_s=5.0,
    )


def poll_n(consumer: Consumer, count: int, timeout_s: float = 40.0) -> list[KafkaRecord]:
    """The first ``count`` records; a group that formed before the topic's metadata
    reached the client waits for the next refresh (``METADATA_MAX_AGE_MS``) and a
    rejoin, which a saturated CI machine once took more than 15 s to finish."""
    got: list[KafkaRecord] = []

    def enough() -> bool:
        if len(got) < count:
            got.extend(consumer.poll(0.3))
        return len(got) >= count

    wait_until(
        enough,
        timeout_s=timeout_s,
        what=lambda: f"{count} records (got {len(got)}, assigned {sorted(consumer.assignment())})",
        interval_s=0,
    )
    return got


@pytest.mark.kafka
def test_records_round_trip_untouched(settings: KafkaSettings) -> None:
    topic = settings.events_topic
    with Producer(settings) as producer:
        report = producer.send_all(topic, RECORDS)
    assert (report.sent, report.by_partition) == (4, {0: 4})
    with Consumer(settings, topics=[topic]) as consumer:
        got = poll_n(consumer, 4)
    assert [(r.key, r.value, r.headers) for r in got] == [
        (r.key, r.value, r.headers) for r in RECORDS
    ]
    assert [(r.topic, r.partition, r.offset) for r in got] == [(topic, 0, n) for n in range(4)]
    assert all(r.timestamp_ms and r.timestamp_ms > 1_600_000_000_000 for r in got)
    assert [(r.key, r.value) for r in read_topic(settings, topic)] == [
        (r.key, r.value) for r in RECORDS
    ]


@pytest.mark.kafka
def test_nothing_is_committed_unless_told(settings: KafkaSettings) -> None:
    topic, part = settings.events_topic, Partition(settings.events_topic, 0)
    with Producer(settings) as producer:
        producer.send_all(topic, RECORDS)
    with Consumer(settings, topics=[topic]) as consumer:
        poll_n(consumer, 4)
        assert consumer.committed(part) is None
        consumer.commit({part: 2})
        assert consumer.committed(part) == 2
    # A new member of the same group starts where the commit said, not where polling got to.
    with Consumer(settings, topics=[topic]) as consumer:
        assert [r.offset for r in poll_n(consumer, 2)] == [2, 3]


@pytest.mark.kafka
def test_seek_reads_again_and_pause_stops_fetching(settings: KafkaSettings) -> None:
    topic, part = settings.events_topic, Partition(settings.events_topic, 0)
    with Producer(settings) as producer:
        producer.send_all(topic, RECORDS)
    with Consumer(settings, topics=[topic]) as consumer:
        poll_n(consumer, 4)
        consumer.seek({part: 1})
        assert consumer.pause() == {part}
        assert consumer.paused() == {part}
        assert consumer.poll(0.5) == []
        consumer.resume()
        assert [r.offset for r in poll_n(consumer, 3)] == [1, 2, 3]
        consumer.seek({Partition("not-mine", 0): 0})  # not assigned: skipped, no error


@pytest.mark.kafka
def test_a_record_too_large_is_refused_for_good(settings: KafkaSettings) -> None:
    with Producer(settings) as producer, pytest.raises(PermanentError, match="refused a record"):
        producer.send_all(settings.events_topic, [RawRecord(b"k", b"x" * (3 * 1024 * 1024))])


@pytest.mark.kafka
def test_reading_an_unknown_topic_neither_fails_late_nor_creates_it(kafka_bootstrap: str) -> None:
    missing = f"never.created.{uuid.uuid4().hex[:8]}"
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap)
    with pytest.raises(UnknownTopicError, match=missing):
        list(read_topic(settings, missing))
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, client_id="govmig-tests")
    try:
        assert missing not in admin.list_topics()
    finally:
        admin.close()


@pytest.mark.parametrize(
    "start",
    [
        lambda s: Producer(s),
        lambda s: Consumer(s, topics=["t"]),
        lambda s: list(read_topic(s, "t")),
    ],
    ids=["producer", "consumer", "reader"],
)
def test_unreachable_broker_is_a_clear_error_within_the_timeout(
    start: Callable[[KafkaSettings], object],
) -> None:
    settings = KafkaSettings(bootstrap_servers="127.0.0.1:1", request_timeout_s=1.0)
    # Bounded by the clients' timeouts (test_bus_config), not waited out: no wall clock here.
    with pytest.raises(TemporaryError) as raised:
        start(settings)
    assert str(raised.value).startswith(
        "cannot reach Kafka at 127.0.0.1:1 within 1 s: is it running? try `govmig kafka status`"
    )


def test_not_acknowledged_message() -> None:
    settings = KafkaSettings(bootstrap_servers="127.0.0.1:9092", request_timeout_s=10)
    error = not_acknowledged(settings)
    assert str(error) == (
        "broker 127.0.0.1:9092 did not acknowledge within 10 s: "
        "is it running? try `govmig kafka status`"
    )
    assert error.delay == 10


def test_tls_and_sasl_settings_pass_through() -> None:
    settings = KafkaSettings(
        bootstrap_servers="a:9093, b:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_plain_username="govmig",
        sasl_plain_password="secret",
        ssl_cafile=Path("/etc/ca.pem"),
    )
    options = client_options(settings)
    assert options["bootstrap_servers"] == ["a:9093", "b:9093"]
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("govmig", "secret")
    assert options["ssl_cafile"] == "/etc/ca.pem"
    assert "ssl_certfile" not in options


# The live clients carry the settings bus/config.py states: read back from each client's
# config once connected, so a kafka-python release that renamed, normalised or overrode
# one (3.0 turns idempotence off when it conflicts) is caught here.
@pytest.mark.kafka
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


@pytest.mark.kafka
def test_a_member_knows_its_topics_partitions_before_it_joins_the_group(
    settings: KafkaSettings, new_topic: Callable[..., str]
) -> None:
    """A leader assigning before that metadata arrived assigned nothing of a topic made
    moments before, and kafka-python did not always rebalance for it (CI 118 waited 20 s)."""
    topic = new_topic("fresh", partitions=3)
    with Consumer(settings, topics=[topic], session_timeout_s=10.0) as consumer:
        assert consumer._client._cluster.partitions_for_topic(topic) == {0, 1, 2}  # no poll yet
        wait_until(
            lambda: consumer.poll(0.2) == [] and len(consumer._client.assignment()) == 3,
            timeout_s=30,
            what="the topic's 3 partitions assigned",
        )


@pytest.mark.kafka
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
