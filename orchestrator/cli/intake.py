"""``govmig intake status|resume``: the flood guard's pauses, and ending one early.

When most recent events are dead-lettered, an instance's flood guard pauses
its intake for the cooldown (``--flood-cooldown`` of ``govmig run``): every
valid event waits behind the flood, but a broken producer cannot pour a whole
topic into the DLQ before anyone looks. ``status`` reads the pauses in force
from the state store; ``resume`` publishes a ``gov.cloud.intake.resume_requested``
event on the control topic, which is never paused: whichever instance reads it
ends every open pause and records who asked and why.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from pydantic import ValidationError

from orchestrator.bus import Producer
from orchestrator.cli.ops import RequestedByOption, requester
from orchestrator.cli.options import (
    BootstrapOption,
    ControlTopicOption,
    StateDbOption,
    TimeoutOption,
    kafka_settings,
    state_db_url,
)
from orchestrator.cli.output import OutputFormat, OutputOption, emit
from orchestrator.cli.render import iso, short_time
from orchestrator.cli.requests import CLI_SOURCE
from orchestrator.errors import PermanentError
from orchestrator.events import encode, new_event
from orchestrator.events.data import IntakeResumeRequested
from orchestrator.store import intake as intake_store
from orchestrator.store import open_store

app = typer.Typer(
    help="The flood guard's pauses of intake: see them, end them.", no_args_is_help=True
)


@app.command("status")
def status(output: OutputOption = OutputFormat.TABLE, state_db: StateDbOption = None) -> None:
    """The pauses in force now, per instance: why, since and until when.

    JSON: {paused, pauses: [{instance, reason, paused_at, until}]}; see docs/cli-json.md.
    """
    with open_store(state_db_url(state_db), create=False) as store, store.session() as session:
        pauses = intake_store.open_pauses(session)
    document: dict[str, Any] = {
        "paused": bool(pauses),
        "pauses": [
            {
                "instance": p.instance,
                "reason": p.reason,
                "paused_at": iso(p.paused_at),
                "until": iso(p.until),
            }
            for p in pauses
        ],
    }
    if output is OutputFormat.TABLE and not pauses:
        typer.echo("intake is running: no pause in force")
        return
    rows = [
        {"instance": p.instance, "until": short_time(p.until), "reason": p.reason} for p in pauses
    ]
    emit(rows, output, title="Intake paused by the flood guard", document=document)


def resume_request(requested_by: str, reason: str | None) -> IntakeResumeRequested:
    """The request, or ``PermanentError`` naming the option that cannot go into one."""
    try:
        return IntakeResumeRequested(requested_by=requested_by, reason=reason)
    except ValidationError as error:
        first = error.errors(include_url=False, include_input=False)[0]
        option = {"requested_by": "--requested-by", "reason": "--reason"}.get(
            str(first["loc"][0]) if first["loc"] else "", "the request"
        )
        raise PermanentError(f"{option}: {first['msg']}") from None


@app.command("resume")
def resume(
    reason: Annotated[str | None, typer.Option("--reason", help="Why, for the audit.")] = None,
    requested_by: RequestedByOption = None,
    output: OutputOption = OutputFormat.TABLE,
    bootstrap_servers: BootstrapOption = None,
    control_topic: ControlTopicOption = None,
    timeout: TimeoutOption = None,
) -> None:
    """Ask every paused instance to resume intake now, before its cooldown ends.

    JSON: {topic, id, requested_by, reason}.
    """
    kafka = kafka_settings(
        bootstrap_servers=bootstrap_servers, control_topic=control_topic, request_timeout_s=timeout
    )
    data = resume_request(requester(requested_by), reason)
    event = new_event(data, source=CLI_SOURCE)
    with Producer(kafka) as producer:
        producer.send_all(kafka.control_topic, [encode(event)])
    document = {
        "topic": kafka.control_topic,
        "id": event.id,
        "requested_by": data.requested_by,
        "reason": data.reason,
    }
    emit(
        [document],
        output,
        title=f"Resume request acknowledged on {kafka.control_topic}",
        document=document,
    )
