"""``govmig events``: the event contract from the command line.

``validate`` checks event files offline (the logic is ``orchestrator.events.validate``);
``reasons`` lists the reason codes that rejections and dead letters carry.
This module only parses options and prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from orchestrator.cli.output import OutputFormat, OutputOption, emit
from orchestrator.events import DEFAULT_MAX_BYTES, REASON_CODES, KnownIds
from orchestrator.events.validate import check_file
from orchestrator.inventory.loader import load_inventory

app = typer.Typer(
    help="The CloudEvents contract: check event files, list reason codes.",
    no_args_is_help=True,
)

FilesArgument = Annotated[
    list[Path],
    typer.Argument(
        exists=True,
        dir_okay=False,
        readable=True,
        help="Structured-mode events: one per *.json file, one per line in *.jsonl.",
    ),
]


InventoryOption = Annotated[
    Path | None,
    typer.Option(
        "--inventory",
        file_okay=False,
        exists=True,
        help="Also check city and node ids against this inventory directory (its hosts.yml).",
    ),
]


@app.command("validate")
def validate(
    files: FilesArgument,
    max_bytes: Annotated[
        int, typer.Option("--max-bytes", min=1, help="Size limit per event, in bytes.")
    ] = DEFAULT_MAX_BYTES,
    inventory: InventoryOption = None,
) -> None:
    """Check event files offline: one FILE:LINE: code: message line per problem, exit 1 if any."""
    known = None
    if inventory is not None:
        loaded = load_inventory(inventory)
        known = KnownIds.of(loaded)
    reports = [check_file(path, known=known, max_bytes=max_bytes) for path in files]
    problems = [problem for report in reports for problem in report.problems]
    for problem in problems:
        typer.echo(str(problem))
    events = _count(sum(report.events for report in reports), "event")
    read = _count(len(reports), "file")
    if problems:
        typer.echo(f"{_count(len(problems), 'problem')} in {events} ({read})")
        raise typer.Exit(1)
    typer.echo(f"{events} OK ({read})")


@app.command("reasons")
def reasons(output: OutputOption = OutputFormat.TABLE) -> None:
    """List the reason codes of rejected events and dead letters."""
    rows = [{"code": code, "meaning": meaning} for code, meaning in REASON_CODES.items()]
    emit(rows, output, title="Reason codes", document=dict(REASON_CODES))


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
