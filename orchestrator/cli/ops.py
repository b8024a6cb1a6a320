"""``govmig migrate|cancel|retry|rollback|revert|rehearse|finalize``: requests, as events.

Top of the pipeline, on the producing side: each command checks its arguments
(``cli/requests.py``, pure), checks the ids against the state store when there
is one, publishes one request event per system on the inbound topic (key = the
system id), waits for the broker's acknowledgements and prints the event ids.
The orchestrator consumes them; the Kafka log and the store's audit are the trail.

The commands are plain functions; ``cli/__init__.py`` registers them.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated

import typer

from orchestrator.bus import Producer
from orchestrator.cli.options import (
    BootstrapOption,
    EventsTopicOption,
    InventoryOption,
    StateDbOption,
    TimeoutOption,
    kafka_settings,
    state_db_url,
)
from orchestrator.cli.output import OutputFormat, OutputOption, emit
from orchestrator.cli.requests import (
    Action,
    build_requests,
    check_system_ids,
    check_target,
    requests_document,
    requests_table,
    unknown_system_message,
)
from orchestrator.errors import ConfigurationError, PermanentError
from orchestrator.events import Event, encode
from orchestrator.inventory.loader import DEFAULT_INVENTORY_ROOT, load_inventory
from orchestrator.settings import KafkaSettings
from orchestrator.store import get_system, open_store

SystemIdsArgument = Annotated[
    list[str],
    typer.Argument(
        metavar="SYSTEM_ID",
        help="Business system ids, e.g. shantou-psb-001.",
        show_default=False,
    ),
]
RequestedByOption = Annotated[
    str | None,
    typer.Option("--requested-by", help="Who asks, for the audit (default: your OS user name)."),
]
ReasonOption = Annotated[
    str | None, typer.Option("--reason", help="Why, for the audit trail (one line).")
]
NoCheckOption = Annotated[
    bool,
    typer.Option(
        "--no-check", help="Do not check the ids against the state database before sending."
    ),
]


@dataclass(frozen=True)
class RequestRoute:
    """Where the requests go and how the outcome is printed, from the common options."""

    kafka: KafkaSettings
    state_db: str
    check: bool
    output: OutputFormat


def request_route(
    no_check: bool,
    output: OutputFormat,
    state_db: str | None,
    bootstrap_servers: str | None,
    events_topic: str | None,
    timeout: float | None,
) -> RequestRoute:
    """The ``RequestRoute`` of the options given; the rest from ``GOVMIG_*`` and defaults."""
    kafka = kafka_settings(
        bootstrap_servers=bootstrap_servers, events_topic=events_topic, request_timeout_s=timeout
    )
    return RequestRoute(kafka, state_db_url(state_db), check=not no_check, output=output)


def migrate(
    system_ids: SystemIdsArgument,
    to: Annotated[
        str | None, typer.Option("--to", help="Target city node (default: placement chooses).")
    ] = None,
    wave: Annotated[
        int | None, typer.Option("--wave", min=1, max=999, help="Wave number, 1-999.")
    ] = None,
    requested_by: RequestedByOption = None,
    no_check: NoCheckOption = False,
    output: OutputOption = OutputFormat.TABLE,
    state_db: StateDbOption = None,
    inventory: InventoryOption = DEFAULT_INVENTORY_ROOT,
    bootstrap_servers: BootstrapOption = None,
    events_topic: EventsTopicOption = None,
    timeout: TimeoutOption = None,
) -> None:
    """Ask the orchestrator to migrate each SYSTEM_ID onto a city node.

    Prints the event ids once the broker has acknowledged every request.
    JSON: {topic, sent, events: [{id, type, system_id, requested_by, target_node,
    wave, reason, time}]}, see docs/cli-json.md.
    """
    ids = check_system_ids(system_ids)
    target = None if to is None else check_target(to, load_inventory(inventory).nodes)
    who = requester(requested_by)
    events = build_requests(Action.MIGRATE, ids, requested_by=who, target=target, wave=wave)
    where = request_route(no_check, output, state_db, bootstrap_servers, events_topic, timeout)
    send(ids, events, where)


def _request_command(action: Action, summary: str) -> Callable[..., None]:
    """One command per request about systems: they differ only in the event they send."""

    def command(
        system_ids: SystemIdsArgument,
        reason: ReasonOption = None,
        requested_by: RequestedByOption = None,
        no_check: NoCheckOption = False,
        output: OutputOption = OutputFormat.TABLE,
        state_db: StateDbOption = None,
        bootstrap_servers: BootstrapOption = None,
        events_topic: EventsTopicOption = None,
        timeout: TimeoutOption = None,
    ) -> None:
        ids = check_system_ids(system_ids)
        who = requester(requested_by)
        events = build_requests(action, ids, requested_by=who, reason=reason)
        send(
            ids,
            events,
            request_route(no_check, output, state_db, bootstrap_servers, events_topic, timeout),
        )

    command.__name__ = action.value
    command.__doc__ = (
        f"{summary}\n\n    Prints the event ids once the broker has acknowledged every request.\n"
        "    JSON: as for migrate, see docs/cli-json.md.\n    "
    )
    return command


cancel = _request_command(
    Action.CANCEL, "Ask to stop each SYSTEM_ID's migration before cutover and release its capacity."
)
retry = _request_command(
    Action.RETRY,
    "Ask to run each failed or rolled-back SYSTEM_ID's migration again from the start.",
)
rollback = _request_command(
    Action.ROLLBACK,
    "Ask to undo each SYSTEM_ID's migration: the source keeps serving, capacity is released "
    "(a completed one is reverted: what its target wrote is synced back first).",
)
revert = _request_command(
    Action.REVERT,
    "Ask to revert each completed SYSTEM_ID: sync what its target wrote back to the source, "
    "switch the name back, release the capacity.",
)
rehearse = _request_command(
    Action.REHEARSE,
    "Ask for a rehearsal of each ready SYSTEM_ID: its replica starts on the target under a "
    "test name, is checked and torn down; the source and its name are not touched.",
)
finalize = _request_command(
    Action.FINALIZE,
    "Ask to finalize each completed SYSTEM_ID: its source is decommissioned and the way back "
    "ends (its data is kept for the source retention, then removed).",
)


def send(ids: Sequence[str], events: Sequence[Event], where: RequestRoute) -> None:
    """Check the ids against the store, publish, wait for the acks and print the event ids."""
    if where.check:
        check_registered(ids, where.state_db)
    topic = where.kafka.events_topic
    with Producer(where.kafka) as producer:
        producer.send_all(topic, [encode(event) for event in events])
    emit(
        requests_table(events),
        where.output,
        title=f"Requests acknowledged on {topic}",
        document=requests_document(events, topic=topic),
    )


def check_registered(ids: Sequence[str], url: str) -> None:
    """Refuse ids the state store has never seen; warn and go on if there is no store to ask."""
    try:
        store = open_store(url, create=False)
    except ConfigurationError as error:
        typer.secho(
            f"warning: the system ids could not be checked ({error}); sending anyway: "
            "the orchestrator dead-letters unknown ids",
            fg=typer.colors.YELLOW,
            err=True,
        )
        return
    with store, store.session() as session:
        unknown = [system_id for system_id in ids if get_system(session, system_id) is None]
    if unknown:
        raise PermanentError("\n".join(unknown_system_message(system_id) for system_id in unknown))


def requester(requested_by: str | None) -> str:
    """``--requested-by``, else the OS user, as ``requested_by`` of every request."""
    if requested_by is not None:
        return requested_by
    try:
        return getpass.getuser()
    except (KeyError, OSError) as error:
        # No login name and no passwd entry (a bare container): say how to name oneself.
        raise ConfigurationError(
            f"cannot tell who you are ({error}): pass --requested-by NAME"
        ) from error
