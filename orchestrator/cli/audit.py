"""``govmig audit verify|export|prune``: the audit's hash chains checked, written out, pruned.

``verify`` opens the store read-only (a missing database is a clear error, exit
2), asks ``store.verify_chains`` and prints. Exit 0 with one summary line when
every chain holds; exit 1 (a failed check, like ``govmig events validate``) with
one line per broken chain: the record, the system, what is wrong, and the hash
expected and found there. The JSON is documented in docs/cli-json.md.

``prune`` removes records older than ``--before``, never younger than the
retention (``--retention-days``, at least and by default 180: the Cybersecurity
Law keeps network logs six months); the chains keep verifying from their new
anchors, and the prune itself is audited in the ``(audit)`` chain.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Final

import typer

from orchestrator.cli.completion import complete_system_id
from orchestrator.cli.ops import RequestedByOption, requester
from orchestrator.cli.options import StateDbOption, state_db_url
from orchestrator.cli.output import OutputFormat, OutputOption, emit
from orchestrator.cli.requests import parse_moment
from orchestrator.errors import PermanentError
from orchestrator.store import (
    AuditEntry,
    ChainBreak,
    ChainReport,
    ExportError,
    ExportFormat,
    PruneReport,
    append_audit,
    audit_links,
    open_store,
    prune_audit,
    read_export,
    verify_chains,
    verify_excerpt,
    write_export,
)

# The Cybersecurity Law (art. 21) keeps network logs at least six months.
MIN_RETENTION_DAYS: Final = 180
# The chain of the audit's own maintenance (a prune): no system id looks like it.
AUDIT_CHAIN: Final = "(audit)"

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


@app.command("prune")
def prune(
    before: Annotated[
        str,
        typer.Option(
            "--before",
            help="Remove records recorded before this time (ISO 8601; UTC without an offset).",
            show_default=False,
        ),
    ],
    retention_days: Annotated[
        int,
        typer.Option(
            "--retention-days",
            envvar="GOVMIG_AUDIT_RETENTION_DAYS",
            help=f"Never remove records younger than this; at least {MIN_RETENTION_DAYS}.",
        ),
    ] = MIN_RETENTION_DAYS,
    actor: RequestedByOption = None,
    state_db: StateDbOption = None,
) -> None:
    """Remove the audit records recorded before --before, refusing any younger than the
    retention; each chain keeps verifying from the last record removed, and the prune is
    audited (who, what, when) in the (audit) chain."""
    cutoff = parse_moment(before, UTC, "--before")
    now = datetime.now(UTC)
    check_retention(cutoff, now=now, retention_days=retention_days)
    who = requester(actor)
    with open_store(state_db_url(state_db), create=False) as store, store.transaction() as session:
        report = prune_audit(session, before=cutoff)
        append_audit(session, [prune_entry(report, who, retention_days, now)])
    typer.echo(prune_line(report, retention_days))


def check_retention(before: datetime, *, now: datetime, retention_days: int) -> None:
    """Refuse a retention under the law's, and a prune reaching records younger than it."""
    if retention_days < MIN_RETENTION_DAYS:
        raise PermanentError(
            f"--retention-days {retention_days}: the audit is kept at least "
            f"{MIN_RETENTION_DAYS} days (Cybersecurity Law art. 21: six months)"
        )
    limit = now - timedelta(days=retention_days)
    if before > limit:
        raise PermanentError(
            f"refusing to prune records younger than the retention ({retention_days} days): "
            f"--before must be at or before {_utc(limit)}, not {_utc(before)}"
        )


def prune_entry(report: PruneReport, actor: str, retention_days: int, now: datetime) -> AuditEntry:
    """The audit record of a prune: who removed what, under which retention."""
    return AuditEntry(
        system_id=AUDIT_CHAIN,
        from_state=None,
        to_state=None,
        refused=False,
        reason=prune_line(report, retention_days),
        cause="prune",
        actor=actor,
        at=now,
        published_at=now,  # not a system's change: never a status event
    )


def prune_line(report: PruneReport, retention_days: int) -> str:
    """One line saying what a prune removed."""
    records = "record" if report.records == 1 else "records"
    chains = "chain" if report.chains == 1 else "chains"
    return (
        f"pruned {report.records} {records} of {report.chains} {chains} recorded before "
        f"{_utc(report.before)} (retention {retention_days} days)"
    )


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
