"""The consumer side of the bus: a group member that commits only when told.

Every setting it relies on is stated in ``bus/config.py`` (``group_options``).
Auto-commit is off: the reactor commits a batch's offsets only after the batch
is durable and its outputs are acknowledged, so delivery is at least once.
``auto_offset_reset="earliest"`` (the client's default is ``latest``) means a
new group starts at the beginning, and events produced while no orchestrator
ran are never skipped.

Rebalances happen inside ``poll()``: kafka-python 3 drives its network loop on
a background thread, but it joins the group and runs the rebalance listener
only while ``poll()`` waits. Processing between two polls therefore never
races a revocation, and the listener here only logs.

``lag()`` is cheap enough for every batch: a partition's end offset is the
high-water mark that each fetch response carries (cached by the client), and
only for partitions with none yet (never fetched, or paused) does it ask the
broker, at most every ``END_OFFSETS_INTERVAL_S``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, OffsetAndMetadata, TopicPartition
from kafka.errors import CommitFailedError, KafkaError

from orchestrator.bus.config import SESSION_TIMEOUT_MS, group_options, unreachable
from orchestrator.bus.probe import ensure_reachable
from orchestrator.bus.records import to_kafka_record
from orchestrator.bus.types import Partition
from orchestrator.closing import Closing
from orchestrator.errors import TemporaryError
from orchestrator.events.codec import KafkaRecord
from orchestrator.settings import KafkaSettings

log = logging.getLogger(__name__)

# Fetch sizing beyond kafka-python's defaults (none: larger or smaller partition
# fetches made no difference the intake benchmark could tell from noise). The
# benchmark's bare-consumer baseline (bench/intake_raw.py) uses the same options.
FETCH_OPTIONS: dict[str, Any] = {}
# How often ``lag()`` may ask the broker for end offsets the fetches did not bring.
END_OFFSETS_INTERVAL_S = 5.0
_END_OFFSETS_TIMEOUT_MS = 2000


class RebalanceCallbacks:
    """Hooks for partition changes; they run on the client's network thread, so keep them quick."""

    def on_assigned(self, partitions: frozenset[Partition]) -> None:
        """Called after partitions are assigned, before fetching from them."""

    def on_revoked(self, partitions: frozenset[Partition]) -> None:
        """Called before partitions are given up in an orderly rebalance."""

    def on_lost(self, partitions: frozenset[Partition]) -> None:
        """Called when the group evicted us; offsets for these can no longer be committed."""


class Consumer(Closing):
    """A consumer-group member over ``topics`` that converts records and commits on request."""

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        topics: Sequence[str],
        group_id: str | None = None,
        max_poll_records: int = 500,
        max_poll_interval_s: float = 300.0,
        session_timeout_s: float | None = None,
        callbacks: RebalanceCallbacks | None = None,
    ) -> None:
        self._settings = settings
        ensure_reachable(settings)
        # How long the group waits for a member that stopped heartbeating (a crashed
        # process) before its partitions go to the others; None: bus/config.py's 45 s.
        options = group_options(
            settings,
            group_id=group_id,
            max_poll_records=max_poll_records,
            max_poll_interval_ms=int(max_poll_interval_s * 1000),
            session_timeout_ms=(
                SESSION_TIMEOUT_MS if session_timeout_s is None else int(session_timeout_s * 1000)
            ),
        )
        try:
            self._client: Any = KafkaConsumer(**options, **FETCH_OPTIONS)
        except KafkaError as error:
            raise unreachable(settings, error) from error
        # Learn the topics' partitions before the group is joined. A leader assigning before
        # that metadata arrives assigns nothing of a topic ("No partition metadata"), and
        # kafka-python may never rebalance for it (dpkp/kafka-python#1237): a member on a
        # topic made moments before sat with no partition (CI 118).
        for topic in topics:
            self._client.partitions_for_topic(topic)
        listener = _LoggingListener(callbacks or RebalanceCallbacks())
        self._client.subscribe(topics=list(topics), listener=listener)
        # End offsets asked of the broker, and when ``lag()`` may ask again.
        self._end_offsets: dict[Any, int] = {}
        self._end_offsets_due = 0.0

    def poll(self, timeout_s: float) -> list[KafkaRecord]:
        """Wait up to ``timeout_s`` for records; each partition's records come in offset order."""
        try:
            batches = self._client.poll(timeout_ms=int(timeout_s * 1000))
        except KafkaError as error:
            raise TemporaryError(f"polling failed: {type(error).__name__}: {error}") from error
        return [to_kafka_record(raw) for records in batches.values() for raw in records]

    def commit(self, offsets: Mapping[Partition, int]) -> None:
        """Commit ``offsets`` (the next offset to read, i.e. last processed + 1) synchronously."""
        if not offsets:
            return
        explicit = {
            TopicPartition(part.topic, part.partition): OffsetAndMetadata(offset, "", -1)
            for part, offset in offsets.items()
        }
        try:
            self._client.commit(offsets=explicit)
        except CommitFailedError as error:
            raise TemporaryError(
                f"offset commit refused: the group rebalanced and another member owns "
                f"these partitions now ({error}); they will be processed again there"
            ) from error
        except KafkaError as error:
            raise TemporaryError(
                f"offset commit failed: {type(error).__name__}: {error}"
            ) from error

    def seek(self, positions: Mapping[Partition, int]) -> None:
        """Re-read from ``positions``; partitions no longer assigned are skipped."""
        assigned = self.assignment()
        for part, offset in positions.items():
            if part in assigned:
                self._client.seek(TopicPartition(part.topic, part.partition), offset)
            else:
                log.info("not seeking %s: no longer assigned to this consumer", _name(part))

    def assignment(self) -> frozenset[Partition]:
        """The partitions this member owns now."""
        return _partitions(self._client.assignment())

    def pause(self, topics: Collection[str] | None = None) -> frozenset[Partition]:
        """Stop fetching from the assigned partitions of ``topics`` (None: all of them).

        Membership and heartbeats go on, and so does fetching from the other topics.
        """
        chosen = [p for p in self._client.assignment() if topics is None or p.topic in topics]
        self._client.pause(*chosen)
        return _partitions(chosen)

    def resume(self) -> None:
        """Fetch again from every paused partition."""
        self._client.resume(*self._client.paused())

    def paused(self) -> frozenset[Partition]:
        """The partitions whose fetching is paused."""
        return _partitions(self._client.paused())

    def lag(self) -> dict[Partition, int]:
        """Per owned partition: end offset minus position; partitions not yet known are left out."""
        assigned = list(self._client.assignment())
        ends = self._ends(assigned)
        lags: dict[Partition, int] = {}
        for tp in assigned:
            try:
                # Non-blocking once every owned partition has a position, as after a poll.
                position = self._client.position(tp, timeout_ms=0)
            except KafkaError:  # revoked meanwhile, or its position is being reset
                continue
            end = ends.get(tp)
            if position is not None and end is not None:
                lags[Partition(tp.topic, tp.partition)] = max(end - position, 0)
        return lags

    def _ends(self, assigned: list[Any]) -> dict[Any, int]:
        """End offsets: the fetched high-water marks, else the broker's (rate-limited) answer."""
        paused = self._client.paused()
        ends: dict[Any, int] = {}
        missing = []
        for tp in assigned:
            # A paused partition is not fetched, so its high-water mark is not kept up to date.
            highwater = None if tp in paused else self._client.highwater(tp)
            if highwater is None:
                missing.append(tp)
            else:
                ends[tp] = highwater
        if missing and time.monotonic() >= self._end_offsets_due:
            self._end_offsets_due = time.monotonic() + END_OFFSETS_INTERVAL_S
            try:
                asked = self._client.end_offsets(missing, timeout_ms=_END_OFFSETS_TIMEOUT_MS)
                self._end_offsets = {tp: int(end) for tp, end in asked.items()}
            except KafkaError as error:
                log.debug("end offsets unavailable for the lag: %s", error)
        ends.update((tp, self._end_offsets[tp]) for tp in missing if tp in self._end_offsets)
        return ends

    def committed(self, part: Partition) -> int | None:
        """The group's committed offset for ``part``, or None if it never committed."""
        offset = self._client.committed(TopicPartition(part.topic, part.partition))
        return None if offset is None else int(offset)

    def close(self) -> None:
        """Leave the group without committing anything more."""
        self._client.close(autocommit=False)


class _LoggingListener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Logs every partition change and forwards it to the caller's callbacks."""

    def __init__(self, callbacks: RebalanceCallbacks) -> None:
        self._callbacks = callbacks

    def on_partitions_assigned(self, assigned: Iterable[Any]) -> None:
        partitions = _partitions(assigned)
        log.info("partitions assigned: %s", _names(partitions))
        self._callbacks.on_assigned(partitions)

    def on_partitions_revoked(self, revoked: Iterable[Any]) -> None:
        partitions = _partitions(revoked)
        log.info("partitions revoked: %s", _names(partitions))
        self._callbacks.on_revoked(partitions)

    def on_partitions_lost(self, lost: Iterable[Any]) -> None:
        partitions = _partitions(lost)
        log.warning("partitions lost (evicted from the group): %s", _names(partitions))
        self._callbacks.on_lost(partitions)


def _partitions(raw: Iterable[Any]) -> frozenset[Partition]:
    return frozenset(Partition(tp.topic, tp.partition) for tp in raw)


def _name(part: Partition) -> str:
    return f"{part.topic}[{part.partition}]"


def _names(partitions: Iterable[Partition]) -> str:
    return ", ".join(_name(part) for part in sorted(partitions)) or "none"
