"""Typer options shared by the ``govmig`` commands, and their conversion to settings.

Top of the pipeline: every command that talks to Kafka, reads the state store or
the inventory declares the same flags with the same help, from here. An option
left out is ``None`` and falls back to its ``GOVMIG_*`` environment variable
through the settings classes (``orchestrator.settings``), then to the default,
so the environment is read in one place only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from orchestrator.cli.output import OutputFormat, OutputOption
from orchestrator.inventory import Calendar, load_calendar, load_departments
from orchestrator.inventory.cutover_policy import CutoverPolicy, load_cutover_policy
from orchestrator.inventory.loader import DEFAULT_DEPARTMENTS
from orchestrator.settings import KafkaSettings, StoreSettings

__all__ = [
    "BootstrapOption",
    "CalendarOption",
    "ControlTopicOption",
    "CutoverPolicyOption",
    "DepartmentsOption",
    "DlqTopicOption",
    "EventsTopicOption",
    "InventoryOption",
    "OutputFormat",
    "OutputOption",
    "ResidencyOption",
    "StateDbOption",
    "StatusTopicOption",
    "TimeoutOption",
    "cutover_policy",
    "kafka_help",
    "kafka_settings",
    "state_db_url",
]


def kafka_help(text: str, field: str) -> str:
    """Help text naming the environment variable and the default of a ``KafkaSettings`` field."""
    default = KafkaSettings.model_fields[field].default
    # Parentheses, not brackets: Typer's rich help would take [...] for markup.
    return f"{text} (env GOVMIG_{field.upper()}, default {default})"


BootstrapOption = Annotated[
    str | None,
    typer.Option(
        "--bootstrap-servers",
        help=kafka_help("Kafka brokers, host:port[,...].", "bootstrap_servers"),
    ),
]
EventsTopicOption = Annotated[
    str | None, typer.Option("--events-topic", help=kafka_help("Inbound topic.", "events_topic"))
]
ControlTopicOption = Annotated[
    str | None,
    typer.Option(
        "--control-topic", help=kafka_help("Requests to the orchestrators.", "control_topic")
    ),
]
StatusTopicOption = Annotated[
    str | None,
    typer.Option("--status-topic", help=kafka_help("Outbound status topic.", "status_topic")),
]
DlqTopicOption = Annotated[
    str | None, typer.Option("--dlq-topic", help=kafka_help("Dead-letter topic.", "dlq_topic"))
]
TimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        min=0.1,
        help=kafka_help(
            "Seconds to wait for the broker to answer and acknowledge.", "request_timeout_s"
        ),
    ),
]

_STATE_DB_DEFAULT = StoreSettings.model_fields["state_db"].default
StateDbOption = Annotated[
    str | None,
    typer.Option(
        "--state-db",
        help="State database URL: sqlite:///PATH or postgresql+psycopg://USER@HOST/DB "
        f"(env GOVMIG_STATE_DB, default {_STATE_DB_DEFAULT})",
    ),
]

InventoryOption = Annotated[
    Path,
    typer.Option(
        "--inventory",
        envvar="GOVMIG_INVENTORY",
        help="Directory holding hosts.yml (the cities, nodes and platforms).",
    ),
]

CalendarOption = Annotated[
    Path | None,
    typer.Option(
        "--calendar",
        envvar="GOVMIG_CALENDAR",
        dir_okay=False,
        help="Maintenance windows and freezes (e.g. inventory/calendar.yml); "
        "none: cutovers are not restricted to windows.",
    ),
]
DepartmentsOption = Annotated[
    Path,
    typer.Option(
        "--departments",
        dir_okay=False,
        help="The department register that turns a calendar's department codes into names.",
    ),
]


CutoverPolicyOption = Annotated[
    Path | None,
    typer.Option(
        "--cutover-policy",
        envvar="GOVMIG_CUTOVER_POLICY",
        help="The cutover policy file, e.g. inventory/cutover-policy.yml (default: critical "
        "and high systems need an approval, no self-approval, approvals live 72 h)",
        show_default=False,
    ),
]


def cutover_policy(path: Path | None, departments: Path = DEFAULT_DEPARTMENTS) -> CutoverPolicy:
    """The policy in the file at ``path``, its departments by the register; without one, the
    defaults."""
    return (
        CutoverPolicy()
        if path is None
        else load_cutover_policy(path, load_departments(departments))
    )


ResidencyOption = Annotated[
    Path,
    typer.Option(
        "--residency",
        envvar="GOVMIG_RESIDENCY",
        dir_okay=False,
        help="The data residency rules: where each data class may land "
        "(default: the sample inventory/residency.yml).",
        show_default=False,
    ),
]


def calendar_of(path: Path | None, departments: Path) -> Calendar | None:
    """The calendar in the file at ``path``, its departments by the register; None without."""
    return None if path is None else load_calendar(path, load_departments(departments))


def kafka_settings(**options: Any) -> KafkaSettings:
    """``KafkaSettings`` from the options that were given; the rest from env and defaults."""
    given = {name: value for name, value in options.items() if value is not None}
    return KafkaSettings(**given)


def state_db_url(state_db: str | None) -> str:
    """The state database URL: the option, else ``GOVMIG_STATE_DB``, else the default."""
    if state_db is not None:
        return state_db
    return StoreSettings().state_db


def comma_list(text: str) -> tuple[str, ...]:
    """``a, b,,c`` as ``("a", "b", "c")``: the names an ``a,b,c`` option gives."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


def first_problem(error: ValidationError, *, options: bool = False) -> str:
    """``ipv6_prefix: the node prefix must be /64 ...``: one line, for the error line.

    With ``options``, each field is named as the command-line option it came from:
    ``--per-node`` for ``per_node``.
    """
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    if options and where:
        where = "--" + where.replace("_", "-")
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message
