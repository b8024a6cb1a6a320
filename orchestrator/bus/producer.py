"""The producer side of the bus: send records and wait until the broker has them.

Every send waits for ``acks=all`` within the request timeout (the client's
settings and why: ``bus/config.py``), so a caller that
returns normally knows its records are durable; a caller that gets a
``TemporaryError`` knows nothing was promised. The producer is idempotent, so
the client's own retries never write a record twice.

A client that let a send time out is replaced by a fresh one for the next
send: after a broker restart kafka-python's idempotent producer can stay stuck
(the chaos suite's ``broker-restart`` found every later send timing out while
the consumers had long reconnected). A record the old client may still have
written is sent again by the caller's retry: at least once, as every status
event and dead letter already is.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError

from orchestrator.bus.config import not_acknowledged, producer_options, timeout_ms_of, unreachable
from orchestrator.bus.probe import ensure_reachable
from orchestrator.bus.types import RecordLike
from orchestrator.closing import Closing
from orchestrator.errors import PermanentError, TemporaryError
from orchestrator.settings import KafkaSettings


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
        ensure_reachable(settings)
        self._lock = threading.Lock()
        self._client: Any = self._new_client()

    def _new_client(self) -> Any:
        try:
            return KafkaProducer(**producer_options(self._settings))
        except KafkaError as error:
            raise unreachable(self._settings, error) from error

    def _current(self) -> Any:
        """The client to send with: a fresh one if the last was discarded."""
        with self._lock:
            if self._client is None:
                self._client = self._new_client()
            return self._client

    def _discard(self, client: Any) -> None:
        """Drop ``client`` after it let a send time out (once, whichever thread saw it)."""
        with self._lock:
            if self._client is not client:
                return
            self._client = None
        client.close(timeout=0)

    def send_all(
        self,
        topic: str,
        records: Iterable[RecordLike],
        *,
        on_ack: Callable[[], None] | None = None,
    ) -> SendReport:
        """Send ``records`` to ``topic`` in order; return once the broker acknowledged all."""
        client = self._current()
        futures = [self._send(client, topic, record) for record in records]
        # The clock starts once everything is handed over, so a large batch is not penalised.
        deadline = time.monotonic() + timeout_ms_of(self._settings) / 1000
        by_partition: dict[int, int] = {}
        for future in futures:
            metadata = self._await(client, future, topic, deadline)
            by_partition[metadata.partition] = by_partition.get(metadata.partition, 0) + 1
            if on_ack is not None:
                on_ack()
        return SendReport(topic=topic, sent=len(futures), by_partition=by_partition)

    def close(self) -> None:
        """Flush what is buffered (bounded) and release the connections."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close(timeout=timeout_ms_of(self._settings) / 1000)

    def _send(self, client: Any, topic: str, record: RecordLike) -> Any:
        headers = [(name, bytes(value)) for name, value in record.headers]
        try:
            return client.send(topic, key=record.key, value=record.value, headers=headers)
        except KafkaTimeoutError as error:
            self._discard(client)
            raise not_acknowledged(self._settings, error) from error
        except KafkaError as error:
            raise _refused(topic, error) from error

    def _await(self, client: Any, future: Any, topic: str, deadline: float) -> Any:
        remaining = max(deadline - time.monotonic(), 0.001)
        try:
            return future.get(timeout=remaining)
        except KafkaTimeoutError as error:
            self._discard(client)
            raise not_acknowledged(self._settings, error) from error
        except KafkaError as error:
            raise _refused(topic, error) from error


def _refused(topic: str, error: KafkaError) -> PermanentError | TemporaryError:
    """A broker error: retriable ones may pass, the others (too large, not authorised) won't."""
    message = f"Kafka refused a record for topic {topic}: {type(error).__name__}: {error}"
    if getattr(error, "retriable", False):
        return TemporaryError(message)
    return PermanentError(message)
