"""Alerts fire on a real Prometheus from what the store and the endpoint really report.

A migration failing in the store, a failed rehearsal, a node pushed above 85%, an orchestrator
that stops answering: each must show up in Prometheus's alerts, within seconds
of the scrape (rules are evaluated every second by the session's Prometheus).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from orchestrator.inventory.models import BusinessSystem, SourceLocation
from orchestrator.migrations.replication import Rehearsal
from orchestrator.migrations.states import SystemState
from orchestrator.observability import build_registry, start_metrics_server
from orchestrator.store import Store
from orchestrator.store import replication as replication_store
from orchestrator.store import waves as wave_store
from tests.fixtures.fleet import seed_fleet
from tests.fixtures.prometheus import PrometheusServer
from tests.fixtures.seeding import drive

pytestmark = pytest.mark.prometheus


@pytest.fixture
def scraped(prometheus: PrometheusServer, store: Store) -> Iterator[Store]:
    """The seeded fleet's store, served to and scraped by the session's Prometheus."""
    seed_fleet(store)
    server = start_metrics_server(build_registry(store).registry, "127.0.0.1", 0)
    try:
        prometheus.scrape(f"127.0.0.1:{server.port}")
        yield store
    finally:
        server.stop()


def a_system(system_id: str, *, vcpu: int) -> BusinessSystem:
    return BusinessSystem(
        id=system_id,
        name=f"System {system_id}",
        city="yunfu",
        department="Data Bureau",
        vcpu=vcpu,
        memory_gb=1,
        storage_gb=1,
        source=SourceLocation(city="yunfu", site="old DC", host="10.0.0.9"),
    )


def alerts(prometheus: PrometheusServer, name: str) -> list[dict[str, Any]]:
    return [a for a in prometheus.api("alerts")["alerts"] if a["labels"]["alertname"] == name]


def alert_states(prometheus: PrometheusServer, name: str) -> list[str]:
    return [alert["state"] for alert in alerts(prometheus, name)]


def wait_for_alert(prometheus: PrometheusServer, name: str, state: str) -> None:
    prometheus.wait_for("vector(1)", lambda _: state in alert_states(prometheus, name))


def test_a_failed_migration_in_the_store_fires_an_alert(
    prometheus: PrometheusServer, scraped: Store
) -> None:
    failed = 'govcloud_migrations_total{outcome="failed"}'
    # increase() needs the counter's value before the failure, in two scrapes at least.
    prometheus.wait_for(f"count_over_time({failed}[1m]) >= 2")
    assert alert_states(prometheus, "GovmigMigrationFailed") == []
    with scraped.transaction() as session:
        drive(session, a_system("failing-system", vcpu=1), SystemState.FAILED, node="yunfu")
    wait_for_alert(prometheus, "GovmigMigrationFailed", "firing")


def test_a_failed_rehearsal_in_the_store_fires_an_alert(
    prometheus: PrometheusServer, scraped: Store
) -> None:
    failed = 'govcloud_rehearsals_total{result="failed"}'
    prometheus.wait_for(f"count_over_time({failed}[1m]) >= 2")
    assert alert_states(prometheus, "GovmigRehearsalFailed") == []
    with scraped.transaction() as session:
        drive(session, a_system("rehearsed-system", vcpu=1), SystemState.READY, node="yunfu")
        replication_store.add_rehearsal(
            session, "rehearsed-system", Rehearsal(False, "failed at task 'Check': no answer")
        )
    wait_for_alert(prometheus, "GovmigRehearsalFailed", "firing")


def test_a_halted_wave_fires_an_alert_naming_it_until_it_is_resumed(
    prometheus: PrometheusServer, scraped: Store
) -> None:
    """The seeded fleet's wave 2 is halted; resuming it ends the alert."""
    wait_for_alert(prometheus, "GovmigWaveHalted", "firing")
    (alert,) = alerts(prometheus, "GovmigWaveHalted")
    assert alert["labels"]["wave"] == "2"
    with scraped.transaction() as session:
        assert wave_store.resume(session, 2, by="ops", reason="understood", at=datetime.now(UTC))
    prometheus.wait_for("vector(1)", lambda _: not alerts(prometheus, "GovmigWaveHalted"))


def test_a_node_above_85_percent_makes_the_utilisation_alert_pending(
    prometheus: PrometheusServer, scraped: Store
) -> None:
    big = a_system("big-one", vcpu=4096)  # of yunfu's 4,800 allocatable vCPU: 85.3%
    with scraped.transaction() as session:
        drive(session, big, SystemState.PLACED, node="yunfu")
    # `for: 15m`, so the alert waits as pending.
    wait_for_alert(prometheus, "GovmigNodeUtilisationHigh", "pending")
    (alert,) = alerts(prometheus, "GovmigNodeUtilisationHigh")
    assert (alert["labels"]["node"], alert["labels"]["resource"]) == ("yunfu", "vcpu")


def test_an_orchestrator_that_stops_answering_is_down(prometheus: PrometheusServer) -> None:
    server = start_metrics_server(CollectorRegistry(), "127.0.0.1", 0)
    target = f"127.0.0.1:{server.port}"
    try:
        prometheus.scrape(target)
    finally:
        server.stop()
    prometheus.wait_for(f'up{{job="govmig",instance="{target}"}} == 0')
    wait_for_alert(prometheus, "GovmigDown", "pending")
