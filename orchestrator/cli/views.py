"""``govmig status [SYSTEM_ID]`` and ``govmig capacity``: what the state store says now.

Top of the pipeline, on the reading side: each command opens the store
read-only (``open_store(..., create=False)``: a missing database is a clear
error, never a new empty one), reads through the store's repositories,
hands the records to ``cli/render.py`` and prints a table or the stable JSON
(docs/cli-json.md). Nothing here writes.

The commands are plain functions; ``cli/__init__.py`` registers them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from orchestrator.capacity import NodeKind
from orchestrator.cli.completion import complete_node, complete_system_id
from orchestrator.cli.options import (
    CutoverPolicyOption,
    StateDbOption,
    cutover_policy,
    state_db_url,
)
from orchestrator.cli.output import OutputFormat, OutputOption, emit
from orchestrator.cli.render import (
    ApprovalStatus,
    SystemDetail,
    capacity_document,
    capacity_tables,
    detail_document,
    detail_tables,
    error_lines,
    held_lines,
    status_document,
    status_table,
    unregistered_document,
    unregistered_tables,
    waiting_lines,
)
from orchestrator.cli.requests import check_system_ids, unknown_system_message
from orchestrator.errors import PermanentError
from orchestrator.inventory.cutover_policy import CutoverPolicy
from orchestrator.migrations.states import SystemState
from orchestrator.store import (
    Session,
    SystemRow,
    get_allocation,
    get_node,
    get_system,
    history,
    list_systems,
    node_usage,
    open_store,
)
from orchestrator.store import approvals as approval_store
from orchestrator.store import awaiting as awaiting_store
from orchestrator.store import replication as replication_store
from orchestrator.store.awaiting import HeldRequest


def status(
    system_id: Annotated[
        str | None,
        typer.Argument(
            metavar="SYSTEM_ID",
            help="One system: also show its allocation and its history.",
            show_default=False,
            autocompletion=complete_system_id,
        ),
    ] = None,
    state: Annotated[
        SystemState | None, typer.Option("--state", help="Only systems in this state.")
    ] = None,
    node: Annotated[
        str | None,
        typer.Option("--node", help="Only systems on this node.", autocompletion=complete_node),
    ] = None,
    wave: Annotated[int | None, typer.Option("--wave", min=1, help="Only this wave.")] = None,
    output: OutputOption = OutputFormat.TABLE,
    state_db: StateDbOption = None,
    cutover_policy_file: CutoverPolicyOption = None,
) -> None:
    """Show each system's state, node, phase, wave, last error and last update.

    JSON: {systems: [{id, name, city, state, node, phase, wave, last_error,
    requested_by, target_host, ipv6_address, downtime_seconds, updated_at}]};
    with SYSTEM_ID: {system, record, allocation, replication_passes: [{kind,
    bytes_sent, seconds, at}], replica, rehearsal: {passed, reason, test_name,
    seconds, at}, approval: {needed, live: {approved_by, change_ref, comment,
    granted_at, expires_at}}, history: [{id, at, from_state, to_state,
    refused, cause, actor, reason, event_source, event_id, change_ref}],
    awaiting_registration: [{request, requested_by, event_source, event_id,
    arrived_at, deadline}]}; a system not registered yet that requests await
    has the same keys, system and record null. Times are RFC 3339 UTC; see
    docs/cli-json.md.
    """
    if system_id is not None and (state, node, wave) != (None, None, None):
        raise PermanentError("give either a SYSTEM_ID or --state/--node/--wave filters, not both")
    policy = cutover_policy(cutover_policy_file)
    with open_store(state_db_url(state_db), create=False) as store, store.session() as session:
        if system_id is not None:
            _show_system(session, check_system_ids([system_id])[0], output, policy)
            return
        if node is not None and get_node(session, node) is None:
            raise PermanentError(f"unknown node {node!r}: the state database has no such node")
        systems = list_systems(session, state=state, node=node, wave=wave)
        # Held requests are about systems not registered yet: no filter can match them.
        filtered = (state, node, wave) != (None, None, None)
        held = None if filtered else awaiting_store.all_awaiting(session)
    if output is OutputFormat.JSON:
        emit([], output, document=status_document(systems, held))
        return
    _print_fleet(systems, held or [])


def _print_fleet(systems: Sequence[SystemRow], held: Sequence[HeldRequest]) -> None:
    if not systems:
        typer.echo("no systems match")
    else:
        print_table(f"{len(systems)} systems", status_table(systems))
    sections = (
        ("Last errors", error_lines(systems)),
        ("Waiting at a gate", waiting_lines(systems)),
        ("Requests awaiting their system's registration", held_lines(held, datetime.now(UTC))),
    )
    for title, lines in sections:
        if lines:
            typer.echo(f"\n{title}:\n" + "\n".join(lines))


def _show_system(
    session: Session, system_id: str, output: OutputFormat, policy: CutoverPolicy
) -> None:
    system = get_system(session, system_id)
    held = awaiting_store.awaiting(session, system_id)
    if system is None:
        _show_unregistered(session, system_id, held, output)
        return
    now = datetime.now(UTC)
    detail = SystemDetail(
        system,
        allocation=get_allocation(session, system_id),
        passes=replication_store.passes(session, system_id),
        history=history(session, system_id),
        rehearsal=replication_store.last_rehearsal(session, system_id),
        approval=_approval(session, system, policy, now),
        now=now,
        awaiting=held,
    )
    if output is OutputFormat.JSON:
        emit([], output, document=detail_document(detail))
        return
    _print_tables(detail_tables(detail))


def _show_unregistered(
    session: Session, system_id: str, held: Sequence[HeldRequest], output: OutputFormat
) -> None:
    """A system never registered: unknown, unless requests about it await its registration."""
    if not held:
        raise PermanentError(unknown_system_message(system_id))
    audit = history(session, system_id)
    if output is OutputFormat.JSON:
        emit([], output, document=unregistered_document(held, audit))
        return
    _print_tables(unregistered_tables(system_id, held, audit, datetime.now(UTC)))


def _approval(
    session: Session, system: SystemRow, policy: CutoverPolicy, now: datetime
) -> ApprovalStatus:
    record, ttl = system.record, policy.approval_ttl
    return ApprovalStatus(
        needed=policy.needs_approval(
            str(record.get("criticality", "medium")), str(record.get("department", ""))
        ),
        live=approval_store.live(session, system.id, now=now, ttl=ttl),
        ttl=ttl,
    )


def capacity(output: OutputOption = OutputFormat.TABLE, state_db: StateDbOption = None) -> None:
    """Show each node's capacity, allocation, free room and use, and the totals against the plan;
    then each connected PRD platform's, with their own subtotal (never in the plan's totals).

    Allocatable = (total - reserved) x allocation ratio. JSON: {nodes: [{node,
    city, status, systems, vcpu, memory_gb, storage_gb}], total, plan, platforms:
    [{platform, ...}], platforms_total}, each resource as {total, reserved,
    allocation_ratio, allocatable, allocated, free, utilisation}: vCPU and decimal
    GB, utilisation 0..1; see docs/cli-json.md.
    """
    with open_store(state_db_url(state_db), create=False) as store, store.session() as session:
        usages = node_usage(session)
        platforms = node_usage(session, NodeKind.PLATFORM)
    document = capacity_document(usages, platforms)
    if output is OutputFormat.JSON:
        emit([], output, document=document)
        return
    _print_tables(capacity_tables(document))


def _print_tables(tables: Sequence[tuple[str, Sequence[dict[str, Any]]]]) -> None:
    for title, rows in tables:
        if rows:
            print_table(title, rows)
        else:
            typer.echo(f"{title}: none")


def print_table(title: str, rows: Sequence[dict[str, Any]]) -> None:
    """Rows as a rich table whose first column (an id) is never cut or wrapped.

    ``emit`` would shorten ids to ``shantou-p…`` on an 80-column terminal; here
    the id column keeps its width and the other columns fold instead.
    """
    table = Table(title=title)
    for index, column in enumerate(rows[0]):
        table.add_column(column, no_wrap=index == 0, overflow="fold")
    for row in rows:
        table.add_row(*("-" if value is None else str(value) for value in row.values()))
    Console().print(table)
