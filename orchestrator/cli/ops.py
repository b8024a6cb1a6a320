"""``govmig migrate|cancel|retry|rollback|revert|rehearse|finalize|approve|reject|schedule``.

Top of the pipeline, on the producing side: each command checks its arguments
(``cli/requests.py``, pure), checks the ids against the state store when there
is one, publishes one request event per system on the inbound topic (key = the
system id), waits for the broker's acknowledgements and prints the event ids.
The orchestrator consumes them; the Kafka log and the store's audit are the trail.
Every request names who acts: ``--actor`` (or its older spelling
``--requested-by``), else ``GOVMIG_ACTOR``, else the OS user name. ``approve``
and ``reject`` name their systems, or a wave (read from the state store);
``schedule`` checks its moment against the calendar (``--calendar``) with the
cutover gate the orchestrator asks, so a time in a freeze or outside every
window is refused here with the reason.

The commands are plain functions; ``cli/__init__.py`` registers them.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from orchestrator.bus import Producer
from orchestrator.cli.completion import complete_node, complete_system_id
from orchestrator.cli.options import (
    BootstrapOption,
    CalendarOption,
    CutoverPolicyOption,
    DepartmentsOption,
    EventsTopicOption,
    InventoryOption,
    ResidencyOption,
    StateDbOption,
    TimeoutOption,
    calendar_of,
    cutover_policy,
    kafka_settings,
    state_db_url,
)
from orchestrator.cli.output import OutputFormat, OutputOption, emit
from orchestrator.cli.requests import (
    Action,
    build_approvals,
    build_requests,
    build_schedule,
    check_approval_targets,
    check_schedule,
    check_system_ids,
    check_target,
    parse_moment,
    requests_document,
    requests_table,
    require_change_ref,
    unknown_system_message,
    wave_members,
)
from orchestrator.engine.requests import cause_of, change_ref_of, change_ref_refusal
from orchestrator.engine.rows import request_of
from orchestrator.errors import ConfigurationError, PermanentError
from orchestrator.events import Event, InboundEvent, encode
from orchestrator.gates import calendar_facts
from orchestrator.inventory import Calendar
from orchestrator.inventory.cutover_policy import CutoverPolicy
from orchestrator.inventory.loader import (
    DEFAULT_DEPARTMENTS,
    DEFAULT_INVENTORY_ROOT,
    DEFAULT_RESIDENCY,
    load_inventory,
)
from orchestrator.inventory.residency import ResidencyRules, load_residency
from orchestrator.settings import KafkaSettings
from orchestrator.store import SystemRow, get_system, list_systems, open_store

SystemIdsArgument = Annotated[
    list[str],
    typer.Argument(
        metavar="SYSTEM_ID",
        help="Business system ids, e.g. shantou-psb-001.",
        show_default=False,
        autocompletion=complete_system_id,
    ),
]
RequestedByOption = Annotated[
    str | None,
    typer.Option(
        "--actor",
        "--requested-by",
        envvar="GOVMIG_ACTOR",
        help="Who asks, for the audit (default: your OS user name).",
        show_default=False,
    ),
]
ReasonOption = Annotated[
    str | None, typer.Option("--reason", help="Why, for the audit trail (one line).")
]
ChangeRefOption = Annotated[
    str | None,
    typer.Option(
        "--change-ref",
        help="The change (ticket) this request is under, for the audit; required for the "
        "systems the change policy names (--cutover-policy).",
    ),
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
    policy: CutoverPolicy = field(default_factory=CutoverPolicy)


def request_route(
    no_check: bool,
    output: OutputFormat,
    state_db: str | None,
    bootstrap_servers: str | None,
    events_topic: str | None,
    timeout: float | None,
    policy_file: Path | None = None,
) -> RequestRoute:
    """The ``RequestRoute`` of the options given; the rest from ``GOVMIG_*`` and defaults."""
    kafka = kafka_settings(
        bootstrap_servers=bootstrap_servers, events_topic=events_topic, request_timeout_s=timeout
    )
    policy = cutover_policy(policy_file)
    return RequestRoute(kafka, state_db_url(state_db), not no_check, output, policy)


def migrate(
    system_ids: SystemIdsArgument,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="Target city node (default: placement chooses).",
            autocompletion=complete_node,
        ),
    ] = None,
    wave: Annotated[
        int | None, typer.Option("--wave", min=1, max=999, help="Wave number, 1-999.")
    ] = None,
    reason: ReasonOption = None,
    change_ref: ChangeRefOption = None,
    requested_by: RequestedByOption = None,
    no_check: NoCheckOption = False,
    output: OutputOption = OutputFormat.TABLE,
    state_db: StateDbOption = None,
    inventory: InventoryOption = DEFAULT_INVENTORY_ROOT,
    policy_file: CutoverPolicyOption = None,
    residency: ResidencyOption = DEFAULT_RESIDENCY,
    bootstrap_servers: BootstrapOption = None,
    events_topic: EventsTopicOption = None,
    timeout: TimeoutOption = None,
) -> None:
    """Ask the orchestrator to migrate each SYSTEM_ID onto a city node.

    A ``--to`` node a system's residency rule forbids is refused before sending
    (when the state database knows the system's record; else the orchestrator refuses it).
    Prints the event ids once the broker has acknowledged every request.
    JSON: {topic, sent, events: [{id, type, system_id, requested_by, target_node,
    wave, reason, change_ref, time}]}, see docs/cli-json.md.
    """
    ids = check_system_ids(system_ids)
    loaded = load_inventory(inventory)
    target = None if to is None else check_target(to, loaded.nodes)
    who = requester(requested_by)
    events = build_requests(
        Action.MIGRATE,
        ids,
        requested_by=who,
        reason=reason,
        change_ref=change_ref,
        target=target,
        wave=wave,
    )
    where = request_route(
        no_check, output, state_db, bootstrap_servers, events_topic, timeout, policy_file
    )
    if target is None:
        send(ids, events, where)
        return
    rules = load_residency(residency, loaded)
    send(ids, events, where, check_rows=lambda rows: check_residency(rows, target, rules))


def _request_command(action: Action, summary: str) -> Callable[..., None]:
    """One command per request about systems: they differ only in the event they send."""

    def command(
        system_ids: SystemIdsArgument,
        reason: ReasonOption = None,
        change_ref: ChangeRefOption = None,
        requested_by: RequestedByOption = None,
        no_check: NoCheckOption = False,
        output: OutputOption = OutputFormat.TABLE,
        state_db: StateDbOption = None,
        policy_file: CutoverPolicyOption = None,
        bootstrap_servers: BootstrapOption = None,
        events_topic: EventsTopicOption = None,
        timeout: TimeoutOption = None,
    ) -> None:
        ids = check_system_ids(system_ids)
        who = requester(requested_by)
        events = build_requests(action, ids, requested_by=who, reason=reason, change_ref=change_ref)
        where = request_route(
            no_check, output, state_db, bootstrap_servers, events_topic, timeout, policy_file
        )
        send(ids, events, where)

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


def _approval_command(action: Action, summary: str) -> Callable[..., None]:
    """``approve`` or ``reject``: the same shape, a different event."""

    def command(
        system_ids: Annotated[
            list[str] | None,
            typer.Argument(
                metavar="SYSTEM_ID",
                help="Business system ids, e.g. shantou-psb-001 (or --wave).",
                show_default=False,
                autocompletion=complete_system_id,
            ),
        ] = None,
        wave: Annotated[
            int | None,
            typer.Option(
                "--wave", min=1, max=999, help="Every system of this wave, from the state store."
            ),
        ] = None,
        change_ref: Annotated[
            str | None,
            typer.Option("--change-ref", help="The change (ticket) it is under; required."),
        ] = None,
        comment: Annotated[
            str | None,
            typer.Option(
                "--reason", "--comment", help="Why, or what you add, for the audit (one line)."
            ),
        ] = None,
        actor: RequestedByOption = None,
        no_check: NoCheckOption = False,
        output: OutputOption = OutputFormat.TABLE,
        state_db: StateDbOption = None,
        bootstrap_servers: BootstrapOption = None,
        events_topic: EventsTopicOption = None,
        timeout: TimeoutOption = None,
    ) -> None:
        named = check_approval_targets(system_ids or [], wave)
        ref, who = require_change_ref(action, change_ref), requester(actor)
        where = request_route(no_check, output, state_db, bootstrap_servers, events_topic, timeout)
        ids = named if wave is None else wave_members(wave, systems_in_wave(wave, where.state_db))
        events = build_approvals(action, ids, actor=who, change_ref=ref, comment=comment)
        send(ids, events, where)

    command.__name__ = action.value
    command.__doc__ = (
        f"{summary}\n\n    Prints the event ids once the broker has acknowledged every request.\n"
        "    JSON: as for migrate, with change_ref and comment, see docs/cli-json.md.\n    "
    )
    return command


approve = _approval_command(
    Action.APPROVE,
    "Approve the cutover of each SYSTEM_ID (or of every system of --wave) under --change-ref: "
    "four eyes, so not the one who requested its migration; it lives for the cutover policy's "
    "time.",
)
reject = _approval_command(
    Action.REJECT,
    "Withdraw every approval of each SYSTEM_ID (or of every system of --wave), under "
    "--change-ref: its cutover waits for a new approval.",
)


def schedule(
    system_id: Annotated[
        str,
        typer.Argument(
            metavar="SYSTEM_ID",
            help="The system, e.g. shantou-psb-001.",
            autocompletion=complete_system_id,
        ),
    ],
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="When its cutover may start: ISO 8601 (2027-01-09T01:00); without an offset, "
            "in the calendar's time zone (UTC without a calendar).",
            show_default=False,
        ),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the pin instead.")] = False,
    reason: ReasonOption = None,
    change_ref: ChangeRefOption = None,
    calendar_file: CalendarOption = None,
    departments: DepartmentsOption = DEFAULT_DEPARTMENTS,
    actor: RequestedByOption = None,
    no_check: NoCheckOption = False,
    output: OutputOption = OutputFormat.TABLE,
    state_db: StateDbOption = None,
    policy_file: CutoverPolicyOption = None,
    bootstrap_servers: BootstrapOption = None,
    events_topic: EventsTopicOption = None,
    timeout: TimeoutOption = None,
) -> None:
    """Pin the cutover of SYSTEM_ID to --at, a moment inside a maintenance window that applies
    to it and outside every freeze (checked against --calendar and the state store); it waits
    until then, and then for its other gates. --clear removes the pin.

    JSON: as for migrate, with at, see docs/cli-json.md.
    """
    (system_id,) = check_system_ids([system_id])
    if (at is None) == (not clear):
        raise PermanentError("give --at TIME, or --clear to remove the pin (one of them)")
    where = request_route(
        no_check, output, state_db, bootstrap_servers, events_topic, timeout, policy_file
    )
    calendar = calendar_of(calendar_file, departments) or Calendar.unrestricted()
    moment = None if at is None else parse_moment(at, calendar.time_zone)
    if moment is not None:
        row = stored_system(system_id, where.state_db)
        facts = calendar_facts(row.record, row.wave)
        check_schedule(system_id, moment, now=datetime.now(UTC), calendar=calendar, facts=facts)
    pin = build_schedule(
        system_id, moment, actor=requester(actor), reason=reason, change_ref=change_ref
    )
    send([system_id], pin, where)


def stored_system(system_id: str, url: str) -> SystemRow:
    """The system as the state store holds it; a clear error without a store or the system."""
    with open_store(url, create=False) as store, store.session() as session:
        found = get_system(session, system_id)
    if found is None:
        raise PermanentError(unknown_system_message(system_id))
    return found


def systems_in_wave(wave: int, url: str) -> list[str]:
    """The ids of the systems of ``wave`` in the state store, in id order."""
    with open_store(url, create=False) as store, store.session() as session:
        return [system.id for system in list_systems(session, wave=wave)]


def send(
    ids: Sequence[str],
    events: Sequence[Event],
    where: RequestRoute,
    *,
    check_rows: Callable[[Sequence[SystemRow]], None] | None = None,
) -> None:
    """Check the ids against the store (the change policy, and their rows with
    ``check_rows``), publish, wait for the acks and print the event ids."""
    if where.check:
        stored = registered_systems(ids, where.state_db)
        if stored is not None:
            check_change_policy(events, stored, where.policy)
            if check_rows is not None:
                check_rows(list(stored.values()))
    topic = where.kafka.events_topic
    with Producer(where.kafka) as producer:
        producer.send_all(topic, [encode(event) for event in events])
    emit(
        requests_table(events),
        where.output,
        title=f"Requests acknowledged on {topic}",
        document=requests_document(events, topic=topic),
    )


def registered_systems(ids: Sequence[str], url: str) -> dict[str, SystemRow] | None:
    """The systems of ``ids`` as the store holds them, refusing ids it has never seen; None
    (with a warning) when there is no store to ask."""
    try:
        store = open_store(url, create=False)
    except ConfigurationError as error:
        typer.secho(
            f"warning: the system ids could not be checked ({error}); sending anyway: "
            "the orchestrator holds a request about an unknown id for its registration wait, "
            "then dead-letters it",
            fg=typer.colors.YELLOW,
            err=True,
        )
        return None
    with store, store.session() as session:
        found = {system_id: get_system(session, system_id) for system_id in ids}
    unknown = [system_id for system_id, row in found.items() if row is None]
    if unknown:
        raise PermanentError("\n".join(unknown_system_message(system_id) for system_id in unknown))
    return {system_id: row for system_id, row in found.items() if row is not None}


def check_change_policy(
    events: Sequence[Event], stored: Mapping[str, SystemRow], policy: CutoverPolicy
) -> None:
    """Refuse, before anything is sent, what the orchestrator would refuse for want of a
    change reference (the same rule it asks), naming each system."""
    refusals = [
        f"{event.subject}: {refusal.reason}"
        for event in events
        if isinstance(event, InboundEvent) and event.subject is not None
        for refusal in [
            change_ref_refusal(
                cause_of(event), stored.get(event.subject), policy, change_ref_of(event)
            )
        ]
        if refusal is not None
    ]
    if refusals:
        raise PermanentError("\n".join(refusals))


def check_residency(rows: Sequence[SystemRow], target: str, rules: ResidencyRules) -> None:
    """Refuse ``--to target`` for any system whose residency rule forbids it, as the engine
    would: with the rule's words."""
    refusals = [
        refusal
        for row in rows
        if (residency := request_of(row, rules).residency) is not None
        and (refusal := residency.refusal(row.id, target)) is not None
    ]
    if refusals:
        raise PermanentError("\n".join(refusals))


def requester(requested_by: str | None) -> str:
    """``--actor`` (or ``GOVMIG_ACTOR``), else the OS user: who asks, in every request."""
    if requested_by is not None:
        return requested_by
    try:
        return getpass.getuser()
    except (KeyError, OSError) as error:
        # No login name and no passwd entry (a bare container): say how to name oneself.
        raise ConfigurationError(
            f"cannot tell who you are ({error}): pass --actor NAME or set GOVMIG_ACTOR"
        ) from error
