"""A wave of real migrations through ``govmig run`` processes, for a scenario to disturb.

A scenario prepares a ``Wave`` (fresh topics, a store, sources on its sites),
publishes its requests, starts and kills ``govmig run`` as it likes, then
``settle`` waits for every system to end and ``tally`` reads the figures.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from chaos.audit import tally
from chaos.figures import Figures
from chaos.harness import GovmigRun, count_rows, kafka_settings, read_fleet
from chaos.rig import Rig
from chaos.sites import LabSites, Sites, misplaced
from orchestrator.bus import Producer
from orchestrator.events import OutboundRecord, encode, new_event
from orchestrator.events.data import MigrationRequested
from orchestrator.events.registration import registration_records
from orchestrator.inventory.models import BusinessSystem
from orchestrator.lab import Lab
from orchestrator.migrations.states import TERMINAL_STATES
from orchestrator.settings import KafkaSettings

TERMINAL = ",".join(f"'{state}'" for state in sorted(TERMINAL_STATES))
SETTLE_TIMEOUT_S = 300.0
# No approvals: every cutover, cold or warm, waits at its gates, and the chaos suite's
# subject is faults, not change control; with the default policy its high and critical
# systems would wait in ``ready`` for an approval nobody gives.
NO_APPROVALS = Path(__file__).with_name("cutover-policy.yml")


@dataclass
class Wave:
    """One scenario's systems, topics, store and runs."""

    rig: Rig
    name: str
    sites: Sites
    url: str
    systems: list[BusinessSystem]
    nodes: Sequence[str]
    settings: KafkaSettings = field(init=False)
    dir: Path = field(init=False)
    runs: list[GovmigRun] = field(default_factory=list)
    # Systems a scenario's fault made fail (its own count of its faults).
    faulted: int = 0

    def __post_init__(self) -> None:
        self.dir = self.rig.scene(self.name)
        self.settings = kafka_settings(self.rig.bootstrap, self.rig.new_topic)
        self.systems = self.sites.prepare(self.systems)

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.systems]

    def targets(self) -> Mapping[str, str]:
        """Each system's node, round robin over the wave's nodes."""
        return {s.id: self.nodes[i % len(self.nodes)] for i, s in enumerate(self.systems)}

    def request_records(self) -> list[OutboundRecord]:
        """The registrations, then one migration request per system: encoded once."""
        requests = [
            encode(new_event(MigrationRequested(system_id=sid, target_node=node, wave=1,
                                                requested_by="chaos"), source="/chaos"))
            for sid, node in self.targets().items()
        ]  # fmt: skip
        return [*registration_records(self.systems), *requests]

    def send(self, records: Sequence[OutboundRecord]) -> None:
        with Producer(self.settings) as producer:
            producer.send_all(self.settings.events_topic, records)

    def request(self) -> None:
        self.send(self.request_records())

    def start(self, name: str, *args: str, env: Mapping[str, str] | None = None) -> GovmigRun:
        """A ``govmig run`` with the worker on this wave's sites; killed by ``close``."""
        options = (
            "--worker",
            "--artifacts-dir", str(self.dir / "artifacts"),
            "--session-timeout", "6",
            "--batch-window", "0.3",
            "--cutover-policy", str(NO_APPROVALS),
            *self.sites.options(),
            *args,
        )  # fmt: skip
        run = GovmigRun(self.settings, self.url, self.dir, *options, name=name, env=env)
        self.runs.append(run)
        return run

    def count(self, where: str) -> int:
        ids = ",".join(f"'{sid}'" for sid in self.ids)
        return count_rows(self.url, f"SELECT count(*) FROM systems WHERE id IN ({ids}) AND {where}")

    def ended(self) -> int:
        return self.count(f"state IN ({TERMINAL})")

    def transitions(self) -> int:
        return count_rows(self.url, "SELECT count(*) FROM transitions")

    def settle(self, timeout_s: float = SETTLE_TIMEOUT_S) -> None:
        """Wait until every system ended (or the deadline passed: then the tally says so)."""
        deadline = time.monotonic() + timeout_s
        while self.ended() < len(self.systems) and time.monotonic() < deadline:
            if not any(run.process.poll() is None for run in self.runs):
                break  # nothing runs that could finish them
            time.sleep(0.3)

    def stop(self, run: GovmigRun) -> None:
        """Stop ``run`` as an operator would; a run that will not stop is a finding."""
        run.signal(signal.SIGTERM)
        run.wait(60)

    def tally(self, figures: Figures) -> None:
        tally(figures, self.url, self.ids, self.settings, self.sites.journal_lines)
        wrong = self.misplaced()
        figures.lost += len(wrong)
        figures.notes.extend(wrong)

    def misplaced(self) -> list[str]:
        """Each system whose name does not lead where its state says, and why."""
        fleet = read_fleet(self.url)
        return [
            problem
            for sid in self.ids
            if sid in fleet.systems
            and (problem := misplaced(self.sites, fleet.systems[sid])) is not None
        ]

    def sites_lab(self) -> Lab:
        """The lab this wave's systems live on; a lab scenario's own fault needs it."""
        if not isinstance(self.sites, LabSites):
            raise TypeError(f"wave {self.name} is not on the lab")
        return self.sites.lab

    def close(self) -> None:
        for run in self.runs:
            run.close()
        self.sites.close()
