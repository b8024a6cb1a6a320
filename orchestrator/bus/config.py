"""From ``KafkaSettings`` to kafka-python keyword arguments, and client errors to ours.

Pure functions: no connection is made here. TLS and SASL settings are passed
through unchanged so the same code talks to the local broker and a real cluster.

Every client setting the orchestrator's guarantees rest on is stated below, not
inherited from kafka-python's defaults, which a release may move: 3.0 did
(KIP-679: producers ``enable_idempotence=True`` and ``acks="all"``, before off
and 1; KIP-735: consumers' ``session_timeout_ms`` 45 s, before 10 s;
``api_version_auto_timeout_ms`` renamed ``bootstrap_timeout_ms``, which is why
the client must be 3.x). ``producer_options``, ``group_options`` and
``reader_options`` are the kwargs of every producer and consumer govmig builds.
"""

from __future__ import annotations

from typing import Any, Final

from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from kafka.partitioner import DefaultPartitioner

from orchestrator.errors import TemporaryError
from orchestrator.settings import KafkaSettings

STATUS_HINT = "is it running? try `govmig kafka status`"

# --- Producers: a send that returns is durable, written once, in key order. ---
# Every in-sync replica has the record before the send returns.
ACKS: Final = "all"
# The client's own retries never write a record twice (nor out of order).
ENABLE_IDEMPOTENCE: Final = True
# Retry until the delivery timeout says stop (the Java client's bound, Integer.MAX_VALUE).
RETRIES: Final = 2**31 - 1
# At most 5 keeps a partition's order under retries with idempotence (the broker
# tracks the last 5 batches per producer); more would turn idempotence off.
MAX_IN_FLIGHT: Final = 5
# A short linger lets a batch of status events and dead letters share requests.
LINGER_MS: Final = 5
# Per-partition batches far above the client's 16 KiB: a polled batch's 500 status
# events then go out in a few produce requests instead of dozens (about 1.7x the
# records per second when sending 500-record batches to the local broker).
BATCH_BYTES: Final = 256 * 1024
# Above the broker's default message.max.bytes, so a dead letter that carries a
# near-limit original plus our headers is judged by the broker, not refused here.
MAX_REQUEST_BYTES: Final = 2 * 1024 * 1024

# --- Group consumers: at least once, from the beginning, members that agree. ---
# The reactor commits a batch's offsets only once its state is durable.
ENABLE_AUTO_COMMIT: Final = False
# A new group starts at the beginning: events sent while no orchestrator ran count.
AUTO_OFFSET_RESET: Final = "earliest"
# Records of an aborted transaction (a transactional inventory producer's) are never
# applied; from non-transactional producers, as ours, every record is committed.
ISOLATION_LEVEL: Final = "read_committed"
# How long the group waits for a member that stopped heartbeating (a crashed
# process) before its partitions go to the others; heartbeats well inside it.
SESSION_TIMEOUT_MS: Final = 45_000
HEARTBEAT_INTERVAL_MS: Final = 3_000
# A batch (decode, one transaction, acknowledged sends) must end within this, or the
# member leaves the group and its uncommitted batch is read again elsewhere.
MAX_POLL_INTERVAL_MS: Final = 300_000
MAX_POLL_RECORDS: Final = 500
# Eager assignors, kafka-python's default, pinned: members of one group (instances of
# different releases) must share one, and a rebalance revokes before it assigns.
ASSIGNORS: Final = (RangePartitionAssignor, RoundRobinPartitionAssignor)
# A group formed before a new topic's metadata reached the client assigns nothing
# of it ("No partition metadata"), and only a metadata refresh brings the rebalance:
# 5 s, not kafka-python's 5 minutes (a test waited 300 s).
METADATA_MAX_AGE_MS: Final = 5000
# Every fetched batch's CRC-32C is checked: a corrupt record is an error, not an event.
CHECK_CRCS: Final = True


def producer_options(settings: KafkaSettings) -> dict[str, Any]:
    """A ``KafkaProducer``'s kwargs: acks from every replica, idempotent, murmur2 by key."""
    timeout_ms = timeout_ms_of(settings)
    return {
        **client_options(settings),
        "acks": ACKS,
        "enable_idempotence": ENABLE_IDEMPOTENCE,
        "retries": RETRIES,
        "max_in_flight_requests_per_connection": MAX_IN_FLIGHT,
        # The contract: keyed by system id, partitioned by Kafka's murmur2 hash, so one
        # system's events share a partition with every other client's.
        "partitioner": DefaultPartitioner(),
        "linger_ms": LINGER_MS,
        "batch_size": BATCH_BYTES,
        "max_block_ms": timeout_ms,
        "delivery_timeout_ms": timeout_ms + LINGER_MS + 1000,
        "max_request_size": MAX_REQUEST_BYTES,
    }


def group_options(
    settings: KafkaSettings,
    *,
    group_id: str | None = None,
    max_poll_records: int = MAX_POLL_RECORDS,
    max_poll_interval_ms: int = MAX_POLL_INTERVAL_MS,
    session_timeout_ms: int = SESSION_TIMEOUT_MS,
) -> dict[str, Any]:
    """A group member's ``KafkaConsumer`` kwargs: it commits only what it is told to.

    Its group is ``group_id``, else ``settings.consumer_group``: instances sharing
    one share the partitions. A shorter session heartbeats a third of it apart.
    """
    heartbeat_ms = min(HEARTBEAT_INTERVAL_MS, max(session_timeout_ms // 3, 100))
    return {
        **_consumer_options(settings),
        "group_id": group_id or settings.consumer_group,
        "auto_offset_reset": AUTO_OFFSET_RESET,
        "session_timeout_ms": session_timeout_ms,
        "heartbeat_interval_ms": heartbeat_ms,
        "max_poll_interval_ms": max_poll_interval_ms,
        "max_poll_records": max_poll_records,
        "partition_assignment_strategy": ASSIGNORS,
        "metadata_max_age_ms": METADATA_MAX_AGE_MS,
    }


def reader_options(settings: KafkaSettings) -> dict[str, Any]:
    """A group-less reader's kwargs (``govmig dlq``): no group, so nothing is ever committed."""
    return {**_consumer_options(settings), "group_id": None, "allow_auto_create_topics": False}


def _consumer_options(settings: KafkaSettings) -> dict[str, Any]:
    return {
        **client_options(settings),
        "enable_auto_commit": ENABLE_AUTO_COMMIT,
        "isolation_level": ISOLATION_LEVEL,
        "check_crcs": CHECK_CRCS,
    }


def client_options(settings: KafkaSettings) -> dict[str, Any]:
    """Options common to producers and consumers: where the broker is and how to reach it."""
    timeout_ms = timeout_ms_of(settings)
    options: dict[str, Any] = {
        "bootstrap_servers": servers_of(settings),
        "client_id": settings.client_id,
        "security_protocol": settings.security_protocol,
        "request_timeout_ms": timeout_ms,
        # Bounded, so an unreachable broker is reported instead of waited for.
        "bootstrap_timeout_ms": timeout_ms,
    }
    optional = {
        "sasl_mechanism": settings.sasl_mechanism,
        "sasl_plain_username": settings.sasl_plain_username,
        "sasl_plain_password": settings.sasl_plain_password,
        "ssl_cafile": settings.ssl_cafile,
        "ssl_certfile": settings.ssl_certfile,
        "ssl_keyfile": settings.ssl_keyfile,
        "ssl_password": settings.ssl_password,
    }
    options.update({name: str(value) for name, value in optional.items() if value is not None})
    return options


def servers_of(settings: KafkaSettings) -> list[str]:
    """The comma-separated bootstrap list as kafka-python wants it."""
    return [server.strip() for server in settings.bootstrap_servers.split(",") if server.strip()]


def timeout_ms_of(settings: KafkaSettings) -> int:
    """The request timeout in milliseconds; at least one second so fetches can fit inside it."""
    return max(int(settings.request_timeout_s * 1000), 1000)


def unreachable(settings: KafkaSettings, cause: BaseException) -> TemporaryError:
    """The error for a broker that cannot be reached at startup."""
    return TemporaryError(
        f"cannot reach Kafka at {settings.bootstrap_servers} within "
        f"{_seconds(settings)} s: {STATUS_HINT} [{_describe(cause)}]",
        delay=settings.request_timeout_s,
    )


def not_acknowledged(settings: KafkaSettings, cause: BaseException | None = None) -> TemporaryError:
    """The error for records the broker did not acknowledge in time."""
    detail = f" [{_describe(cause)}]" if cause is not None else ""
    return TemporaryError(
        f"broker {settings.bootstrap_servers} did not acknowledge within "
        f"{_seconds(settings)} s: {STATUS_HINT}{detail}",
        delay=settings.request_timeout_s,
    )


def _seconds(settings: KafkaSettings) -> str:
    return f"{timeout_ms_of(settings) / 1000:g}"


def _describe(cause: BaseException) -> str:
    text = str(cause).strip()
    return f"{type(cause).__name__}: {text}" if text else type(cause).__name__
