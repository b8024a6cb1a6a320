"""``govmig inventory``: check business-system files and show the city nodes.

``validate FILE`` is the first half of the inventory producer (``publish``, which
sends each record as a ``gov.cloud.system.registered`` event, sits beside it);
``nodes`` shows the 14 nodes' capacity against the plan's totals. The logic is in
``orchestrator.inventory``; this module parses options and prints. Problems are
raised as ``InventoryError``, which ``govmig``'s ``main`` prints and turns into exit 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from orchestrator.capacity import Resources
from orchestrator.cli.options import InventoryOption, ResidencyOption
from orchestrator.cli.output import OutputFormat, OutputOption, emit
from orchestrator.cli.publish import publish
from orchestrator.inventory.crosschecks import PLAN_TOTALS, RESOURCES
from orchestrator.inventory.loader import (
    DEFAULT_INVENTORY_ROOT,
    DEFAULT_RESIDENCY,
    load_inventory,
    load_systems,
)
from orchestrator.inventory.models import Node
from orchestrator.inventory.residency import load_residency
from orchestrator.inventory.topology import Inventory

app = typer.Typer(
    help="Business-system files and the city nodes of the inventory.",
    no_args_is_help=True,
)

TABLE_COLUMNS = ("node", "city", "vcpu", "memory_gb", "storage_gb", "ipv6_prefix")


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="CSV, YAML or JSON file of business systems.")],
    inventory: InventoryOption = DEFAULT_INVENTORY_ROOT,
    residency: ResidencyOption = DEFAULT_RESIDENCY,
) -> None:
    """Check a file of business-system records; print one line per problem."""
    loaded = load_inventory(inventory)
    systems = load_systems(file, loaded, load_residency(residency, loaded))
    typer.echo(f"{len(systems)} systems OK")


@app.command()
def nodes(
    output: OutputOption = OutputFormat.TABLE,
    inventory: InventoryOption = DEFAULT_INVENTORY_ROOT,
) -> None:
    """Show the 14 city nodes' capacity, and the totals against the plan."""
    loaded = load_inventory(inventory)
    rows = [node_row(loaded, node) for node in loaded.nodes.values()]
    totals = {resource: sum(row[resource] for row in rows) for resource in RESOURCES}
    document = {"nodes": rows, "total": totals, "plan": dict(PLAN_TOTALS)}
    # The table leaves out the reserved amounts so it fits 80 columns; the JSON has them all.
    table = [{key: row[key] for key in TABLE_COLUMNS} for row in rows]
    table += [{"node": "total", **totals}, {"node": "plan", **PLAN_TOTALS}]
    emit(table, output, title="City cloud nodes (decimal GB)", document=document)


def node_row(inventory: Inventory, node: Node) -> dict[str, Any]:
    """One node as a row: its physical capacity, what is reserved, and its IPv6 prefix."""
    city = inventory.city_of(node.id)
    reserved = Resources.of(node.reserved) if node.reserved else Resources()
    return {
        "node": node.id,
        "city": city.name_zh,
        "city_name": city.name,
        **Resources.of(node.capacity).fields(),
        **{f"reserved_{key}": amount for key, amount in reserved.fields().items()},
        "ipv6_prefix": node.ipv6_prefix,
    }


# Its own module (the producer: Kafka, a progress bar); listed after validate and nodes.
app.command("publish")(publish)
