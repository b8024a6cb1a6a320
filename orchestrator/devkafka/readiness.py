"""Waiting until a just-started broker really answers Kafka requests.

An open port is not enough (the listener opens before the broker has joined
its own KRaft quorum), so readiness is a successful metadata round trip with
the same client library the orchestrator uses.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError

from orchestrator.devkafka.processes import accepts_connections

_POLL_S = 0.2
_PROBE_TIMEOUT_MS = 5_000


class BrokerExitedError(Exception):
    """The broker process died while we waited for it."""


class BrokerNotReadyError(Exception):
    """The broker did not answer before the deadline."""


def wait_until_ready(host: str, port: int, *, timeout_s: float, alive: Callable[[], bool]) -> float:
    """Block until the broker answers a metadata request; return the seconds it took.

    Raises ``BrokerExitedError`` as soon as ``alive()`` turns false and
    ``BrokerNotReadyError`` after ``timeout_s``.
    """
    started = time.monotonic()
    deadline = started + timeout_s
    while True:
        if not alive():
            raise BrokerExitedError(f"the broker process exited before answering on {host}:{port}")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BrokerNotReadyError(
                f"the broker did not answer on {host}:{port} in {timeout_s} s"
            )
        # A cheap TCP check first keeps the client from logging refusals while the JVM boots.
        if accepts_connections(host, port) and answers_metadata(host, port, remaining):
            return time.monotonic() - started
        time.sleep(_POLL_S)


def answers_metadata(host: str, port: int, budget_s: float) -> bool:
    """Whether ``host:port`` answers a DescribeCluster request within ``budget_s``."""
    timeout_ms = max(100, min(_PROBE_TIMEOUT_MS, int(budget_s * 1000)))
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=f"{host}:{port}",
            client_id="govmig-devkafka",
            request_timeout_ms=timeout_ms,
            bootstrap_timeout_ms=timeout_ms,
        )
    except (KafkaError, OSError):
        return False
    try:
        cluster = admin.describe_cluster()
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()
    return bool(cluster.get("brokers"))
