"""Settings, one class per area, from flags and ``GOVMIG_*`` environment variables.

The CLI builds these from its options; everything below the CLI receives them as
arguments, never by reading the environment itself.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_HOME = Path("var")


class KafkaSettings(BaseSettings):
    """Where the broker is and which topics carry the contract."""

    model_config = SettingsConfigDict(env_prefix="GOVMIG_", extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    events_topic: str = "govcloud.events"
    status_topic: str = "govcloud.status"
    dlq_topic: str = "govcloud.events.dlq"
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
    request_timeout_s: float = 10.0


class LocalKafkaSettings(BaseSettings):
    """The single-node development broker that ``govmig kafka up`` runs."""

    model_config = SettingsConfigDict(env_prefix="GOVMIG_LOCAL_KAFKA_", extra="ignore")

    version: str = "4.1.1"
    port: int = 9092
    controller_port: int = 9093
    data_dir: Path = DEFAULT_HOME / "kafka"
    cache_dir: Path = Path(".cache") / "kafka"
    heap: str = "512m"
    start_timeout_s: float = 90.0


class StoreSettings(BaseSettings):
    """The state store: SQLite by default, PostgreSQL for several instances."""

    model_config = SettingsConfigDict(env_prefix="GOVMIG_", extra="ignore")

    state_db: str = f"sqlite:///{DEFAULT_HOME}/govmig.db"


class MetricsSettings(BaseSettings):
    """The Prometheus endpoint of ``govmig run``."""

    model_config = SettingsConfigDict(env_prefix="GOVMIG_", extra="ignore")

    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9464


class PlacementSettings(BaseSettings):
    """How placement weighs nodes when a system's own city node cannot take it."""

    model_config = SettingsConfigDict(env_prefix="GOVMIG_PLACEMENT_", extra="ignore")

    # "spread" favours the least utilised node (Nova's default weighers);
    # "pack" favours the most utilised node that still fits (Kubernetes' MostAllocated).
    strategy: str = Field(default="spread", pattern="^(spread|pack)$")
    weight_vcpu: float = Field(default=1.0, ge=0)
    weight_memory: float = Field(default=1.0, ge=0)
    weight_storage: float = Field(default=1.0, ge=0)


class WorkerSettings(BaseSettings):
    """The phase worker of ``govmig run``: where playbooks run, how work is batched and leased."""

    model_config = SettingsConfigDict(env_prefix="GOVMIG_", extra="ignore")

    # The ``local`` provider's sandbox: sources, node instances and name records live here.
    work_root: Path = DEFAULT_HOME / "work"
    artifacts_dir: Path = DEFAULT_HOME / "artifacts"
    provider: str = Field(default="local", pattern=r"^[a-z][a-z0-9_]{0,31}$")
    mitogen: bool = True
    # Systems per playbook run (``--batch-size`` of ``govmig run`` is the intake's poll size).
    phase_batch_size: int = Field(default=50, ge=1, le=1000)
    batch_window_s: float = Field(default=0.5, ge=0, le=60)
    node_concurrency: int = Field(default=2, ge=1, le=64)
    max_batches: int = Field(default=4, ge=1, le=256)
    phase_timeout_s: float = Field(default=900.0, gt=0)
    forks: int = Field(default=10, ge=1, le=500)
    # Empty: a fresh id per process. A fixed id lets a restarted instance take back
    # its own leases at once instead of waiting for them to expire.
    instance_id: str = Field(default="", pattern=r"^[A-Za-z0-9._:-]{0,100}$")
    lease_ttl_s: float = Field(default=30.0, gt=0)
    heartbeat_s: float = Field(default=10.0, gt=0)
    # Tests and the demo only: "system:phase,..." makes that phase fail once for that system.
    inject_failures: str = ""
