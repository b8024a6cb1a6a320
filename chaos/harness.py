"""Feed ``govmig run``, run it as a real process, read what it did.

Shared by the integration tests (``tests/fixtures/orchestrator.py`` re-exports
it) and the chaos suite. Everything here talks to the real broker and the real
store; nothing is simulated.
"""

from __future__ import annotations

import functools
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.orm import Session

from orchestrator.bus import Producer, read_topic
from orchestrator.capacity import NodeUsage
from orchestrator.errors import ConfigurationError
from orchestrator.events import Event, decode_any, encode, new_event
from orchestrator.events.data import MigrationRequested
from orchestrator.events.envelope import EventData
from orchestrator.events.registration import registration_records
from orchestrator.inventory.models import BusinessSystem
from orchestrator.migrations import SystemState
from orchestrator.settings import KafkaSettings
from orchestrator.store import (
    Store,
    SystemRow,
    TransitionRow,
    history,
    list_systems,
    node_usage,
    open_store,
)


def kafka_settings(
    bootstrap: str, new_topic: Callable[..., str], *, events: int = 3
) -> KafkaSettings:
    """Fresh topics and a fresh consumer group, so no two users see each other's records."""
    return KafkaSettings(
        bootstrap_servers=bootstrap,
        events_topic=new_topic("events", partitions=events),
        status_topic=new_topic("status", partitions=3),
        dlq_topic=new_topic("dlq", partitions=1),
        control_topic=new_topic("control", partitions=1),
        consumer_group=f"test-{uuid.uuid4().hex[:12]}",
        request_timeout_s=10.0,
    )


def publish(settings: KafkaSettings, data: Sequence[EventData], *, source: str = "/tests") -> None:
    """Publish one event per item, in order, and wait for the broker's acknowledgements."""
    records = [encode(new_event(item, source=source)) for item in data]
    with Producer(settings) as producer:
        producer.send_all(settings.events_topic, records)


def register_and_request(
    settings: KafkaSettings, systems: Sequence[BusinessSystem], *, target: str | None = None
) -> None:
    """Register ``systems`` (content ids, as ``inventory publish`` does) and request each."""
    with Producer(settings) as producer:
        producer.send_all(settings.events_topic, registration_records(systems))
    publish(
        settings,
        [
            MigrationRequested(system_id=s.id, target_node=target, requested_by="tests")
            for s in systems
        ],
    )


def status_events(settings: KafkaSettings) -> list[Event]:
    """Every event on the status topic, in topic order per partition."""
    return [decode_any(record) for record in read_topic(settings, settings.status_topic)]


@dataclass(frozen=True)
class Fleet:
    """What a store holds after a run: systems, node usage and the audit."""

    systems: dict[str, SystemRow]
    usage: list[NodeUsage]
    audit: dict[str, list[TransitionRow]]

    def states(self) -> dict[str, SystemState]:
        return {system_id: row.state for system_id, row in self.systems.items()}

    def placements(self) -> dict[str, tuple[SystemState, str | None]]:
        return {system_id: (row.state, row.node) for system_id, row in self.systems.items()}

    def over_committed(self) -> list[str]:
        """Each node and resource whose allocations exceed its capacity."""
        return [
            f"{usage.node.node_id} {resource}: {used} > {usage.node.capacities[resource]}"
            for usage in self.usage
            for resource, used in usage.used.items()
            if used > usage.node.capacities[resource]
        ]

    def audit_rows(self) -> list[TransitionRow]:
        return [row for rows in self.audit.values() for row in rows]


@contextmanager
def reading(url: str) -> Iterator[Store]:
    """A reader of the store at ``url``; ConfigurationError while there is none yet.

    Tests poll the store many times a second, and opening it (an engine, the schema
    check) costs ten times the query: a SQLite store's reader is kept for the process.
    Any other is opened per read, since a kept PostgreSQL connection would hold on to a
    database its test drops.
    """
    if url.startswith("sqlite"):
        yield _kept_reader(url)
    else:
        with open_store(url, create=False) as store:
            yield store


@functools.lru_cache(maxsize=32)
def _kept_reader(url: str) -> Store:
    return open_store(url, create=False)


T = TypeVar("T")


def read_store(url: str, read: Callable[[Session], T]) -> T | None:
    """What ``read`` finds in the store at ``url``; None while ``govmig run`` has yet to
    create it (a probe polled from a test's start sees that first)."""
    try:
        with reading(url) as store, store.session() as session:
            return read(session)
    except ConfigurationError:
        return None


def read_fleet(url: str) -> Fleet:
    """The store's systems, ledger and audit, read through a reader connection."""
    with reading(url) as store, store.transaction() as session:
        systems = {row.id: row for row in list_systems(session)}
        audit = {system_id: history(session, system_id) for system_id in systems}
        return Fleet(systems, node_usage(session), audit)


def count_sqlite(path: Path, query: str) -> int:
    """One number from the SQLite file at ``path`` (0 while it does not exist yet)."""
    if not path.is_file():
        return 0
    with sqlite3.connect(path, timeout=5) as connection:
        try:
            return int(connection.execute(query).fetchone()[0])
        except sqlite3.OperationalError:  # no schema yet
            return 0


class GovmigRun:
    """``govmig run`` as a real subprocess, with its output in a log file."""

    def __init__(
        self,
        settings: KafkaSettings,
        state_db: str,
        workdir: Path,
        *args: str,
        name: str = "run",
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.log = workdir / f"{name}.log"
        environment = {
            **os.environ,
            "GOVMIG_EVENTS_TOPIC": settings.events_topic,
            "GOVMIG_STATUS_TOPIC": settings.status_topic,
            "GOVMIG_DLQ_TOPIC": settings.dlq_topic,
            "GOVMIG_CONTROL_TOPIC": settings.control_topic,
            # Intake-only by default: a caller that prepared sources passes --worker.
            # --worker on the command line wins over the environment.
            "GOVMIG_WORKER": "false",
            **(env or {}),
        }
        command = [
            sys.executable, "-m", "orchestrator.cli.run",
            "--bootstrap-servers", settings.bootstrap_servers,
            "--state-db", state_db,
            "--group", settings.consumer_group,
            "--metrics-port", "0",
            *args,
        ]  # fmt: skip
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=workdir, env=environment, stdout=log, stderr=subprocess.STDOUT
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def written(self) -> str:
        """Everything it wrote, whole."""
        return self.log.read_text(errors="replace")

    def signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout_s: float) -> int:
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise AssertionError(
                f"govmig run did not exit within {timeout_s:g} s:\n{self.output()}"
            ) from None

    def close(self) -> None:
        """Kill it if it still runs (a failed test must not leave it behind)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def assert_alive(self) -> None:
        code = self.process.poll()
        assert code is None, f"govmig run exited with {code}:\n{self.output()}"


@contextmanager
def govmig_run(
    settings: KafkaSettings,
    state_db: str,
    workdir: Path,
    *args: str,
    name: str = "run",
    env: Mapping[str, str] | None = None,
) -> Iterator[GovmigRun]:
    run = GovmigRun(settings, state_db, workdir, *args, name=name, env=env)
    try:
        yield run
    finally:
        run.close()


def count_rows(url: str, query: str) -> int:
    """One number from the store at ``url`` (any dialect); -1 while there is none yet."""
    try:
        with reading(url) as store, store.transaction() as session:
            found = session.execute(text(query)).scalar()
    except ConfigurationError:
        return -1
    return -1 if found is None else int(found)
