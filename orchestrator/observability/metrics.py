"""Process-local metrics of the pipeline: what this orchestrator process did since it started.

Counters and histograms that only the running process can know (events it
consumed, dead letters it wrote, playbooks it ran, how long phases took) live
here as prometheus_client objects, all created on the registry the caller
passes. ``MetricsObserver`` (``observer.py``) is the only thing that updates
them. Figures that are true for the whole fleet (capacity, states, outcomes)
are NOT here: the scrape-time collector (``collector.py``) reads them from the
store, so they survive restarts and agree across instances.

Every label value that could come from outside (an event type, a reason code, a
playbook status) is mapped onto a fixed set first: a hostile producer must not
be able to create a new time series per message.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from orchestrator.events.envelope import EventType
from orchestrator.events.reasons import REASON_CODES
from orchestrator.migrations.states import Phase

# A label value for anything outside the known set.
OTHER: Final = "other"
# The event type of a record that could not be decoded (the reactor's ``UNDECODED_TYPE``).
UNKNOWN_TYPE: Final = "unknown"

# Real migrations: a preflight takes seconds, replicating a large system takes hours.
PHASE_BUCKETS_S: Final = (
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0,
    3600.0, 7200.0, 10800.0, 14400.0, 21600.0,
)  # fmt: skip
# Systems per ansible-runner invocation (one node, one phase).
BATCH_SIZE_BUCKETS: Final = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0)
# One polled Kafka batch, decode to commit.
BATCH_DURATION_BUCKETS_S: Final = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip

# A cutover's downtime: seconds in a quick switch, minutes when a final pass is large.
DOWNTIME_BUCKETS_S: Final = (
    0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
)  # fmt: skip
# One replication pass: a delta takes seconds, a full copy of a large system hours.
PASS_BUCKETS_S: Final = (
    0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0,
)  # fmt: skip

EVENT_RESULTS: Final = frozenset({"processed", "duplicate", "dead_lettered"})
EVENT_TYPES: Final = frozenset({UNKNOWN_TYPE, *(str(kind) for kind in EventType)})
DEAD_LETTER_REASONS: Final = frozenset(REASON_CODES)
PHASES: Final = frozenset(str(phase) for phase in Phase)
# ansible-runner's final statuses.
PLAYBOOK_RESULTS: Final = frozenset({"successful", "failed", "timeout", "canceled", "error"})
# What the phase worker may give up on (``Hooks.after_give_up``'s ``job``).
WORKER_JOBS: Final = frozenset({"apply_outcomes"})


def bounded(value: str, known: Iterable[str]) -> str:
    """``value`` if it is one of ``known``, else ``"other"``: label values stay a fixed set."""
    return value if value in known else OTHER


@dataclass(frozen=True)
class PipelineMetrics:
    """The process-local metric objects, all registered on one registry."""

    events: Counter
    dead_letters: Counter
    consumer_lag: Gauge
    batch_duration: Histogram
    batch_retries: Counter
    ledger_conflicts: Counter
    registration_waits_expired: Counter
    commit_failures: Counter
    intake_paused: Gauge
    intake_pauses: Counter
    intake_paused_until: Gauge
    phase_duration: Histogram
    playbook_runs: Counter
    playbook_batch_size: Histogram
    worker_give_ups: Counter
    cutover_downtime: Histogram
    replication_bytes: Counter
    replication_pass_duration: Histogram


def pipeline_metrics(registry: CollectorRegistry) -> PipelineMetrics:
    """Create the pipeline's metrics on ``registry`` (a fresh one per test)."""
    r = registry
    return PipelineMetrics(
        events=_counter(
            r, "govcloud_events", "Inbound events by type and result.", "type", "result"
        ),
        dead_letters=_counter(
            r, "govcloud_dead_letters", "Records dead-lettered by reason code.", "reason"
        ),
        consumer_lag=Gauge(
            "govcloud_consumer_lag",
            "Records not yet consumed per assigned partition (end offset minus position).",
            ["topic", "partition"],
            registry=r,
        ),
        batch_duration=_histogram(
            r,
            "govcloud_batch_duration_seconds",
            "One batch, decode to commit.",
            BATCH_DURATION_BUCKETS_S,
        ),
        batch_retries=_counter(r, "govcloud_batch_retries", "Failed batches to be read again."),
        ledger_conflicts=_counter(
            r,
            "govcloud_ledger_conflicts",
            "Compare-and-swaps on a node's generation lost to another writer, then redone.",
        ),
        registration_waits_expired=_counter(
            r,
            "govcloud_requests_awaiting_registration_expired",
            "Requests dead-lettered after waiting their whole time for their system's "
            "registration (GOVMIG_REGISTRATION_WAIT_S).",
        ),
        commit_failures=_counter(r, "govcloud_offset_commit_failures", "Refused offset commits."),
        intake_paused=Gauge(
            "govcloud_intake_paused", "1 while the flood guard pauses intake.", registry=r
        ),
        intake_pauses=_counter(r, "govcloud_intake_pauses", "Times the flood guard tripped."),
        intake_paused_until=Gauge(
            "govcloud_intake_paused_until_seconds",
            "Unix time the flood guard's pause ends by itself; 0 while intake runs.",
            registry=r,
        ),
        phase_duration=_histogram(
            r,
            "govcloud_phase_duration_seconds",
            "Time a system spent in a phase.",
            PHASE_BUCKETS_S,
            "phase",
        ),
        playbook_runs=_counter(
            r,
            "govcloud_playbook_runs",
            "ansible-runner runs by phase and status.",
            "phase",
            "result",
        ),
        playbook_batch_size=_histogram(
            r, "govcloud_playbook_batch_size", "Systems per ansible-runner run.", BATCH_SIZE_BUCKETS
        ),
        worker_give_ups=_counter(
            r,
            "govcloud_worker_give_ups",
            "Systems the phase worker stopped retrying a job for (a permanent error).",
            "job",
        ),
        cutover_downtime=_histogram(
            r,
            "govcloud_cutover_downtime_seconds",
            "A cutover's downtime: the source stopped serving to the first healthy answer by name.",
            DOWNTIME_BUCKETS_S,
        ),
        replication_bytes=_counter(
            r,
            "govcloud_replication_bytes",
            "Bytes replication passes sent, by pass (full, delta, final, reverse).",
            "pass",
        ),
        replication_pass_duration=_histogram(
            r,
            "govcloud_replication_pass_duration_seconds",
            "One replication pass, as its provider timed it.",
            PASS_BUCKETS_S,
        ),
    )


def _counter(registry: CollectorRegistry, name: str, doc: str, *labels: str) -> Counter:
    return Counter(name, doc, labels, registry=registry)


def _histogram(
    registry: CollectorRegistry, name: str, doc: str, buckets: tuple[float, ...], *labels: str
) -> Histogram:
    return Histogram(name, doc, labels, buckets=buckets, registry=registry)
