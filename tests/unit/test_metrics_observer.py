"""``MetricsObserver``: the loops' hooks update the pipeline metrics, on a fresh registry."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from orchestrator.hooks import BatchSummary, Hooks, notify
from orchestrator.migrations.replication import PassKind, ReplicationPass
from orchestrator.observability.metrics import (
    BATCH_SIZE_BUCKETS,
    PHASE_BUCKETS_S,
    bounded,
    pipeline_metrics,
)
from orchestrator.observability.observer import MetricsObserver

REGISTERED = "gov.cloud.system.registered"


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def observer(registry: CollectorRegistry) -> MetricsObserver:
    return MetricsObserver(pipeline_metrics(registry))


@pytest.mark.parametrize(
    ("event_type", "result", "labels"),
    [
        (REGISTERED, "processed", {"type": REGISTERED, "result": "processed"}),
        (REGISTERED, "duplicate", {"type": REGISTERED, "result": "duplicate"}),
        ("unknown", "dead_lettered", {"type": "unknown", "result": "dead_lettered"}),
        ("", "dead_lettered", {"type": "other", "result": "dead_lettered"}),
        ("evil.${jndi}", "processed", {"type": "other", "result": "processed"}),
        (REGISTERED, "exploded", {"type": REGISTERED, "result": "other"}),
    ],
    ids=["processed", "duplicate", "undecodable", "empty-type", "hostile-type", "unknown-result"],
)
def test_events_are_counted_by_bounded_type_and_result(
    registry: CollectorRegistry,
    observer: MetricsObserver,
    event_type: str,
    result: str,
    labels: dict[str, str],
) -> None:
    observer.after_event(event_type, result)
    observer.after_event(event_type, result)
    assert registry.get_sample_value("govcloud_events_total", labels) == 2


@pytest.mark.parametrize(
    ("counts", "expected"),
    [((5,), 5), ((1, 2, 3), 6), ((4, 0), 4), ((4, -2), 4)],
    ids=["one-batch", "three-batches", "zero-ignored", "negative-ignored"],
)
def test_events_count_a_batch_at_once(
    registry: CollectorRegistry, observer: MetricsObserver, counts: tuple[int, ...], expected: int
) -> None:
    for count in counts:
        observer.after_event(REGISTERED, "processed", count)
    labels = {"type": REGISTERED, "result": "processed"}
    assert registry.get_sample_value("govcloud_events_total", labels) == expected


@pytest.mark.parametrize(
    ("code", "label"),
    [("schema", "schema"), ("not_json", "not_json"), ("made-up", "other")],
    ids=["schema", "not_json", "unknown-code"],
)
def test_dead_letters_by_reason(
    registry: CollectorRegistry, observer: MetricsObserver, code: str, label: str
) -> None:
    observer.after_dead_letter(code)
    assert registry.get_sample_value("govcloud_dead_letters_total", {"reason": label}) == 1


def test_lag_replaces_the_owned_partitions(
    registry: CollectorRegistry, observer: MetricsObserver
) -> None:
    def lag(partition: str) -> float | None:
        labels = {"topic": "govcloud.events", "partition": partition}
        return registry.get_sample_value("govcloud_consumer_lag", labels)

    observer.after_lag({("govcloud.events", 0): 10, ("govcloud.events", 1): 5})
    observer.after_lag({("govcloud.events", 1): 7})  # partition 0 was revoked
    assert (lag("0"), lag("1")) == (None, 7)


def test_pause_and_resume(registry: CollectorRegistry, observer: MetricsObserver) -> None:
    observer.after_pause("dead-letter flood (top reason: schema)", 60.0)
    assert registry.get_sample_value("govcloud_intake_paused") == 1
    observer.after_resume()
    assert registry.get_sample_value("govcloud_intake_paused") == 0
    assert registry.get_sample_value("govcloud_intake_pauses_total") == 1


def test_ledger_conflicts_add_up_and_nothing_is_not_counted(
    registry: CollectorRegistry, observer: MetricsObserver
) -> None:
    assert registry.get_sample_value("govcloud_ledger_conflicts_total") == 0
    observer.after_ledger_conflicts(3)
    observer.after_ledger_conflicts(0)
    observer.after_ledger_conflicts(2)
    assert registry.get_sample_value("govcloud_ledger_conflicts_total") == 5


def test_requests_whose_registration_never_came_are_counted(
    registry: CollectorRegistry, observer: MetricsObserver
) -> None:
    name = "govcloud_requests_awaiting_registration_expired_total"
    assert registry.get_sample_value(name) == 0
    observer.after_registration_wait_expired(2)
    observer.after_registration_wait_expired(0)
    assert registry.get_sample_value(name) == 2


def test_retries_commit_failures_and_batches(
    registry: CollectorRegistry, observer: MetricsObserver
) -> None:
    observer.before_batch(3)
    observer.after_retry(RuntimeError("db away"), 1, 0.5)
    observer.after_commit_failed(RuntimeError("rebalanced"))
    observer.after_batch(BatchSummary(records=3, processed=3, duration_s=0.02))
    assert registry.get_sample_value("govcloud_batch_retries_total") == 1
    assert registry.get_sample_value("govcloud_offset_commit_failures_total") == 1
    assert registry.get_sample_value("govcloud_batch_duration_seconds_count") == 1
    le = {"le": "0.025"}
    assert registry.get_sample_value("govcloud_batch_duration_seconds_bucket", le) == 1


@pytest.mark.parametrize(
    ("seconds", "le", "expected"),
    [
        (0.5, "1.0", 1),
        (3000.0, "1800.0", 0),
        (3000.0, "3600.0", 1),
        (5.5 * 3600, "21600.0", 1),
        (7 * 3600, "21600.0", 0),
        (7 * 3600, "+Inf", 1),
    ],
    ids=["half-second", "50min-not-in-30min", "50min-in-1h", "5.5h-in-6h", "7h-over", "7h-inf"],
)
def test_phase_duration_buckets(
    registry: CollectorRegistry, observer: MetricsObserver, seconds: float, le: str, expected: float
) -> None:
    observer.after_phase("replicate", seconds)
    labels = {"phase": "replicate", "le": le}
    assert registry.get_sample_value("govcloud_phase_duration_seconds_bucket", labels) == expected


def test_phase_buckets_span_one_second_to_six_hours() -> None:
    assert PHASE_BUCKETS_S[0] == 1.0
    assert PHASE_BUCKETS_S[-1] == 6 * 3600
    assert list(PHASE_BUCKETS_S) == sorted(set(PHASE_BUCKETS_S))


def test_playbook_runs_and_batch_size(
    registry: CollectorRegistry, observer: MetricsObserver
) -> None:
    observer.after_playbook("provision", "successful", 12)
    observer.after_playbook("provision", "weird", 1)
    runs = "govcloud_playbook_runs_total"
    assert registry.get_sample_value(runs, {"phase": "provision", "result": "successful"}) == 1
    assert registry.get_sample_value(runs, {"phase": "provision", "result": "other"}) == 1
    size = "govcloud_playbook_batch_size_bucket"
    assert registry.get_sample_value(size, {"le": "10.0"}) == 1  # the 1
    assert registry.get_sample_value(size, {"le": "20.0"}) == 2  # and the 12
    assert list(BATCH_SIZE_BUCKETS) == sorted(BATCH_SIZE_BUCKETS)


def test_counters_and_histograms_are_typed_as_such(registry: CollectorRegistry) -> None:
    pipeline_metrics(registry)
    text = generate_latest(registry).decode()
    for line in (
        "# TYPE govcloud_events_total counter",
        "# TYPE govcloud_dead_letters_total counter",
        "# TYPE govcloud_playbook_runs_total counter",
        "# TYPE govcloud_phase_duration_seconds histogram",
        "# TYPE govcloud_playbook_batch_size histogram",
        "# TYPE govcloud_consumer_lag gauge",
    ):
        assert line in text


def test_bounded_keeps_known_values_only() -> None:
    assert bounded("a", {"a", "b"}) == "a"
    assert bounded("c", {"a", "b"}) == "other"


def test_the_loops_reach_the_observer_through_notify(registry: CollectorRegistry) -> None:
    """``govmig run`` hands the observer to each loop in a list of ``Hooks``."""
    hooks: list[Hooks] = [Hooks(), MetricsObserver(pipeline_metrics(registry))]
    notify(hooks, Hooks.after_dead_letter, "schema")
    notify(hooks, Hooks.after_give_up, "apply_outcomes", ["a", "b"], RuntimeError("gone"))
    assert registry.get_sample_value("govcloud_dead_letters_total", {"reason": "schema"}) == 1
    labels = {"job": "apply_outcomes"}
    assert registry.get_sample_value("govcloud_worker_give_ups_total", labels) == 2


def test_replication_passes_and_downtime_feed_their_metrics(
    observer: MetricsObserver, registry: CollectorRegistry
) -> None:
    observer.after_replication(ReplicationPass(PassKind.FULL, 65_000, 0.4))
    observer.after_replication(ReplicationPass(PassKind.FULL, 1_000, None))  # untimed
    observer.after_replication(ReplicationPass(PassKind.FINAL, 500, 0.1))
    observer.after_cutover(1.25)

    def sample(name: str, labels: dict[str, str] | None = None) -> float | None:
        return registry.get_sample_value(name, labels or {})

    assert sample("govcloud_replication_bytes_total", {"pass": "full"}) == 66_000
    assert sample("govcloud_replication_bytes_total", {"pass": "final"}) == 500
    assert sample("govcloud_replication_pass_duration_seconds_count") == 2
    assert sample("govcloud_cutover_downtime_seconds_count") == 1
    assert sample("govcloud_cutover_downtime_seconds_bucket", {"le": "2.0"}) == 1
    assert sample("govcloud_cutover_downtime_seconds_bucket", {"le": "1.0"}) == 0
