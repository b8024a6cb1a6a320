"""``Orchestrator``: wires the store, the bus, the reactor, the engine and the metrics.

``start()`` prepares everything and may raise (a bad database URL, no broker),
closing whatever it had opened; ``run_forever()`` runs the intake loop on the
calling thread until ``stop()`` (thread-safe, and safe in a signal handler),
then drains: the batch under way finishes and commits, the outbox is flushed
one last time, and every client is closed.

Threads: the intake loop runs on the caller's thread; ``OutboxPump`` flushes
the status outbox every ``flush_interval_s`` on its own thread, so changes
made outside the intake are published too; a second pump dead-letters the
held requests whose system's registration did not come in time
(``engine.awaiting``); the metrics endpoint serves on another. The phase
worker (``orchestrator.worker.phase_worker``, built in ``service/worker.py``)
runs beside the pumps, on a scheduler thread (which each committed intake
batch wakes), a lease heartbeat thread and a pool of batch threads; it is
stopped first on the way out (its running batches are cancelled and their
leases given back), so its last outcomes are in the final outbox flush.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType

from orchestrator.bus import Consumer, Producer, ensure_topics
from orchestrator.capacity import placement_policy
from orchestrator.engine import Outbox, OutboxPump, PlacementContext
from orchestrator.engine.awaiting import ExpiredRequests
from orchestrator.engine.dead_letters import DeadLetterAudit
from orchestrator.engine.intake import IntakeHandler
from orchestrator.events import KnownIds
from orchestrator.hooks import Hooks
from orchestrator.inventory import Calendar, Inventory
from orchestrator.inventory.cutover_policy import CutoverPolicy
from orchestrator.inventory.residency import ResidencyRules
from orchestrator.observability import build_registry, start_metrics_server
from orchestrator.reactor import Reactor
from orchestrator.reactor.flood import FloodGuard, FloodPolicy
from orchestrator.service.intake_pauses import IntakePauses
from orchestrator.service.worker import build_worker
from orchestrator.settings import (
    IntakeSettings,
    KafkaSettings,
    MetricsSettings,
    PlacementSettings,
    StoreSettings,
    WorkerSettings,
)
from orchestrator.store import Store, open_store, seed_nodes
from orchestrator.worker import PhaseWorker

log = logging.getLogger(__name__)

# Enough partitions for a few instances to share the intake; the DLQ is low-volume.
DEFAULT_PARTITIONS: Mapping[str, int] = MappingProxyType(
    {"events": 6, "status": 6, "dlq": 3, "control": 1}
)
# After a crash, the group hands a dead instance's partitions on after this long (the
# client's default is 45 s); an orderly stop leaves the group at once.
DEFAULT_SESSION_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class _Running:
    """What ``start()`` built; ``closing`` closes the clients in reverse order of opening."""

    store: Store
    consumer: Consumer
    outbox: Outbox
    pump: OutboxPump
    sweep: OutboxPump
    reactor: Reactor
    closing: ExitStack
    metrics_url: str | None
    worker: PhaseWorker | None


class Orchestrator:
    """The orchestrator process; see the module docstring."""

    def __init__(
        self,
        *,
        kafka: KafkaSettings,
        store: StoreSettings,
        inventory: Inventory,
        placement: PlacementSettings | None = None,
        metrics: MetricsSettings | None = None,
        worker: WorkerSettings | None = None,
        intake: IntakeSettings | None = None,
        cutover: CutoverPolicy | None = None,
        calendar: Calendar | None = None,
        residency: ResidencyRules | None = None,
        batch_size: int = 500,
        session_timeout_s: float = DEFAULT_SESSION_TIMEOUT_S,
        flush_interval_s: float = 1.0,
        partitions: Mapping[str, int] = DEFAULT_PARTITIONS,
    ) -> None:
        self._kafka, self._store_settings, self._inventory = kafka, store, inventory
        self._placement = placement if placement is not None else PlacementSettings()
        self._metrics = metrics
        # None: no phase worker (systems stop at ``placed``), as for intake-only tests.
        self._worker = worker
        self._intake = intake if intake is not None else IntakeSettings()
        # Read by the intake (may one approve oneself?) and the worker (who needs approval?);
        # the calendar by the worker (when may a cutover start?).
        self._cutover = cutover if cutover is not None else CutoverPolicy()
        self._calendar = calendar
        # Where each data class may land; without rules, a record naming one is refused.
        self._residency = residency if residency is not None else ResidencyRules()
        self._batch_size, self._flush_interval_s = batch_size, flush_interval_s
        self._session_timeout_s = session_timeout_s
        self._partitions = partitions
        self._stopping = threading.Event()
        self._running: _Running | None = None

    @property
    def metrics_url(self) -> str | None:
        """Where the metrics endpoint listens, once started (None without one)."""
        return None if self._running is None else self._running.metrics_url

    def start(self) -> None:
        """Open the store (upgrading it), seed the nodes, create topics, build the loop."""
        with ExitStack() as stack:  # closes what was opened if building fails half-way
            self._running = self._build(stack)
        log.info(
            "orchestrator started: state %s, %d nodes, intake %s, status %s, metrics %s",
            self._running.store.where,
            len(self._inventory.nodes),
            self._kafka.events_topic,
            self._kafka.status_topic,
            self.metrics_url or "off",
        )

    def run_forever(self) -> None:
        """Run the intake loop until ``stop()``, then drain and close everything."""
        running = self._running
        if running is None:
            raise RuntimeError("start() the orchestrator first")
        try:
            if not self._stopping.is_set():
                running.reactor.run()
        finally:
            self._shutdown(running)

    def stop(self) -> None:
        """Ask the loop to finish its batch and return; thread-safe and signal-safe."""
        self._stopping.set()
        running = self._running
        if running is not None:
            running.reactor.stop()

    def _build(self, stack: ExitStack) -> _Running:
        store = open_store(self._store_settings.state_db)
        stack.callback(store.close)
        with store.transaction() as session:
            seeded = seed_nodes(session, self._inventory.nodes.values())
        if seeded:
            log.info("seeded %d nodes: %s", len(seeded), ", ".join(seeded))
        ensure_topics(self._kafka, self._topic_partitions())
        producer = Producer(self._kafka)
        stack.callback(producer.close)
        outbox = Outbox(store, producer, self._kafka.status_topic)
        outbox.flush_quietly()  # what a previous run committed but did not publish
        # --- metrics endpoint: the fleet collector reads the store at every scrape ---
        telemetry = build_registry(store, inventory=self._inventory, calendar=self._calendar)
        metrics_url = None
        if self._metrics is not None:
            server = start_metrics_server(
                telemetry.registry, self._metrics.metrics_host, self._metrics.metrics_port
            )
            stack.callback(server.stop)
            metrics_url = server.url
        consumer = Consumer(
            self._kafka,
            topics=[self._kafka.events_topic, self._kafka.control_topic],
            max_poll_records=self._batch_size,
            session_timeout_s=self._session_timeout_s,
        )
        stack.callback(consumer.close)
        pauses = IntakePauses(store, instance=f"{socket.gethostname()[:60]}-{os.getpid()}")
        # The loops only wake the pump after they commit: a broker that does not answer
        # must not hold up intake or playbooks while their status rows wait in the outbox.
        pump = OutboxPump(outbox, interval_s=self._flush_interval_s)
        pump.start()
        worker = self._start_worker(stack, store, pump, telemetry.observer)
        reactor = Reactor(
            consumer=consumer,
            producer=producer,
            handler=self._handler(store, _after_intake(pump, worker), hooks=[telemetry.observer]),
            dlq_topic=self._kafka.dlq_topic,
            flood=FloodGuard(FloodPolicy(cooldown_s=self._intake.flood_cooldown_s)),
            pausable=[self._kafka.events_topic],  # the control topic flows while paused
            pause_ended=pauses.ended,
            hooks=[telemetry.observer, pauses],
            audit_dead_letters=DeadLetterAudit(store),
        )
        expired = ExpiredRequests(
            store, producer, self._kafka.dlq_topic, hooks=[telemetry.observer]
        )
        sweep = OutboxPump(expired, interval_s=self._flush_interval_s, name="govmig-awaiting")
        sweep.start()
        # Started: from now on run_forever closes everything, in reverse order.
        return _Running(
            store, consumer, outbox, pump, sweep, reactor, stack.pop_all(), metrics_url, worker
        )

    def _start_worker(
        self, stack: ExitStack, store: Store, pump: OutboxPump, observer: Hooks
    ) -> PhaseWorker | None:
        """The phase worker, started; None when this instance runs none."""
        if self._worker is None:
            return None
        worker = build_worker(
            self._worker,
            store=store,
            inventory=self._inventory,
            hooks=[observer],
            after_commit=pump.wake,
            cutover=self._cutover,
            calendar=self._calendar,
        )
        stack.callback(worker.stop)  # if starting fails half-way; stopping twice is fine
        worker.start()
        log.info("phase worker %s started", worker.instance_id)
        return worker

    def _handler(
        self, store: Store, after_commit: Callable[[], None], *, hooks: Sequence[Hooks]
    ) -> IntakeHandler:
        inventory = self._inventory
        known = KnownIds.of(inventory, data_classes=self._residency.data_classes)
        placement = PlacementContext(
            policy=placement_policy(self._placement), residency=self._residency
        )
        return IntakeHandler(
            store,
            known=known,
            placement=placement,
            cutover=self._cutover,
            registration_wait=timedelta(seconds=self._intake.registration_wait_s),
            after_commit=after_commit,
            hooks=hooks,
        )

    def _topic_partitions(self) -> dict[str, int]:
        kafka, counts = self._kafka, self._partitions
        return {
            kafka.events_topic: counts["events"],
            kafka.status_topic: counts["status"],
            kafka.dlq_topic: counts["dlq"],
            kafka.control_topic: counts["control"],
        }

    def _shutdown(self, running: _Running) -> None:
        if running.worker is not None:
            running.worker.stop()
        running.pump.stop()
        running.sweep.stop()
        running.consumer.close()  # leave the group now, so a rebalance need not wait for us
        published = running.outbox.flush_quietly()
        running.closing.close()
        log.info("orchestrator stopped (%d status events published on the way out)", published)


def _after_intake(pump: OutboxPump, worker: PhaseWorker | None) -> Callable[[], None]:
    """What a committed intake batch wakes: the outbox, and the worker, since the batch may
    have placed a system or let a held cutover go (an approval, a schedule)."""
    if worker is None:
        return pump.wake

    def wake_both() -> None:
        pump.wake()
        worker.wake()

    return wake_both
