"""The ``govmig`` command line: parses options, calls the application, prints.

Each command group lives in its own module; this one assembles them and turns
any ``GovmigError`` into one clear line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import sys

import typer

from orchestrator.cli import (
    audit,
    calendar,
    demo,
    dlq,
    events,
    intake,
    inventory,
    kafka,
    lab,
    ops,
    plan,
    platform,
    publish,
    run,
    views,
    wave,
)
from orchestrator.errors import GovmigError
from orchestrator.redaction import redact

app = typer.Typer(
    name="govmig",
    help="Migrate government business systems onto the 14 city cloud nodes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # --install-completion and --show-completion; cli/completion.py suggests ids and nodes.
    add_completion=True,
)
app.command("demo")(demo.demo)
app.command("run")(run.run)
# Ops: requests are published as events; reads come straight from the store.
app.command("migrate")(ops.migrate)
app.command("cancel")(ops.cancel)
app.command("retry")(ops.retry)
app.command("rollback")(ops.rollback)
app.command("revert")(ops.revert)
app.command("rehearse")(ops.rehearse)
app.command("finalize")(ops.finalize)
app.command("approve")(ops.approve)
app.command("reject")(ops.reject)
app.command("schedule")(ops.schedule)
app.command("status")(views.status)
app.command("capacity")(views.capacity)
app.command("plan")(plan.plan)
app.command("calendar")(calendar.calendar)
app.add_typer(kafka.app, name="kafka")
app.add_typer(lab.app, name="lab")
app.add_typer(inventory.app, name="inventory")
app.add_typer(events.app, name="events")
app.add_typer(dlq.app, name="dlq")
app.add_typer(intake.app, name="intake")
app.add_typer(wave.app, name="wave")
app.add_typer(platform.app, name="platform")
app.add_typer(audit.app, name="audit")
# Registered here, not in cli/inventory.py: publish reuses that module's options.
inventory.app.command("publish")(publish.publish)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except GovmigError as error:
        typer.secho(redact(f"error: {error}"), fg=typer.colors.RED, err=True)
        sys.exit(2)
