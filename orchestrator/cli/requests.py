"""From ``govmig migrate|cancel|...|approve|reject`` arguments to request events, and back.

Pure: the commands in ``cli/ops.py`` call these before anything touches the
store or the broker, so bad input is refused with a clear message and nothing
is sent. Each request is a new event (a random id): asking twice is two asks,
and the orchestrator's state machine decides what the second one means.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from enum import StrEnum
from typing import Any, Final

from pydantic import ValidationError

from orchestrator.errors import PermanentError
from orchestrator.events import Event, new_event
from orchestrator.events.data import (
    MigrationApproved,
    MigrationCancelRequested,
    MigrationFinalizeRequested,
    MigrationRehearsalRequested,
    MigrationRejected,
    MigrationRequested,
    MigrationRetryRequested,
    MigrationRevertRequested,
    MigrationRollbackRequested,
    MigrationScheduled,
)
from orchestrator.events.envelope import EventData
from orchestrator.events.fields import PATTERN_HINTS
from orchestrator.gates import CutoverCase, Wait, decide
from orchestrator.inventory import Calendar, CalendarFacts
from orchestrator.inventory.models import SYSTEM_ID_PATTERN

# The CloudEvents source of every request the CLI publishes.
CLI_SOURCE: Final = "/govmig/cli"

_SYSTEM_ID = re.compile(SYSTEM_ID_PATTERN)
# How a field of the request data is spelled on the command line, for messages.
_OPTION_OF: Final = {
    "system_id": "SYSTEM_ID",
    "target_node": "--to",
    "wave": "--wave",
    "requested_by": "--requested-by",
    "reason": "--reason",
    "change_ref": "--change-ref",
    "comment": "--comment",
    "approved_by": "--actor",
    "rejected_by": "--actor",
    "scheduled_by": "--actor",
    "at": "--at",
}
# Who asked, by the name each request's data gives them.
_ACTOR_FIELDS: Final = ("requested_by", "approved_by", "rejected_by", "scheduled_by")


class Action(StrEnum):
    """What an operator asks for; each is one event type."""

    MIGRATE = "migrate"
    CANCEL = "cancel"
    RETRY = "retry"
    ROLLBACK = "rollback"
    REVERT = "revert"
    REHEARSE = "rehearse"
    FINALIZE = "finalize"
    APPROVE = "approve"
    REJECT = "reject"
    SCHEDULE = "schedule"


_COMMANDS: Final[Mapping[Action, type[EventData]]] = {
    Action.CANCEL: MigrationCancelRequested,
    Action.RETRY: MigrationRetryRequested,
    Action.ROLLBACK: MigrationRollbackRequested,
    Action.REVERT: MigrationRevertRequested,
    Action.REHEARSE: MigrationRehearsalRequested,
    Action.FINALIZE: MigrationFinalizeRequested,
    Action.APPROVE: MigrationApproved,
    Action.REJECT: MigrationRejected,
    Action.SCHEDULE: MigrationScheduled,
}
# Who acts, in each approval request's data.
_APPROVERS: Final[Mapping[Action, str]] = {
    Action.APPROVE: "approved_by",
    Action.REJECT: "rejected_by",
}


def unknown_system_message(system_id: str) -> str:
    """What an operator reads for an id the store has never seen."""
    return (
        f"unknown system {system_id!r}: it has not been registered (govmig inventory publish FILE)"
    )


def check_system_ids(system_ids: Iterable[str]) -> list[str]:
    """The ids in order without repeats; ``PermanentError`` naming every malformed one."""
    ids = list(dict.fromkeys(system_ids))
    hint = PATTERN_HINTS[SYSTEM_ID_PATTERN]
    bad = [system_id for system_id in ids if not _SYSTEM_ID.fullmatch(system_id)]
    if bad:
        raise PermanentError(
            "\n".join(f"malformed system id {system_id!r}: {hint}" for system_id in bad)
        )
    if not ids:
        raise PermanentError("name at least one SYSTEM_ID")
    return ids


def check_target(target: str, nodes: Collection[str]) -> str:
    """``target`` if it is one of ``nodes``; else ``PermanentError`` listing the valid ones."""
    if target not in nodes:
        raise PermanentError(
            f"unknown node {target!r} for --to: the city nodes are {', '.join(sorted(nodes))}"
        )
    return target


def build_requests(
    action: Action,
    system_ids: Sequence[str],
    *,
    requested_by: str,
    reason: str | None = None,
    change_ref: str | None = None,
    target: str | None = None,
    wave: int | None = None,
    now: datetime | None = None,
) -> list[Event]:
    """One request event per system, in order; ``PermanentError`` names the bad option.

    Every request may say why and name its change; ``target`` and ``wave`` belong to
    ``migrate`` only.
    """
    fields: dict[str, Any] = {
        "requested_by": requested_by,
        "reason": reason,
        "change_ref": change_ref,
    }
    if action is Action.MIGRATE:
        fields |= {"target_node": target, "wave": wave}
    elif target is not None or wave is not None:
        raise PermanentError(f"--to and --wave only apply to migrate, not {action}")
    return _events(action, system_ids, fields, now)


def check_approval_targets(system_ids: Sequence[str], wave: int | None) -> list[str]:
    """The SYSTEM_IDs of an approval, checked; none when ``--wave`` names the systems instead."""
    if system_ids and wave is not None:
        raise PermanentError("give either SYSTEM_IDs or --wave W, not both")
    if wave is not None:
        return []
    if not system_ids:
        raise PermanentError("name the systems: SYSTEM_ID... or --wave W")
    return check_system_ids(system_ids)


def wave_members(wave: int, system_ids: Sequence[str]) -> list[str]:
    """The systems of ``wave`` as the store lists them; an empty wave is an error."""
    if not system_ids:
        raise PermanentError(
            f"wave {wave} has no systems in the state database: migrate them with --wave {wave} "
            "first, or name the systems"
        )
    return list(system_ids)


def require_change_ref(action: Action, change_ref: str | None) -> str:
    """``--change-ref``, which every approval and rejection must name."""
    if change_ref is None:
        raise PermanentError(f"--change-ref is required: the change (ticket) you {action} under")
    return change_ref


def build_approvals(
    action: Action,
    system_ids: Sequence[str],
    *,
    actor: str,
    change_ref: str,
    comment: str | None = None,
    now: datetime | None = None,
) -> list[Event]:
    """One approval (or rejection) event per system, in order; ``PermanentError`` names the bad
    option."""
    fields = {_APPROVERS[action]: actor, "change_ref": change_ref, "comment": comment}
    return _events(action, system_ids, fields, now)


def parse_moment(text: str, zone: tzinfo, option: str = "--at") -> datetime:
    """``--at`` (or ``option``): an ISO 8601 time; one without an offset is read in ``zone``."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise PermanentError(
            f"{option} {text!r}: not a time; write it as 2027-01-09T01:00 (ISO 8601, with or "
            "without an offset such as +08:00)"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def check_schedule(
    system_id: str, at: datetime, *, now: datetime, calendar: Calendar, facts: CalendarFacts
) -> None:
    """Refuse a moment that has passed, or when the calendar would hold a cutover of this
    system (a freeze, no window): the same gate the orchestrator asks, saying why."""
    local = at.astimezone(calendar.time_zone).strftime("%a %Y-%m-%d %H:%M %Z")
    if at <= now:
        raise PermanentError(f"cannot schedule {system_id} at {local}: that time has passed")
    held = decide(CutoverCase(facts, forecast_s=0.0, budget_s=float("inf")), calendar, at)
    if isinstance(held, Wait):
        raise PermanentError(f"cannot schedule {system_id} at {local}: {held.line}")


def build_schedule(
    system_id: str,
    at: datetime | None,
    *,
    actor: str,
    reason: str | None = None,
    change_ref: str | None = None,
    now: datetime | None = None,
) -> list[Event]:
    """The one event pinning ``system_id``'s cutover to ``at`` (None: clearing the pin)."""
    fields = {"at": at, "scheduled_by": actor, "reason": reason, "change_ref": change_ref}
    return _events(Action.SCHEDULE, [system_id], fields, now)


def _events(
    action: Action, system_ids: Sequence[str], fields: Mapping[str, Any], now: datetime | None
) -> list[Event]:
    at = now if now is not None else datetime.now(UTC)
    return [
        new_event(_data(action, {"system_id": system_id, **fields}), source=CLI_SOURCE, time=at)
        for system_id in system_ids
    ]


def _data(action: Action, fields: dict[str, Any]) -> EventData:
    model = MigrationRequested if action is Action.MIGRATE else _COMMANDS[action]
    try:
        return model(**fields)
    except ValidationError as error:
        first = error.errors(include_url=False, include_input=False)[0]
        name = str(first["loc"][0]) if first["loc"] else "request"
        pattern = str(first.get("ctx", {}).get("pattern", ""))
        hint = PATTERN_HINTS.get(pattern, first["msg"])
        shown = _OPTION_OF.get(name, name)
        raise PermanentError(f"{shown} {fields.get(name)!r}: {hint}") from None


def request_row(event: Event) -> dict[str, Any]:
    """One published request as the stable JSON row (see docs/cli-json.md)."""
    data = event.data.model_dump(mode="json")
    return {
        "id": event.id,
        "type": event.type,
        "system_id": data.get("system_id"),
        "platform_id": data.get("platform_id"),
        "requested_by": next((data[name] for name in _ACTOR_FIELDS if name in data), None),
        "target_node": data.get("target_node"),
        "wave": data.get("wave"),
        "reason": data.get("reason"),
        "change_ref": data.get("change_ref"),
        "comment": data.get("comment"),
        "at": data.get("at"),
        "time": None if event.time is None else event.time.isoformat().replace("+00:00", "Z"),
    }


def requests_document(events: Sequence[Event], *, topic: str) -> dict[str, Any]:
    """What ``--output json`` prints once the broker acknowledged ``events`` on ``topic``."""
    return {"topic": topic, "sent": len(events), "events": [request_row(e) for e in events]}


def requests_table(events: Sequence[Event]) -> list[dict[str, Any]]:
    """The table rows: which system, which request, and the event id to look for."""
    return [
        {"system": row["system_id"], "request": row["type"], "event id": row["id"]}
        for row in map(request_row, events)
    ]
