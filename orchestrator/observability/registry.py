"""Putting the metrics together: one registry for ``govmig run``'s endpoint.

``build_registry`` creates a fresh ``CollectorRegistry`` holding the pipeline
metrics (updated by ``MetricsObserver``), the fleet collector over the store
(read at scrape time) and prometheus_client's process, platform and GC
collectors. It never uses the library's global default registry, so two
orchestrators in one test process do not collide.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

from orchestrator.inventory import Calendar, Inventory
from orchestrator.observability.collector import FleetCollector, utcnow
from orchestrator.observability.metrics import PipelineMetrics, pipeline_metrics
from orchestrator.observability.observer import MetricsObserver
from orchestrator.store import Store


@dataclass(frozen=True)
class Telemetry:
    """What ``govmig run`` wires: the registry to serve and the observer to hand the reactor."""

    registry: CollectorRegistry
    metrics: PipelineMetrics
    observer: MetricsObserver


def build_registry(
    store: Store | None,
    *,
    process: bool = True,
    clock: Callable[[], datetime] = utcnow,
    inventory: Inventory | None = None,
    calendar: Calendar | None = None,
) -> Telemetry:
    """A fresh registry with the pipeline metrics and, given a store, the fleet collector.

    ``inventory`` is where the collector counts the PRD platforms connected (0 without one);
    ``calendar``, the maintenance windows and freezes it reports (none without one).
    """
    registry = CollectorRegistry()
    metrics = pipeline_metrics(registry)
    if store is not None:
        collector = FleetCollector(store, clock=clock, inventory=inventory, calendar=calendar)
        registry.register(collector)
    if process:
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
    return Telemetry(registry=registry, metrics=metrics, observer=MetricsObserver(metrics))
