"""``govmig plan [FILE]``: where would these systems go? A placement dry run.

Top of the pipeline, reading only: it loads a catalogue of business systems
(the sample catalogue by default), filters it, takes the nodes' current usage
from the state store when there is one (otherwise the inventory's nodes, empty)
and runs ``orchestrator.capacity.plan_placements``, the same pure code the
orchestrator places with, held to the same residency rules (``--residency``).
Nothing is reserved, nothing is sent.
``cli/render_plan.py`` turns the result into the JSON document or a summary.

``plan`` is a plain function; ``cli/__init__.py`` registers it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from orchestrator.capacity import (
    NodeUsage,
    PlacementStrategy,
    SystemRequest,
    empty_usage,
    node_state,
    placement_policy,
    plan_placements,
)
from orchestrator.cli.options import (
    InventoryOption,
    ResidencyOption,
    StateDbOption,
    state_db_url,
)
from orchestrator.cli.output import OutputFormat, OutputOption, emit
from orchestrator.cli.render_plan import (
    SUMMARY_ROWS,
    PlanStart,
    aligned,
    more_line,
    node_table,
    plan_document,
    summary_line,
)
from orchestrator.errors import ConfigurationError, PermanentError
from orchestrator.inventory.loader import (
    DEFAULT_CATALOGUE,
    DEFAULT_INVENTORY_ROOT,
    DEFAULT_RESIDENCY,
    load_inventory,
    load_systems,
)
from orchestrator.inventory.models import BusinessSystem
from orchestrator.inventory.residency import load_residency
from orchestrator.inventory.topology import Inventory
from orchestrator.settings import PlacementSettings
from orchestrator.store import node_usage, open_store


def plan(
    file: Annotated[
        Path | None,
        typer.Argument(
            metavar="FILE",
            help="CSV, YAML or JSON file of business systems (default: the sample catalogue).",
            show_default=False,
        ),
    ] = None,
    city: Annotated[str | None, typer.Option("--city", help="Only systems of this city.")] = None,
    department: Annotated[
        str | None,
        typer.Option("--department", help="Only departments containing this text (any case)."),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Only the first N (after filters).")
    ] = None,
    strategy: Annotated[
        PlacementStrategy | None,
        typer.Option("--strategy", help="spread or pack (env GOVMIG_PLACEMENT_STRATEGY)."),
    ] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="Table mode: print every system, not a summary.")
    ] = False,
    output: OutputOption = OutputFormat.TABLE,
    state_db: StateDbOption = None,
    inventory: InventoryOption = DEFAULT_INVENTORY_ROOT,
    residency: ResidencyOption = DEFAULT_RESIDENCY,
) -> None:
    """Dry-run placement: where each system would go, what would not fit and why.

    Starts from the usage in the state database if it exists, else from empty
    nodes. JSON: {strategy, start, summary, placements: [{system_id, node,
    reason}], unplaceable: [{system_id, reason}], already_placed, split_groups,
    nodes (as in capacity, plus planned), plan}; see docs/cli-json.md.
    """
    loaded = load_inventory(inventory)
    rules = load_residency(residency, loaded)
    systems = load_systems(file or DEFAULT_CATALOGUE, loaded, rules)
    selected = select_systems(systems, loaded, city=city, department=department, limit=limit)
    usage, start = starting_usage(state_db_url(state_db), loaded)
    held = {system_id: node for node, found in usage.items() for system_id in found.allocations}
    already = {system.id: held[system.id] for system in selected if system.id in held}
    requests = [SystemRequest.from_model(system, rules) for system in selected]
    policy = placement_policy(PlacementSettings(), strategy)
    result = plan_placements(requests, usage, policy)  # the already placed keep their node
    document = plan_document(result, strategy=policy.strategy, start=start, already_placed=already)
    if output is OutputFormat.JSON:
        emit([], output, document=document)
    else:
        print_plan(document, show_all=show_all)


def select_systems(
    systems: Sequence[BusinessSystem],
    inventory: Inventory,
    *,
    city: str | None,
    department: str | None,
    limit: int | None,
) -> list[BusinessSystem]:
    """The systems the filters keep, in file order; an unknown ``city`` is an error."""
    if city is not None and city not in inventory.cities:
        known = ", ".join(sorted(inventory.cities))
        raise PermanentError(f"unknown city {city!r} for --city: one of {known}")
    wanted = None if department is None else department.casefold()
    kept = [
        system
        for system in systems
        if (city is None or system.city == city)
        and (wanted is None or wanted in system.department.casefold())
    ]
    return kept if limit is None else kept[:limit]


def starting_usage(url: str, inventory: Inventory) -> tuple[dict[str, NodeUsage], PlanStart]:
    """The nodes' (and connected platforms') usage in the state store, or the inventory's
    empty nodes (said on stderr): placement sees what the orchestrator's engine sees."""
    try:
        with open_store(url, create=False) as store, store.session() as session:
            usages = node_usage(session, kind=None)
            where = store.where
    except ConfigurationError as error:
        return _empty(inventory, f"no usable state database ({error})")
    if not usages:
        return _empty(inventory, f"the state database {where} has no nodes yet")
    return {usage.node.node_id: usage for usage in usages}, PlanStart("store", where)


def _empty(inventory: Inventory, why: str) -> tuple[dict[str, NodeUsage], PlanStart]:
    note = f"note: {why}: planning from empty nodes"
    typer.secho(note, fg=typer.colors.YELLOW, err=True)
    usage = {node.id: empty_usage(node_state(node)) for node in inventory.nodes.values()}
    return usage, PlanStart("empty")


def print_plan(document: Mapping[str, Any], *, show_all: bool) -> None:
    """The table mode: a summary, or with ``show_all`` every row as plain text."""
    typer.echo(summary_line(document))
    emit(node_table(document), OutputFormat.TABLE, title="Nodes after the plan")
    limit = None if show_all else SUMMARY_ROWS
    if show_all:
        _print_list("Placements", document["placements"], ("system_id", "node", "reason"), None)
    _print_list("Unplaceable", document["unplaceable"], ("system_id", "reason"), limit)
    groups = [{"group": ", ".join(group)} for group in document["split_groups"]]
    _print_list("Split groups", groups, ("group",), limit)


def _print_list(
    title: str, rows: Sequence[Mapping[str, Any]], columns: Sequence[str], limit: int | None
) -> None:
    if not rows:
        return
    typer.echo(f"\n{title} ({len(rows):,}):")
    shown = rows if limit is None else rows[:limit]
    typer.echo(aligned(shown, columns))
    more = None if limit is None else more_line(len(rows), limit)
    if more:
        typer.echo(more)
