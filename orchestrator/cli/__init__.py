"""The ``govmig`` command line: parses options, calls the application, prints.

Each command group lives in its own module; this one assembles them and turns
any ``GovmigError`` into one clear line on stderr and a non-zero exit code.

A call loads only its command's module: ``govmig status`` never imports
Kafka or ansible-runner, so it starts in about 1.7 s where ``govmig --help``
takes 2.7 (5 December 2026), and so does a Tab completing its arguments.
``govmig --help``, a Tab on the command's own name and a word that is no
command load them all.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable

import typer
from click.shell_completion import split_arg_string

from orchestrator.errors import GovmigError
from orchestrator.redaction import redact

# Each command, in the order --help lists them: the module under orchestrator.cli that
# holds it, and the function (a command) or Typer app (a group of commands) in it.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("demo", "demo"),
    "run": ("run", "run"),
    # Ops: requests are published as events; reads come straight from the store.
    "migrate": ("ops", "migrate"),
    "cancel": ("ops", "cancel"),
    "retry": ("ops", "retry"),
    "rollback": ("ops", "rollback"),
    "revert": ("ops", "revert"),
    "rehearse": ("ops", "rehearse"),
    "finalize": ("ops", "finalize"),
    "approve": ("ops", "approve"),
    "reject": ("ops", "reject"),
    "schedule": ("ops", "schedule"),
    "status": ("views", "status"),
    "capacity": ("views", "capacity"),
    "plan": ("plan", "plan"),
    "calendar": ("calendar", "calendar"),
    "kafka": ("kafka", "app"),
    "lab": ("lab", "app"),
    "inventory": ("inventory", "app"),
    "events": ("events", "app"),
    "dlq": ("dlq", "app"),
    "intake": ("intake", "app"),
    "wave": ("wave", "app"),
    "platform": ("platform", "app"),
    "audit": ("audit", "app"),
}


def build_app(names: Iterable[str] = COMMANDS) -> typer.Typer:
    """The command line with the commands ``names`` (all by default)."""
    app = typer.Typer(
        name="govmig",
        help="Migrate government business systems onto the 14 city cloud nodes.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        # --install-completion and --show-completion; cli/completion.py suggests ids and nodes.
        add_completion=True,
    )
    # A callback keeps govmig a group of commands even when it is built with one.
    app.callback()(_root)
    for name in names:
        module, attribute = COMMANDS[name]
        found = getattr(importlib.import_module(f"orchestrator.cli.{module}"), attribute)
        if isinstance(found, typer.Typer):
            app.add_typer(found, name=name)
        else:
            app.command(name)(found)
    return app


def _root() -> None:
    """Migrate government business systems onto the 14 city cloud nodes."""


def wanted(args: list[str]) -> list[str]:
    """The commands a call needs: the one it names, or all (--help, a typo)."""
    return args[:1] if args[:1] and args[0] in COMMANDS else list(COMMANDS)


def typed_words() -> list[str]:
    """The words after ``govmig``: the call's, or, at a Tab, those typed in full before it."""
    if "_GOVMIG_COMPLETE" not in os.environ:
        return sys.argv[1:]
    if "COMP_WORDS" in os.environ:  # bash
        words = split_arg_string(os.environ["COMP_WORDS"])
        return words[1 : int(os.environ.get("COMP_CWORD", "0"))]
    line = os.environ.get("_TYPER_COMPLETE_ARGS", "")  # zsh, fish, PowerShell
    words = split_arg_string(line)[1:]
    return words if line.endswith(" ") else words[:-1]


def main() -> None:
    """Console-script entry point."""
    try:
        build_app(wanted(typed_words()))()
    except GovmigError as error:
        typer.secho(redact(f"error: {error}"), fg=typer.colors.RED, err=True)
        sys.exit(2)
