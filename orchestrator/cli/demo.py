"""``govmig demo``: local Kafka, the orchestrator, a wave of real migrations, metrics.

Only parses options and prints; ``orchestrator.demo`` does the work.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from orchestrator.cli.completion import complete_node_list
from orchestrator.cli.options import comma_list
from orchestrator.demo import DemoOptions, run_demo


class DemoProvider(StrEnum):
    """The providers the demo can show."""

    LOCAL = "local"
    SSH = "ssh"


def demo(
    per_node: Annotated[
        int, typer.Option("--per-node", min=1, max=20, help="systems migrated per city node")
    ] = 2,
    fail: Annotated[
        int,
        typer.Option(
            "--fail",
            min=0,
            help="inject a replicate failure into this many systems, to see rollback",
        ),
    ] = 0,
    exit_after: Annotated[
        bool,
        typer.Option(
            "--exit", help="exit after the summary (the default when not attached to a terminal)"
        ),
    ] = False,
    home: Annotated[
        Path, typer.Option("--home", help="demo state: broker data, database, sandbox")
    ] = Path("var/demo"),
    kafka_port: Annotated[
        int, typer.Option("--kafka-port", help="the demo broker's port (and port+1)")
    ] = 19092,
    metrics_port: Annotated[int, typer.Option("--metrics-port", help="Prometheus endpoint")] = 9464,
    mitogen: Annotated[
        bool, typer.Option("--mitogen/--no-mitogen", help="Mitogen's faster Ansible strategy")
    ] = True,
    timeout: Annotated[
        float, typer.Option("--timeout", min=10, help="seconds to wait for the wave")
    ] = 900.0,
    nodes: Annotated[
        str,
        typer.Option(
            "--nodes",
            help="only these city nodes' systems move, a,b,c (default all 14)",
            autocompletion=complete_node_list,
        ),
    ] = "",
    platforms: Annotated[
        str,
        typer.Option(
            "--platforms",
            help="PRD platforms connected before the wave, one system of each one's city "
            "moved onto it, a,b ('' for none)",
        ),
    ] = "guangzhou",
    provider: Annotated[
        DemoProvider | None,
        typer.Option(
            "--provider",
            help="ssh: migrate between the hosts of a lab of real hosts (needs root); "
            "local: sandbox directories on this machine (default: ssh as root, else local)",
        ),
    ] = None,
) -> None:
    """Start a local Kafka and the orchestrator, migrate a wave, and show progress and metrics."""
    options = DemoOptions(
        home=home,
        kafka_port=kafka_port,
        metrics_port=metrics_port,
        per_node=per_node,
        failures=fail,
        timeout_s=timeout,
        mitogen=mitogen,
        stay=not exit_after and sys.stdout.isatty(),
        provider=None if provider is None else provider.value,
        nodes=comma_list(nodes),
        platforms=comma_list(platforms),
    )
    # Piped into a log, the progress table still gets room for every column.
    console = Console() if sys.stdout.isatty() else Console(width=110)
    raise typer.Exit(run_demo(options, console))
