"""The orchestrator's intake path, built the way ``govmig run`` builds it, minus the phase worker.

A fresh SQLite store (WAL, seeded with the 14 nodes), the bus's ``Producer``,
the status ``Outbox`` flushed after every batch, the ``IntakeHandler`` and a
``Reactor`` with the Prometheus hooks: the pieces ``Orchestrator`` wires, so
what is measured is what runs. The phase worker is left out on purpose:
intake runs no playbooks.

``IntakeRig.consume(topic, expected)`` builds a consumer (a fresh group) and a
reactor over ``topic``, waits until the group assigned its partitions, then
times ``Reactor.run_once`` until the handler processed ``expected`` events
and their status events are on the status topic. Joining the group is a
one-off cost, not a rate, so it is left out of the time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from bench.intake_kafka import unique
from orchestrator.bus import Consumer, Producer
from orchestrator.capacity import placement_policy
from orchestrator.closing import Closing
from orchestrator.engine import Outbox, PlacementContext
from orchestrator.engine.intake import IntakeHandler
from orchestrator.events import KnownIds
from orchestrator.hooks import BatchSummary, Hooks
from orchestrator.inventory import Inventory, load_inventory
from orchestrator.migrations import SystemState
from orchestrator.observability import build_registry
from orchestrator.reactor import Reactor
from orchestrator.reactor.batch import first_offsets
from orchestrator.settings import KafkaSettings, PlacementSettings
from orchestrator.store import count_by_state, open_store, pending_status, seed_nodes

# ``Orchestrator``'s default batch (``max_poll_records``).
BATCH_SIZE = 500
JOIN_TIMEOUT_S = 60.0
# No batch for this long means something is wrong, not slow.
STALL_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class Timed:
    """``events`` handled in ``seconds`` over ``batches`` polls."""

    events: int
    seconds: float
    batches: int

    @property
    def rate(self) -> float:
        """Events per second."""
        return self.events / self.seconds if self.seconds > 0 else 0.0


class _Tally(Hooks):
    """Counts what the reactor did, so the loop knows when it is done without asking the store."""

    def __init__(self) -> None:
        self.processed = self.batches = self.dead_letters = self.retries = 0

    def after_batch(self, summary: BatchSummary) -> None:
        self.processed += summary.processed
        self.dead_letters += summary.dead_letters
        self.batches += 1

    def after_retry(self, error: BaseException, attempt: int, delay_s: float) -> None:
        self.retries += 1


class IntakeRig(Closing):
    """One orchestrator's intake into the SQLite file ``db``, publishing to ``settings``' topics."""

    def __init__(
        self,
        settings: KafkaSettings,
        db: Path,
        *,
        batch_size: int = BATCH_SIZE,
        inventory: Inventory | None = None,
    ) -> None:
        inventory = inventory if inventory is not None else load_inventory()
        self._settings, self._batch_size = settings, batch_size
        self.store = open_store(f"sqlite:///{db}")
        with self.store.transaction() as session:
            seed_nodes(session, inventory.nodes.values())
        self._producer = Producer(settings)
        self.outbox = Outbox(self.store, self._producer, settings.status_topic)
        self._tally = _Tally()
        self._hooks: list[Hooks] = [build_registry(self.store).observer, self._tally]
        known = KnownIds(cities=frozenset(inventory.cities), nodes=frozenset(inventory.nodes))
        self._handler = IntakeHandler(
            self.store,
            known=known,
            placement=PlacementContext(policy=placement_policy(PlacementSettings())),
            after_commit=self.outbox.flush_quietly,
        )

    def consume(self, topic: str, expected: int) -> Timed:
        """Process ``expected`` events of ``topic`` with a fresh group; how long it took."""
        consumer = Consumer(
            self._settings,
            topics=[topic],
            group_id=unique("bench-intake"),
            max_poll_records=self._batch_size,
        )
        try:
            _join(consumer)
            reactor = Reactor(
                consumer=consumer,
                producer=self._producer,
                handler=self._handler,
                dlq_topic=self._settings.dlq_topic,
                hooks=self._hooks,
                poll_timeout_s=0.5,
            )
            return self._drive(reactor, expected)
        finally:
            consumer.close()

    def _drive(self, reactor: Reactor, expected: int) -> Timed:
        target = self._tally.processed + expected
        first = seen = self._tally.batches
        started = last = time.monotonic()
        while self._tally.processed < target:
            reactor.run_once()
            now = time.monotonic()
            if self._tally.batches != seen:
                seen, last = self._tally.batches, now
            elif now - last > STALL_TIMEOUT_S:
                raise RuntimeError(
                    f"intake stalled: {self._tally.processed} of {target} processed, "
                    f"{self._tally.dead_letters} dead letters, {self._tally.retries} retries"
                )
        self.outbox.flush()  # normally a no-op: each batch flushed its own status rows
        return Timed(expected, time.monotonic() - started, self._tally.batches - first)

    def states(self) -> dict[str, int]:
        """How many systems the store holds in each state (the non-zero ones)."""
        with self.store.transaction() as session:
            counts = count_by_state(session)
        return {SystemState(state).value: n for state, n in counts.items() if n}

    def unpublished(self) -> int:
        """Audit rows whose status event is not on the topic yet (0 after a clean run)."""
        with self.store.transaction() as session:
            return len(pending_status(session, 1_000_000))

    @property
    def dead_letters(self) -> int:
        """Records the reactor dead-lettered (0 for well-formed benchmark events)."""
        return self._tally.dead_letters

    def close(self) -> None:
        """Close the producer and the store."""
        self._producer.close()
        self.store.close()


def _join(consumer: Consumer) -> None:
    """Poll until the group assigned partitions, then rewind whatever those polls fetched."""
    deadline = time.monotonic() + JOIN_TIMEOUT_S
    while not consumer.assignment():
        if time.monotonic() > deadline:
            raise RuntimeError(f"no partitions assigned within {JOIN_TIMEOUT_S:g} s")
        records = consumer.poll(0.2)
        if records:
            consumer.seek(first_offsets(records))
