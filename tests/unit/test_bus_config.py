"""The kafka-python settings govmig relies on, stated by ``bus/config.py``, not inherited.

kafka-python 3.0 moved producer and consumer defaults (KIP-679, KIP-735); these
tests pin what every client govmig builds is given, whatever the release's
defaults are. ``tests/integration/test_bus.py`` reads the same
values back from live clients.
"""

from __future__ import annotations

from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from kafka.partitioner import DefaultPartitioner

from orchestrator.bus.config import group_options, producer_options, reader_options
from orchestrator.settings import KafkaSettings

SETTINGS = KafkaSettings(
    bootstrap_servers="a:9092,b:9092", consumer_group="govmig-test", request_timeout_s=7.0
)


def test_a_producer_waits_for_every_replica_and_never_writes_twice() -> None:
    options = producer_options(SETTINGS)
    assert options["acks"] == "all"
    assert options["enable_idempotence"] is True
    assert options["retries"] == 2**31 - 1
    assert options["max_in_flight_requests_per_connection"] == 5  # idempotence needs <= 5
    assert options["request_timeout_ms"] == 7000
    assert options["delivery_timeout_ms"] >= options["request_timeout_ms"] + options["linger_ms"]
    assert options["linger_ms"] == 5


def test_a_producer_partitions_keys_by_murmur2() -> None:
    partitioner = producer_options(SETTINGS)["partitioner"]
    assert type(partitioner) is DefaultPartitioner


def test_a_group_member_commits_only_when_told_from_the_beginning() -> None:
    options = group_options(SETTINGS)
    assert options["group_id"] == "govmig-test"
    assert options["enable_auto_commit"] is False
    assert options["auto_offset_reset"] == "earliest"
    assert options["isolation_level"] == "read_committed"
    assert options["check_crcs"] is True
    assert options["partition_assignment_strategy"] == (
        RangePartitionAssignor,
        RoundRobinPartitionAssignor,
    )


def test_a_group_member_s_liveness_is_stated_not_inherited() -> None:
    options = group_options(SETTINGS)
    assert options["session_timeout_ms"] == 45_000  # kafka-python 2.x: 10 s
    assert options["heartbeat_interval_ms"] == 3_000
    assert options["max_poll_interval_ms"] == 300_000
    assert options["max_poll_records"] == 500


def test_a_shorter_session_heartbeats_within_a_third_of_it() -> None:
    options = group_options(
        SETTINGS,
        group_id="other",
        session_timeout_ms=6000,
        max_poll_records=25,
        max_poll_interval_ms=60_000,
    )
    assert options["group_id"] == "other"
    assert (options["session_timeout_ms"], options["heartbeat_interval_ms"]) == (6000, 2000)
    assert (options["max_poll_records"], options["max_poll_interval_ms"]) == (25, 60_000)


def test_a_reader_has_no_group_and_commits_nothing() -> None:
    options = reader_options(SETTINGS)
    assert options["group_id"] is None
    assert options["enable_auto_commit"] is False
    assert options["isolation_level"] == "read_committed"
    assert options["allow_auto_create_topics"] is False


def test_every_client_gives_up_on_an_unreachable_broker_after_the_request_timeout() -> None:
    """Producer, consumer and reader: each reports a broker it cannot reach after the
    timeout (test_bus raises it against a closed port) rather than kafka-python's own."""
    settings = KafkaSettings(bootstrap_servers="127.0.0.1:1", request_timeout_s=1.0)
    for options in (
        producer_options(settings),
        group_options(settings),
        reader_options(settings),
    ):
        assert (options["bootstrap_timeout_ms"], options["request_timeout_ms"]) == (1000, 1000)
