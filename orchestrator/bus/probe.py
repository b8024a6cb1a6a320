"""A TCP probe of the bootstrap servers, run before any Kafka client is built.

kafka-python, when it cannot bootstrap, raises from its constructor and leaves
its sockets open with no object left to close them. Probing first means an
unreachable broker is reported by us, cleanly, within the request timeout; the
client is only built once something is listening.
"""

from __future__ import annotations

import socket
import time

from orchestrator.bus.config import servers_of, timeout_ms_of, unreachable
from orchestrator.settings import KafkaSettings

DEFAULT_PORT = 9092
RETRY_S = 0.2


def ensure_reachable(settings: KafkaSettings) -> None:
    """Return once one bootstrap server accepts a TCP connection; else ``TemporaryError``."""
    deadline = time.monotonic() + timeout_ms_of(settings) / 1000
    last: OSError = ConnectionRefusedError("no bootstrap servers configured")
    while True:
        for server in servers_of(settings):
            remaining = deadline - time.monotonic()
            try:
                with socket.create_connection(address(server), timeout=max(remaining, RETRY_S)):
                    return
            except OSError as error:
                last = error
        if time.monotonic() + RETRY_S >= deadline:
            raise unreachable(settings, last)
        time.sleep(RETRY_S)


def address(server: str) -> tuple[str, int]:
    """``host:port`` (or ``[v6]:port``, or a bare host) as a socket address."""
    host, colon, port = server.rpartition(":")
    if not colon or host.endswith(":") or (port.endswith("]")):
        host, port = server, str(DEFAULT_PORT)
    return host.strip("[]"), int(port)
