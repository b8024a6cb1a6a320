"""The ``/metrics`` HTTP endpoint of ``govmig run``, on a daemon thread.

A thin wrapper over prometheus_client's ``start_http_server``, which (since
0.20) returns the WSGI server and its thread; ``MetricsServer`` keeps both so
``stop()`` can shut the server down, close its socket (``shutdown`` alone
keeps the port bound) and join the thread. It
binds to loopback unless told otherwise (``MetricsSettings.metrics_host``):
the figures describe government systems and need not be on every interface.
Port 0 picks a free port; ``MetricsServer.port`` says which.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

from orchestrator.errors import ConfigurationError

DEFAULT_HOST = "127.0.0.1"
_JOIN_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class MetricsServer:
    """A running metrics endpoint; ``stop()`` it when the orchestrator stops."""

    server: WSGIServer
    thread: threading.Thread
    host: str

    @property
    def port(self) -> int:
        """The TCP port the endpoint listens on (the real one when 0 was asked for)."""
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        """The scrape URL, e.g. ``http://127.0.0.1:9464/metrics``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def stop(self) -> None:
        """Stop serving, release the port and wait for the thread. Idempotent."""
        if self.thread.is_alive():
            self.server.shutdown()
        self.server.server_close()
        self.thread.join(_JOIN_TIMEOUT_S)


def start_metrics_server(
    registry: CollectorRegistry, host: str = DEFAULT_HOST, port: int = 0
) -> MetricsServer:
    """Serve ``registry`` on ``http://host:port/metrics`` until ``stop()``."""
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as error:
        raise ConfigurationError(
            f"cannot serve metrics on {host}:{port}: {error.strerror or error} "
            "(choose another --metrics-port)"
        ) from error
    return MetricsServer(server=server, thread=thread, host=host)
