"""A real Prometheus scrapes the metrics endpoint over a real store; every query is run on it.

The module serves a registry built by ``build_registry`` over a SQLite store
seeded with the 14 nodes and a handful of systems (``fixtures.fleet``), with
the pipeline hooks exercised once, and has the session's Prometheus scrape it.
Then every PromQL expression of every dashboard panel and every rule is sent to
Prometheus's query API: none may fail, and all but the alerts must return data.
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator.capacity import ResourceClass, ResourceInventory, node_state
from orchestrator.hooks import BatchSummary
from orchestrator.inventory import load_inventory
from orchestrator.inventory.loader import DEFAULT_INVENTORY_ROOT, load_calendar, load_departments
from orchestrator.inventory.models import GB
from orchestrator.migrations.replication import PassKind, ReplicationPass
from orchestrator.migrations.states import Phase
from orchestrator.observability import MetricsObserver, build_registry, start_metrics_server
from orchestrator.store import connect_platform, open_store
from tests.fixtures.fleet import SeededFleet, seed_fleet
from tests.fixtures.prometheus import PrometheusServer, promtool
from tests.fixtures.promql import PLAN, RESOURCES, dashboard_queries, grafana_expr, rules

pytestmark = pytest.mark.prometheus
PLATFORM: dict[str, ResourceInventory] = {
    resource: ResourceInventory(amount)
    for resource, amount in zip(ResourceClass, (8_000, 24_000, 800_000), strict=True)
}


@dataclass(frozen=True)
class Served:
    """The fleet behind the endpoint Prometheus scrapes."""

    fleet: SeededFleet
    url: str


def exercise(observer: MetricsObserver) -> None:
    """Call every hook once, so every pipeline series exists."""
    observer.after_event("gov.cloud.system.registered", "processed")
    observer.after_event("gov.cloud.migration.requested", "duplicate")
    observer.after_event("unknown", "dead_lettered")
    observer.after_dead_letter("schema")
    observer.after_lag({("govcloud.events", 0): 3, ("govcloud.events", 1): 0})
    observer.after_batch(BatchSummary(records=3, processed=1, duplicates=1, duration_s=0.03))
    observer.after_retry(RuntimeError("database away"), 1, 0.5)
    observer.after_commit_failed(RuntimeError("rebalanced"))
    observer.after_pause("dead-letter flood (top reason: schema)", 1.0)
    observer.after_resume()
    for seconds, phase in enumerate(Phase, start=1):
        observer.after_phase(str(phase), seconds * 30.0)
        observer.after_playbook(str(phase), "successful", seconds)
    observer.after_give_up("apply_outcomes", ["shantou-a"], RuntimeError("database gone"))
    observer.after_replication(ReplicationPass(PassKind.FULL, 65_536, 0.4))
    observer.after_replication(ReplicationPass(PassKind.FINAL, 512, 0.1))
    observer.after_cutover(1.5)


@pytest.fixture(scope="module")
def served(
    prometheus: PrometheusServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    path: Path = tmp_path_factory.mktemp("metrics-store") / "govmig.db"
    with open_store(f"sqlite:///{path}") as store:
        fleet = seed_fleet(store)
        with store.transaction() as session:  # so the platform series exist too
            connect_platform(session, "guangzhou", city="guangzhou", status=None,
                             inventories=PLATFORM, hosts=None)  # fmt: skip
        # With the sample calendar, so its windows' and freezes' series exist too.
        calendar = load_calendar(DEFAULT_INVENTORY_ROOT / "calendar.yml", load_departments())
        telemetry = build_registry(store, calendar=calendar, inventory=load_inventory())
        exercise(telemetry.observer)
        server = start_metrics_server(telemetry.registry, "127.0.0.1", 0)
        try:
            prometheus.scrape(f"127.0.0.1:{server.port}")
            yield Served(fleet, server.url)
        finally:
            server.stop()


@pytest.mark.parametrize("resource", list(RESOURCES), ids=str)
def test_capacity_totals_equal_the_plan_exactly(
    prometheus: PrometheusServer, served: Served, resource: ResourceClass
) -> None:
    capacity, _ = RESOURCES[resource]
    assert prometheus.value(f"count({capacity})") == 14
    assert prometheus.value(f"sum({capacity})") == PLAN[resource]


def test_a_connected_platform_has_series_of_its_own(
    prometheus: PrometheusServer, served: Served
) -> None:
    # The 14 nodes' totals above stay the plan's exactly with a platform connected.
    assert prometheus.value('govcloud_platform_vcpu_capacity{platform="guangzhou"}') == 8_000
    assert prometheus.value("count(govcloud_platform_connected)") == 7
    assert prometheus.value("sum(govcloud_platform_connected)") == 1
    assert prometheus.value("govcloud_prd_platforms_connected") == 1


@pytest.mark.parametrize("resource", list(RESOURCES), ids=str)
def test_allocated_sums_equal_the_reservations(
    prometheus: PrometheusServer, served: Served, resource: ResourceClass
) -> None:
    _, allocated = RESOURCES[resource]
    assert served.fleet.holders, "the fleet must hold something"
    assert prometheus.value(f"sum({allocated})") == served.fleet.allocated(resource)
    on_shantou = prometheus.value(f'{allocated}{{node="shantou"}}')
    assert on_shantou == served.fleet.allocated(resource, "shantou") > 0


@pytest.mark.parametrize(
    ("ident", "expr"), dashboard_queries(), ids=[q[0] for q in dashboard_queries()]
)
def test_every_dashboard_query_runs_and_returns_data(
    prometheus: PrometheusServer, served: Served, ident: str, expr: str
) -> None:
    # Waits a few scrapes at most: rate() needs two samples, recorded series an evaluation.
    prometheus.wait_for(grafana_expr(expr))


def test_the_node_variable_lists_the_14_nodes(prometheus: PrometheusServer, served: Served) -> None:
    """``label_values(govcloud_node_vcpu_capacity, node)`` is this API call in Grafana."""
    params = {"match[]": "govcloud_node_vcpu_capacity"}
    nodes = prometheus.api("label/node/values", params)
    assert sorted(nodes) == sorted(load_inventory().nodes)


@pytest.mark.parametrize(("name", "expr"), rules("record"), ids=[r[0] for r in rules("record")])
def test_every_recording_rule_returns_data(
    prometheus: PrometheusServer, served: Served, name: str, expr: str
) -> None:
    prometheus.wait_for(expr)


@pytest.mark.parametrize(("name", "expr"), rules("alert"), ids=[r[0] for r in rules("alert")])
def test_every_alert_expression_is_valid_promql(
    prometheus: PrometheusServer, served: Served, name: str, expr: str
) -> None:
    prometheus.query(expr)  # raises PromQLError on a bad expression


def test_rules_evaluate_without_errors(prometheus: PrometheusServer, served: Served) -> None:
    def evaluated() -> list[dict[str, object]]:
        groups = prometheus.api("rules")["groups"]
        return [rule for group in groups for rule in group["rules"]]

    every = evaluated()
    assert len(every) == len(rules("record")) + len(rules("alert"))
    prometheus.wait_for("vector(1)", lambda _: all(r["health"] != "unknown" for r in evaluated()))
    broken = [(r["name"], r.get("lastError")) for r in evaluated() if r["health"] != "ok"]
    assert broken == []


@pytest.mark.parametrize("resource", ["vcpu", "memory", "storage"])
def test_recorded_plan_capacity_is_one(
    prometheus: PrometheusServer, served: Served, resource: str
) -> None:
    expr = f':govcloud_plan_capacity:ratio{{resource="{resource}"}}'
    prometheus.wait_for(expr)
    assert prometheus.value(expr) == 1


def test_recorded_utilisation_and_progress(prometheus: PrometheusServer, served: Served) -> None:
    shantou = node_state(load_inventory().nodes["shantou"])
    allocatable = shantou.capacities[ResourceClass.MEMORY_GB] * GB
    expected = served.fleet.allocated(ResourceClass.MEMORY_GB, "shantou") / allocatable
    expr = 'node:govcloud_node_utilisation:ratio{node="shantou",resource="memory"}'
    prometheus.wait_for(expr)
    assert prometheus.value(expr) == pytest.approx(expected, rel=1e-12)
    completed = served.fleet.states["completed"]
    progress = ":govcloud_plan_systems_completed:ratio"
    prometheus.wait_for(progress)
    assert prometheus.value(progress) == completed / 500


@pytest.mark.parametrize(
    ("family", "kind"),
    [
        ("govcloud_migrations", "counter"),
        ("govcloud_events", "counter"),
        ("govcloud_dead_letters", "counter"),
        ("govcloud_playbook_runs", "counter"),
        ("govcloud_phase_duration_seconds", "histogram"),
        ("govcloud_playbook_batch_size", "histogram"),
        ("govcloud_systems", "gauge"),
        ("govcloud_node_vcpu_capacity", "gauge"),
    ],
    ids=lambda value: value,
)
def test_prometheus_sees_the_metric_types(
    prometheus: PrometheusServer, served: Served, family: str, kind: str
) -> None:
    metadata = prometheus.api("metadata")
    # OpenMetrics names a counter's family without ``_total``; the text format with it.
    found = metadata.get(family) or metadata.get(f"{family}_total")
    assert found, f"{family} not in {sorted(metadata)}"
    assert {entry["type"] for entry in found} == {kind}


def test_promtool_check_metrics_on_a_real_scrape_is_clean(served: Served) -> None:
    with urllib.request.urlopen(served.url, timeout=10) as response:
        scrape = response.read()
    assert re.search(rb"^govcloud_migrations_total\{", scrape, re.MULTILINE)
    checked = promtool("check", "metrics", stdin=scrape)
    assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")
