"""The metrics endpoint: serves the registry over HTTP on loopback, and stops cleanly."""

from __future__ import annotations

import socket
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Counter

from orchestrator.errors import ConfigurationError
from orchestrator.observability import start_metrics_server


def test_serves_the_registry_and_releases_the_port_on_stop() -> None:
    registry = CollectorRegistry()
    Counter("govcloud_test_things", "Things.", registry=registry).inc(3)
    server = start_metrics_server(registry, "127.0.0.1", 0)
    try:
        assert server.url == f"http://127.0.0.1:{server.port}/metrics"
        with urllib.request.urlopen(server.url, timeout=5) as response:
            body = response.read().decode()
        assert "govcloud_test_things_total 3.0" in body
    finally:
        server.stop()
    server.stop()  # idempotent
    again = start_metrics_server(registry, "127.0.0.1", server.port)  # the port is free again
    again.stop()


def test_a_taken_port_is_a_clear_configuration_error() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(ConfigurationError, match=f"127.0.0.1:{port}.*--metrics-port"):
            start_metrics_server(CollectorRegistry(), "127.0.0.1", port)
