"""``govmig platform connect|disconnect|list``: the 7 PRD cities' own government clouds.

``connect`` and ``disconnect`` publish ``gov.cloud.platform.connected`` and
``gov.cloud.platform.disconnected`` (key: the platform id) like the other request
commands; the orchestrator applies them to the ledger (``engine/platforms.py``).
The platform id is checked against the inventory's PRD platforms before sending,
with the orchestrator's own words (a city node's id is not a platform), and a
disconnect of a platform the state store shows holding systems is refused here
with the orchestrator's reason too. ``list`` reads the inventory's 7 and the store:
a platform is connected when its connect event is stored, whatever ``hosts.yml``'s
``connected`` flag says.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from pydantic import ValidationError

from orchestrator.capacity import NodeKind, NodeUsage, ResourceClass
from orchestrator.cli.ops import (
    NoCheckOption,
    ReasonOption,
    RequestedByOption,
    request_route,
    requester,
    send,
)
from orchestrator.cli.options import (
    BootstrapOption,
    EventsTopicOption,
    InventoryOption,
    StateDbOption,
    TimeoutOption,
    first_problem,
    state_db_url,
)
from orchestrator.cli.output import OutputFormat, OutputOption, emit
from orchestrator.cli.render import amount_text, percent, platform_document
from orchestrator.cli.requests import CLI_SOURCE
from orchestrator.engine.platforms import in_use_message
from orchestrator.errors import ConfigurationError, PermanentError
from orchestrator.events import Event, KnownIds, Rejection, check_references, new_event
from orchestrator.events.data import (
    NodeReserved,
    NodeState,
    NodeTotals,
    PlatformConnected,
    PlatformDisconnected,
)
from orchestrator.inventory.loader import DEFAULT_INVENTORY_ROOT, load_inventory
from orchestrator.inventory.topology import Inventory
from orchestrator.store import PlatformTarget, get_node, node_usage, open_store, platform_targets

app = typer.Typer(help="The 7 PRD cities' own government clouds: connect, disconnect, list.")

PlatformArgument = Annotated[
    str, typer.Argument(metavar="PLATFORM", help="A PRD city's id, e.g. guangzhou.")
]


@app.command("connect")
def connect(
    platform: PlatformArgument,
    vcpu: Annotated[int | None, typer.Option("--vcpu", min=1, help="Physical vCPU total.")] = None,
    memory_gb: Annotated[
        int | None, typer.Option("--memory-gb", min=1, help="Memory, decimal GB.")
    ] = None,
    storage_gb: Annotated[
        int | None, typer.Option("--storage-gb", min=1, help="Storage, decimal GB.")
    ] = None,
    reserved_vcpu: Annotated[int | None, typer.Option("--reserved-vcpu", min=0)] = None,
    reserved_memory_gb: Annotated[int | None, typer.Option("--reserved-memory-gb", min=0)] = None,
    reserved_storage_gb: Annotated[int | None, typer.Option("--reserved-storage-gb", min=0)] = None,
    ratio_vcpu: Annotated[float | None, typer.Option("--ratio-vcpu", help="Overcommit.")] = None,
    ratio_memory: Annotated[float | None, typer.Option("--ratio-memory")] = None,
    ratio_storage: Annotated[float | None, typer.Option("--ratio-storage")] = None,
    state: Annotated[
        NodeState | None,
        typer.Option("--state", help="online, or draining: keeps what it has, takes nothing new."),
    ] = None,
    hosts: Annotated[
        list[str] | None,
        typer.Option("--host", help="A target host of the ssh provider's pool (repeat it)."),
    ] = None,
    ipv6_prefix: Annotated[
        str | None,
        typer.Option(
            "--ipv6-prefix",
            help="The network its systems are addressed in (/64 or shorter), as a node's; "
            "required the first time.",
        ),
    ] = None,
    reason: ReasonOption = None,
    actor: RequestedByOption = None,
    output: OutputOption = OutputFormat.TABLE,
    state_db: StateDbOption = None,
    inventory: InventoryOption = DEFAULT_INVENTORY_ROOT,
    bootstrap_servers: BootstrapOption = None,
    events_topic: EventsTopicOption = None,
    timeout: TimeoutOption = None,
) -> None:
    """Connect PLATFORM (the first time with --vcpu, --memory-gb, --storage-gb, --ipv6-prefix),
    or change it.

    Only what is given changes: ``--state draining`` alone drains a connected platform.
    Its capacity never counts toward the 14 nodes' plan totals. JSON: as for migrate,
    with ``platform_id`` set; see docs/cli-json.md.
    """
    totals = _all_or_none("--vcpu, --memory-gb and --storage-gb", vcpu, memory_gb, storage_gb)
    held = _all_or_none(
        "the three --reserved-* options", reserved_vcpu, reserved_memory_gb, reserved_storage_gb
    )
    try:
        data = PlatformConnected(
            platform_id=platform,
            capacity=None if totals is None else NodeTotals(**_units(totals)),
            reserved=None if held is None else NodeReserved(**_units(held)),
            allocation_ratio_vcpu=ratio_vcpu,
            allocation_ratio_memory=ratio_memory,
            allocation_ratio_storage=ratio_storage,
            state=state,
            hosts=None if not hosts else tuple(hosts),
            ipv6_prefix=ipv6_prefix,
            requested_by=requester(actor),
            reason=reason,
        )
    except ValidationError as error:
        raise PermanentError(f"platform connect {platform}: {first_problem(error)}") from None
    _publish(new_event(data, source=CLI_SOURCE), inventory, output, state_db,
             bootstrap_servers, events_topic, timeout)  # fmt: skip


@app.command("disconnect")
def disconnect(
    platform: PlatformArgument,
    reason: ReasonOption = None,
    actor: RequestedByOption = None,
    no_check: NoCheckOption = False,
    output: OutputOption = OutputFormat.TABLE,
    state_db: StateDbOption = None,
    inventory: InventoryOption = DEFAULT_INVENTORY_ROOT,
    bootstrap_servers: BootstrapOption = None,
    events_topic: EventsTopicOption = None,
    timeout: TimeoutOption = None,
) -> None:
    """Disconnect PLATFORM: refused while systems hold capacity on it (drain it, roll them back).

    JSON: as for migrate, with ``platform_id`` set; see docs/cli-json.md.
    """
    try:
        data = PlatformDisconnected(platform_id=platform, requested_by=requester(actor),
                                    reason=reason)  # fmt: skip
    except ValidationError as error:
        raise PermanentError(f"platform disconnect {platform}: {first_problem(error)}") from None
    if not no_check:
        _refuse_in_use(platform, state_db_url(state_db))
    _publish(new_event(data, source=CLI_SOURCE), inventory, output, state_db,
             bootstrap_servers, events_topic, timeout)  # fmt: skip


@app.command("list")
def list_platforms(
    output: OutputOption = OutputFormat.TABLE,
    state_db: StateDbOption = None,
    inventory: InventoryOption = DEFAULT_INVENTORY_ROOT,
) -> None:
    """The 7 PRD platforms: connected or not (as the stored events say), status and use.

    JSON: {platforms: [{platform, city, name, connected, status, systems, hosts,
    ipv6_prefix, vcpu, memory_gb, storage_gb}], connected, of}; see docs/cli-json.md.
    """
    loaded = load_inventory(inventory)
    with open_store(state_db_url(state_db), create=False) as store, store.session() as session:
        stored = {usage.node.node_id: usage for usage in node_usage(session, NodeKind.PLATFORM)}
        targets = platform_targets(session)
    rows = platform_rows(loaded, stored, targets)
    document = {"platforms": rows, "connected": len(stored), "of": len(loaded.platforms)}
    emit([_table_row(row) for row in rows], output, title="PRD platforms", document=document)


def platform_rows(
    inventory: Inventory, stored: dict[str, NodeUsage], targets: dict[str, PlatformTarget]
) -> list[dict[str, Any]]:
    """One JSON row per PRD platform of the inventory, in its order."""
    rows = []
    for platform in inventory.platforms.values():
        usage, target = stored.get(platform.id), targets.get(platform.id)
        row: dict[str, Any] = {
            "platform": platform.id,
            "city": platform.city,
            "name": platform.name,
            "connected": usage is not None,
            "status": None,
            "systems": 0,
            "hosts": [] if target is None else list(target.hosts),
            "ipv6_prefix": None if target is None else target.ipv6_prefix,
            "vcpu": None,
            "memory_gb": None,
            "storage_gb": None,
        }
        if usage is not None:
            row |= {k: v for k, v in platform_document(usage).items() if k != "platform"}
        rows.append(row)
    return rows


def _table_row(row: dict[str, Any]) -> dict[str, Any]:
    line = {"platform": row["platform"], "connected": "yes" if row["connected"] else "no",
            "status": row["status"], "systems": row["systems"]}  # fmt: skip
    vcpu, memory = row["vcpu"], row["memory_gb"]
    line["vcpu allocated/allocatable"] = (
        None if vcpu is None else f"{vcpu['allocated']:,}/{vcpu['allocatable']:,}"
    )
    line["memory used"] = None if memory is None else percent(memory["utilisation"])
    line["storage allocatable"] = (
        None
        if row["storage_gb"] is None
        else amount_text(ResourceClass.STORAGE_GB, row["storage_gb"]["allocatable"])
    )
    return line


def _all_or_none(what: str, *amounts: int | None) -> tuple[int, int, int] | None:
    given = [amount for amount in amounts if amount is not None]
    if not given:
        return None
    if len(given) != len(amounts):
        raise PermanentError(f"give all of {what}, or none")
    vcpu, memory_gb, storage_gb = given
    return vcpu, memory_gb, storage_gb


def _units(amounts: tuple[int, int, int]) -> dict[str, int]:
    return dict(zip(("vcpu", "memory_gb", "storage_gb"), amounts, strict=True))


def _publish(
    event: Event,
    inventory: Any,
    output: OutputFormat,
    state_db: str | None,
    bootstrap_servers: str | None,
    events_topic: str | None,
    timeout: float | None,
) -> None:
    """Check the platform id against the inventory as the orchestrator will, then publish."""
    try:
        check_references(event, KnownIds.of(load_inventory(inventory)))
    except Rejection as rejection:
        raise PermanentError(rejection.message) from None
    # The platform was checked above; there is no system id to check.
    where = request_route(True, output, state_db, bootstrap_servers, events_topic, timeout)
    send([], [event], where)


def _refuse_in_use(platform: str, url: str) -> None:
    """Refuse, with the orchestrator's reason, to disconnect a platform holding systems."""
    try:
        store = open_store(url, create=False)
    except ConfigurationError:
        return  # no store to ask: the orchestrator refuses it if it must
    with store, store.session() as session:
        usage = get_node(session, platform)
    if usage is not None and usage.allocations:
        raise PermanentError(in_use_message(platform, sorted(usage.allocations)))
