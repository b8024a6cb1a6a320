"""A real Prometheus scrapes a real ``govmig run`` that migrated a wave; every query runs on it.

``govmig run`` runs as a subprocess with the phase worker and Mitogen on, its
own topics on the real broker, SQLite in ``tmp_path`` and its metrics endpoint
on a free port. It migrates three systems onto two nodes (sources prepared
with ``prepare_source``, as the demo does) to ``completed`` while the
session's Prometheus scrapes it every second. After a scrape that follows the
completion, every dashboard and rule expression is sent to Prometheus's query
API, and the figures Prometheus holds are compared with the plan and with the
systems that moved: capacity, allocations, events, phases, playbooks,
outcomes, consumer lag. Unlike ``test_prometheus_metrics.py`` nothing here is
seeded or called by hand: every series was written by the running pipeline.
"""

from __future__ import annotations

import signal
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.bus import Producer
from orchestrator.capacity import ResourceClass
from orchestrator.events.data import MigrationRequested
from orchestrator.events.registration import registration_records
from orchestrator.inventory import generate_catalogue
from orchestrator.inventory.models import GB, BusinessSystem
from orchestrator.migrations import SystemState
from orchestrator.providers.local_sandbox import prepare_source
from orchestrator.settings import KafkaSettings
from tests.fixtures.orchestrator import (
    GovmigRun,
    count_sqlite,
    govmig_run,
    kafka_settings,
    publish,
)
from tests.fixtures.polling import wait_until
from tests.fixtures.prometheus import PrometheusServer, PromQLError, free_port, promtool
from tests.fixtures.promql import PLAN, RESOURCES, dashboard_queries, grafana_expr, rules

pytestmark = [pytest.mark.prometheus, pytest.mark.kafka, pytest.mark.ansible]

WAVE_TIMEOUT_S = 75.0
ENDPOINT_TIMEOUT_S = 30.0
NODES = ("shantou", "shantou", "huizhou")
REGISTERED, REQUESTED = "gov.cloud.system.registered", "gov.cloud.migration.requested"


def wave(work: Path, settings: KafkaSettings) -> dict[BusinessSystem, str]:
    """Three systems without dependencies, their sources prepared, registered and requested."""
    systems = [s for s in generate_catalogue(80) if not s.depends_on][: len(NODES)]
    targets = dict(zip(systems, NODES, strict=True))
    for system in systems:
        prepare_source(work, system.id, 2, 16_000, seed=7)
    with Producer(settings) as producer:
        producer.send_all(settings.events_topic, registration_records(systems))
    publish(
        settings,
        [
            MigrationRequested(system_id=s.id, target_node=node, wave=1, requested_by="metrics")
            for s, node in targets.items()
        ],
    )
    return targets


def wait_for_endpoint(url: str, run: GovmigRun) -> None:
    """Until ``govmig run`` answers on its metrics endpoint."""

    def answers() -> bool:
        run.assert_alive()
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    wait_until(answers, timeout_s=ENDPOINT_TIMEOUT_S, what=f"the metrics endpoint {url}")


def scraped_after(prometheus: PrometheusServer, target: str, moment: float) -> None:
    """Until Prometheus holds a successful scrape of ``target`` that started after ``moment``."""
    prometheus.wait_for(f'timestamp(up{{job="govmig",instance="{target}"}} == 1) > {moment}')


def failing_queries(prometheus: PrometheusServer) -> list[str]:
    """Every dashboard panel and rule expression that Prometheus answers with an error."""
    expressions = [(ident, grafana_expr(expr)) for ident, expr in dashboard_queries()]
    expressions += rules("record") + rules("alert")
    failures = []
    for ident, expr in expressions:
        try:
            prometheus.query(expr)
        except PromQLError as error:
            failures.append(f"{ident}: {error}")
    return failures


def assert_capacity_and_allocations(
    prometheus: PrometheusServer, targets: dict[BusinessSystem, str]
) -> None:
    """Capacity sums to the plan exactly; allocations to the sizes of the moved systems."""
    moved = {
        ResourceClass.VCPU: sum(s.vcpu for s in targets),
        ResourceClass.MEMORY_GB: sum(s.memory_gb for s in targets) * GB,
        ResourceClass.STORAGE_GB: sum(s.storage_gb for s in targets) * GB,
    }
    for resource, (capacity, allocated) in RESOURCES.items():
        assert prometheus.value(f"sum({capacity})") == PLAN[resource], resource
        assert prometheus.value(f"sum({allocated})") == moved[resource], resource


def assert_pipeline_figures(prometheus: PrometheusServer) -> None:
    """What the running pipeline counted: events, phases, playbooks, outcomes, lag."""
    for event_type in (REGISTERED, REQUESTED):
        expr = f'govcloud_events_total{{type="{event_type}",result="processed"}}'
        assert prometheus.value(expr) == len(NODES), expr
    assert prometheus.value("sum(govcloud_events_total)") > 0
    # Five phases per system, each observed as the system leaves it.
    assert prometheus.value("sum(govcloud_phase_duration_seconds_count)") >= 5 * len(NODES)
    # At least one run per phase: both nodes run from here, so one batch may hold them both.
    runs = 'sum(govcloud_playbook_runs_total{result="successful"})'
    assert prometheus.value(runs) >= 5
    batched = "sum(govcloud_playbook_batch_size_sum)"
    assert prometheus.value(batched) >= 5 * len(NODES)  # each system in a run of each phase
    assert prometheus.value('govcloud_migrations_total{outcome="completed"}') == len(NODES)
    assert prometheus.value('govcloud_systems{state="completed"}') == len(NODES)
    # One series per partition: the events topic's three and the control topic's one.
    assert prometheus.value("count(govcloud_consumer_lag)") == 4
    assert prometheus.value("sum(govcloud_consumer_lag)") == 0


def test_prometheus_scraping_govmig_run_after_a_wave(
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    prometheus: PrometheusServer,
    tmp_path: Path,
    work: Path,
) -> None:
    settings = kafka_settings(kafka_bootstrap, new_topic)
    targets = wave(work, settings)
    db, port = tmp_path / "govmig.db", free_port()
    target = f"127.0.0.1:{port}"
    options = (
        "--worker", "--mitogen",
        "--work-root", str(work),
        "--artifacts-dir", str(tmp_path / "artifacts"),
        "--batch-window", "1",
        "--metrics-port", str(port),  # after the helper's "0": the last one given wins
    )  # fmt: skip
    with govmig_run(settings, f"sqlite:///{db}", tmp_path, *options) as run:
        wait_for_endpoint(f"http://{target}/metrics", run)
        prometheus.scrape(target)
        completed = f"SELECT count(*) FROM systems WHERE state = '{SystemState.COMPLETED}'"
        wait_until(
            lambda: count_sqlite(db, completed) == len(NODES),
            timeout_s=WAVE_TIMEOUT_S,
            what="the wave to complete",
        )
        # The worker observes a phase's duration just after committing its outcome,
        # so the last batch's observations may trail the state by one scrape.
        prometheus.wait_for(f"sum(govcloud_phase_duration_seconds_count) >= {5 * len(NODES)}")
        scraped_after(prometheus, target, time.time())

        assert failing_queries(prometheus) == []
        assert_capacity_and_allocations(prometheus, targets)
        assert_pipeline_figures(prometheus)
        with urllib.request.urlopen(f"http://{target}/metrics", timeout=10) as response:
            checked = promtool("check", "metrics", stdin=response.read())
        assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")

        run.signal(signal.SIGTERM)
        assert run.wait(60) == 0, run.output()
