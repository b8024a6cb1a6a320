"""``govmig inventory publish FILE``: the inventory producer.

Loads and validates the systems (``orchestrator.inventory``), publishes one
``gov.cloud.system.registered`` event per system (``orchestrator.events.registration``)
with a progress bar on stderr, waits for the broker's acknowledgements and says
what was sent. Event ids come from the content, so publishing a file again is a
no-op for the orchestrator.

``publish`` is a plain function; ``cli/inventory.py`` registers it on the inventory app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from orchestrator.bus import Producer
from orchestrator.cli.options import (
    BootstrapOption,
    EventsTopicOption,
    InventoryOption,
    ResidencyOption,
    kafka_settings,
)
from orchestrator.events.registration import DEFAULT_SOURCE, registration_records
from orchestrator.inventory.loader import (
    DEFAULT_INVENTORY_ROOT,
    DEFAULT_RESIDENCY,
    load_inventory,
    load_systems,
)
from orchestrator.inventory.residency import load_residency


def publish(
    file: Annotated[Path, typer.Argument(help="CSV, YAML or JSON file of business systems.")],
    source: Annotated[
        str, typer.Option("--source", help="CloudEvents source of the events (a URI-reference).")
    ] = DEFAULT_SOURCE,
    inventory: InventoryOption = DEFAULT_INVENTORY_ROOT,
    residency: ResidencyOption = DEFAULT_RESIDENCY,
    bootstrap_servers: BootstrapOption = None,
    events_topic: EventsTopicOption = None,
) -> None:
    """Publish each system in FILE as a registered event; republishing is idempotent."""
    loaded = load_inventory(inventory)
    systems = load_systems(file, loaded, load_residency(residency, loaded))
    settings = kafka_settings(bootstrap_servers=bootstrap_servers, events_topic=events_topic)
    columns = (TextColumn("publishing"), BarColumn(), MofNCompleteColumn())
    with (
        Producer(settings) as producer,
        Progress(*columns, console=Console(stderr=True), transient=True) as progress,
    ):
        task = progress.add_task("publish", total=len(systems))
        report = producer.send_all(
            settings.events_topic,
            registration_records(systems, source=source),
            on_ack=lambda: progress.advance(task),
        )
    spread = ", ".join(f"{part}: {count}" for part, count in sorted(report.by_partition.items()))
    typer.echo(
        f"published {report.sent} gov.cloud.system.registered events to {report.topic}"
        + (f" (partition {spread})" if spread else "")
    )
