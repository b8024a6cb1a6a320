"""From ``KafkaSettings`` to kafka-python keyword arguments, and client errors to ours.

Pure functions: no connection is made here. TLS and SASL settings are passed
through unchanged so the same code talks to the local broker and a real cluster.
"""

from __future__ import annotations

from typing import Any

from orchestrator.errors import TemporaryError
from orchestrator.settings import KafkaSettings

STATUS_HINT = "is it running? try `govmig kafka status`"


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
