"""``govmig wave [resume W]``: the waves, their state, progress and health; resuming a halted one.

``govmig run --wave-threshold SHARE`` gates the waves: a wave starts only once
every earlier wave finished with at most that share of its systems rolled back
or failed, and a wave over it halts the waves after it. ``govmig wave`` reads
the waves from the state store; ``resume`` publishes a
``gov.cloud.wave.resume_requested`` event (key ``wave-N``) once the store says
the wave is halted: whichever instance reads it ends the halt, recording who
asked and why, and the status topic announces it (``gov.cloud.wave.status_changed``).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from orchestrator.cli.ops import RequestedByOption, request_route, requester, send
from orchestrator.cli.options import (
    BootstrapOption,
    EventsTopicOption,
    StateDbOption,
    TimeoutOption,
    state_db_url,
)
from orchestrator.cli.output import OutputFormat, OutputOption, emit
from orchestrator.cli.render import iso, percent, short_time
from orchestrator.cli.requests import CLI_SOURCE
from orchestrator.errors import PermanentError
from orchestrator.events import new_event
from orchestrator.events.data import WaveResumeRequested
from orchestrator.gates.waves import wave_state
from orchestrator.store import open_store
from orchestrator.store import waves as wave_store
from orchestrator.store.waves import WaveHalt

app = typer.Typer(help="The migration waves: state, progress, health; resume a halted one.")


@app.callback(invoke_without_command=True)
def waves(
    context: typer.Context,
    output: OutputOption = OutputFormat.TABLE,
    state_db: StateDbOption = None,
) -> None:
    """Every wave: its state (waiting, running, finished, halted), progress and health.

    JSON: {waves: [{wave, state, systems, finished, rolled_back_or_failed, share_bad,
    halted: {reason, at, resumed_at, resumed_by} | null}]}; see docs/cli-json.md.
    """
    if context.invoked_subcommand is not None:
        return
    with open_store(state_db_url(state_db), create=False) as store, store.session() as session:
        tallies, halts = wave_store.wave_tallies(session), wave_store.halts(session)
    rows: list[dict[str, Any]] = []
    for wave, tally in sorted(tallies.items()):
        halt = halts.get(wave)
        held = halt is not None and halt.resumed_at is None
        rows.append(
            {
                "wave": wave,
                "state": str(wave_state(tally, halted=held)),
                "systems": tally.total,
                "finished": tally.finished,
                "rolled_back_or_failed": tally.went_badly,
                "share_bad": round(tally.share_bad, 4),
                "halted": None if halt is None else _halt_document(halt),
            }
        )
    if output is OutputFormat.TABLE and not rows:
        typer.echo("no system has a wave")
        return
    emit([_table_row(row, halts.get(row["wave"])) for row in rows], output, title="Waves",
         document={"waves": rows})  # fmt: skip


def _halt_document(halt: WaveHalt) -> dict[str, Any]:
    return {
        "reason": halt.reason,
        "at": iso(halt.halted_at),
        "resumed_at": None if halt.resumed_at is None else iso(halt.resumed_at),
        "resumed_by": halt.resumed_by,
    }


def _table_row(row: dict[str, Any], halt: WaveHalt | None) -> dict[str, Any]:
    if halt is None:
        note = ""
    elif halt.resumed_at is None:
        note = f"halted {short_time(halt.halted_at)}: {halt.reason}"
    else:
        note = f"resumed by {halt.resumed_by} {short_time(halt.resumed_at)}"
    return {
        "wave": row["wave"],
        "state": row["state"],
        "progress": f"{row['finished']}/{row['systems']}",
        "rolled back or failed": percent(row["share_bad"]),
        "halt": note,
    }


@app.command("resume")
def resume(
    wave: Annotated[int, typer.Argument(metavar="W", min=1, max=999, help="The halted wave.")],
    reason: Annotated[str | None, typer.Option("--reason", help="Why, for the audit.")] = None,
    actor: RequestedByOption = None,
    output: OutputOption = OutputFormat.TABLE,
    state_db: StateDbOption = None,
    bootstrap_servers: BootstrapOption = None,
    events_topic: EventsTopicOption = None,
    timeout: TimeoutOption = None,
) -> None:
    """Resume halted wave W: accept how it went, so the waves after it may start.

    JSON: as for migrate (the event's wave, requested_by and reason), see docs/cli-json.md.
    """
    with open_store(state_db_url(state_db), create=False) as store, store.session() as session:
        halt = wave_store.halts(session).get(wave)
    if halt is None or halt.resumed_at is not None:
        raise PermanentError(f"wave {wave} is not halted: nothing to resume (see govmig wave)")
    try:
        data = WaveResumeRequested(wave=wave, requested_by=requester(actor), reason=reason)
    except ValueError as error:
        raise PermanentError(f"--actor or --reason: {error}") from None
    # The wave was checked above; there is no system id to check.
    where = request_route(True, output, state_db, bootstrap_servers, events_topic, timeout)
    send([], [new_event(data, source=CLI_SOURCE)], where)
