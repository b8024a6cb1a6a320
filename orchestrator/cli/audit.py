"""``govmig audit verify``: walk the audit's hash chains and report the first broken link of each.

Opens the store read-only (a missing database is a clear error, exit 2), asks
``store.verify_chains`` and prints. Exit 0 with one summary line when every
chain holds; exit 1 (a failed check, like ``govmig events validate``) with one
line per broken chain: the record, the system, what is wrong, and the hash
expected and found there. The JSON is documented in docs/cli-json.md.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from orchestrator.cli.options import StateDbOption, state_db_url
from orchestrator.cli.output import OutputFormat, OutputOption, emit
from orchestrator.errors import PermanentError
from orchestrator.store import ChainBreak, ChainReport, open_store, verify_chains

app = typer.Typer(
    help="The audit trail: every state change, refusal, request and approval, hash-chained.",
    no_args_is_help=True,
)


@app.command("verify")
def verify(
    system: Annotated[
        str | None, typer.Option("--system", help="Only this system's chain.", show_default=False)
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
    state_db: StateDbOption = None,
) -> None:
    """Check every system's audit chain; exit 1 if any link is broken.

    JSON: {intact, chains, records, broken: [{system_id, record_id, problem,
    expected, found}]}; problem is link (a record deleted before it, or
    inserted), content (the record altered) or head (the chain's tail cut, or a
    record appended past its head).
    """
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
