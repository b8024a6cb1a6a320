"""The producer side of the bus: send records and wait until the broker has them.

Every send waits for ``acks=all`` within the request timeout, so a caller that
returns normally knows its records are durable; a caller that gets a
``TemporaryError`` knows nothing was promised. The producer is idempotent, so
the client's own retries never write a record twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError

from orchestrator.bus.config import client_options, not_acknowledged, timeout_ms_of, unreachable
from orchestrator.bus.probe import ensure_reachable
from orchestrator.bus.types import RecordLike
from orchestrator.closing import Closing
from orchestrator.errors import PermanentError, TemporaryError
from orchestrator.settings import KafkaSettings

# A short linger lets a batch of status events and dead letters share requests.
LINGER_MS = 5
# Per-partition batches far above the client's 16 KiB: a polled batch's 500 status
# events then go out in a few produce requests instead of dozens (about 1.7x the
# records per second when sending 500-record batches to the local broker).
BATCH_BYTES = 256 * 1024
# Above the broker's default message.max.bytes, so a dead letter that carries a
# near-limit original plus our headers is judged by the broker, not refused here.
MAX_REQUEST_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SendReport:
    """What the broker acknowledged for one ``send_all``."""

    topic: str
    sent: int = 0
    by_partition: dict[int, int] = field(default_factory=dict)


class Producer(Closing):
    """Sends records to Kafka and waits for their acknowledgement."""

    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        timeout_ms = timeout_ms_of(settings)
        ensure_reachable(settings)
        try:
            self._client: Any = KafkaProducer(
                **client_options(settings),
                acks="all",
                enable_idempotence=True,
                linger_ms=LINGER_MS,
                batch_size=BATCH_BYTES,
                max_block_ms=timeout_ms,
                delivery_timeout_ms=timeout_ms + LINGER_MS + 1000,
                max_request_size=MAX_REQUEST_BYTES,
            )
        except KafkaError as error:
            raise unreachable(settings, error) from error

    def send_all(
        self,
        topic: str,
        records: Iterable[RecordLike],
        *,
        on_ack: Callable[[], None] | None = None,
    ) -> SendReport:
        """Send ``records`` to ``topic`` in order; return once the broker acknowledged all."""
        futures = [self._send(topic, record) for record in records]
        # The clock starts once everything is handed over, so a large batch is not penalised.
        deadline = time.monotonic() + timeout_ms_of(self._settings) / 1000
        by_partition: dict[int, int] = {}
        for future in futures:
            metadata = self._await(future, topic, deadline)
            by_partition[metadata.partition] = by_partition.get(metadata.partition, 0) + 1
            if on_ack is not None:
                on_ack()
        return SendReport(topic=topic, sent=len(futures), by_partition=by_partition)

    def close(self) -> None:
        """Flush what is buffered (bounded) and release the connections."""
        self._client.close(timeout=timeout_ms_of(self._settings) / 1000)

    def _send(self, topic: str, record: RecordLike) -> Any:
        headers = [(name, bytes(value)) for name, value in record.headers]
        try:
            return self._client.send(topic, key=record.key, value=record.value, headers=headers)
        except KafkaTimeoutError as error:
            raise not_acknowledged(self._settings, error) from error
        except KafkaError as error:
            raise _refused(topic, error) from error

    def _await(self, future: Any, topic: str, deadline: float) -> Any:
        remaining = max(deadline - time.monotonic(), 0.001)
        try:
            return future.get(timeout=remaining)
        except KafkaTimeoutError as error:
            raise not_acknowledged(self._settings, error) from error
        except KafkaError as error:
            raise _refused(topic, error) from error


def _refused(topic: str, error: KafkaError) -> PermanentError | TemporaryError:
    """A broker error: retriable ones may pass, the others (too large, not authorised) won't."""
    message = f"Kafka refused a record for topic {topic}: {type(error).__name__}: {error}"
    if getattr(error, "retriable", False):
        return TemporaryError(message)
    return PermanentError(message)
