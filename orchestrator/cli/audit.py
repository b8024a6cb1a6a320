"""``govmig audit verify``: walk the audit's hash chains and report the first broken link of each.

Opens the store read-only (a missing database is a clear error, exit 2), asks
``store.verify_chains`` and prints. Exit 0 with one summary line when every
chain holds; exit 1 (a failed check, like ``govmig events validate``) with one
line per broken chain: the record, the system, what is wrong, and the hash
expected and found there. The JSON is documented in docs/cli-json.md.
"""

from __future__ import annotations

import sys
from datetime import UTC
from pathlib import Path
from typing import Annotated, Any

import typer

from orchestrator.cli.completion import complete_system_id
from orchestrator.cli.options import StateDbOption, state_db_url
from orchestrator.cli.output import OutputFormat, OutputOption, emit
from orchestrator.cli.requests import parse_moment
from orchestrator.errors import PermanentError
from orchestrator.store import (
    ChainBreak,
    ChainReport,
    ExportError,
    ExportFormat,
    audit_links,
    open_store,
    read_export,
    verify_chains,
    verify_excerpt,
    write_export,
)

app = typer.Typer(
    help="The audit trail: every state change, refusal, request and approval, hash-chained.",
    no_args_is_help=True,
)


@app.command("verify")
def verify(
    system: Annotated[
        str | None,
        typer.Option(
            "--system",
            help="Only this system's chain.",
            show_default=False,
            autocompletion=complete_system_id,
        ),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            help="Verify this export (jsonl or csv) offline instead of the database.",
            show_default=False,
        ),
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
    state_db: StateDbOption = None,
) -> None:
    """Check every system's audit chain (or an export's, --file); exit 1 if any link is broken.

    JSON: {intact, chains, records, broken: [{system_id, record_id, problem,
    expected, found}]}; problem is link (a record deleted before it, or
    inserted), content (the record altered) or head (the chain's tail cut, or a
    record appended past its head).
    """
    if file is not None:
        report = _verify_file(file, system)
    else:
        with open_store(state_db_url(state_db), create=False) as store, store.session() as session:
            report = verify_chains(session, system_id=system)
    if system is not None and report.chains == 0:
        raise PermanentError(f"no audit chain for system {system!r}: it has no audit record")
    if output is OutputFormat.JSON:
        emit([], output, document=report_document(report))
    elif report.intact:
        typer.echo(f"audit intact: {_summary(report)}")
    else:
        emit([_break_row(found) for found in report.breaks], output, title=_title(report))
    if not report.intact:
        raise typer.Exit(1)


def _verify_file(file: Path, system: str | None) -> ChainReport:
    """An export's chains, checked with no database: each system's first ``prev_hash`` is
    taken as given, and there is no head to compare the last hash with."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PermanentError(f"cannot read {file}: {error}") from None
    try:
        links = [link for link in read_export(text) if system in (None, link.content["system_id"])]
    except ExportError as error:
        raise PermanentError(f"{file}: {error}") from None
    return verify_excerpt(links)


@app.command("export")
def export(
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="From this time on (ISO 8601; UTC without an offset).",
            show_default=False,
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            help="Before this time (ISO 8601; UTC without an offset).",
            show_default=False,
        ),
    ] = None,
    system: Annotated[
        str | None,
        typer.Option(
            "--system",
            help="Only this system's records.",
            show_default=False,
            autocompletion=complete_system_id,
        ),
    ] = None,
    form: Annotated[
        str, typer.Option("--format", help="jsonl (one JSON object a line) or csv.")
    ] = "jsonl",
    out: Annotated[str, typer.Option("--out", help="The file to write; - is stdout.")] = "-",
    state_db: StateDbOption = None,
) -> None:
    """Write the audit records, oldest first by id, with their hashes, for offline checking
    (govmig audit verify --file). The record format is in docs/cli-json.md."""
    try:
        chosen = ExportFormat(form)
    except ValueError:
        raise PermanentError(f"--format {form!r}: use jsonl or csv") from None
    start = None if since is None else parse_moment(since, UTC, "--since")
    end = None if until is None else parse_moment(until, UTC, "--until")
    if start is not None and end is not None and start > end:
        raise PermanentError(f"--since {since} is after --until {until}")
    with open_store(state_db_url(state_db), create=False) as store, store.session() as session:
        links = audit_links(session, system_id=system, since=start, until=end)
        if out == "-":
            write_export(links, chosen, sys.stdout)
        else:
            with Path(out).open("w", encoding="utf-8", newline="") as stream:
                write_export(links, chosen, stream)


def report_document(report: ChainReport) -> dict[str, Any]:
    """The stable JSON of a verification."""
    return {
        "intact": report.intact,
        "chains": report.chains,
        "records": report.records,
        "broken": [_break_row(found) for found in report.breaks],
    }


def _break_row(found: ChainBreak) -> dict[str, Any]:
    return {
        "system_id": found.system_id,
        "record_id": found.record_id,
        "problem": str(found.problem),
        "expected": found.expected,
        "found": found.found,
    }


def _title(report: ChainReport) -> str:
    return f"audit broken: {len(report.breaks)} of {_summary(report)}"


def _summary(report: ChainReport) -> str:
    chains = "chain" if report.chains == 1 else "chains"
    records = "record" if report.records == 1 else "records"
    return f"{report.chains} {chains}, {report.records} {records}"
