"""The baseline: a bare kafka-python consumer reading the same records, doing nothing with them.

Same topic, a fresh group, the same ``max_poll_records``, the same client
settings (``orchestrator.bus.config.group_options``) and fetch options
(``orchestrator.bus.consumer.FETCH_OPTIONS``) as the bus's ``Consumer``, so the
ratio of the intake rate to this one is the cost of what the orchestrator does
per record, not of a differently tuned client. It is timed the same way as the
intake: from the first poll after the group assigned the partitions until the
last record arrived.
"""

from __future__ import annotations

import time
from typing import Any

from kafka import KafkaConsumer

from bench.intake_kafka import unique
from bench.intake_rig import JOIN_TIMEOUT_S, STALL_TIMEOUT_S, Timed
from orchestrator.bus.config import group_options
from orchestrator.bus.consumer import FETCH_OPTIONS
from orchestrator.settings import KafkaSettings


def measure_raw(bootstrap_servers: str, topic: str, expected: int, *, batch_size: int) -> Timed:
    """Read ``expected`` records of ``topic`` from the beginning with a bare consumer."""
    settings = KafkaSettings(bootstrap_servers=bootstrap_servers, client_id="govmig-bench-raw")
    options = group_options(settings, group_id=unique("bench-raw"), max_poll_records=batch_size)
    client: Any = KafkaConsumer(**options, **FETCH_OPTIONS)
    try:
        client.subscribe([topic])
        _join(client)
        return _drain(client, expected)
    finally:
        client.close(autocommit=False)


def _join(client: Any) -> None:
    deadline = time.monotonic() + JOIN_TIMEOUT_S
    while not client.assignment():
        if time.monotonic() > deadline:
            raise RuntimeError(f"no partitions assigned within {JOIN_TIMEOUT_S:g} s")
        client.poll(timeout_ms=200)
    client.seek_to_beginning()


def _drain(client: Any, expected: int) -> Timed:
    seen = batches = 0
    started = last = time.monotonic()
    while seen < expected:
        polled = client.poll(timeout_ms=500)
        now = time.monotonic()
        if polled:
            seen += sum(len(records) for records in polled.values())
            batches += 1
            last = now
        elif now - last > STALL_TIMEOUT_S:
            raise RuntimeError(f"raw consumer stalled after {seen} of {expected} records")
    return Timed(seen, time.monotonic() - started, batches)
