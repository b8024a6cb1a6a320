"""``MetricsHooks``: the reactor's new hooks reach the Prometheus metrics, on a fresh registry."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from orchestrator.bus import Partition
from orchestrator.observability import MetricsObserver, pipeline_metrics
from orchestrator.reactor import Observer
from orchestrator.service.hooks import MetricsHooks

REGISTERED = "gov.cloud.system.registered"


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def hooks(registry: CollectorRegistry) -> Observer:
    return MetricsHooks(MetricsObserver(pipeline_metrics(registry)))


@pytest.mark.parametrize(
    ("calls", "labels", "expected"),
    [
        ([(REGISTERED, "processed", 3)], {"type": REGISTERED, "result": "processed"}, 3),
        (
            [("unknown", "dead_lettered", 2), ("unknown", "dead_lettered", 1)],
            {"type": "unknown", "result": "dead_lettered"},
            3,
        ),
        ([(REGISTERED, "duplicate", 1)], {"type": REGISTERED, "result": "duplicate"}, 1),
    ],
    ids=["processed", "undecoded-twice", "duplicate"],
)
def test_after_event_is_forwarded_with_its_count(
    registry: CollectorRegistry,
    hooks: Observer,
    calls: list[tuple[str, str, int]],
    labels: dict[str, str],
    expected: float,
) -> None:
    for event_type, result, count in calls:
        hooks.after_event(event_type, result, count)
    assert registry.get_sample_value("govcloud_events_total", labels) == expected


def test_after_lag_is_forwarded_per_partition(registry: CollectorRegistry, hooks: Observer) -> None:
    def lag(partition: str) -> float | None:
        labels = {"topic": "govcloud.events", "partition": partition}
        return registry.get_sample_value("govcloud_consumer_lag", labels)

    hooks.after_lag({Partition("govcloud.events", 0): 12, Partition("govcloud.events", 2): 0})
    assert (lag("0"), lag("1"), lag("2")) == (12, None, 0)
    hooks.after_lag({Partition("govcloud.events", 2): 4})  # partition 0 went elsewhere
    assert (lag("0"), lag("2")) == (None, 4)


def test_the_base_observer_ignores_the_new_hooks() -> None:
    observer = Observer()
    observer.after_event(REGISTERED, "processed", 5)
    observer.after_lag({Partition("t", 0): 1})
    assert vars(observer) == {}, "the no-op hooks keep nothing"
