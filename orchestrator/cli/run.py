"""``govmig run``: the orchestrator, until SIGTERM or SIGINT.

Parses the options into the settings classes (an option not given falls back
to its ``GOVMIG_*`` environment variable, then to the default), configures
logging, and runs ``orchestrator.service.Orchestrator``. SIGTERM and SIGINT ask
it to finish the batch under way, commit it, publish what is pending and exit
with status 0.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from orchestrator.capacity import PlacementStrategy
from orchestrator.cli.options import (
    CalendarOption,
    CutoverPolicyOption,
    DepartmentsOption,
    ResidencyOption,
    calendar_of,
    cutover_policy,
)
from orchestrator.errors import GovmigError
from orchestrator.inventory import DEFAULT_INVENTORY_ROOT, load_inventory
from orchestrator.inventory.loader import DEFAULT_DEPARTMENTS, DEFAULT_RESIDENCY
from orchestrator.inventory.residency import load_residency
from orchestrator.observability import configure_logging
from orchestrator.service import DEFAULT_SESSION_TIMEOUT_S, Orchestrator
from orchestrator.settings import (
    IntakeSettings,
    KafkaSettings,
    MetricsSettings,
    PlacementSettings,
    StoreSettings,
    WorkerSettings,
)


def run(
    bootstrap_servers: Annotated[
        str | None,
        typer.Option(
            "--bootstrap-servers",
            help="Kafka bootstrap servers, host:port,... (env GOVMIG_BOOTSTRAP_SERVERS; "
            "default 127.0.0.1:9092)",
            show_default=False,
        ),
    ] = None,
    state_db: Annotated[
        str | None,
        typer.Option(
            "--state-db",
            help="state store URL: sqlite:///PATH or postgresql+psycopg://USER@HOST/DB "
            "(env GOVMIG_STATE_DB; default sqlite:///var/govmig.db)",
            show_default=False,
        ),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            min=0,
            max=65535,
            help="Prometheus endpoint port, 0 for any free port "
            "(env GOVMIG_METRICS_PORT; default 9464)",
            show_default=False,
        ),
    ] = None,
    group: Annotated[
        str | None,
        typer.Option(
            "--group",
            help="Kafka consumer group; instances in one group share the intake "
            "(env GOVMIG_CONSUMER_GROUP; default govmig-orchestrator)",
            show_default=False,
        ),
    ] = None,
    inventory: Annotated[
        Path,
        typer.Option("--inventory", help="directory holding hosts.yml (cities and nodes)"),
    ] = DEFAULT_INVENTORY_ROOT,
    placement_strategy: Annotated[
        PlacementStrategy | None,
        typer.Option(
            "--placement-strategy",
            help="when a system's own city node cannot take it: spread (least used node) "
            "or pack (most used node that fits) (env GOVMIG_PLACEMENT_STRATEGY; default spread)",
            show_default=False,
        ),
    ] = None,
    batch_size: Annotated[
        int,
        typer.Option("--batch-size", min=1, max=10_000, help="events per polled batch"),
    ] = 500,
    session_timeout: Annotated[
        float,
        typer.Option(
            "--session-timeout",
            min=6.0,
            max=300.0,
            help="seconds before the group gives a crashed instance's partitions to another",
        ),
    ] = DEFAULT_SESSION_TIMEOUT_S,
    flood_cooldown: Annotated[
        float | None,
        typer.Option(
            "--flood-cooldown",
            min=0,
            max=86_400,
            help="seconds the flood guard pauses intake when most recent events are "
            "dead-lettered; `govmig intake resume` ends a pause early "
            "(env GOVMIG_FLOOD_COOLDOWN_S; default 60)",
            show_default=False,
        ),
    ] = None,
    registration_wait: Annotated[
        float | None,
        typer.Option(
            "--registration-wait",
            min=0,
            max=86_400,
            help="seconds a request about a system not registered yet waits for its "
            "registration before it is dead-lettered (unknown_system); 0 refuses it at once "
            "(env GOVMIG_REGISTRATION_WAIT_S; default 300)",
            show_default=False,
        ),
    ] = None,
    log_level: Annotated[
        str, typer.Option("--log-level", help="DEBUG, INFO, WARNING or ERROR")
    ] = "INFO",
    worker: Annotated[
        bool,
        typer.Option(
            "--worker/--no-worker",
            envvar="GOVMIG_WORKER",
            help="run the phase worker (playbooks); --no-worker stops systems at placed",
        ),
    ] = True,
    work_root: Annotated[
        Path | None,
        typer.Option(
            "--work-root",
            help="the local provider's sandbox: sources, node instances, name records "
            "(env GOVMIG_WORK_ROOT; default var/work)",
            show_default=False,
        ),
    ] = None,
    hosts: Annotated[
        Path | None,
        typer.Option(
            "--hosts",
            help="the ssh provider's inventory of hosts, e.g. the hosts.yml `govmig lab up` "
            "writes (env GOVMIG_HOSTS_FILE)",
            show_default=False,
        ),
    ] = None,
    artifacts_dir: Annotated[
        Path | None,
        typer.Option(
            "--artifacts-dir",
            help="where each playbook run's artifacts are kept "
            "(env GOVMIG_ARTIFACTS_DIR; default var/artifacts)",
            show_default=False,
        ),
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option(
            "--provider",
            help="the playbooks' provider: local (sandbox directories) or ssh (real hosts, "
            "needs --hosts) (env GOVMIG_PROVIDER; default local)",
            show_default=False,
        ),
    ] = None,
    mitogen: Annotated[
        bool | None,
        typer.Option(
            "--mitogen/--no-mitogen",
            help="run playbooks with Mitogen's strategy when it can load "
            "(env GOVMIG_MITOGEN; default on)",
            show_default=False,
        ),
    ] = None,
    phase_batch_size: Annotated[
        int | None,
        typer.Option(
            "--phase-batch-size",
            min=1,
            max=1000,
            help="most systems in one playbook run (env GOVMIG_PHASE_BATCH_SIZE; default 50)",
            show_default=False,
        ),
    ] = None,
    batch_window: Annotated[
        float | None,
        typer.Option(
            "--batch-window",
            min=0.0,
            max=60.0,
            help="seconds a system arriving in a phase waits for others of its phase; "
            "a batch that ends goes on to its next phase at once "
            "(env GOVMIG_BATCH_WINDOW_S; default 0.5)",
            show_default=False,
        ),
    ] = None,
    node_concurrency: Annotated[
        int | None,
        typer.Option(
            "--node-concurrency",
            min=1,
            help="playbook runs at once taking part on one node "
            "(env GOVMIG_NODE_CONCURRENCY; default 2)",
            show_default=False,
        ),
    ] = None,
    max_batches: Annotated[
        int | None,
        typer.Option(
            "--max-batches",
            min=1,
            help="playbook runs at once in this process (env GOVMIG_MAX_BATCHES; default 4)",
            show_default=False,
        ),
    ] = None,
    phase_timeout: Annotated[
        float | None,
        typer.Option(
            "--phase-timeout",
            min=1.0,
            help="seconds before a playbook run is stopped and its systems fail "
            "(env GOVMIG_PHASE_TIMEOUT_S; default 900)",
            show_default=False,
        ),
    ] = None,
    instance_id: Annotated[
        str | None,
        typer.Option(
            "--instance-id",
            help="this instance's name on its leases; a restart with the same name takes "
            "its leases back at once (env GOVMIG_INSTANCE_ID; default: host name and the lowest "
            "slot free on this host, so a restart without it takes its leases back too)",
            show_default=False,
        ),
    ] = None,
    warm: Annotated[
        bool | None,
        typer.Option(
            "--warm/--cold",
            help="warm replication: delta passes while the source serves until one is within "
            "--ready-budget (ready), then a cutover if its forecast fits the system's downtime "
            "budget (env GOVMIG_WARM_REPLICATION; default cold: one pass, then cutover)",
            show_default=False,
        ),
    ] = None,
    ready_budget: Annotated[
        float | None,
        typer.Option(
            "--ready-budget",
            min=0.001,
            help="seconds a delta pass may take for the system to be ready "
            "(env GOVMIG_READY_BUDGET_S; default 5)",
            show_default=False,
        ),
    ] = None,
    delta_interval: Annotated[
        float | None,
        typer.Option(
            "--delta-interval",
            min=0.0,
            help="seconds between a system's replication passes (env GOVMIG_DELTA_INTERVAL_S; "
            "default 30)",
            show_default=False,
        ),
    ] = None,
    downtime_budgets: Annotated[
        str | None,
        typer.Option(
            "--downtime-budgets",
            help="seconds of downtime allowed by criticality, e.g. critical=30,high=60 "
            "(env GOVMIG_DOWNTIME_BUDGETS; default critical=30,high=60,medium=120,low=300)",
            show_default=False,
        ),
    ] = None,
    require_rehearsal: Annotated[
        str | None,
        typer.Option(
            "--require-rehearsal",
            help="criticalities whose systems cut over only after a passed rehearsal since "
            "their last full pass, e.g. critical,high (env GOVMIG_REHEARSAL_REQUIRED; "
            "default none)",
            show_default=False,
        ),
    ] = None,
    finalize_after: Annotated[
        float | None,
        typer.Option(
            "--finalize-after",
            min=0.0,
            help="days after a system completed that it is finalized (its source "
            "decommissioned, no way back); env GOVMIG_FINALIZE_AFTER_DAYS; default: only "
            "by govmig finalize",
            show_default=False,
        ),
    ] = None,
    wave_threshold: Annotated[
        float | None,
        typer.Option(
            "--wave-threshold",
            min=0.0,
            max=1.0,
            help="gate the waves: a wave starts once every earlier wave finished with at most "
            "this share rolled back or failed, and one over it halts the waves after it until "
            "govmig wave resume; env GOVMIG_WAVE_THRESHOLD; default: not gated",
            show_default=False,
        ),
    ] = None,
    cutover_policy_file: CutoverPolicyOption = None,
    calendar_file: CalendarOption = None,
    departments: DepartmentsOption = DEFAULT_DEPARTMENTS,
    residency: ResidencyOption = DEFAULT_RESIDENCY,
    source_retention: Annotated[
        int | None,
        typer.Option(
            "--source-retention-days",
            min=0,
            help="days a finalized system's source data is kept before it is removed "
            "(env GOVMIG_SOURCE_RETENTION_DAYS; default 30)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the orchestrator: consume events, place systems, publish status, serve metrics."""
    configure_logging(log_level)
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        # kafka-python narrates every connection at INFO; its warnings still show.
        logging.getLogger("kafka").setLevel(logging.WARNING)
    loaded = load_inventory(inventory)
    orchestrator = Orchestrator(
        kafka=KafkaSettings(**_given(bootstrap_servers=bootstrap_servers, consumer_group=group)),
        store=StoreSettings(**_given(state_db=state_db)),
        metrics=MetricsSettings(**_given(metrics_port=metrics_port)),
        placement=PlacementSettings(**_given(strategy=placement_strategy)),
        inventory=loaded,
        worker=_worker_settings(
            worker,
            work_root=work_root,
            hosts_file=hosts,
            artifacts_dir=artifacts_dir,
            provider=provider,
            mitogen=mitogen,
            phase_batch_size=phase_batch_size,
            batch_window_s=batch_window,
            node_concurrency=node_concurrency,
            max_batches=max_batches,
            phase_timeout_s=phase_timeout,
            instance_id=instance_id,
            warm_replication=warm,
            ready_budget_s=ready_budget,
            delta_interval_s=delta_interval,
            downtime_budgets=downtime_budgets,
            rehearsal_required=require_rehearsal,
            source_retention_days=source_retention,
            finalize_after_days=finalize_after,
            wave_threshold=wave_threshold,
        ),
        intake=IntakeSettings(
            **_given(flood_cooldown_s=flood_cooldown, registration_wait_s=registration_wait)
        ),
        cutover=cutover_policy(cutover_policy_file, departments),
        calendar=calendar_of(calendar_file, departments),
        residency=load_residency(residency, loaded),
        batch_size=batch_size,
        session_timeout_s=session_timeout,
    )
    _stop_on_signals(orchestrator)
    orchestrator.start()
    orchestrator.run_forever()


def _worker_settings(enabled: bool, **options: Any) -> WorkerSettings | None:
    """The worker's settings from the options given and the environment; None when off."""
    return WorkerSettings(**_given(**options)) if enabled else None


def _given(**options: Any) -> dict[str, Any]:
    """Only the options given on the command line: the rest come from the environment."""
    return {name: value for name, value in options.items() if value is not None}


def _stop_on_signals(orchestrator: Orchestrator) -> None:
    def handle(_signum: int, _frame: FrameType | None) -> None:
        orchestrator.stop()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
app.command(name="run")(run)


def main() -> None:
    """``python -m orchestrator.cli.run``: the command on its own, until it is registered."""
    try:
        app()
    except GovmigError as error:
        typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
