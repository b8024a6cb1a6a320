"""Warm migration on the lab's real hosts, through ``govmig run --warm --provider ssh``.

One small lab (node shantou, one target host, one source host, BIND). A seeded
system of a few MB is migrated while a client keeps writing files through its
service name (``PUT /data/NAME``, the name resolved at the lab's BIND before
every write, as a client with a zero TTL would). The orchestrator replicates in
passes until one is within the ready budget; the policy holds the cutover
until a rehearsal passes; ``govmig rehearse`` is asked for, passes under the
test name, and the cutover follows, its downtime measured. Then the system is
reverted while the client still writes. Every write the service acknowledged,
before the quiesce, between cutover and revert, and after, is on the source's
disk at the end: the cutover's final pass carried the first to the target, and
the revert's reverse pass brought the target's back (its ``--delete`` would
have removed from the source anything the target lacked).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from chaos.harness import (
    govmig_run,
    kafka_settings,
    publish,
    read_fleet,
    register_and_request,
)
from chaos.sites import LabSites
from orchestrator.events.data import MigrationRehearsalRequested, MigrationRevertRequested
from orchestrator.inventory import generate_catalogue, load_inventory
from orchestrator.lab import Lab, LabOptions, LabPaths, seed_systems
from orchestrator.lab.topology import ZONE
from orchestrator.migrations import SystemState
from orchestrator.migrations.replication import PassKind
from orchestrator.store import SystemRow, open_store
from orchestrator.store import replication as replication_store
from tests.fixtures.orchestrator import system_row, wait_for_states
from tests.fixtures.polling import wait_until

pytestmark = [pytest.mark.lab, pytest.mark.ansible, pytest.mark.kafka]

S = SystemState
INVENTORY = load_inventory()
DATA_BYTES = 4 * 1024 * 1024
WRITE_BYTES = 16 * 1024
PHASES_TIMEOUT_S = 240


@dataclass
class Writer:
    """A client writing one new file after another through the service name."""

    sites: LabSites
    system_id: str
    acknowledged: dict[str, bytes] = field(default_factory=dict)
    refused: int = 0
    longest_gap_s: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        last_ok = time.monotonic()
        while not self._stop.is_set():
            name = f"w-{len(self.acknowledged) + self.refused:05d}"
            body = os.urandom(WRITE_BYTES)
            if self._put(name, body):
                self.acknowledged[name] = body
                now = time.monotonic()
                self.longest_gap_s = max(self.longest_gap_s, now - last_ok)
                last_ok = now
            else:
                self.refused += 1
            self._stop.wait(0.05)

    def _put(self, name: str, body: bytes) -> bool:
        try:
            self.sites.write(self.system_id, name, body)
        except (OSError, ValueError):  # refused while it moves: not acknowledged
            return False
        return True

    def stop(self) -> None:
        self._stop.set()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = Lab(LabPaths.under(tmp_path_factory.mktemp("warm") / "lab"), INVENTORY)
    lab.up(LabOptions(nodes=("shantou",), sources=1, disk_mb=64))
    try:
        yield lab
    finally:
        lab.down()


def missing_on(home: Path, writes: dict[str, bytes]) -> list[str]:
    data = home / "data"
    return [name for name, body in writes.items() if not _holds(data / name, body)]


def _holds(path: Path, body: bytes) -> bool:
    return path.is_file() and path.read_bytes() == body


def test_a_written_system_cuts_over_warm_after_a_rehearsal_and_reverts_with_every_write(
    lab: Lab, kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> None:
    settings = kafka_settings(kafka_bootstrap, new_topic)
    (system,) = seed_systems(lab, [generate_catalogue(20)[0]], size=DATA_BYTES)
    sid, source_host = system.id, system.source.host
    url = f"sqlite:///{tmp_path / 'govmig.db'}"
    writer = Writer(LabSites(lab), sid)
    writing = threading.Thread(target=writer.run, daemon=True)
    writing.start()
    options = (
        "--worker", "--provider", "ssh", "--hosts", str(lab.paths.inventory),
        "--artifacts-dir", str(tmp_path / "artifacts"),
        "--warm", "--ready-budget", "10", "--delta-interval", "1",
        "--require-rehearsal", "critical,high,medium,low",
    )  # fmt: skip
    try:
        with govmig_run(settings, url, tmp_path, *options) as run:
            register_and_request(settings, [system], target="shantou")
            wait_for_states(url, {sid: S.READY}, run, timeout_s=PHASES_TIMEOUT_S)
            wait_until(
                lambda: refusals(url, sid, "needs a passed rehearsal") >= 1,
                timeout_s=60,
                what="the cutover held for want of a rehearsal",
            )
            publish(settings, [MigrationRehearsalRequested(system_id=sid, requested_by="qa")])
            wait_for_states(url, {sid: S.COMPLETED}, run, timeout_s=PHASES_TIMEOUT_S)
            before_revert = dict(writer.acknowledged)
            cut = row_of(url, sid)
            assert cut.target_host is not None
            target_home = lab.host_root(cut.target_host) / "srv" / "govmig" / sid
            assert missing_on(target_home, before_revert) == [], "acknowledged, not on target"
            wait_until(
                lambda: len(writer.acknowledged) > len(before_revert) + 5,
                timeout_s=30,
                what="writes through the name onto the target",
            )
            publish(settings, [MigrationRevertRequested(system_id=sid, requested_by="qa")])
            wait_for_states(url, {sid: S.ROLLED_BACK}, run, timeout_s=PHASES_TIMEOUT_S)
            time.sleep(1)  # a few writes onto the source again
            run.assert_alive()
    finally:
        writer.stop()
        writing.join(10)
    source_home = lab.host_root(source_host) / "srv" / "govmig" / sid
    assert missing_on(source_home, writer.acknowledged) == []
    assert len(writer.acknowledged) > len(before_revert) > 20
    with open_store(url, create=False) as store, store.session() as session:
        kinds = [p.replication.kind for p in replication_store.passes(session, sid)]
        last = replication_store.last_rehearsal(session, sid)
    assert kinds[0] is PassKind.FULL
    assert PassKind.DELTA in kinds
    assert kinds[-2:] == [PassKind.FINAL, PassKind.REVERSE]
    assert last is not None
    assert last.rehearsal.passed
    assert last.rehearsal.test_name == f"{sid}.rehearsal.{ZONE}"
    downtime = row_of(url, sid).downtime_seconds
    assert downtime is not None
    assert 0 < downtime < PHASES_TIMEOUT_S
    fleet = read_fleet(url)
    states = [row.to_state for row in fleet.audit[sid] if row.to_state is not None]
    for step in (S.READY, S.REHEARSING, S.CUTOVER, S.COMPLETED, S.REVERTING, S.ROLLED_BACK):
        assert step in states, states
    print(  # the figures, for the note: -s shows them
        f"\n{sid}: downtime {downtime:.2f} s measured by the role; the client's longest gap "
        f"between acknowledged writes {writer.longest_gap_s:.2f} s; "
        f"{len(writer.acknowledged)} writes acknowledged, {writer.refused} refused"
    )


def row_of(url: str, system_id: str) -> SystemRow:
    row = system_row(url, system_id)
    assert row is not None
    return row


def refusals(url: str, system_id: str, text: str) -> int:
    fleet = read_fleet(url)
    return sum(1 for r in fleet.audit[system_id] if r.to_state is None and text in (r.reason or ""))
