"""Publishing the status outbox: every audit row reaches the status topic at least once.

The audit rows are written in the same transaction as the changes they record
(``orchestrator.store.outbox``). ``publish_pending`` reads the oldest pending
rows, sends one event each (``notices``) in binary mode, waits for the broker's
acknowledgements, and only then marks them published. A crash in between sends
those rows again, under the same event ids: at least once, never lost.

Who publishes: the intake handler flushes after each batch it commits (before
the reactor commits the offsets; with the outbox durable either order would
keep delivery at least once, but this way a batch's status events are on the
topic by the time its offsets move), and ``OutboxPump`` flushes every second,
so changes made elsewhere (the phase worker) go out too. An ``Outbox`` lets
one of them publish at a time. With several instances on one PostgreSQL, the
publisher holds an advisory lock for the whole read-send-mark round, so only
one instance publishes at a time and each system's events keep their order.
On SQLite (one process) the round is two short transactions, so the database
is never locked while waiting for the broker.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Protocol

from orchestrator.bus import Producer
from orchestrator.engine.notices import announces, notice_for
from orchestrator.errors import GovmigError
from orchestrator.events import encode
from orchestrator.events.codec import OutboundRecord
from orchestrator.store import Store, TransitionRow, claim_outbox, mark_published, pending_status

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 500
# Pages per flush, so a flush returns even while other components keep adding rows.
MAX_PAGES = 20


def publish_pending(
    store: Store, producer: Producer, topic: str, *, limit: int = DEFAULT_LIMIT
) -> int:
    """Publish up to ``limit`` pending rows, oldest first; return how many were acknowledged."""
    if store.dialect == "postgresql":
        with store.transaction() as session:
            if not claim_outbox(session):
                return 0  # another instance is publishing; it will send these too
            rows = pending_status(session, limit)
            _send(producer, topic, rows)
            mark_published(session, [row.id for row in rows])
        return len(rows)
    with store.transaction() as session:
        rows = pending_status(session, limit)
    if rows:
        _send(producer, topic, rows)
        with store.transaction() as session:
            mark_published(session, [row.id for row in rows])
    return len(rows)


def _send(producer: Producer, topic: str, rows: Sequence[TransitionRow]) -> None:
    records = [record for row in rows if (record := _record(row)) is not None]
    if records:
        producer.send_all(topic, records)


def _record(row: TransitionRow) -> OutboundRecord | None:
    if not announces(row):
        return None  # audited only; marked published with the rest so it leaves the outbox
    try:
        return encode(notice_for(row), mode="binary")
    except (GovmigError, ValueError) as error:
        # A row that cannot become a valid event must not block every row behind it.
        log.error(
            "audit row %d of %s cannot be published, skipping it: %s", row.id, row.system_id, error
        )
        return None


class Outbox:
    """One process's publisher of the status outbox; ``flush`` calls take turns."""

    def __init__(
        self, store: Store, producer: Producer, topic: str, *, limit: int = DEFAULT_LIMIT
    ) -> None:
        self._store, self._producer, self._topic = store, producer, topic
        self._limit = limit
        self._lock = threading.Lock()

    def flush(self) -> int:
        """Publish pending rows until none are left (at most ``MAX_PAGES`` pages); how many."""
        with self._lock:
            total = 0
            for _page in range(MAX_PAGES):
                sent = publish_pending(self._store, self._producer, self._topic, limit=self._limit)
                total += sent
                if sent < self._limit:
                    break
            return total

    def flush_quietly(self) -> int:
        """``flush``, logging instead of raising: the rows stay pending and go out next time."""
        try:
            return self.flush()
        except GovmigError as error:
            log.warning("status outbox not flushed, will retry: %s", error)
            return 0


class Flushable(Protocol):
    """What the pump flushes: an ``Outbox``."""

    def flush_quietly(self) -> int: ...


class OutboxPump:
    """Flushes an ``Outbox`` on a daemon thread until ``stop()``: every ``interval_s``, and at
    once when woken (``wake``, the loops' after-commit step). Only this thread publishes, so
    a broker that does not answer slows no loop: the rows wait in the outbox."""

    def __init__(self, outbox: Flushable, *, interval_s: float = 1.0) -> None:
        self._outbox = outbox
        self._interval_s = interval_s
        self._stopping = threading.Event()
        self._woken = threading.Event()
        self._thread = threading.Thread(target=self._run, name="govmig-outbox", daemon=True)

    def start(self) -> None:
        """Start flushing in the background."""
        self._thread.start()

    def wake(self) -> None:
        """Flush now (rows were just committed), without waiting for it."""
        self._woken.set()

    def stop(self, *, timeout_s: float = 15.0) -> None:
        """Stop after the flush under way, if any, and wait for the thread."""
        self._stopping.set()
        self._woken.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            self._woken.wait(self._interval_s)
            self._woken.clear()
            if self._stopping.is_set():
                return
            try:
                self._outbox.flush_quietly()
            except Exception:  # a bug must not silently end publishing for the process
                log.exception("status outbox flush failed unexpectedly; trying again")
