"""Publishing the status outbox: every audit row and wave notice reaches the status topic.

The audit rows are written in the same transaction as the changes they record
(``orchestrator.store.outbox``), and so are a wave's halt and its resume
(``orchestrator.store.waves``). ``publish_pending`` reads the oldest pending
rows and every pending wave notice, sends one event each (``notices``) in binary
mode, waits for the broker's acknowledgements, and only then marks them
published. A crash in between sends them again, under the same event ids: at
least once, never lost.

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
from dataclasses import dataclass
from typing import Protocol

from orchestrator.bus import Producer
from orchestrator.engine.notices import announces, notice_for, wave_notice_for
from orchestrator.errors import GovmigError
from orchestrator.events import encode
from orchestrator.events.codec import OutboundRecord
from orchestrator.store import (
    Session,
    Store,
    TransitionRow,
    claim_outbox,
    mark_published,
    pending_status,
)
from orchestrator.store.waves import WaveNotice, mark_wave_notices_published, pending_wave_notices

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 500
# Pages per flush, so a flush returns even while other components keep adding rows.
MAX_PAGES = 20


def publish_pending(
    store: Store, producer: Producer, topic: str, *, limit: int = DEFAULT_LIMIT
) -> int:
    """Publish up to ``limit`` pending rows, oldest first, and the pending wave notices;
    return how many were acknowledged."""
    if store.dialect == "postgresql":
        with store.transaction() as session:
            if not claim_outbox(session):
                return 0  # another instance is publishing; it will send these too
            pending = _pending(session, limit)
            _send(producer, topic, pending)
            _mark_published(session, pending)
        return len(pending)
    with store.transaction() as session:
        pending = _pending(session, limit)
    if pending:
        _send(producer, topic, pending)
        with store.transaction() as session:
            _mark_published(session, pending)
    return len(pending)


@dataclass(frozen=True, slots=True)
class _Pending:
    """One round's share of the outbox: audit rows, oldest first, and wave notices."""

    rows: list[TransitionRow]
    waves: list[WaveNotice]

    def __len__(self) -> int:
        return len(self.rows) + len(self.waves)


def _pending(session: Session, limit: int) -> _Pending:
    # The wave notices are not paged: a wave halts at most once.
    return _Pending(pending_status(session, limit), pending_wave_notices(session))


def _mark_published(session: Session, pending: _Pending) -> None:
    mark_published(session, [row.id for row in pending.rows])
    mark_wave_notices_published(session, pending.waves)


def _send(producer: Producer, topic: str, pending: _Pending) -> None:
    # A row audited only is left out here, and marked published with the rest.
    notices: list[TransitionRow | WaveNotice] = [row for row in pending.rows if announces(row)]
    notices += pending.waves
    records = [record for notice in notices if (record := _record(notice)) is not None]
    if records:
        producer.send_all(topic, records)


def _record(notice: TransitionRow | WaveNotice) -> OutboundRecord | None:
    try:
        if isinstance(notice, WaveNotice):
            return encode(wave_notice_for(notice), mode="binary")
        return encode(notice_for(notice), mode="binary")
    except (GovmigError, ValueError) as error:
        # One that cannot become a valid event must not block every one behind it.
        log.error("%s cannot be published, skipping it: %s", _named(notice), error)
        return None


def _named(notice: TransitionRow | WaveNotice) -> str:
    if isinstance(notice, WaveNotice):
        return f"wave {notice.halt.wave}'s {notice.change} notice"
    return f"audit row {notice.id} of {notice.system_id}"


class Outbox:
    """One process's publisher of the status outbox; ``flush`` calls take turns."""

    def __init__(
        self, store: Store, producer: Producer, topic: str, *, limit: int = DEFAULT_LIMIT
    ) -> None:
        self._store, self._producer, self._topic = store, producer, topic
        self._limit = limit
        self._lock = threading.Lock()

    def flush(self) -> int:
        """Publish pending rows and wave notices until none are left (at most ``MAX_PAGES``
        pages of rows); how many."""
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
    """What the pump flushes: an ``Outbox``, or the sweep of expired held requests."""

    def flush_quietly(self) -> int: ...


class OutboxPump:
    """Flushes an ``Outbox`` on a daemon thread until ``stop()``: every ``interval_s``, and at
    once when woken (``wake``, the loops' after-commit step). Only this thread publishes, so
    a broker that does not answer slows no loop: the rows wait in the outbox."""

    def __init__(
        self, outbox: Flushable, *, interval_s: float = 1.0, name: str = "govmig-outbox"
    ) -> None:
        self._outbox = outbox
        self._interval_s = interval_s
        self._stopping = threading.Event()
        self._woken = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

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
