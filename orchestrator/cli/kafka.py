"""``govmig kafka up|down|status``: the local single-node Kafka for development.

Parses options into ``LocalKafkaSettings``, calls ``orchestrator.devkafka`` and
prints. An option left out falls back to its ``GOVMIG_LOCAL_KAFKA_*`` variable,
then to the settings default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from orchestrator.cli.output import OutputFormat, OutputOption, emit
from orchestrator.devkafka import BrokerStatus, LocalKafka, describe_down
from orchestrator.settings import LocalKafkaSettings

app = typer.Typer(
    help="A local single-node Apache Kafka (KRaft, loopback only) for development and the demo.",
    no_args_is_help=True,
)


def _help(text: str, field: str) -> str:
    """Help text naming the environment variable and the default of a settings field."""
    default = LocalKafkaSettings.model_fields[field].default
    return f"{text} (env GOVMIG_LOCAL_KAFKA_{field.upper()}, default {default})"


PortOption = Annotated[
    int | None, typer.Option("--port", help=_help("Broker port on 127.0.0.1.", "port"))
]
ControllerPortOption = Annotated[
    int | None,
    typer.Option(
        "--controller-port", help=_help("KRaft controller port on 127.0.0.1.", "controller_port")
    ),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help=_help("Config, storage, log and pid record.", "data_dir")),
]
CacheDirOption = Annotated[
    Path | None,
    typer.Option("--cache-dir", help=_help("Where the broker's jars are cached.", "cache_dir")),
]
VersionOption = Annotated[
    str | None, typer.Option("--kafka-version", help=_help("Apache Kafka release.", "version"))
]
HeapOption = Annotated[str | None, typer.Option("--heap", help=_help("JVM heap size.", "heap"))]
TimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--start-timeout",
        help=_help("Seconds to wait for the broker to answer.", "start_timeout_s"),
    ),
]


def _settings(**options: Any) -> LocalKafkaSettings:
    given = {name: value for name, value in options.items() if value is not None}
    return LocalKafkaSettings(**given)


@app.command()
def up(
    port: PortOption = None,
    controller_port: ControllerPortOption = None,
    data_dir: DataDirOption = None,
    cache_dir: CacheDirOption = None,
    kafka_version: VersionOption = None,
    heap: HeapOption = None,
    start_timeout: TimeoutOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Start the broker (resolving its jars once) and wait until it answers."""
    settings = _settings(
        port=port,
        controller_port=controller_port,
        data_dir=data_dir,
        cache_dir=cache_dir,
        version=kafka_version,
        heap=heap,
        start_timeout_s=start_timeout,
    )
    _print(LocalKafka(settings).up(), output)


@app.command()
def down(
    port: PortOption = None,
    controller_port: ControllerPortOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Stop the broker started in this data directory, and only that one."""
    broker = LocalKafka(_settings(port=port, controller_port=controller_port, data_dir=data_dir))
    before = broker.status()
    typer.echo(describe_down(before, broker.down()))


@app.command()
def status(
    port: PortOption = None,
    controller_port: ControllerPortOption = None,
    data_dir: DataDirOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Whether the broker is running, checked against the process table."""
    settings = _settings(port=port, controller_port=controller_port, data_dir=data_dir)
    _print(LocalKafka(settings).status(), output)


def _print(status: BrokerStatus, output: OutputFormat) -> None:
    document = status.model_dump(mode="json")
    # Strings, so the table shows ports and pids as they are typed, not as "9,092".
    rows = [{"field": name, "value": _text(value)} for name, value in document.items()]
    emit(rows, output, title="local Kafka broker", document=document)


def _text(value: object) -> str:
    return "-" if value is None else str(value)
