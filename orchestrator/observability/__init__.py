"""Observability: the Prometheus metrics of ``govmig run``, and its logging setup.

What it is:

- ``metrics``: the process-local pipeline metrics (events, dead letters, lag,
  phase durations, playbook runs, intake paused, worker give-ups), created on
  a given registry;
- ``observer.MetricsObserver``: an ``orchestrator.hooks.Hooks`` for the
  reactor and the phase worker, the only code that updates those metrics;
- ``families`` + ``snapshot`` + ``collector.FleetCollector``: the fleet's figures
  (capacity per node, systems by state and wave, finished migrations, item
  三十 progress), read from the store at every scrape; ``families`` is pure;
- ``server.start_metrics_server``: the HTTP endpoint;
- ``registry.build_registry``: all of the above on one fresh registry;
- ``logging.configure_logging``: one line per record, text or JSON.

What it is not: it decides nothing and writes nothing to the store, and the
loops never import it (the service hands the observer to both). The
dashboards and the alert and recording rules that read these metrics live in
``metrics/`` at the repository root.
"""

from orchestrator.observability.collector import FleetCollector
from orchestrator.observability.families import FleetSnapshot, NodeFigures, Resource
from orchestrator.observability.logging import configure_logging
from orchestrator.observability.metrics import PipelineMetrics, pipeline_metrics
from orchestrator.observability.observer import MetricsObserver
from orchestrator.observability.registry import Telemetry, build_registry
from orchestrator.observability.server import MetricsServer, start_metrics_server
from orchestrator.observability.snapshot import read_snapshot

__all__ = [
    "FleetCollector",
    "FleetSnapshot",
    "MetricsObserver",
    "MetricsServer",
    "NodeFigures",
    "PipelineMetrics",
    "Resource",
    "Telemetry",
    "build_registry",
    "configure_logging",
    "pipeline_metrics",
    "read_snapshot",
    "start_metrics_server",
]
