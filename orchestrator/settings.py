"""Settings, one class per area, from flags and ``GOVMIG_*`` environment variables.

The CLI builds these from its options; everything below the CLI receives them as
arguments, never by reading the environment itself.

A misspelled setting is an error, never silently ignored:

- an unknown option passed in (a keyword argument) is refused, naming it;
- an unknown ``GOVMIG_*`` environment variable is refused too, naming it and the
  closest known one (``GOVMIG_STAT_DB``: did you mean ``GOVMIG_STATE_DB``?). Several
  classes share the ``GOVMIG_`` prefix, so "known" means read by any
  ``GovmigSettings`` class or by a CLI option (``CLI_VARIABLES``). Variables outside the
  ``GOVMIG_`` namespace are none of govmig's business and never checked;
  ``GOVMIG_TEST_*`` belongs to the test suite, the Grafana provisioning's
  variables to Grafana and ``GOVMIG_RUN_TOKEN`` to a playbook run's guard
  (``FOREIGN_VARIABLES``).

Every invalid setting surfaces as one ``SettingsError`` (a ``ConfigurationError``,
printed by the CLI as one line) that names the setting but never echoes its value,
which may be a password.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import Field, ValidationError, ValidatorFunctionWrapHandler, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from orchestrator.errors import ConfigurationError
from orchestrator.redaction import register

DEFAULT_HOME = Path("var")
# The phase runner's defaults (``execution.runner.PhaseRunner``) are the worker's settings'.
DEFAULT_PHASE_TIMEOUT_S = 900.0
DEFAULT_FORKS = 10
DEFAULT_MAX_DOWN = 4
PREFIX = "GOVMIG_"
# Read by ``typer.Option(envvar=...)`` of the CLI rather than by a settings class.
CLI_VARIABLES = frozenset(
    {
        "GOVMIG_WORKER",
        "GOVMIG_INVENTORY",
        "GOVMIG_LAB_DIR",
        "GOVMIG_CALENDAR",
        "GOVMIG_CUTOVER_POLICY",
        "GOVMIG_RESIDENCY",
        "GOVMIG_ACTOR",
        "GOVMIG_AUDIT_RETENTION_DAYS",
    }
)
# Set in the GOVMIG_ namespace for others: the test suite, Grafana (metrics/README.md),
# and every process of a playbook run (its guard's token, execution/guard.py).
FOREIGN_VARIABLES = frozenset(
    {"GOVMIG_PROMETHEUS_URL", "GOVMIG_DASHBOARDS_DIR", "GOVMIG_RUN_TOKEN"}
)
FOREIGN_PREFIXES = ("GOVMIG_TEST_",)


class SettingsError(ConfigurationError):
    """An unknown or invalid setting; the message names it and how to fix it."""


class GovmigSettings(BaseSettings):
    """Base of every settings class: unknown options and ``GOVMIG_*`` variables are errors."""

    model_config = SettingsConfigDict(extra="forbid")

    @model_validator(mode="wrap")
    @classmethod
    def _refuse_unknown_and_invalid(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        unknown = unknown_variables(os.environ)
        if unknown:
            raise SettingsError("; ".join(unknown))
        try:
            return handler(data)
        except ValidationError as error:
            # Not a ValueError: pydantic lets it through instead of wrapping it again.
            raise SettingsError(describe(cls, error)) from None


def known_variables() -> frozenset[str]:
    """Every ``GOVMIG_*`` environment variable govmig reads."""
    fields = {
        f"{settings.model_config.get('env_prefix', '')}{name}".upper()
        for settings in _settings_classes(GovmigSettings)
        for name in settings.model_fields
    }
    return frozenset(fields | CLI_VARIABLES)


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """One message per ``GOVMIG_*`` variable in ``environ`` that nothing reads."""
    known = known_variables() | FOREIGN_VARIABLES
    found = sorted(
        name
        for name in environ
        if name.upper().startswith(PREFIX)
        and name.upper() not in known
        and not name.upper().startswith(FOREIGN_PREFIXES)
    )
    return [f"unknown environment variable {name}{_did_you_mean(name, known)}" for name in found]


def describe(settings: type[BaseSettings], error: ValidationError) -> str:
    """One line for every problem in ``error``, naming the option but never its value."""
    area = settings.__name__.removesuffix("Settings").lower() or "govmig"
    known = list(settings.model_fields)
    problems = []
    for problem in error.errors(include_input=False, include_url=False):
        name = ".".join(str(part) for part in problem["loc"]) or "(settings)"
        if problem["type"] == "extra_forbidden":
            problems.append(f"unknown {area} option {name!r}{_did_you_mean(name, known)}")
        else:
            variable = f"{settings.model_config.get('env_prefix', '')}{name}".upper()
            problems.append(f"invalid {area} option {name!r} ({variable}): {problem['msg']}")
    return "; ".join(problems)


def _did_you_mean(name: str, known: Collection[str]) -> str:
    spelled = {option.upper(): option for option in known}
    close = difflib.get_close_matches(name.upper(), list(spelled), n=1)
    return f" (did you mean {spelled[close[0]]}?)" if close else ""


def _settings_classes(base: type[BaseSettings]) -> Iterator[type[BaseSettings]]:
    for settings in base.__subclasses__():
        yield settings
        yield from _settings_classes(settings)


class KafkaSettings(GovmigSettings):
    """Where the broker is and which topics carry the contract."""

    model_config = SettingsConfigDict(env_prefix="GOVMIG_")

    bootstrap_servers: str = "127.0.0.1:9092"
    events_topic: str = "govcloud.events"
    status_topic: str = "govcloud.status"
    dlq_topic: str = "govcloud.events.dlq"
    # Operators' requests to the orchestrators themselves (resume intake): never paused.
    control_topic: str = "govcloud.control"
    consumer_group: str = "govmig-orchestrator"
    client_id: str = "govmig"
    # Passed straight through to the client, so TLS and SASL work against a real cluster.
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_plain_username: str | None = None
    sasl_plain_password: str | None = Field(default=None, repr=False)
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    # The password of ssl_keyfile, when the key is encrypted.
    ssl_password: str | None = Field(default=None, repr=False)
    request_timeout_s: float = 10.0

    @model_validator(mode="after")
    def _mask_secrets(self) -> KafkaSettings:
        """From here on, no log line or message can show a password."""
        register("sasl_plain_password", self.sasl_plain_password)
        register("ssl_password", self.ssl_password)
        return self


class LocalKafkaSettings(GovmigSettings):
    """The single-node development broker that ``govmig kafka up`` runs."""

    model_config = SettingsConfigDict(env_prefix="GOVMIG_LOCAL_KAFKA_")

    version: str = "4.1.1"
    port: int = 9092
    controller_port: int = 9093
    data_dir: Path = DEFAULT_HOME / "kafka"
    cache_dir: Path = Path(".cache") / "kafka"
    heap: str = "512m"
    start_timeout_s: float = 90.0


class StoreSettings(GovmigSettings):
    """The state store: SQLite by default, PostgreSQL for several instances."""

    model_config = SettingsConfigDict(env_prefix="GOVMIG_")

    state_db: str = f"sqlite:///{DEFAULT_HOME}/govmig.db"

    @model_validator(mode="after")
    def _mask_secrets(self) -> StoreSettings:
        """From here on, no log line or message can show the database password."""
        register("state_db_password", database_password(self.state_db))
        return self


def database_password(url: str) -> str | None:
    """The password in a database URL (``postgresql+psycopg://user:PASSWORD@host/db``), if any."""
    try:
        password = urlsplit(url).password
    except ValueError:  # a URL the store will refuse with its own message
        return None
    return unquote(password) if password else None


class IntakeSettings(GovmigSettings):
    """How intake guards itself against a flood of bad events, and waits for registrations."""

    model_config = SettingsConfigDict(env_prefix="GOVMIG_")

    # How long the flood guard pauses intake when it trips; `govmig intake resume` ends it early.
    flood_cooldown_s: float = Field(default=60.0, ge=0, le=86_400)
    # How long a request about a system not registered yet waits for the registration (a
    # producer partitioning by another hash may deliver it later); 0: dead-lettered at once.
    registration_wait_s: float = Field(default=300.0, ge=0, le=86_400)


class MetricsSettings(GovmigSettings):
    """The Prometheus endpoint of ``govmig run``."""

    model_config = SettingsConfigDict(env_prefix="GOVMIG_")

    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9464


class PlacementSettings(GovmigSettings):
    """How placement weighs nodes when a system's own city node cannot take it."""

    model_config = SettingsConfigDict(env_prefix="GOVMIG_PLACEMENT_")

    # "spread" favours the least utilised node (Nova's default weighers);
    # "pack" favours the most utilised node that still fits (Kubernetes' MostAllocated).
    strategy: str = Field(default="spread", pattern="^(spread|pack)$")
    weight_vcpu: float = Field(default=1.0, ge=0)
    weight_memory: float = Field(default=1.0, ge=0)
    weight_storage: float = Field(default=1.0, ge=0)


class WorkerSettings(GovmigSettings):
    """The phase worker of ``govmig run``: where playbooks run, how work is batched and leased."""

    model_config = SettingsConfigDict(env_prefix="GOVMIG_")

    # The ``local`` provider's sandbox: sources, node instances and name records live here.
    work_root: Path = DEFAULT_HOME / "work"
    # The ``ssh`` provider's inventory of hosts (``providers/ssh_hosts.py``); ``lab up`` writes one.
    hosts_file: Path | None = None
    artifacts_dir: Path = DEFAULT_HOME / "artifacts"
    provider: str = Field(default="local", pattern=r"^[a-z][a-z0-9_]{0,31}$")
    mitogen: bool = True
    # Systems per playbook run (``--batch-size`` of ``govmig run`` is the intake's poll size).
    phase_batch_size: int = Field(default=50, ge=1, le=1000)
    batch_window_s: float = Field(default=0.5, ge=0, le=60)
    node_concurrency: int = Field(default=2, ge=1, le=64)
    max_batches: int = Field(default=4, ge=1, le=256)
    phase_timeout_s: float = Field(default=DEFAULT_PHASE_TIMEOUT_S, gt=0)
    forks: int = Field(default=DEFAULT_FORKS, ge=1, le=500)
    # Systems of one playbook run in their cutover's downtime at once (env GOVMIG_MAX_DOWN).
    max_down: int = Field(default=DEFAULT_MAX_DOWN, ge=1, le=500)
    # Empty: a fresh id per process. A fixed id lets a restarted instance take back
    # its own leases at once instead of waiting for them to expire.
    instance_id: str = Field(default="", pattern=r"^[A-Za-z0-9._:-]{0,100}$")
    lease_ttl_s: float = Field(default=30.0, gt=0)
    heartbeat_s: float = Field(default=10.0, gt=0)
    # How often the scheduler looks at the store unasked (env GOVMIG_POLL_S): for what
    # another instance or a command changed. This process's own work wakes it at once.
    poll_s: float = Field(default=1.0, gt=0, le=600)
    # Warm replication: delta passes every ``delta_interval_s`` until one takes at most
    # ``ready_budget_s`` (ready), then a cutover if its forecast fits the downtime budget
    # of the system's criticality (``downtime_budgets``: "critical=30,high=60,...").
    warm_replication: bool = False
    ready_budget_s: float = Field(default=5.0, gt=0)
    delta_interval_s: float = Field(default=30.0, ge=0)
    downtime_budgets: str = Field(
        default="",
        pattern=r"^$|^(critical|high|medium|low)=[0-9.]+(, *(critical|high|medium|low)=[0-9.]+)*$",
        description="seconds of downtime allowed by criticality, e.g. critical=30,high=60",
    )
    # Criticalities whose systems cut over only after a passed rehearsal (e.g. "critical,high").
    rehearsal_required: str = Field(
        default="", pattern=r"^$|^(critical|high|medium|low)(, *(critical|high|medium|low))*$"
    )
    # Finalize a system this many days after it completed (0: at once); None: only on request.
    finalize_after_days: float | None = Field(default=None, ge=0)
    # Gated waves: a wave starts once every earlier wave finished with at most this share of
    # its systems rolled back or failed; one over it halts the waves after it. None: not gated.
    wave_threshold: float | None = Field(default=None, ge=0, le=1)
    # Days a finalized system's source data is kept before finalize removes it.
    source_retention_days: int = Field(default=30, ge=0, le=3650)
    # Tests and the demo only: "system:phase,..." makes that phase fail once for that system.
    inject_failures: str = ""
