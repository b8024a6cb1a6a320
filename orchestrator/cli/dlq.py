"""``govmig dlq list|replay``: look at dead letters and send them back for another try.

Parses options into ``KafkaSettings`` and calls ``orchestrator.cli.dlq_topic``;
nothing here talks to Kafka directly. An option left out falls back to its
``GOVMIG_*`` variable, then to the settings default (``cli/options.py``).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import typer

from orchestrator.cli.dlq_topic import list_dead_letters, replay_dead_letters
from orchestrator.cli.options import (
    BootstrapOption,
    DlqTopicOption,
    EventsTopicOption,
    kafka_settings,
)
from orchestrator.cli.output import OutputFormat, OutputOption, emit
from orchestrator.events.reasons import REASON_CODES
from orchestrator.reactor.deadletter import DeadLetterView

app = typer.Typer(
    help="Dead letters: records the orchestrator refused, with the reason in a header.",
    no_args_is_help=True,
)


def _check_reason(value: str | None) -> str | None:
    if value is not None and value not in REASON_CODES:
        raise typer.BadParameter(
            f"{value!r} is not a reason code; one of: {', '.join(REASON_CODES)}"
        )
    return value


ReasonOption = Annotated[
    str | None,
    typer.Option(
        "--reason", help="Only dead letters with this reason code.", callback=_check_reason
    ),
]
LimitOption = Annotated[
    int | None, typer.Option("--limit", min=1, help="At most this many, oldest first.")
]


@app.command("list")
def list_(
    reason: ReasonOption = None,
    limit: LimitOption = None,
    output: OutputOption = OutputFormat.TABLE,
    bootstrap_servers: BootstrapOption = None,
    dlq_topic: DlqTopicOption = None,
) -> None:
    """Show dead letters: reason, message, where each came from and when (nothing is consumed)."""
    settings = kafka_settings(bootstrap_servers=bootstrap_servers, dlq_topic=dlq_topic)
    letters = list_dead_letters(settings, reason=reason, limit=limit)
    emit(
        [_row(letter) for letter in letters],
        output,
        title=f"Dead letters on {settings.dlq_topic}",
        document=[asdict(letter) for letter in letters],
    )


def _row(letter: DeadLetterView) -> dict[str, Any]:
    source = f"{letter.source_topic}[{letter.source_partition}]@{letter.source_offset}"
    return {
        "partition": letter.partition,
        "offset": letter.offset,
        "key": letter.key,
        "reason": letter.reason,
        "message": letter.message,
        "source": source,
        "time": letter.time,
    }


@app.command()
def replay(
    reason: ReasonOption = None,
    limit: LimitOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be replayed; send nothing.")
    ] = False,
    bootstrap_servers: BootstrapOption = None,
    events_topic: EventsTopicOption = None,
    dlq_topic: DlqTopicOption = None,
) -> None:
    """Send dead letters back to the inbound topic as they first arrived (safe to repeat)."""
    settings = kafka_settings(
        bootstrap_servers=bootstrap_servers, events_topic=events_topic, dlq_topic=dlq_topic
    )
    report = replay_dead_letters(settings, reason=reason, limit=limit, dry_run=dry_run)
    if report.dry_run:
        typer.echo(f"dry run: would replay {report.selected} dead letters to {report.topic}")
    else:
        typer.echo(f"replayed {report.replayed} dead letters to {report.topic}")
