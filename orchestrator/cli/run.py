"""``govmig run``: the orchestrator, until SIGTERM or SIGINT.

Parses the options into the settings classes (an option not given falls back
to its ``GOVMIG_*`` environment variable, then to the default), configures
logging, and runs ``orchestrator.service.Orchestrator``. SIGTERM and SIGINT ask
it to finish the batch under way, commit it, publish what is pending and exit
with status 0.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from orchestrator.capacity import Strategy
from orchestrator.errors import GovmigError
from orchestrator.inventory import DEFAULT_INVENTORY_ROOT, load_inventory
from orchestrator.observability import configure_logging
from orchestrator.service import DEFAULT_SESSION_TIMEOUT_S, Orchestrator
from orchestrator.settings import KafkaSettings, MetricsSettings, PlacementSettings, StoreSettings


def run(
    bootstrap_servers: Annotated[
        str | None,
        typer.Option(
            "--bootstrap-servers",
            help="Kafka bootstrap servers, host:port,... (env GOVMIG_BOOTSTRAP_SERVERS; "
            "default 127.0.0.1:9092)",
            show_default=False,
        ),
    ] = None,
    state_db: Annotated[
        str | None,
        typer.Option(
            "--state-db",
            help="state store URL: sqlite:///PATH or postgresql+psycopg://USER@HOST/DB "
            "(env GOVMIG_STATE_DB; default sqlite:///var/govmig.db)",
            show_default=False,
        ),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            min=0,
            max=65535,
            help="Prometheus endpoint port, 0 for any free port "
            "(env GOVMIG_METRICS_PORT; default 9464)",
            show_default=False,
        ),
    ] = None,
    group: Annotated[
        str | None,
        typer.Option(
            "--group",
            help="Kafka consumer group; instances in one group share the intake "
            "(env GOVMIG_CONSUMER_GROUP; default govmig-orchestrator)",
            show_default=False,
        ),
    ] = None,
    inventory: Annotated[
        Path,
        typer.Option("--inventory", help="directory holding hosts.yml (cities and nodes)"),
    ] = DEFAULT_INVENTORY_ROOT,
    placement_strategy: Annotated[
        Strategy | None,
        typer.Option(
            "--placement-strategy",
            help="when a system's own city node cannot take it: spread (least used node) "
            "or pack (most used node that fits) (env GOVMIG_PLACEMENT_STRATEGY; default spread)",
            show_default=False,
        ),
    ] = None,
    batch_size: Annotated[
        int,
        typer.Option("--batch-size", min=1, max=10_000, help="events per polled batch"),
    ] = 500,
    session_timeout: Annotated[
        float,
        typer.Option(
            "--session-timeout",
            min=6.0,
            max=300.0,
            help="seconds before the group gives a crashed instance's partitions to another",
        ),
    ] = DEFAULT_SESSION_TIMEOUT_S,
    log_level: Annotated[
        str, typer.Option("--log-level", help="DEBUG, INFO, WARNING or ERROR")
    ] = "INFO",
) -> None:
    """Run the orchestrator: consume events, place systems, publish status, serve metrics."""
    configure_logging(log_level)
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        # kafka-python narrates every connection at INFO; its warnings still show.
        logging.getLogger("kafka").setLevel(logging.WARNING)
    orchestrator = Orchestrator(
        kafka=KafkaSettings(**_given(bootstrap_servers=bootstrap_servers, consumer_group=group)),
        store=StoreSettings(**_given(state_db=state_db)),
        metrics=MetricsSettings(**_given(metrics_port=metrics_port)),
        placement=PlacementSettings(**_given(strategy=placement_strategy)),
        inventory=load_inventory(inventory),
        batch_size=batch_size,
        session_timeout_s=session_timeout,
    )
    _stop_on_signals(orchestrator)
    orchestrator.start()
    orchestrator.run_forever()


def _given(**options: Any) -> dict[str, Any]:
    """Only the options given on the command line: the rest come from the environment."""
    return {name: value for name, value in options.items() if value is not None}


def _stop_on_signals(orchestrator: Orchestrator) -> None:
    def handle(_signum: int, _frame: FrameType | None) -> None:
        orchestrator.stop()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
app.command(name="run")(run)


def main() -> None:
    """``python -m orchestrator.cli.run``: the command on its own, until it is registered."""
    try:
        app()
    except GovmigError as error:
        typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
